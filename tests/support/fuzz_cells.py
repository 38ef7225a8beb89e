"""Fuzz classes of issue 25's cell rule, with the answer each must get: lists and objects in
cells, integers int64 cannot hold, OIP shapes NumPy cannot build, and what a string means in
each format (joined to the others by tests/support/fuzz_known.py's known_cases).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from tests.support.fuzz_targets import (
    DIGITS,
    DIGITS_SKLEARN,
    INT64_MAX,
    INT64_MIN,
    MAIN,
    SERVED,
    Case,
    Expect,
    json_case,
    plain_rows,
    success,
)

# Each JSON format a row can take, as (path, body) from the rows and the feature names.
CELL_FORMATS = ("instances", "records", "split", "MLflow records", "MLflow inputs", "calls")


def _cell_body(fmt: str, rows: list[list[Any]], names: list[str]) -> tuple[str, Any]:
    records = [dict(zip(names, row, strict=True)) for row in rows]
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return {
        "instances": ("/", {"instances": rows}),
        "records": ("/predict", {"instances": records}),
        "split": ("/invocations", {"dataframe_split": {"columns": names, "data": rows}}),
        "MLflow records": ("/invocations", {"dataframe_records": records}),
        "MLflow inputs": ("/invocations", {"inputs": columns}),
        "calls": ("/", {"calls": rows}),
    }[fmt]


@st.composite
def bad_cells(draw: st.DrawFn) -> Case:
    """Issue 25 items 6 and 7, in every JSON format, on both runtimes: a list or an object where
    a value belongs, an integer int64 cannot hold (as a number, or as BigQuery's text) and one
    with a fraction are a 400 naming the row (from 1) and the feature; int64's own ends are
    answered."""
    target = draw(st.sampled_from([MAIN, DIGITS, DIGITS_SKLEARN]))
    names = list(SERVED[target].features)
    rows = [list(row) for row in plain_rows(target, draw(st.integers(1, 4)))]
    index = draw(st.integers(0, len(rows) - 1))
    fmt = draw(st.sampled_from(CELL_FORMATS))
    fault = draw(st.sampled_from(["list", "object"] if target == MAIN else
                                 ["list", "object", "beyond", "fraction", "ends"]))  # fmt: skip
    if fault in ("list", "object"):
        column = draw(st.integers(0, len(names) - 1))
        lists = [[5], [1.0, 2.0], [], [[1]], ["a"]]
        value: Any = draw(st.sampled_from(lists if fault == "list" else [{"a": 1}, {}]))
        wanted = "text" if target != MAIN and column == 4 else "a"  # "a number", "an integer"
        says = f"row {index + 1}, feature {names[column]!r}: expected {wanted}"
        expect = Expect((400,), "invalid_input", says=says)
    else:
        column = draw(st.sampled_from([0, 1]))  # the integer features
        if fault == "beyond":
            value = draw(st.sampled_from([2**63, INT64_MIN - 1, 2**64 - 1, 1e20, -1e19]))
            says = f"row {index + 1}, feature {names[column]!r}: the value is outside the integers"
            expect = Expect((400,), "invalid_input", says=says)
        elif fault == "fraction":
            value = draw(st.integers(-99, 99)) + 0.5
            says = f"row {index + 1}, feature {names[column]!r}: expected an integer, got a number"
            expect = Expect((400,), "invalid_input", says=says, unechoed=repr(value))
        else:
            value = draw(st.sampled_from([INT64_MAX, INT64_MIN]))
            expect = success(len(rows), bigquery=fmt == "calls")
        if fmt == "calls" and isinstance(value, int) and draw(st.booleans()):
            value = str(value)  # as TO_JSON_STRING writes an INT64 beyond 2^53
    rows[index][column] = value
    path, body = _cell_body(fmt, rows, names)
    return json_case(path, body, replace(expect, bigquery=fmt == "calls"), target)


@st.composite
def oip_shapes(draw: st.DrawFn) -> Case:
    """Issue 25 item 7: an OIP shape NumPy cannot build, a dimension past its index type beside
    a 0 or more dimensions than it has, is a 400 saying so, never a 500."""
    served = SERVED[MAIN]
    if draw(st.booleans()):
        shape = [0, draw(st.sampled_from([2**63, 2**63 + 5, 2**64 - 1]))]
        shape = shape if draw(st.booleans()) else shape[::-1]
        data: list[Any] = []
    else:
        fill = draw(st.sampled_from([0, 1]))
        shape = [fill] * draw(st.integers(65, 300))
        data = [] if fill == 0 else [1]
    datatype = draw(st.sampled_from(["FP64", "INT64", "BYTES"]))
    data = [str(v) for v in data] if datatype == "BYTES" else data
    tensor = {"name": "input", "shape": shape, "datatype": datatype, "data": data}
    path = draw(st.sampled_from([f"/v2/models/{served.name}/infer", "/"]))
    expect = Expect((400,), "invalid_input", says="cannot hold the data")
    return json_case(path, {"inputs": [tensor]}, expect)


@st.composite
def cell_readings(draw: st.DrawFn) -> Case:
    """Issue 25 items 2 and 4: what a string means depends on the format, never on how it
    looks. On "digits" (every feature may be missing; feature 4 takes any text): in JSON, OIP
    JSON and BigQuery a string in the text feature is that text, "" "NA" and "None" included,
    and null is missing; a string in a number feature is refused in JSON, read as a number (or
    "NaN", missing) by BigQuery and OIP BYTES, where "" and "NA" are text, refused; in CSV an
    empty cell or an NA marker is missing, in any feature."""
    target = draw(st.sampled_from([DIGITS, DIGITS_SKLEARN]))
    names = list(SERVED[target].features)
    rows = [list(row) for row in plain_rows(target, draw(st.integers(1, 3)))]
    index = draw(st.integers(0, len(rows) - 1))
    fmt = draw(st.sampled_from(["JSON", "calls", "OIP JSON", "CSV"]))
    text = draw(st.booleans())
    column = 4 if text else draw(st.sampled_from([2, 3]))
    spelled = ["", "NA", "None", "null", "nan", "NaN", " a", "1.5", None]
    value = draw(st.sampled_from(spelled))
    where = f"row {index + 1}, feature {names[column]!r}: expected a number, got text"
    refused = Expect((400,), "invalid_input", bigquery=fmt == "calls", says=where)
    if text or value is None:
        expect = success(len(rows), bigquery=fmt == "calls")
    elif fmt == "JSON":
        expect = refused
    elif fmt == "CSV":  # an NA marker is missing; any other text spells a number or is refused
        taken = ("", "NA", "None", "null", "nan", "NaN", "1.5")
        expect = success(len(rows)) if value in taken else refused
    elif value in ("nan", "NaN", "1.5"):  # BigQuery and OIP BYTES: numbers spelled as text
        expect = success(len(rows), bigquery=fmt == "calls")
    else:
        expect = refused
    rows[index][column] = value
    if fmt == "CSV":
        if value is None:
            value = rows[index][column] = ""
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        out = io.StringIO()
        csv.writer(out).writerows([names, *cells])
        body = out.getvalue().encode()
        return Case("POST", "/", "text/csv", body, "length", target=target, expect=expect)
    if fmt == "OIP JSON":
        columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        inputs = [
            {"name": name, "shape": [len(rows)], "datatype": "BYTES",
             "data": [v if v is None or isinstance(v, str) else repr(v) for v in values]}
            for name, values in columns.items()
        ]  # fmt: skip
        path = f"/v2/models/{SERVED[target].name}/infer"
        return json_case(path, {"inputs": inputs}, expect, target)
    path, body = _cell_body("instances" if fmt == "JSON" else "calls", rows, names)
    return json_case(path, body, expect, target)
