"""HTML answers, the one shape both pages (the model card, /docs) use, and who prefers one.

Whether a client prefers HTML follows HTTP's rules for the Accept header; every page carries
the security headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from serving.exchange import Reply

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Both answers to GET / (JSON and the card) depend on the Accept header: caches must know.
VARY = {"Vary": "Accept"}
HTML, JSON = "text/html", "application/json"


def prefers_html(accept: str) -> bool:
    """True when the Accept header ranks text/html above application/json (q-values, the most
    specific media range first, names case-insensitive); a tie keeps JSON."""
    if "text/" not in accept.lower():
        return False
    return quality(accept, HTML) > quality(accept, JSON)


def quality(accept: str, media_type: str) -> float:
    """The weight Accept gives `media_type`: that of its most specific matching range (type/sub,
    then type/*, then */*), 1 unless `q` says otherwise; 0 when none matches."""
    ranges = (media_type, media_type.split("/")[0] + "/*", "*/*")
    best, rank = 0.0, len(ranges)
    for item in accept.lower().split(","):
        name, *parameters = item.split(";")
        name = name.strip()
        if name in ranges and ranges.index(name) < rank:
            best, rank = _weight(parameters), ranges.index(name)
    return best


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                return 0.0
            return weight if 0 <= weight <= 1 else 0.0
    return 1.0


def html_reply(page: str, extra: Mapping[str, str] | None = None) -> Reply:
    """A 200 HTML answer with the security headers, never cached."""
    headers = {**SECURITY_HEADERS, **VARY, "Cache-Control": "no-store", **(extra or {})}
    return Reply(
        200,
        {},
        {"html": True},
        headers=headers,
        raw=page.encode("utf-8"),
        media_type="text/html",
    )
