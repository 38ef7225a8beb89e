"""GET /docs (Swagger UI on the repo's openapi.yaml) and GET /assets/{name}, the pages' files.

Swagger UI's files come from the flask-swagger-ui package, located only when one is asked
for; every file is served by the function itself (no CDN), read once and kept in memory.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from serving.errors import NotFound, echo
from serving.exchange import Reply
from serving.html_page import SECURITY_HEADERS, html_reply

WEB = Path(__file__).resolve().parent / "web"
OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"
SWAGGER_PACKAGE = "flask_swagger_ui"
SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")
OWN_FILES = ("card.css", "card.js", "docs.js")
MEDIA_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".yaml": "application/yaml",
}


def page() -> Reply:
    """The Swagger UI page; its script and style are assets of this function."""
    return html_reply((WEB / "docs.html").read_text(encoding="utf-8"))


def asset(name: str) -> Reply:
    """One of the pages' files by name; 404 naming the ones there are."""
    content = _read(name)
    media_type = MEDIA_TYPES[Path(name).suffix]
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    return Reply(200, {}, {"asset": name}, headers=headers, raw=content, media_type=media_type)


@functools.cache
def _read(name: str) -> bytes:
    if name in OWN_FILES:
        return (WEB / name).read_bytes()
    if name in SWAGGER_FILES:
        return (_swagger_dist() / name).read_bytes()
    if name == "openapi.yaml":
        return OPENAPI.read_bytes()
    known = ", ".join((*OWN_FILES, *SWAGGER_FILES, "openapi.yaml"))
    raise NotFound(f"no asset {echo(name)}; assets: {known}")


def _swagger_dist() -> Path:
    """flask-swagger-ui's dist folder, found without importing the package's Flask code."""
    spec = importlib.util.find_spec(SWAGGER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise NotFound(f"API docs need the {SWAGGER_PACKAGE} package, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"
