"""Fuzz cases whose right answer the generator knows, and the oracle that holds them to it.

Each strategy here builds a request of one input class (row counts past MAX_ROWS, long client
strings, CSV headers and byte-order marks, integer column labels, huge finite numbers, OIP
bodies naming a model, BigQuery calls, long Host labels, and issue 25's cells: lists and objects
in cells, integers int64 cannot hold, OIP shapes NumPy cannot build, what a string means in each
format) and says which status it must get, for a 200 how many rows the answer holds, and for a
bad cell which row (from 1) and feature the message names. The servers, the case types and the
oracle: tests/support/fuzz_targets.py; issue 25's cell classes: tests/support/fuzz_cells.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.support.fuzz_cells import bad_cells, cell_readings, oip_shapes
from tests.support.fuzz_targets import (
    DIGIT_NAMES,
    DIGITS,
    FUZZ_MAX_ROWS,
    MAIN,
    N_FEATURES,
    SERVED,
    Case,
    Expect,
    digits_row,
    json_case,
    main_row,
    plain_rows,
    some_rows,
    success,
)

# ---------------------------------------------------------------- the classes


@st.composite
def native(draw: st.DrawFn) -> Case:
    """This function's format at / and /predict: features or instances, probabilities,
    predict_method, explain; rows positional or keyed; huge finite numbers in some."""
    target = draw(st.sampled_from([MAIN, MAIN, DIGITS]))
    huge = target == MAIN and draw(st.booleans())
    rows = draw(some_rows(target, huge))
    if target == DIGITS and draw(st.booleans()):
        rows = [dict(zip(DIGIT_NAMES, row, strict=True)) for row in rows]
    key = draw(st.sampled_from(["features", "instances"]))
    single = key == "features" and len(rows) == 1 and draw(st.booleans())
    body: dict[str, Any] = {key: rows[0] if single else rows}
    probabilities = draw(st.booleans())
    if probabilities or draw(st.booleans()):
        body["probabilities"] = probabilities
    if draw(st.booleans()):
        body["parameters"] = {"predict_method": draw(st.sampled_from(["predict", "predict_proba"]))}
    if target == MAIN and not huge and draw(st.booleans()):
        body["explain"] = True  # the main model (a linear pipeline) answers explanations
    path = draw(st.sampled_from(["/", "/predict"]))
    return json_case(path, body, success(len(rows), huge), target)


@st.composite
def too_many_rows(draw: st.DrawFn) -> Case:
    """Empty rows (or short valid ones) in every format, either side of MAX_ROWS (50) and past
    the bracket count that refuses a body before it is parsed: 422 past the limit, else 400
    for empty rows, 200 for valid ones."""
    target = draw(st.sampled_from([MAIN, DIGITS]))
    count = draw(
        st.one_of(
            st.integers(1, FUZZ_MAX_ROWS),
            st.integers(FUZZ_MAX_ROWS + 1, 2 * FUZZ_MAX_ROWS + 1100),
            st.integers(2 * FUZZ_MAX_ROWS + 1100, 5000),
        )
    )
    over = count > FUZZ_MAX_ROWS
    key = draw(st.sampled_from(["features", "instances", "inputs", "dataframe_split", "calls"]))
    if key != "calls" and draw(st.booleans()):
        path = draw(st.sampled_from(["/", "/predict"]))
    else:
        path = "/invocations" if key in ("instances", "inputs", "dataframe_split") else "/"
    empty = count > 200 or draw(st.booleans())
    rows = [[]] * count if empty else plain_rows(target, count)
    body: dict[str, Any] = {key: {"data": rows} if key == "dataframe_split" else rows}
    if over:
        expect = Expect((422,), "too_many_rows", bigquery=key == "calls")
    elif empty:
        expect = Expect((400,), "invalid_input", bigquery=key == "calls")
    else:
        expect = success(count, bigquery=key == "calls")
    return json_case(path, body, expect, target)


@st.composite
def csv_rows(draw: st.DrawFn) -> Case:
    """CSV with or without a byte-order mark, CRLF or LF, many lines or few, and a header that
    names every feature (in any order), some of them, one twice, or none. The rule: a first
    row naming any feature is a header and must name each exactly once."""
    target = draw(st.sampled_from([MAIN, DIGITS]))
    names = list(SERVED[target].features)
    many = draw(st.integers(0, 5)) == 0
    count = draw(st.integers(FUZZ_MAX_ROWS - 2, FUZZ_MAX_ROWS + 60) if many else st.integers(1, 3))
    if many:  # short rows, so that many of them stay under the body limit
        rows = [["" if v is None else str(v) for v in row] for row in plain_rows(target, count)]
    elif target == MAIN:
        rows = [[str(v) for v in draw(main_row(False))] for _ in range(count)]
    else:
        rows = [["" if v is None else str(v) for v in draw(digits_row())] for _ in range(count)]
    header_kind = draw(st.sampled_from(["none", "all", "all", "some", "twice"]))
    header: list[str] | None = None
    if header_kind != "none":
        header = _shuffled(draw, names)
        if header_kind == "some":
            header = header[: draw(st.integers(1, len(names) - 1))]
        elif header_kind == "twice":
            header = [*header[:-1], header[0]]
        else:  # the data follows the header's order
            rows = [[row[names.index(name)] for name in header] for row in rows]
    lines = ([header] if header is not None else []) + rows
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(lines)
    body = out.getvalue().encode()
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    expect = _csv_expect(lines, names, body.count(b"\n"), FUZZ_MAX_ROWS)
    path = draw(st.sampled_from(["/", "/predict", "/invocations"]))
    content_type = draw(st.sampled_from(["text/csv", "text/csv; charset=utf-8"]))
    return Case("POST", path, content_type, body, "length", target=target, expect=expect)


@st.composite
def csv_bare_quotes(draw: st.DrawFn) -> Case:
    """CSV rows for "digits" whose text cell holds a quote that does not start it (`5" red`,
    ` "a"`): text, as the csv module and train.py read it (issue 26). Written as a spreadsheet
    does, not through csv.writer; the answer holds one prediction per row the csv module reads."""
    texts = st.sampled_from(['5" red', 'a"b', 'x""', '12"', ' "a"', 'b"",c"'])
    rows = [
        [str(draw(st.integers(0, 6))), "1", "", "0.5", draw(texts)]
        for _ in range(draw(st.integers(1, 4)))
    ]
    order = _shuffled(draw, list(range(len(DIGIT_NAMES))))
    lines = [[DIGIT_NAMES[i] for i in order], *([row[i] for i in order] for row in rows)]
    body = "".join(",".join(line) + "\n" for line in lines).encode()
    data = list(csv.reader(io.StringIO(body.decode())))[1:]
    if all(len(row) == len(order) for row in data):
        expect = success(len(data))
    else:  # `b"",c"` is two cells: the row is one too wide
        expect = Expect((400,), "invalid_input")
    return Case("POST", "/", "text/csv", body, "length", target=DIGITS, expect=expect)


def _csv_expect(lines: list[list[str]], names: list[str], newlines: int, max_rows: int) -> Expect:
    """The status the header rule gives these lines (a data row may name a feature too)."""
    if newlines > max_rows + 1:
        return Expect((422,), "too_many_rows")
    first = [cell.strip() for cell in lines[0]]
    is_header = not set(first).isdisjoint(names)
    data = lines[1:] if is_header else lines
    if len(data) > max_rows:
        return Expect((422,), "too_many_rows")
    if is_header and (sorted(first) != sorted(names) or not data):
        return Expect((400,), "invalid_input")
    return success(len(data))


@st.composite
def dataframe_split(draw: st.DrawFn) -> Case:
    """MLflow's dataframe_split with column labels in any order, as text, integers or a mix;
    a label the model does not have, or one named twice (0 and "0"), is a 400."""
    target = draw(st.sampled_from([MAIN, DIGITS, DIGITS]))
    names = list(SERVED[target].features)
    rows = draw(some_rows(target))
    order = _shuffled(draw, list(range(len(names))))
    labels: list[Any] = [names[i] for i in order]
    if target == DIGITS:
        as_numbers = draw(st.integers(0, 2 ** len(labels) - 1))  # which labels are integers
        labels = [int(x) if as_numbers >> i & 1 else x for i, x in enumerate(labels)]
    broken = draw(st.sampled_from(["", "", "unknown", "twice"]))
    if broken == "unknown":
        labels[draw(st.integers(0, len(labels) - 1))] = draw(st.sampled_from([99, -1, 1.0, True]))
    elif broken == "twice":
        labels[-1] = int(labels[0]) if target == DIGITS else labels[0]
    if target == MAIN and not broken and draw(st.booleans()):
        labels[0] = 0  # an integer label on a model whose names are words
        broken = "unknown"
    split: dict[str, Any] = {"columns": labels, "data": [[row[i] for i in order] for row in rows]}
    if draw(st.booleans()):
        split["index"] = list(range(len(rows)))
    path = draw(st.sampled_from(["/invocations", "/", "/predict"]))
    expect = Expect((400,), "invalid_input") if broken else success(len(rows))
    return json_case(path, {"dataframe_split": split}, expect, target)


def _long_text(draw: st.DrawFn, at_most: int) -> str:
    return draw(st.sampled_from("xé€\u00a0")) * draw(st.integers(41, at_most))


@st.composite
def long_strings(draw: st.DrawFn) -> Case:
    """A client's long string wherever one can go: the answer echoes 40 characters of it."""
    text = _long_text(draw, 4000)  # three bytes a character at most, twice
    ascii_text = "y" * draw(st.integers(41, 3000))  # inside gunicorn's 4 KB request line
    row = [1.0] * N_FEATURES
    tensor = {"name": "input", "shape": [1, N_FEATURES], "datatype": "FP64", "data": row}
    place = draw(
        st.sampled_from(
            [
                "predict_method",
                "params",
                "field",
                "parameter",
                "inputs",
                "model_name",
                "columns",
                "records",
                "bigquery_field",
                "content_type",
                "path_model",
                "query",
                "category",
            ]
        )
    )
    if place == "content_type":
        return Case(
            "POST", "/", "application/" + ascii_text, b"{}", "length", expect=Expect((415,))
        )
    if place == "path_model":
        return Case(
            "POST",
            f"/v1/models/{ascii_text}:predict",
            "application/json",
            json.dumps({"instances": [row]}).encode(),
            "length",
            expect=Expect((404,), "not_found"),
        )
    if place == "query":
        return Case(
            "POST",
            f"/?predict_method={ascii_text}",
            "text/csv",
            b"1" + b",1" * (N_FEATURES - 1),
            "length",
            expect=Expect((400,), "invalid_input"),
        )
    if place == "category":
        # "digits" takes any text in its text feature: a long one is a value, not an error.
        body = {"instances": [[1, 2, 0.5, 0.25, text]]}
        return json_case("/", body, success(1), DIGITS)
    bodies: dict[str, tuple[str, Any, int]] = {
        "predict_method": ("/", {"features": row, "parameters": {"predict_method": text}}, 400),
        "params": ("/invocations", {"instances": [row], "params": {"predict_method": text}}, 400),
        "field": ("/predict", {"features": row, text: 1}, 400),
        "parameter": ("/", {"features": row, "parameters": {text: "predict"}}, 400),
        "inputs": ("/", {"inputs": [tensor | {"name": text}, tensor | {"name": text + "2"}]}, 400),
        "model_name": (
            "/v2/models/breast-cancer/infer",
            {"model_name": text, "inputs": [tensor]},
            404,
        ),
        "columns": ("/invocations", {"dataframe_split": {"columns": [text], "data": [[1]]}}, 400),
        "records": ("/invocations", {"dataframe_records": [{text: 1.0}]}, 400),
        "bigquery_field": ("/", {"calls": [row], text: "x"}, 400),
    }
    path, body, status = bodies[place]
    code = "not_found" if status == 404 else "invalid_input"
    return json_case(path, body, Expect((status,), code, bigquery=place == "bigquery_field"))


