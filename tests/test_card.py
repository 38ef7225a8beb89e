"""The model card and /docs without a browser: GET / stays byte-for-byte JSON for every
client but a browser, everything from the manifest is escaped, the typed features make the
right form controls, and the HTML modules are imported only when a page is asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from serving import jsonio
from serving.card import CSP, card, example_row, wants_html
from serving.docs import asset, page
from serving.endpoint import Endpoint, model_summary
from serving.errors import NotFound
from serving.schema import Feature, feature_from_json
from serving.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PENGUIN_FEATURES = [
    {"name": "island", "type": "string", "nullable": False, "categories": ["Biscoe", "Dream"]},
    {"name": "bill_length_mm", "type": "number", "nullable": True},
    {"name": "year", "type": "integer", "nullable": False},
    {"name": "smoker", "type": "boolean", "nullable": False},
]


@pytest.fixture(scope="module")
def endpoint() -> Endpoint:
    return Endpoint(Settings())


def get_root(endpoint: Endpoint, accept: str | None) -> Any:
    headers = {} if accept is None else {"Accept": accept}
    return endpoint.answer("GET", "/", "", b"", headers=headers)


@pytest.mark.parametrize(
    "accept",
    [None, "", "application/json", "*/*", "application/json, text/html", "text/plain"],
)
def test_every_client_but_a_browser_gets_the_same_json_bytes(
    endpoint: Endpoint, accept: str | None
) -> None:
    reply = get_root(endpoint, accept)

    assert reply.raw is None
    assert reply.media_type == "application/json"
    assert jsonio.encode(reply.body) == jsonio.encode(model_summary(endpoint.model.get()))


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("TEXT/HTML; q=1", True),
        ("application/json, text/html", False),
        ("application/xhtml+xml, text/html", False),
        ("", False),
    ],
)
def test_a_browser_is_an_accept_header_naming_text_html_first(accept: str, html: bool) -> None:
    assert wants_html({"Accept": accept}) is html


def test_a_browser_gets_the_card_with_a_strict_csp(endpoint: Endpoint) -> None:
    reply = get_root(endpoint, BROWSER_ACCEPT)
    text = reply.raw.decode()

    assert reply.media_type == "text/html"
    assert reply.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP
    assert "default-src 'none'" in CSP
    manifest = endpoint.model.get().manifest
    for fact in (manifest.name, manifest.model_version, endpoint.model.get().manifest_sha256):
        assert fact in text
    assert "http://" not in text
    assert "https://" not in text
    assert "<script>" not in text
    assert " style=" not in text


def test_the_card_says_why_the_model_cannot_load(tmp_path: Path) -> None:
    broken = Endpoint(Settings(model_uri=str(tmp_path / "missing")))
    json_reply = get_root(broken, "application/json")
    html_reply = get_root(broken, BROWSER_ACCEPT)

    assert json_reply.body["loaded"] is False
    assert html_reply.media_type == "text/html"
    page_text = html_reply.raw.decode()
    assert "Model not loaded" in page_text
    assert json_reply.body["reason"].replace("'", "&#x27;") in page_text
    assert json_reply.body["code"] in page_text


def test_everything_from_the_manifest_is_escaped() -> None:
    hostile = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    features = [Feature(hostile, "string", categories=(hostile,))]
    info = {
        "name": hostile,
        "model_version": hostile,
        "feature_names": [hostile],
        "metrics": {hostile: hostile},
        "training_data": {"source": hostile},
        "warnings": [hostile],
        "classes": [hostile],
    }
    text = card(info, features, {hostile: hostile}).raw.decode()  # type: ignore[union-attr]

    assert "<img" not in text
    assert "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in text


def test_typed_features_make_their_controls_prefilled_from_the_example() -> None:
    features = [feature_from_json(entry) for entry in PENGUIN_FEATURES]
    example = {"island": "Dream", "bill_length_mm": 39.1, "year": 2007, "smoker": True}
    info = {"name": "penguins", "feature_names": [f["name"] for f in PENGUIN_FEATURES]}
    text = card(info, features, example).raw.decode()  # type: ignore[union-attr]

    assert '<option value="Biscoe">Biscoe</option><option value="Dream" selected>' in text
    assert 'type="number" step="any" name="bill_length_mm"' in text
    assert 'value="39.1"' in text
    assert 'data-nullable="true"' in text
    assert 'step="1" name="year"' in text
    assert 'value="2007"' in text
    assert '<option value="true" selected>true</option>' in text
    assert 'data-probabilities="false"' in text


def test_without_an_example_the_form_is_prefilled_with_neutral_values() -> None:
    assert example_row(None, [Feature("a"), Feature("b")]) == {"a": 0, "b": 0}
    typed = [feature_from_json(entry) for entry in PENGUIN_FEATURES]
    assert example_row(None, typed) == {
        "island": "Biscoe",
        "bill_length_mm": 0,
        "year": 0,
        "smoker": False,
    }


def test_docs_and_assets_come_from_the_function_itself() -> None:
    docs_page = page().raw.decode()  # type: ignore[union-attr]
    bundle = asset("swagger-ui-bundle.js")

    assert "http://" not in docs_page
    assert "https://" not in docs_page
    assert 'src="assets/swagger-ui-bundle.js"' in docs_page
    assert bundle.media_type == "text/javascript"
    assert b"SwaggerUIBundle" in bundle.raw
    assert asset("openapi.yaml").raw == (REPO / "openapi.yaml").read_bytes()
    for name in ("../main.py", "index.html", "swagger-initializer.js"):
        with pytest.raises(NotFound):
            asset(name)


def test_the_json_paths_never_import_the_pages() -> None:
    script = (
        "import sys, main\n"
        "main.ENDPOINT.answer('GET', '/', '', b'', headers={'Accept': 'application/json'})\n"
        "main.ENDPOINT.answer('GET', '/health', '', b'')\n"
        "loaded = [m for m in ('serving.card', 'serving.docs', 'flask_swagger_ui') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)
