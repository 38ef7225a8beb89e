"""The model card and /docs without a browser: GET / stays byte-for-byte JSON for every
client but a browser, everything from the manifest is escaped, the typed features make the
right form controls, and the HTML modules are imported only when a page is asked for."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from serving import jsonio
from serving.card import FEATURES_SHOWN, card, example_row, unavailable
from serving.docs import asset, page
from serving.endpoint import Endpoint
from serving.errors import NotFound
from serving.html_page import CSP, prefers_html
from serving.protocols.own_routes import model_summary
from serving.schema import Feature, feature_from_json
from serving.settings import Settings

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
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
    assert jsonio.encode(reply.json) == jsonio.encode(model_summary(endpoint.model.get()))


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("TEXT/HTML; q=1", True),
        ("TEXT/HTML", True),
        ("Text/Html;Q=0.9, application/json;q=0.5", True),
        ("application/xhtml+xml, text/html", True),
        ("text/*", True),
        ("text/html, application/json;q=0.9", True),
        ("application/json, text/html", False),
        ("text/html, application/json", False),
        ("text/html;q=0", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=0.5, application/json", False),
        ("text/*;q=0.1, */*;q=0.5", False),
        ("text/html;q=x", False),
        ("text/html;q=2", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_a_browser_is_an_accept_header_ranking_text_html_above_json(
    accept: str, html: bool
) -> None:
    """HTTP's rules: q-values (0 is "not acceptable"), the most specific media range first,
    names in any case; a tie keeps JSON."""
    assert prefers_html(accept) is html


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("TEXT/HTML", "text/html"),
        ("application/xhtml+xml, text/html", "text/html"),
        ("text/html;q=0", "application/json"),
        ("text/html;q=0, */*", "application/json"),
        ("text/html, application/json", "application/json"),
    ],
)
def test_get_root_answers_what_the_accept_header_prefers(
    endpoint: Endpoint, accept: str, media_type: str
) -> None:
    assert get_root(endpoint, accept).media_type == media_type


def test_the_docs_asked_for_with_a_trailing_slash_are_sent_to_the_docs(
    endpoint: Endpoint,
) -> None:
    """Relative to /docs/, the page's assets would be /docs/assets/...: a 404 each."""
    for path, location in (("/docs/", "../docs"), ("/docs//", "../../docs")):
        reply = endpoint.answer("GET", path, "", b"")
        assert (reply.status, reply.headers["Location"]) == (301, location)
        assert reply.json == {"location": location}
    assert endpoint.answer("GET", "/docs", "", b"").media_type == "text/html"
    assert endpoint.answer("GET", "/health/", "", b"").status == 200


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "application/json", None])
def test_both_answers_to_get_root_vary_with_the_accept_header(
    endpoint: Endpoint, tmp_path: Path, accept: str | None
) -> None:
    broken = Endpoint(Settings(model_uri=str(tmp_path / "missing")))
    for served in (endpoint, broken):
        assert get_root(served, accept).headers["Vary"] == "Accept"


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

    assert json_reply.json["loaded"] is False
    assert html_reply.media_type == "text/html"
    page_text = html_reply.raw.decode()
    assert "Model not loaded" in page_text
    assert json_reply.json["reason"].replace("'", "&#x27;") in page_text
    assert json_reply.json["code"] in page_text


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


class Page(HTMLParser):
    """A page parsed into what a test checks: elements (tag and attributes) in order, ids,
    the text of each table's rows, the page's visible text, and each element's text (its
    children's included) in order. Parsing fails where an end tag closes the wrong element."""

    VOID = frozenset({"meta", "link", "input", "br", "img"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self.element_texts: list[tuple[str, str]] = []
        # Text standing between the page's sections, directly in <main>, not inside any of them.
        self.loose: list[str] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "tr":
            self.rows.append([])
        if tag not in self.VOID:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        name, parts = self._open.pop()
        assert name == tag, f"</{tag}> closes <{name}>"
        text = "".join(parts)
        self.element_texts.append((tag, text))
        if self._open:
            self._open[-1][1].append(text)
        if tag in ("td", "th"):
            self.rows[-1].append(text)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open:
            self._open[-1][1].append(data)
            if self._open[-1][0] == "main" and data.strip():
                self.loose.append(data)

    def text_of(self, tag: str) -> list[str]:
        return [text for name, text in self.element_texts if name == tag]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str]]:
        (found,) = [(t, a) for t, a in self.elements if a.get("id") == element_id]
        return found

    def tags(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]