@st.composite
def named_model(draw: st.DrawFn) -> Case:
    """OIP inference bodies that name the model (as KServe's client does), rightly or not, at
    every route that takes them: a wrong model_name or model_version is a 404."""
    served = SERVED[MAIN]
    rows = draw(some_rows(MAIN))
    tensor = {
        "name": draw(st.sampled_from(["input", "input-0", "x"])),
        "shape": [len(rows), N_FEATURES],
        "datatype": "FP64",
        "data": draw(st.sampled_from([rows, [v for row in rows for v in row]])),
    }
    body: dict[str, Any] = {"inputs": [tensor]}
    wrong = False
    name = draw(st.sampled_from(["right", "right", "wrong", "absent", "absent"]))
    if name != "absent":
        body["model_name"] = served.name if name == "right" else "other"
        wrong = name == "wrong"
    version = draw(st.sampled_from(["right", "right", "wrong", "absent", "absent"]))
    if version != "absent":
        body["model_version"] = served.version if version == "right" else "0-other"
        wrong = wrong or version == "wrong"
    if draw(st.booleans()):
        body["outputs"] = [{"name": "predict"}, {"name": "predict_proba"}]
    path = draw(
        st.sampled_from(
            [
                f"/v2/models/{served.name}/infer",
                f"/v2/models/{served.name}/versions/{served.version}/infer",
                "/",
                "/predict",
                f"/v1/models/{served.name}:predict",
            ]
        )
    )
    expect = Expect((404,), "not_found") if wrong else success(len(rows))
    return json_case(path, body, expect)


