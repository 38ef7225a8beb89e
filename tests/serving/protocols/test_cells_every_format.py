"""The checks of every request format: bad cells (JSON, CSV, OIP BYTES and binary data),
columns in another order, each format's shape errors, and a value that overflows inside the
model: each a 400 saying what was expected, on a real server and in process (`send`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.support.format_requests import (
    ALL,
    CSV_TYPE,
    DATA,
    MAX_ROWS,
    NAMES,
    PROBA,
    WIDTH,
    Request,
    Send,
    as_json,
    assert_refused,
    build,
    oip_binary,
    per_feature,
    probabilities_of,
    rows,
)

pytestmark = pytest.mark.in_process


# Every per-format check in every format: a bad cell in row 2, feature 'mean radius'.
FIRST = json.dumps(float(DATA.data[1][0])).encode()  # 20.57, once in a two-row request
BAD_CELLS = {
    "not finite": (b"1e999", b"Infinity"),
    "missing": (b"null", b"NaN"),
    "text": (b'"abc"', b'"abc"'),
}
CELL_FORMATS = [f for f in ALL if not f.startswith(("OIP", "CSV"))]


@pytest.mark.parametrize("check", sorted(BAD_CELLS))
@pytest.mark.parametrize("fmt", CELL_FORMATS)
def test_a_bad_cell_is_400_naming_row_and_feature(
    send: Send, model_name: str, fmt: str, check: str
) -> None:
    request = build(fmt, model_name, 2)
    assert request.body.count(FIRST) == 1
    cell = BAD_CELLS[check][1 if fmt == "BigQuery calls" and check != "text" else 0]
    if fmt == "BigQuery calls" and check != "text":
        cell = b'"' + cell + b'"'
    answer = send(Request("POST", request.path, request.body.replace(FIRST, cell), request.headers))
    if check == "not finite" and fmt != "BigQuery calls":
        # JSON has no infinity: orjson refuses a number out of range as invalid JSON.
        assert_refused(answer, 400, "invalid_json", "not valid JSON")
        return
    expected = {
        "not finite": "values must be finite numbers",
        "missing": "missing, but this model needs a value there",
        "text": "expected a number, got text",
    }[check]
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius'", expected)


CSV_CELLS = {"not finite": "inf", "missing": "", "text": "abc"}


@pytest.mark.parametrize("check", sorted(CSV_CELLS))
@pytest.mark.parametrize("fmt", ["CSV with header", "CSV without header", "CSV at /invocations"])
def test_a_bad_csv_cell_is_400(send: Send, model_name: str, fmt: str, check: str) -> None:
    request = build(fmt, model_name, 2)
    body = request.body.replace(b"\n" + FIRST + b",", b"\n" + CSV_CELLS[check].encode() + b",")
    assert body != request.body
    answer = send(Request("POST", request.path, body, request.headers))
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius'")


# OIP per-feature inputs: BYTES text in JSON data is read as numbers, "nan" (and null) is
# missing; a string is never missing, so "" and "NA" are text (serving/cells.py's "bigquery").
@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("nan", "missing, but this model needs a value there"),
        (None, "missing, but this model needs a value there"),
        ("", "expected a number, got text"),
        ("NA", "expected a number, got text"),
        ("inf", "values must be finite numbers"),
        ("-Infinity", "values must be finite numbers"),
        ("abc", "expected a number, got text"),
    ],
)
@pytest.mark.parametrize("path", ["/v2/models/{}/infer", "/"])
def test_oip_bytes_cells_are_checked_like_every_other_cell(
    send: Send, model_name: str, path: str, cell: str | None, expected: str
) -> None:
    inputs = per_feature(2, WIDTH)
    inputs[0] = {**inputs[0], "datatype": "BYTES", "data": ["13.5", cell]}
    answer = send(as_json(path.format(model_name), {"inputs": inputs}))
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius'", expected)


def test_oip_bytes_numbers_are_answered_like_fp64(send: Send, model_name: str) -> None:
    inputs = per_feature(2, WIDTH)
    path = f"/v2/models/{model_name}/infer"
    plain = send(as_json(path, {"inputs": inputs}))
    inputs[0] = {**inputs[0], "datatype": "BYTES", "data": [repr(v) for v in inputs[0]["data"]]}
    assert send(as_json(path, {"inputs": inputs})).body["outputs"] == plain.body["outputs"]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_oip_binary_non_finite_values_are_400(send: Send, model_name: str, value: float) -> None:
    request = oip_binary(model_name, 2, WIDTH)
    first = np.float64(DATA.data[1][0]).astype("<f8").tobytes()
    assert request.body.count(first) == 1
    body = request.body.replace(first, np.float64(value).astype("<f8").tobytes())
    answer = send(Request("POST", request.path, body, request.headers))
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius'")


# Columns named in another order are put in the model's order: rotated by one, a permutation
# that is not its own inverse (reversing is, and would hide an inverted reordering).
ROTATED = NAMES[1:] + NAMES[:1]


def rotate(row: list[float]) -> list[float]:
    return row[1:] + row[:1]


@pytest.fixture(scope="module")
def probabilities(send: Send) -> list[list[float]]:
    answer = send(as_json("/", {"instances": rows(MAX_ROWS), "parameters": PROBA}))
    assert answer.status == 200, answer.body
    return list(answer.body["predictions"])


def test_rotated_columns_are_reordered_in_every_named_format(
    send: Send, model_name: str, probabilities: list[list[float]]
) -> None:
    data = [rotate(row) for row in rows(MAX_ROWS)]
    split = {"dataframe_split": {"columns": ROTATED, "data": data}, "params": PROBA}
    columns = {name: [row[i] for row in data] for i, name in enumerate(ROTATED)}
    text = "\n".join(
        [",".join(json.dumps(n) for n in ROTATED)] + [",".join(map(repr, r)) for r in data]
    )
    answers = {
        "MLflow split": send(as_json("/invocations", split)),
        "MLflow columns": send(as_json("/invocations", {"inputs": columns, "params": PROBA})),
        "CSV": send(Request("POST", "/?predict_method=predict_proba", text.encode(), CSV_TYPE)),
        "CSV at /invocations": send(
            Request("POST", "/invocations?predict_method=predict_proba", text.encode(), CSV_TYPE)
        ),
    }
    for fmt, answer in answers.items():
        assert answer.status == 200, (fmt, answer.body)
        assert answer.body["predictions"] == probabilities, fmt
    inputs = [
        {"name": name, "shape": [MAX_ROWS], "datatype": "FP64", "data": [r[i] for r in data]}
        for i, name in enumerate(ROTATED)
    ]
    oip = {"inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    answer = send(as_json(f"/v2/models/{model_name}/infer", oip))
    assert answer.body["outputs"][0]["data"] == [p for row in probabilities for p in row]


# Each format's shape errors, with the exact message a client reads.
ONE = rows(1)[0]
SHAPE_ERRORS = [
    ("/invocations", {"dataframe_split": [ONE]}, "'dataframe_split' must be an object with 'data'"),
    (
        "/invocations",
        {"dataframe_split": {"columns": NAMES}},
        "'dataframe_split' must be an object with 'data' (and 'columns')",
    ),
    (
        "/invocations",
        {"dataframe_split": {"data": [ONE], "zz": 1, "aa": 2}},
        "dataframe_split: unknown field 'aa'",
    ),
    (
        "/invocations",
        {"dataframe_split": {"data": [ONE], "columns": "mean radius"}},
        "dataframe_split 'columns' must be a list of column names",
    ),
    ("/invocations", {"dataframe_records": {"a": 1}}, "'dataframe_records' must be a list of obj"),
    (
        "/invocations",
        {"dataframe_records": [dict(zip(NAMES, ONE, strict=True)), ONE]},
        "'dataframe_records' must be a list of objects keyed by column",
    ),
    (
        "/invocations",
        {"dataframe_records": [], "zz": 1},
        "unknown field 'zz'; accepted: dataframe_r",
    ),
    ("/", {"inputs": 3}, "'inputs' must be a list of rows or an object of feature columns"),
    ("/", {"inputs": [ONE], "parameters": {"a": 1}}, "unknown parameter 'a'; accepted: predict_m"),
    ("/", {"inputs": [ONE], "parameters": 3}, "'parameters' must be an object such as {\"predict"),
    ("/", {"inputs": [ONE], "parameters": {}, "params": {}}, "give 'parameters' or 'params', not"),
    ("/", {"features": ONE, "probabilities": 1}, "'probabilities' must be true or false"),
    ("/", {"features": []}, "'features' must be a non-empty list: {\"features\": [x1, ..., xn]}"),
    ("/", [ONE], 'body must be a JSON object; accepted shapes: {"features": [...]}'),
    ("/", {}, 'body matches no accepted format; accepted shapes: {"features"'),
    (
        "/",
        {"features": [ONE], "calls": [ONE]},
        "body matches more than one format (features, calls)",
    ),
]


@pytest.mark.parametrize(("path", "body", "message"), SHAPE_ERRORS)
def test_shape_errors_say_what_was_expected(send: Send, path: str, body: Any, message: str) -> None:
    answer = send(as_json(path, body))
    assert_refused(answer, 400, "invalid_input")
    assert answer.body["error"].startswith(message)


def test_parameters_null_and_split_index_are_accepted(send: Send) -> None:
    split = {"dataframe_split": {"data": [ONE], "index": [7]}, "params": PROBA}
    answer = send(as_json("/invocations", split))
    assert answer.body["predictions"] == probabilities_of(send, 1)
    assert send(as_json("/", {"inputs": [ONE], "parameters": None})).status == 200


def test_overflow_inside_the_model_is_400_not_finite(send: Send) -> None:
    answer = send(as_json("/", {"instances": [ONE, [1e308] * WIDTH]}))
    assert_refused(answer, 400, "not_finite", "is not a finite number; send values within")