PENGUIN_INFO = {
    "name": "penguins",
    "model_version": "v7",
    "task": "classification",
    "runtime": "onnx",
    "source": "local folder",
    "manifest_sha256": "ab" * 32,
    "created_at": "2026-11-30T12:00:00Z",
    "classes": ["Adelie", "Gentoo"],
    "metrics": {"accuracy": 0.97, "per_class": {"Adelie": 1}},
    "training_data": {"rows": 344, "source": "penguins.csv"},
    "warnings": ["trained on few rows"],
}


def penguin_card(info: dict[str, Any], example: dict[str, Any] | None = None) -> Page:
    features = [feature_from_json(entry) for entry in PENGUIN_FEATURES]
    return Page(card(info, features, example).raw.decode())  # type: ignore[union-attr]


def test_the_card_holds_every_element_its_script_uses_once() -> None:
    page = penguin_card(PENGUIN_INFO)
    assert page.by_id("try")[0] == "form"
    assert page.by_id("try")[1]["data-probabilities"] == "true"
    assert page.by_id("submit") == ("button", {"type": "submit", "id": "submit"})
    assert page.by_id("prediction")[0] == "p"
    assert page.by_id("probabilities")[0] == "table"
    assert page.by_id("answer")[0] == "pre"
    assert page.by_id("curl")[0] == "pre"
    assert page.tags("script") == [{"src": "assets/card.js"}]
    assert {"rel": "stylesheet", "href": "assets/card.css"} in page.tags("link")
    assert page.tags("a") == [{"href": "docs"}]
    assert page.tags("html") == [{"lang": "en"}]
    assert {"charset": "utf-8"} in page.tags("meta")


def test_each_feature_gets_a_labelled_control_of_its_type() -> None:
    page = penguin_card(PENGUIN_INFO, {"island": "Dream", "year": 2007})
    controls = {a["name"]: (t, a) for t, a in page.elements if "data-type" in a}
    assert list(controls) == [f["name"] for f in PENGUIN_FEATURES]
    island, bill, year, smoker = (controls[f["name"]] for f in PENGUIN_FEATURES)
    assert island == (
        "select",
        {"name": "island", "id": "f-island", "data-type": "string", "data-nullable": "false"},
    )
    assert bill[0] == "input"
    assert bill[1] | {"value": ""} == {
        "type": "number",
        "step": "any",
        "name": "bill_length_mm",
        "id": "f-bill_length_mm",
        "data-type": "number",
        "data-nullable": "true",
        "value": "",
    }
    assert (year[1]["type"], year[1]["step"], year[1]["value"]) == ("number", "1", "2007")
    assert smoker[0] == "select"
    assert smoker[1]["data-type"] == "boolean"
    labels = [a["for"] for a in page.tags("label")]
    assert labels == [f"f-{f['name']}" for f in PENGUIN_FEATURES]
    assert page.tags("option") == [
        {"value": "Biscoe"},
        {"value": "Dream", "selected": ""},
        {"value": "true"},
        {"value": "false", "selected": ""},
    ]


def test_a_nullable_category_offers_missing_and_a_text_feature_a_text_box() -> None:
    features = [
        Feature("sex", "string", nullable=True, categories=("female", "male")),
        Feature("note", "string"),
    ]
    page = Page(card({"name": "m"}, features, {"sex": None, "note": "hi"}).raw.decode())  # type: ignore[union-attr]
    assert page.tags("option") == [
        {"value": "female"},
        {"value": "male"},
        {"value": "", "selected": ""},
    ]
    assert "(missing)" in page.text
    (text_box,) = [a for a in page.tags("input") if a.get("name") == "note"]
    assert (text_box["type"], text_box["value"]) == ("text", "hi")
    assert page.by_id("try")[1]["data-probabilities"] == "false"


def test_the_card_tables_state_the_model_its_metrics_data_and_features() -> None:
    page = penguin_card(PENGUIN_INFO)
    assert page.rows[:7] == [
        ["Version", "v7"],
        ["Task", "classification"],
        ["Runtime", "onnx"],
        ["Source", "local folder"],
        ["Manifest sha256 (pin)", "ab" * 32],
        ["Created", "2026-11-30T12:00:00Z"],
        ["Classes", '["Adelie", "Gentoo"]'],
    ]
    assert ["Metric", "Value"] in page.rows
    assert ["accuracy", "0.97"] in page.rows
    assert ["per_class", '{"Adelie": 1}'] in page.rows
    assert ["rows", "344"] in page.rows
    assert ["Name", "Type", "Nullable", "Categories"] in page.rows
    assert ["island", "string", "no", "Biscoe, Dream"] in page.rows
    assert ["bill_length_mm", "number", "yes", ""] in page.rows
    assert "trained on few rows" in page.text
    assert "penguins · model card" in page.text
    assert page.tags("details") == [{"open": ""}]