@st.composite
def bigquery_calls(draw: st.DrawFn) -> Case:
    """BigQuery remote function bodies: numbers as numbers or text, "NaN" and null (missing:
    a 400 for the main model, whose features need values; fine for "digits"), "" and "NA" in
    a number (text: a 400), a wrong argument count, huge numbers, and userDefinedContext's
    replies."""
    target = draw(st.sampled_from([MAIN, DIGITS]))
    huge = target == MAIN and draw(st.integers(0, 3)) == 0
    rows = draw(some_rows(target, huge))
    as_text = draw(st.sampled_from([0, 1, 2]))  # numbers as numbers, as text, or every other
    calls = [[_as_bigquery(v, as_text, i) for i, v in enumerate(row)] for row in rows]
    fault = draw(st.sampled_from(["", "", "", "width", "missing", "infinity", "context"]))
    index = draw(st.integers(0, len(calls) - 1))
    column = draw(st.integers(0, 3))  # a numeric feature in both models
    if fault == "width":
        calls[index] = draw(st.sampled_from([calls[index][:-1], [*calls[index], 1]]))
    elif fault == "missing":
        calls[index][column] = draw(st.sampled_from(["NaN", None, "", "NA"]))
    elif fault == "infinity":
        calls[index][column] = draw(st.sampled_from(["Infinity", "-Infinity"]))
    body: dict[str, Any] = {"calls": calls}
    if draw(st.booleans()):
        body |= {"requestId": "124ab1c", "caller": "//bigquery", "sessionUser": "u@example.com"}
    contexts: list[Any] = [
        None,
        {"output": "label"},
        {"output": "probabilities"},
        {"output": "probability", "class": 1 if target == MAIN else "yes"},
    ]
    context = {"output": "x"} if fault == "context" else draw(st.sampled_from(contexts))
    if context is not None:
        body["userDefinedContext"] = context
    # Missing values (null, "NaN") are fine for "digits" (every feature nullable), not for the
    # main model; "" and "NA" are text, which a number argument refuses (issue 25).
    missing = calls[index][column] if fault == "missing" else None
    refused = fault in ("width", "infinity", "context") or (
        fault == "missing" and (target == MAIN or missing in ("", "NA"))
    )
    if refused:
        expect = Expect((400,), "invalid_input", bigquery=True)
    else:
        expect = success(len(calls), huge, bigquery=True)
    return json_case(draw(st.sampled_from(["/", "/predict"])), body, expect, target)


