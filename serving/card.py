"""The model card: GET / for a browser, an HTML page of what is served with a form to try it.

A browser is a client whose Accept prefers text/html (serving/html_page.py); the form posts
one row to the function. Every other client keeps the JSON.

Everything that comes from the manifest or the request is escaped; the page loads only the
function's own script and style (see CSP), so it works offline and behind the identity proxy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from serving.exchange import Reply
from serving.html_page import html_reply
from serving.schema import Feature

FEATURES_SHOWN = 12


def card(
    info: Mapping[str, Any], features: Sequence[Feature], example: Mapping[str, Any] | None
) -> Reply:
    """The card of a loaded model: `info` is `model_summary(model)`, with the manifest's
    features and example row."""
    row = example_row(example, features)
    classifier = info.get("classes") is not None
    training = info.get("training_data") if isinstance(info.get("training_data"), dict) else {}
    facts = [
        ("Version", info.get("model_version")),
        ("Task", info.get("task")),
        ("Runtime", info.get("runtime")),
        ("Source", info.get("source")),
        ("Manifest sha256 (pin)", info.get("manifest_sha256")),
        ("Created", info.get("created_at")),
        ("Classes", _json(info.get("classes")) if classifier else None),
        ("Explanations", _explanations(info.get("explanations"))),
    ]
    body = [
        f"<h1>{_e(info.get('name'))} <small>{_e(info.get('model_version'))}</small></h1>",
        '<p class="links"><a href="docs">API docs</a> · '
        "clients that do not ask for text/html get this page as JSON</p>",
        "<h2>Model</h2>",
        _table(("", ""), [(k, v) for k, v in facts if v is not None]),
        "<h2>Metrics</h2>",
        _table(("Metric", "Value"), _items(info.get("metrics"))) or "<p>none recorded</p>",
        "<h2>Training data</h2>",
        _table(("", ""), _items(training)) or "<p>not recorded</p>",
        "<h2>Features</h2>",
        _features(features),
        _warnings(info.get("warnings")),
        "<h2>Try it</h2>",
        _form(features, row, classifier, _explained(info.get("explanations"))),
    ]
    return html_reply(_page(f"{info.get('name')} · model card", "\n".join(body)))


def unavailable(reason: str, code: str) -> Reply:
    """The card while the model cannot load: why, as the JSON `loaded: false` answer says."""
    body = (
        "<h1>Model not loaded</h1>"
        f'<p class="error" id="reason">{_e(reason)}</p>'
        f"<p>Code: <code>{_e(code)}</code>. The function retries loading on a later request; "
        "reload this page to try again.</p>"
        '<p class="links"><a href="docs">API docs</a></p>'
    )
    return html_reply(_page("Model not loaded", body))


def example_row(example: Mapping[str, Any] | None, features: Sequence[Feature]) -> dict[str, Any]:
    """One valid row to prefill the form: the manifest's example where it names a feature,
    else a neutral value (0 for numbers, false, the first category, an empty string)."""
    given = example or {}
    row: dict[str, Any] = {}
    for feature in features:
        if feature.name in given:
            row[feature.name] = given[feature.name]
        elif feature.type == "boolean":
            row[feature.name] = False
        elif feature.type == "string":
            row[feature.name] = feature.categories[0] if feature.categories else ""
        else:
            row[feature.name] = 0
    return row


def _form(
    features: Iterable[Feature], example: Mapping[str, Any], classifier: bool, explained: bool
) -> str:
    fields = [_field(feature, example.get(feature.name)) for feature in features]
    return (
        f'<form id="try" data-probabilities="{"true" if classifier else "false"}"'
        f' data-explain="{"true" if explained else "false"}">'
        f'<div class="fields">{"".join(fields)}</div>'
        '<button type="submit" id="submit">Predict</button></form>'
        '<h3>Answer</h3><p id="prediction" class="prediction"></p>'
        '<table id="probabilities" class="probabilities"></table>'
        '<div id="explanation" class="explanation"></div>'
        '<pre id="answer"></pre>'
        '<h3>The same request with curl</h3><pre id="curl"></pre>'
        '<script src="assets/card.js"></script>'
    )


def _field(feature: Feature, value: Any) -> str:
    name = _e(feature.name)
    attrs = f'name="{name}" id="f-{name}" data-type="{_e(feature.type)}"'
    attrs += f' data-nullable="{"true" if feature.nullable else "false"}"'
    if feature.type == "boolean":
        options = [("true", value is True), ("false", value is not True)]
        control = f"<select {attrs}>{_options(options)}</select>"
    elif feature.type == "string" and feature.categories:
        options = [(c, c == value) for c in feature.categories]
        if feature.nullable:
            options.append(("", value is None))
        control = f"<select {attrs}>{_options(options)}</select>"
    elif feature.type == "string":
        control = f'<input type="text" {attrs} value="{_e("" if value is None else value)}">'
    else:
        step = "1" if feature.type == "integer" else "any"
        shown = "" if value is None else value
        control = f'<input type="number" step="{step}" {attrs} value="{_e(shown)}">'
    return f'<label for="f-{name}"><span>{name}</span>{control}</label>'


def _options(options: Iterable[tuple[str, bool]]) -> str:
    return "".join(
        f'<option value="{_e(v)}"{" selected" if chosen else ""}>{_e(v) or "(missing)"}</option>'
        for v, chosen in options
    )


def _features(features: Sequence[Feature]) -> str:
    """The features' table; folded away when long (the form names them all too)."""
    table = _table(
        ("Name", "Type", "Nullable", "Categories"),
        [
            (f.name, f.type, "yes" if f.nullable else "no", ", ".join(f.categories or ()))
            for f in features
        ],
    )
    fold = "" if len(features) > FEATURES_SHOWN else " open"
    return f"<details{fold}><summary>{len(features)} features</summary>{table}</details>"


def _explained(status: Any) -> bool:
    return isinstance(status, dict) and status.get("available") is True


def _explanations(status: Any) -> str | None:
    """How the model explains its answers (method, output space), or why it does not."""
    if not isinstance(status, dict):
        return None
    if status.get("available"):
        return f"{status.get('method')}, in {status.get('output')}"
    return f"none: {status.get('reason')}"


def _warnings(warnings: Any) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f'<h2>Warnings</h2><ul class="warnings">{items}</ul>'


def _items(mapping: Any) -> list[tuple[str, Any]]:
    if not isinstance(mapping, dict):
        return []
    return [
        (str(k), v if isinstance(v, str | int | float) else _json(v)) for k, v in mapping.items()
    ]


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return ""
    header = "" if not any(head) else "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
    lines = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{header}{lines}</table>"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="assets/card.css">'
        f"</head><body><main>{body}</main></body></html>"
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)