def test_a_card_without_metrics_data_or_warnings_says_so() -> None:
    page = Page(card({"name": "bare"}, [Feature("a")], None).raw.decode())  # type: ignore[union-attr]
    assert "none recorded" in page.text
    assert "not recorded" in page.text
    assert "Warnings" not in page.text
    assert [row for row in page.rows if row and row[0] in ("Version", "Classes")] == []


def test_many_features_are_folded_away() -> None:
    features = [Feature(f"x{i}") for i in range(FEATURES_SHOWN + 1)]
    folded = Page(card({"name": "wide"}, features, None).raw.decode())  # type: ignore[union-attr]
    shown = Page(card({"name": "wide"}, features[:-1], None).raw.decode())  # type: ignore[union-attr]
    assert folded.tags("details") == [{}]
    assert shown.tags("details") == [{"open": ""}]
    assert f"{FEATURES_SHOWN + 1} features" in folded.text


def test_the_unavailable_card_says_why_and_links_the_docs() -> None:
    page = Page(unavailable("no model <here>", "model_unavailable").raw.decode())  # type: ignore[union-attr]
    assert page.by_id("reason") == ("p", {"class": "error", "id": "reason"})
    assert "no model <here>" in page.text
    assert "model_unavailable" in page.text
    assert page.tags("a") == [{"href": "docs"}]


ASSET_TYPES = {
    "card.css": "text/css",
    "card.js": "text/javascript",
    "docs.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "openapi.yaml": "application/yaml",
}


@pytest.mark.parametrize(("name", "media_type"), ASSET_TYPES.items())
def test_every_asset_is_served_with_its_type_and_the_security_headers(
    name: str, media_type: str
) -> None:
    reply = asset(name)
    assert reply.status == 200
    assert reply.media_type == media_type
    assert reply.headers["Content-Security-Policy"] == CSP
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"] == "public, max-age=300"
    assert reply.raw
    if name in ("card.css", "card.js", "docs.js"):
        assert reply.raw == (REPO / "serving" / "web" / name).read_bytes()


def test_an_unknown_asset_is_a_404_naming_every_asset() -> None:
    with pytest.raises(NotFound) as refused:
        asset("nothing.js")
    for name in ASSET_TYPES:
        assert name in refused.value.message


def test_the_docs_page_is_html_with_the_security_headers() -> None:
    reply = page()
    parsed = Page(reply.raw.decode())  # type: ignore[union-attr]
    assert reply.media_type == "text/html"
    assert reply.headers["Content-Security-Policy"] == CSP
    assert {"src": "assets/docs.js"} in parsed.tags("script")


def test_without_swagger_ui_installed_its_files_are_a_404_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serving import docs

    monkeypatch.setattr(docs, "SWAGGER_PACKAGE", "swagger_ui_that_is_not_installed")
    docs._read.cache_clear()
    try:
        with pytest.raises(NotFound) as refused:
            asset("swagger-ui-bundle.js")
        assert "swagger_ui_that_is_not_installed package" in refused.value.message
        assert asset("card.js").raw  # the function's own files do not need it
    finally:
        docs._read.cache_clear()


def test_the_card_reads_as_headed_sections_with_nothing_between_them() -> None:
    reply = card(PENGUIN_INFO, [feature_from_json(entry) for entry in PENGUIN_FEATURES], None)
    page = Page(reply.raw.decode())  # type: ignore[union-attr]
    assert page.loose == []
    assert page.text_of("title") == ["penguins · model card"]
    assert page.text_of("h1") == ["penguins v7"]
    assert page.text_of("small") == ["v7"]
    assert page.text_of("h2") == [
        "Model", "Metrics", "Training data", "Features", "Warnings", "Try it"
    ]  # fmt: skip
    assert page.text_of("h3") == ["Answer", "The same request with curl"]
    assert page.text_of("button") == ["Predict"]
    assert page.text_of("a") == ["API docs"]
    assert page.text_of("p")[0] == (
        "API docs · clients that do not ask for text/html get this page as JSON"
    )
    assert page.text_of("li") == ["trained on few rows"]
    assert page.text_of("summary") == ["4 features"]


def test_a_page_is_never_cached_and_varies_with_the_accept_header() -> None:
    for reply in (card({"name": "m"}, [Feature("a")], None), unavailable("why", "code")):
        assert reply.headers["Vary"] == "Accept"
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.log == {"html": True}
        assert reply.json == {}


def test_the_unavailable_card_reads_as_one_headed_section() -> None:
    page = Page(unavailable("why", "model_unavailable").raw.decode())  # type: ignore[union-attr]
    assert page.loose == []
    assert page.text_of("title") == ["Model not loaded"]
    assert page.text_of("h1") == ["Model not loaded"]
    assert page.text_of("p") == [
        "why",
        "Code: model_unavailable. The function retries loading on a later request; "
        "reload this page to try again.",
        "API docs",
    ]