def _as_bigquery(value: Any, as_text: int, index: int) -> Any:
    """A value as TO_JSON_STRING may write it: a number or its text, "NaN" for NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int | float) and (as_text == 1 or (as_text == 2 and index % 2)):
        return repr(value)
    return value


def _shuffled(draw: st.DrawFn, items: list[Any]) -> list[Any]:
    """The items in an order drawn from one seed (cheaper than drawing each position)."""
    order = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).permutation(len(items))
    return [items[i] for i in order]


@st.composite
def host_labels(draw: st.DrawFn) -> Case:
    """A Host header of dot-separated labels: one over 63 characters is a JSON 400."""
    labels = draw(st.lists(st.integers(1, 120).map(lambda n: "h" * n), min_size=1, max_size=4))
    host = ".".join(labels)
    path = draw(st.sampled_from(["/health", "/", "/v2/health/live"]))
    if any(len(label) > 63 for label in labels):
        expect = Expect((400,), "bad_request")
    else:
        expect = Expect((200,))
    return Case("GET", path, None, b"", "length", host=host, expect=expect)


@st.composite
def feature_values(draw: st.DrawFn) -> Case:
    """Issue 26 item 4: a refused value, in every format that can carry it, is never named:
    an integer feature's fraction, a number or boolean in a text feature, text in a number
    feature. The error names the row and the feature only."""
    target = draw(st.sampled_from([MAIN, DIGITS, DIGITS]))
    names = list(SERVED[target].features)
    row: list[Any] = list(plain_rows(target, 1)[0])
    if target == MAIN:
        column = draw(st.integers(0, N_FEATURES - 1))
        value: Any = f"s3cr3t-{draw(st.integers(10**5, 10**6))}"
        unechoed = value
    else:
        column = draw(st.sampled_from([0, 1, 4]))  # the integer features, the text feature
        if column == 4:
            value = draw(st.sampled_from([True, False, draw(st.integers(10**5, 10**6)) + 0.25]))
        else:
            value = draw(st.integers(100, 999)) + draw(st.sampled_from([0.125, 0.375, 0.625]))
        unechoed = str(value).lower()
    row[column] = value
    kind = draw(st.sampled_from(["instances", "records", "split", "calls", "csv"]))
    expect = Expect((400,), "invalid_input", unechoed=unechoed)
    if kind in ("csv", "calls") and column == 4 and target == DIGITS:
        kind = "instances"  # a CSV or BigQuery cell may be text: "True" is text there
    if kind == "csv":  # a header first: a data row naming a feature would be read as one
        lines = [names, ["" if v is None else str(v) for v in row]]
        out = io.StringIO()
        csv.writer(out).writerows(lines)
        body = out.getvalue().encode()
        return Case("POST", "/", "text/csv", body, "length", target=target, expect=expect)
    bodies = {
        "instances": ("/", {"instances": [row]}),
        "records": ("/invocations", {"dataframe_records": [dict(zip(names, row, strict=True))]}),
        "split": ("/invocations", {"dataframe_split": {"columns": names, "data": [row]}}),
        "calls": ("/", {"calls": [row]}),
    }
    path, body = bodies[kind]
    return json_case(path, body, replace(expect, bigquery=kind == "calls"), target)


@st.composite
def client_strings(draw: st.DrawFn) -> Case:
    """Issue 26 item 6: a client's strings past 40 characters are never answered whole: the
    request id, the user agent, trace ids, OIP binary input names and header values, an OIP
    id (refused over 40), on requests answered 200 or 400."""
    long = draw(st.sampled_from("kz7")) * draw(st.integers(41, 4000))
    unechoed = long[:41]
    served = SERVED[MAIN]
    place = draw(st.sampled_from(["request id", "user agent", "trace", "input name", "length",
                                  "oip id"]))  # fmt: skip
    if place in ("request id", "user agent", "trace"):
        header = {
            "request id": ("Function-Execution-Id", long),
            "user agent": ("User-Agent", long),
            "trace": ("X-Cloud-Trace-Context", f"{long}/{long[:1000]}"),
        }[place]
        good = draw(st.booleans())
        body = {"features": [1.0] * (N_FEATURES if good else N_FEATURES - 1)}
        expect = success(1) if good else Expect((400,), "invalid_input")
        case = json_case(draw(st.sampled_from(["/", "/predict"])), body, expect)
        return replace(case, headers=(header,), expect=replace(case.expect, unechoed=unechoed))
    path = f"/v2/models/{served.name}/infer"
    if place == "oip id":
        tensor = {"name": "input", "shape": [1, N_FEATURES], "datatype": "FP64"}
        request_id = long[: draw(st.integers(1, 80))]
        body = {"id": request_id, "inputs": [tensor | {"data": [1.0] * N_FEATURES}]}
        if len(request_id) <= 40:
            return json_case(path, body, success(1))
        return json_case(path, body, Expect((400,), "invalid_input", unechoed=request_id[:41]))
    data = np.ones(N_FEATURES, dtype="<f8").tobytes()
    name = long if place == "input name" else "input"
    size = len(data) + draw(st.sampled_from([8, 16, -8]))
    tensor = {"name": name, "shape": [1, N_FEATURES], "datatype": "FP64"}
    header_part = json.dumps({"inputs": [tensor | {"parameters": {"binary_data_size": size}}]})
    declared = str(len(header_part)) if place == "input name" else long
    return Case(
        "POST",
        path,
        "application/octet-stream",
        header_part.encode() + data,
        "length",
        (("Inference-Header-Content-Length", declared),),
        expect=Expect((400,), "invalid_input", unechoed=unechoed),
    )


@st.composite
def http_rules(draw: st.DrawFn) -> Case:
    """Issue 26 item 10: GET / with an Accept header that does not prefer HTML (q-values,
    q=0, a tie, case) is JSON, marked `Vary: Accept`; /docs/ is sent to /docs; a record keyed
    by a JavaScript prototype name is an unknown feature like any other."""
    kind = draw(st.sampled_from(["accept", "accept", "docs", "prototype"]))
    if kind == "docs":
        slashes = draw(st.integers(1, 3))
        expect = Expect((301,), header=("location", "../" * slashes + "docs"))
        return Case("GET", "/docs" + "/" * slashes, None, b"", "length", expect=expect)
    if kind == "prototype":
        name = draw(st.sampled_from(["__proto__", "constructor", "toString", "hasOwnProperty"]))
        record = dict(zip(SERVED[MAIN].features, [1.0] * N_FEATURES, strict=True))
        record = {**record, name: 1.0} if draw(st.booleans()) else {name: 1.0}
        return json_case("/", {"instances": [record]}, Expect((400,), "invalid_input"))
    html = draw(st.sampled_from(["text/html", "TEXT/HTML", "Text/Html", "text/*"]))
    accept = draw(
        st.sampled_from(
            [
                f"{html};q=0",
                f"{html};q=0, */*",
                f"application/json, {html}",
                f"{html}, application/json",
                f"{html};q=0.4, application/json;q=0.5",
                f"{html};Q=0.2, */*;q=0.3",
                "*/*",
                "application/json",
            ]
        )
    )
    method = draw(st.sampled_from(["GET", "HEAD"]))
    expect = Expect((200,), header=("vary", "Accept"))
    return Case(method, "/", None, b"", "length", (("Accept", accept),), expect=expect)


def known_cases() -> st.SearchStrategy[Case]:
    """Every class whose right answer the generator knows."""
    classes = (
        native,
        too_many_rows,
        csv_rows,
        csv_bare_quotes,
        dataframe_split,
        long_strings,
        named_model,
        bigquery_calls,
        host_labels,
        feature_values,
        client_strings,
        http_rules,
        bad_cells,
        oip_shapes,
        cell_readings,
    )
    return st.one_of(
        *(one().map(lambda case, kind=one.__name__: replace(case, kind=kind)) for one in classes)
    )
