"""Every limit at its boundary and one past it, in every request format.

One table: for each format (this function's own, OIP v2 JSON and binary, KServe v1, MLflow's
four shapes, Vertex AI's route, CSV, BigQuery calls, POST /predict) a builder makes a request
of any row count and width; each limit (MAX_ROWS, MAX_BODY_BYTES, the feature count, the
bracket and line counts read before parsing, the echo cut of a client's value) is sent at the
boundary, which must be answered, and one past it, which must get its own status and code.
Then each check and option in every format it applies to: bad cells, columns in another
order, the formats each route takes, BigQuery's userDefinedContext, OIP binary outputs.
The table runs against a real functions-framework server, and in-process through the same
app (the mutation run, bench/mutation.py, sees only in-process code).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from serving.manifest import MANIFEST_NAME
from tests.support.servers import REPO, SETTINGS_VARIABLES, start_server

pytestmark = pytest.mark.in_process

MAX_ROWS = 4
MAX_BODY_BYTES = 8192
ECHO = 40  # serving/validate.py cuts a client's value to this many characters
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]
WIDTH = len(NAMES)
VERTEX_ROUTE = "/vertex/predict"
ENV = {
    "MAX_ROWS": str(MAX_ROWS),
    "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "AIP_PREDICT_ROUTE": VERTEX_ROUTE,
    "MODEL_RUNTIME": "sklearn",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


Send = Callable[[Request], Answer]


def rows(count: int, width: int = WIDTH) -> list[list[float]]:
    """Real rows of the breast-cancer data, cut or widened (by repeating values) to `width`."""
    picked = DATA.data[:count]
    return [[float(row[i % WIDTH]) for i in range(width)] for row in picked]


def names(width: int) -> list[str]:
    return [*NAMES, *(f"extra {i}" for i in range(width - WIDTH))][:width]


def as_json(path: str, body: dict[str, Any], pad: int = 0) -> Request:
    return Request("POST", path, json.dumps(body).encode() + b" " * pad, _JSON)


_JSON = {"Content-Type": "application/json"}
_CSV = {"Content-Type": "text/csv"}


def records(count: int, width: int) -> list[dict[str, float]]:
    return [dict(zip(names(width), row, strict=True)) for row in rows(count, width)]


def tensor(count: int, width: int) -> dict[str, Any]:
    flat = [value for row in rows(count, width) for value in row]
    return {"name": "input", "shape": [count, width], "datatype": "FP64", "data": flat}


def per_feature(count: int, width: int) -> list[dict[str, Any]]:
    columns = np.asarray(rows(count, width)).T.tolist() if count else [[]] * width
    return [
        {"name": name, "shape": [count], "datatype": "FP64", "data": column}
        for name, column in zip(names(width), columns, strict=True)
    ]


def oip_binary(model: str, count: int, width: int, pad: int = 0) -> Request:
    data = np.asarray(rows(count, width), dtype="<f8").tobytes()
    header = {
        "inputs": [
            {
                "name": "input",
                "shape": [count, width],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(data)},
            }
        ]
    }
    json_part = json.dumps(header).encode() + b" " * pad
    headers = {"Content-Type": "application/octet-stream"}
    headers["Inference-Header-Content-Length"] = str(len(json_part))
    return Request("POST", f"/v2/models/{model}/infer", json_part + data, headers)


def csv(path: str, count: int, width: int, header: bool, pad: int = 0) -> Request:
    lines = [",".join(json.dumps(n) for n in names(width))] if header else []
    lines += [",".join(repr(v) for v in row) for row in rows(count, width)]
    text = "\n".join(lines) + "0" * pad + "\n"
    return Request("POST", path, text.encode(), _CSV)


# Each format: (count, width, pad) -> a request of `count` rows of `width` values, `pad` bytes
# longer than it needs to be (spaces after JSON, zeros after CSV's last number).
Builder = Callable[[str, int, int, int], Request]
FORMATS: dict[str, Builder] = {
    "own features": lambda m, n, w, p: as_json("/", {"features": rows(n, w)}, p),
    "own instances": lambda m, n, w, p: as_json("/", {"instances": rows(n, w)}, p),
    "own records": lambda m, n, w, p: as_json("/", {"instances": records(n, w)}, p),
    "POST /predict": lambda m, n, w, p: as_json("/predict", {"features": rows(n, w)}, p),
    "Vertex AI": lambda m, n, w, p: as_json(VERTEX_ROUTE, {"instances": rows(n, w)}, p),
    "OIP JSON": lambda m, n, w, p: as_json(f"/v2/models/{m}/infer", {"inputs": [tensor(n, w)]}, p),
    "OIP per feature": lambda m, n, w, p: as_json(
        f"/v2/models/{m}/infer", {"inputs": per_feature(n, w)}, p
    ),
    "OIP at /": lambda m, n, w, p: as_json("/", {"inputs": [tensor(n, w)]}, p),
    "OIP binary": lambda m, n, w, p: oip_binary(m, n, w, p),
    "KServe v1 instances": lambda m, n, w, p: as_json(
        f"/v1/models/{m}:predict", {"instances": rows(n, w)}, p
    ),
    "KServe v1 inputs": lambda m, n, w, p: as_json(
        f"/v1/models/{m}:predict", {"inputs": rows(n, w)}, p
    ),
    "MLflow split": lambda m, n, w, p: as_json(
        "/invocations", {"dataframe_split": {"columns": names(w), "data": rows(n, w)}}, p
    ),
    "MLflow records": lambda m, n, w, p: as_json(
        "/invocations", {"dataframe_records": records(n, w)}, p
    ),
    "MLflow instances": lambda m, n, w, p: as_json("/invocations", {"instances": rows(n, w)}, p),
    "MLflow inputs": lambda m, n, w, p: as_json("/invocations", {"inputs": rows(n, w)}, p),
    "MLflow columns": lambda m, n, w, p: as_json(
        "/invocations",
        {"inputs": {name: [row[i] for row in rows(n, w)] for i, name in enumerate(names(w))}},
        p,
    ),
    "CSV with header": lambda m, n, w, p: csv("/", n, w, True, p),
    "CSV without header": lambda m, n, w, p: csv("/", n, w, False, p),
    "CSV at /invocations": lambda m, n, w, p: csv("/invocations", n, w, True, p),
    "BigQuery calls": lambda m, n, w, p: as_json("/", {"calls": rows(n, w)}, p),
}
# Formats whose rows carry names: a missing or extra feature is named, not counted.
NAMED = {"own records", "OIP per feature", "MLflow split", "MLflow records", "MLflow columns"}
NAMED |= {"CSV with header", "CSV at /invocations"}


@pytest.fixture(scope="module")
def model_name(classifier_dir: Path) -> str:
    return str(json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["name"])


@pytest.fixture(scope="module", params=["real_server", "in_process"])
def send(request: pytest.FixtureRequest, classifier_dir: Path) -> Iterator[Send]:
    """Requests to a real server, or in-process to the same functions-framework app."""
    env = {"MODEL_URI": str(classifier_dir), **ENV}
    if request.param == "real_server":
        server = start_server(env)

        def over_http(call: Request) -> Answer:
            answer = requests.request(
                call.method,
                server.url + call.path,
                data=call.body,
                headers=call.headers,
                timeout=30,
            )
            return Answer(
                answer.status_code,
                _json_or_empty(answer.content),
                {k.lower(): v for k, v in answer.headers.items()},
                answer.content,
            )

        try:
            yield over_http
        finally:
            server.stop()
        return
    import functions_framework

    with pytest.MonkeyPatch.context() as patch:
        for name in SETTINGS_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in {**env, "FUNCTION_TARGET": "predict"}.items():
            patch.setenv(name, value)
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        client = app.test_client()

        def in_process(call: Request) -> Answer:
            answer = client.open(
                call.path, method=call.method, data=call.body, headers=call.headers
            )
            raw = answer.get_data()
            headers = {k.lower(): v for k, v in answer.headers.items()}
            return Answer(answer.status_code, _json_or_empty(raw), headers, raw)

        yield in_process


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    """The JSON answer; {} for the OIP binary extension's JSON part and bytes."""
    try:
        return dict(json.loads(raw))
    except ValueError:
        return {}


def build(fmt: str, model: str, count: int, width: int = WIDTH, pad: int = 0) -> Request:
    return FORMATS[fmt](model, count, width, pad)


def assert_scored(answer: Answer, count: int) -> None:
    assert answer.status == 200, answer.body
    if "replies" in answer.body:
        assert len(answer.body["replies"]) == count
    elif "outputs" in answer.body:
        assert answer.body["outputs"][0]["shape"][0] == count
    else:
        assert len(answer.body["predictions"]) == count


def assert_refused(answer: Answer, status: int, code: str, *fragments: str) -> str:
    assert (answer.status, answer.body.get("code")) == (status, code), answer.body
    for fragment in fragments:
        assert fragment in answer.body["error"], answer.body["error"]
    return str(answer.body["error"])


ALL = sorted(FORMATS)


@pytest.mark.parametrize("fmt", ALL)
def test_max_rows_is_answered(send: Send, model_name: str, fmt: str) -> None:
    assert_scored(send(build(fmt, model_name, MAX_ROWS)), MAX_ROWS)


@pytest.mark.parametrize("fmt", ALL)
def test_one_row_past_max_rows_is_422(send: Send, model_name: str, fmt: str) -> None:
    answer = send(build(fmt, model_name, MAX_ROWS + 1))
    assert_refused(answer, 422, "too_many_rows", f"at most {MAX_ROWS}", "MAX_ROWS")
    if fmt == "BigQuery calls":
        assert answer.body["errorMessage"] == answer.body["error"]


@pytest.mark.parametrize("fmt", ALL)
def test_no_rows_is_400(send: Send, model_name: str, fmt: str) -> None:
    answer = send(build(fmt, model_name, 0))
    assert (answer.status, answer.body.get("code")) == (400, "invalid_input"), answer.body


@pytest.mark.parametrize("fmt", ALL)
def test_body_of_exactly_max_body_bytes_is_answered(send: Send, model_name: str, fmt: str) -> None:
    plain = build(fmt, model_name, 2)
    padded = build(fmt, model_name, 2, pad=MAX_BODY_BYTES - len(plain.body))
    assert len(padded.body) == MAX_BODY_BYTES
    assert_scored(send(padded), 2)


@pytest.mark.parametrize("fmt", ALL)
def test_one_byte_past_max_body_bytes_is_413(send: Send, model_name: str, fmt: str) -> None:
    plain = build(fmt, model_name, 2)
    padded = build(fmt, model_name, 2, pad=MAX_BODY_BYTES + 1 - len(plain.body))
    assert len(padded.body) == MAX_BODY_BYTES + 1
    assert_refused(send(padded), 413, "payload_too_large", str(MAX_BODY_BYTES), "MAX_BODY_BYTES")


@pytest.mark.parametrize("width", [WIDTH - 1, WIDTH + 1])
@pytest.mark.parametrize("fmt", ALL)
def test_one_feature_short_or_over_is_400(
    send: Send, model_name: str, fmt: str, width: int
) -> None:
    answer = send(build(fmt, model_name, 2, width))
    if fmt in NAMED and width < WIDTH:
        fragments: tuple[str, ...] = ("missing feature", repr(NAMES[-1]))
    elif fmt in NAMED:
        fragments = ("unknown", "extra 0")
    elif fmt.startswith("OIP"):
        fragments = (f"[-1, {WIDTH}]",)
    else:
        fragments = (f"expected {WIDTH}",)
    assert_refused(answer, 400, "invalid_input", *fragments)


def brackets(fmt: str, model: str, count: int) -> Request:
    """A valid one-row request of `fmt` holding `count` JSON brackets in all, the extra ones
    inside an option's string value (the count before parsing reads raw bytes)."""
    plain = build(fmt, model, 1)
    body = json.loads(plain.body)
    body["parameters" if fmt != "BigQuery calls" else "userDefinedContext"] = "x"
    base = json.dumps(body).encode()
    filler = "[" * (count - base.count(b"[") - base.count(b"{"))
    body["parameters" if fmt != "BigQuery calls" else "userDefinedContext"] = filler
    return Request("POST", plain.path, json.dumps(body).encode(), plain.headers)


BRACKET_LIMIT = 2 * MAX_ROWS + 1024  # serving/protocols/detect.py check_budget
JSON_ROWS = ["own instances", "POST /predict", "Vertex AI", "KServe v1 instances", "BigQuery calls"]


@pytest.mark.parametrize("fmt", JSON_ROWS)
def test_bracket_count_at_its_limit_is_parsed(send: Send, model_name: str, fmt: str) -> None:
    request = brackets(fmt, model_name, BRACKET_LIMIT)
    assert request.body.count(b"[") + request.body.count(b"{") == BRACKET_LIMIT
    answer = send(request)
    assert (answer.status, answer.body["code"]) == (400, "invalid_input"), answer.body


@pytest.mark.parametrize("fmt", JSON_ROWS)
def test_one_bracket_past_its_limit_is_422_before_parsing(
    send: Send, model_name: str, fmt: str
) -> None:
    answer = send(brackets(fmt, model_name, BRACKET_LIMIT + 1))
    assert_refused(answer, 422, "too_many_rows", f"{BRACKET_LIMIT + 1} brackets")


@pytest.mark.parametrize("path", ["/", "/invocations"])
def test_csv_line_count_at_and_past_its_limit(send: Send, model_name: str, path: str) -> None:
    """A header and MAX_ROWS rows end in MAX_ROWS + 1 newlines; one blank line more is 422."""
    request = csv(path, MAX_ROWS, WIDTH, header=True)
    assert request.body.count(b"\n") == MAX_ROWS + 1
    assert_scored(send(request), MAX_ROWS)
    extra = Request(request.method, path, request.body + b"\n", request.headers)
    assert_refused(send(extra), 422, "too_many_rows", f"{MAX_ROWS + 2} lines")


# Formats with a top-level field list: an unknown field is named, cut to ECHO characters.
UNKNOWN_FIELD = {
    "own instances": "accepted fields",
    "KServe v1 inputs": "accepted: inputs, parameters, params",
    "MLflow split": "accepted: dataframe_split, params",
    "MLflow records": "accepted: dataframe_records, params",
    "OIP JSON": "accepted: id, inputs",
    "BigQuery calls": "accepted: requestId",
}


@pytest.mark.parametrize("fmt", sorted(UNKNOWN_FIELD))
def test_unknown_field_is_echoed_whole_up_to_the_cut(send: Send, model_name: str, fmt: str) -> None:
    name = "f" * (ECHO - 2)  # its repr is exactly ECHO characters
    body = {**json.loads(build(fmt, model_name, 1).body), name: 1}
    answer = send(as_json(build(fmt, model_name, 1).path, body))
    assert_refused(answer, 400, "invalid_input", f"unknown field {name!r}", UNKNOWN_FIELD[fmt])


@pytest.mark.parametrize("fmt", sorted(UNKNOWN_FIELD))
def test_unknown_field_one_past_the_cut_is_shortened(send: Send, model_name: str, fmt: str) -> None:
    name = "f" * (ECHO - 1)
    body = {**json.loads(build(fmt, model_name, 1).body), name: 1}
    answer = send(as_json(build(fmt, model_name, 1).path, body))
    message = assert_refused(answer, 400, "invalid_input", UNKNOWN_FIELD[fmt])
    assert f"unknown field {repr(name)[: ECHO - 3]}...;" in message
    assert repr(name) not in message


def test_oip_binary_header_length_at_its_bounds(send: Send, model_name: str) -> None:
    """Inference-Header-Content-Length: 1 to the body's length; 0 and one past are 400."""
    request = oip_binary(model_name, 1, WIDTH)
    json_only = as_json(request.path, {"inputs": [tensor(1, WIDTH)]})
    whole = {"Inference-Header-Content-Length": str(len(json_only.body)), **_JSON}
    assert_scored(send(Request("POST", json_only.path, json_only.body, whole)), 1)
    for length in (0, len(json_only.body) + 1):
        headers = {**whole, "Inference-Header-Content-Length": str(length)}
        answer = send(Request("POST", json_only.path, json_only.body, headers))
        assert_refused(answer, 400, "invalid_input", "Inference-Header-Content-Length")


def test_oip_binary_bytes_that_do_not_add_up_are_400(send: Send, model_name: str) -> None:
    request = oip_binary(model_name, 1, WIDTH)
    for body in (request.body[:-1], request.body + b"\0"):
        answer = send(Request("POST", request.path, body, request.headers))
        assert_refused(answer, 400, "invalid_input", "binary")


@pytest.mark.parametrize(("length", "cut"), [(200, False), (201, True)])
def test_404_names_the_path_cut_at_200_characters(send: Send, length: int, cut: bool) -> None:
    path = "/" + "p" * (length - 1)
    answer = send(Request("GET", path, b""))
    assert_refused(answer, 404, "not_found", f"no route {path[:200]};")
    assert (path in answer.body["error"]) is not cut


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


PROBA = {"predict_method": "predict_proba"}


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
        "CSV": send(Request("POST", "/?predict_method=predict_proba", text.encode(), _CSV)),
        "CSV at /invocations": send(
            Request("POST", "/invocations?predict_method=predict_proba", text.encode(), _CSV)
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


# Each route takes only its own formats.
@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/invocations", "own features"),
        ("/invocations", "BigQuery calls"),
        ("/v1/models/{}:predict", "own features"),
        ("/v1/models/{}:predict", "MLflow split"),
        ("/v1/models/{}:predict", "MLflow records"),
        ("/v1/models/{}:predict", "BigQuery calls"),
    ],
)
def test_a_route_refuses_formats_it_does_not_speak(
    send: Send, model_name: str, path: str, refused: str
) -> None:
    request = build(refused, model_name, 1)
    answer = send(Request("POST", path.format(model_name), request.body, request.headers))
    assert_refused(answer, 400, "invalid_input", "matches no accepted format")


def probabilities_of(send: Send, count: int) -> list[list[float]]:
    answer = send(as_json("/", {"instances": rows(count), "parameters": PROBA}))
    return list(answer.body["predictions"])


@pytest.mark.parametrize("path", ["/", "/predict", VERTEX_ROUTE])
def test_bigquery_replies_as_userdefinedcontext_asks(send: Send, path: str) -> None:
    expected = probabilities_of(send, 3)
    labels = send(as_json(path, {"calls": rows(3)})).body
    assert labels == {"replies": [int(np.argmax(p)) for p in expected]}
    context: dict[str, Any] = {"output": "probabilities"}
    answer = send(as_json(path, {"calls": rows(3), "userDefinedContext": context}))
    assert answer.body == {"replies": [{"0": p[0], "1": p[1]} for p in expected]}
    for chosen in (0, 1, "1"):
        context = {"output": "probability", "class": chosen}
        answer = send(as_json(path, {"calls": rows(3), "userDefinedContext": context}))
        assert answer.body == {"replies": [p[int(chosen)] for p in expected]}
    label = send(as_json(path, {"calls": rows(3), "userDefinedContext": {"output": "label"}}))
    assert label.body == labels


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ("probabilities", 'userDefinedContext may hold "output"'),
        ({"output": "label", "extra": 1}, 'userDefinedContext may hold "output"'),
        ({"output": "scores"}, "output must be one of label, probabilities, probability"),
        ({"output": "probability"}, "class must be one of 0, 1"),
        ({"output": "probability", "class": 2}, "class must be one of 0, 1"),
    ],
)
def test_bigquery_context_errors_reach_the_sql_user(
    send: Send, context: Any, fragment: str
) -> None:
    answer = send(as_json("/", {"calls": rows(1), "userDefinedContext": context}))
    message = assert_refused(answer, 400, "invalid_input", fragment)
    assert answer.body["errorMessage"] == message


def test_bigquery_unknown_field_and_bad_calls(send: Send) -> None:
    answer = send(as_json("/", {"calls": rows(1), "requestId": "r", "caller": "c", "x": 1}))
    assert_refused(answer, 400, "invalid_input", "unknown field 'x'")
    for calls in ({"a": 1}, [rows(1)[0], 3]):
        answer = send(as_json("/", {"calls": calls}))
        assert_refused(answer, 400, "invalid_input", "'calls' must be a list of argument lists")
    ok = send(as_json("/", {"calls": rows(1), "requestId": "r", "sessionUser": "u"}))
    assert ok.status == 200


def split_binary(answer: Answer) -> tuple[dict[str, Any], bytes]:
    length = int(answer.headers["inference-header-content-length"])
    return json.loads(answer.raw[:length]), answer.raw[length:]


@pytest.mark.parametrize(
    "outputs", [None, ["predict"], ["predict_proba"], ["predict_proba", "predict"]]
)
def test_oip_binary_outputs_decode_to_the_json_answer(
    send: Send, model_name: str, outputs: list[str] | None
) -> None:
    path = f"/v2/models/{model_name}/infer"
    body: dict[str, Any] = {"inputs": [tensor(3, WIDTH)], "id": "req-1"}
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    plain = send(as_json(path, body))
    binary = send(as_json(path, {**body, "parameters": {"binary_data_output": True}}))
    assert (binary.status, binary.headers["content-type"]) == (200, "application/octet-stream")
    header, data = split_binary(binary)
    assert {k: header[k] for k in ("model_name", "model_version", "id")} == {
        k: plain.body[k] for k in ("model_name", "model_version", "id")
    }
    offset = 0
    for tensor_json, tensor_bin in zip(plain.body["outputs"], header["outputs"], strict=True):
        size = tensor_bin["parameters"]["binary_data_size"]
        kind = "<f8" if tensor_json["datatype"] == "FP64" else "<i8"
        values = np.frombuffer(data[offset : offset + size], dtype=kind).tolist()
        assert values == tensor_json["data"]
        assert (tensor_bin["name"], tensor_bin["shape"]) == (
            tensor_json["name"],
            tensor_json["shape"],
        )
        offset += size
    assert offset == len(data)


def test_oip_binary_bytes_inputs(send: Send, model_name: str) -> None:
    """BYTES elements: a 4-byte length, then UTF-8; an empty last element is a missing value."""
    path = f"/v2/models/{model_name}/infer"
    inputs = per_feature(2, WIDTH)
    plain = send(as_json(path, {"inputs": inputs}))

    def with_bytes(elements: list[bytes]) -> Request:
        packed = b"".join(struct.pack("<I", len(e)) + e for e in elements)
        first = {k: v for k, v in inputs[0].items() if k != "data"}
        first |= {"datatype": "BYTES", "parameters": {"binary_data_size": len(packed)}}
        json_part = json.dumps({"inputs": [first, *inputs[1:]]}).encode()
        headers = {"Inference-Header-Content-Length": str(len(json_part)), **_JSON}
        return Request("POST", path, json_part + packed, headers)

    spelled = [repr(v).encode() for v in inputs[0]["data"]]
    assert send(with_bytes(spelled)).body["outputs"] == plain.body["outputs"]
    answer = send(with_bytes([spelled[0], b""]))
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius': missing")
    cut = with_bytes(spelled)
    broken = Request("POST", path, cut.body[:-2], cut.headers)
    assert send(broken).status == 400


def test_method_not_allowed_lists_the_methods(send: Send) -> None:
    answer = send(Request("POST", "/health", b""))
    assert_refused(answer, 405, "method_not_allowed", "method POST is not allowed here")
    assert "allowed: GET, HEAD" in answer.body["error"]
    assert answer.headers["allow"] == "GET, HEAD"


# The GET routes of every protocol, answered exactly.
def test_get_routes_of_every_protocol(send: Send, model_name: str, classifier_dir: Path) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    ready = {"name": model_name, "ready": True}
    expected = {
        "/health": {"status": "ok", "model_version": version},
        "/ping": {"status": "ok", "model_version": version},
        "/version": {"version": version},
        "/v1/models": {"models": [model_name]},
        f"/v1/models/{model_name}": ready,
        "/v2": {"name": "sklearn-cloud-function", "version": "0.1.0"}
        | {"extensions": ["binary_tensor_data"]},
        "/v2/health/live": {"live": True},
        "/v2/health/ready": {"ready": True},
        f"/v2/models/{model_name}/ready": ready,
        f"/v2/models/{model_name}/versions/{version}/ready": ready,
    }
    for path, body in expected.items():
        answer = send(Request("GET", path, b""))
        assert (answer.status, answer.body) == (200, body), path
    for path in (f"/v1/models/{model_name}x", "/v2/models/other/ready"):
        assert_refused(send(Request("GET", path, b"")), 404, "not_found", "is not served here")
    wrong = send(Request("GET", f"/v2/models/{model_name}/versions/0/ready", b""))
    assert_refused(wrong, 404, "not_found", "version '0'", f"the served version is {version!r}")


def test_oip_model_metadata(send: Send, model_name: str, classifier_dir: Path) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    for path in (f"/v2/models/{model_name}", f"/v2/models/{model_name}/versions/{version}"):
        answer = send(Request("GET", path, b""))
        assert answer.status == 200
        assert answer.body == {
            "name": model_name,
            "versions": [version],
            "platform": "sklearn_classification",
            "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, WIDTH]}],
            "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [-1]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
                {"name": "decision_function", "datatype": "FP64", "shape": [-1]},
                {"name": "explanations", "datatype": "FP64", "shape": [-1, WIDTH + 1]},
            ],
            "parameters": {
                "task": "classification",
                "classes": [0, 1],
                "feature_names": NAMES,
                "per_feature_inputs": answer.body["parameters"]["per_feature_inputs"],
            },
        }


@pytest.mark.parametrize("path", ["/favicon.ico", "/robots.txt"])
def test_paths_the_framework_answers_are_json_404(send: Send, path: str) -> None:
    answer = send(Request("GET", path, b""))
    assert (answer.status, answer.body["code"]) == (404, "not_found")
    assert answer.body["error"] == f"no route {path!r}"


@pytest.mark.parametrize(
    ("outputs", "fragment"),
    [
        (
            [{"name": "scores"}],
            "output 'scores' is not available; this model offers predict, "
            "predict_proba, decision_function",
        ),
        ([{"id": "predict"}], "'outputs' must be a list of {\"name\": ...}"),
        ({"name": "predict"}, "'outputs' must be a list of {\"name\": ...}"),
    ],
)
def test_oip_outputs_asked_for_wrongly_are_400(
    send: Send, model_name: str, outputs: Any, fragment: str
) -> None:
    body = {"inputs": [tensor(1, WIDTH)], "outputs": outputs}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert_refused(answer, 400, "invalid_input", fragment)


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({"id": 3}, 400, "'id' must be a string"),
        ({"parameters": []}, 400, "'parameters' must be an object"),
        ({"model_name": "other"}, 404, "model 'other' is not served here"),
        ({"model_name": 3}, 400, "'model_name' and 'model_version' must be strings"),
        ({"model_version": "0"}, 404, "version '0' of"),
    ],
)
def test_oip_request_fields_are_checked(
    send: Send, model_name: str, extra: dict[str, Any], status: int, fragment: str
) -> None:
    body = {"inputs": [tensor(1, WIDTH)], **extra}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert answer.status == status, answer.body
    assert fragment in answer.body["error"]


def test_oip_answer_names_the_model_and_echoes_the_id(
    send: Send, model_name: str, classifier_dir: Path
) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    body = {"inputs": [tensor(2, WIDTH)], "id": "abc", "model_name": model_name}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert answer.status == 200, answer.body
    assert (answer.body["model_name"], answer.body["model_version"]) == (model_name, version)
    assert answer.body["id"] == "abc"
    assert answer.body["outputs"] == [
        {
            "name": "predict",
            "shape": [2],
            "datatype": "INT64",
            "data": [int(np.argmax(p)) for p in probabilities_of(send, 2)],
        }
    ]
    fresh = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": [tensor(1, WIDTH)]}))
    assert len(fresh.body["id"]) == 36


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


def oip(**changes: Any) -> dict[str, Any]:
    return {"inputs": [{**tensor(1, WIDTH), **changes}]}


def feature_input(name: str, values: list[float], shape: list[int] | None = None) -> Any:
    return {"name": name, "shape": shape or [len(values)], "datatype": "FP64", "data": values}


# OIP v2 tensors: every check of an input, at its boundary where it has one.
OIP_ERRORS = [
    ([1], 'an inference request is a JSON object with "inputs"'),
    ({"inputs": "x"}, '\'inputs\' must be a non-empty list of tensors {"name", "shape"'),
    ({"inputs": []}, "'inputs' must be a non-empty list of tensors"),
    (oip(name=3), "every input needs a string 'name'"),
    (oip(parameters=[]), "input 'input': 'parameters' must be an object"),
    (oip(shape=[1, -30]), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(shape=[1.0, 30]), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(shape="x"), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(datatype="FP128"), "input 'input': datatype 'FP128'; accepted: FP16, FP32, FP64, INT8"),
    (oip(data=[[1.0], [1.0, 2.0]]), "input 'input': nested data is ragged"),
    (oip(shape=[1, 29]), "input 'input': shape [1, 29] holds 29 values, data has 30"),
    (oip(shape=[2, 15]), "input 'input' has shape [2, 15]; expected [-1, 30] (or one 1-D input"),
    (oip(datatype="INT8", data=[128] * WIDTH), "input 'input': a value is out of range for INT8"),
    (oip(datatype="INT8", data=[-129] * WIDTH), "input 'input': a value is out of range for INT8"),
    (oip(datatype="UINT8", data=[-1] * WIDTH), "input 'input': a value is out of range for UINT8"),
    (
        oip(datatype="INT64", data=[1.5] * WIDTH),
        "input 'input': data does not match datatype INT64",
    ),
    (oip(datatype="BOOL", data=[1] * WIDTH), "input 'input': data does not match datatype BOOL"),
    (oip(datatype="FP64", data=["1"] * WIDTH), "input 'input': data does not match datatype FP64"),
    (oip(shape=[0, WIDTH], data=[]), "no rows: send at least one row"),
    (
        {"inputs": [feature_input("mean radius", [1.0], [1, 1, 1])]},
        "per-feature inputs must all have shape [N] (or [N, 1]) with one N",
    ),
    (
        {"inputs": [feature_input("mean radius", [1.0, 2.0], [1, 2])]},
        "per-feature inputs must all have shape [N] (or [N, 1]) with one N",
    ),
    (
        {"inputs": [feature_input("mean radius", [1.0]), feature_input("mean radius", [1.0])]},
        "input 'mean radius' is unknown or repeated; send one input of shape [-1, 30], or one",
    ),
    (
        {"inputs": [feature_input("zz", [1.0]), feature_input("mean radius", [1.0])]},
        "input 'zz' is unknown or repeated",
    ),
    (
        {
            "inputs": [
                feature_input("mean radius", [1.0, 2.0]),
                feature_input("mean texture", [1.0]),
            ]
        },
        "missing feature 'mean perimeter' (28 missing)",
    ),
]


@pytest.mark.parametrize(("body", "message"), OIP_ERRORS)
def test_oip_input_errors_say_what_was_expected(
    send: Send, model_name: str, body: Any, message: str
) -> None:
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert_refused(answer, 400, "invalid_input")
    assert answer.body["error"].startswith(message)


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("INT8", 127), ("INT8", -128), ("UINT8", 255), ("UINT8", 0), ("BOOL", True), ("FP32", 1)],
)
def test_oip_values_at_their_datatype_bounds_are_answered(
    send: Send, model_name: str, datatype: str, value: Any
) -> None:
    answer = send(
        as_json(f"/v2/models/{model_name}/infer", oip(datatype=datatype, data=[value] * WIDTH))
    )
    assert answer.status == 200, answer.body


def test_per_feature_inputs_of_shape_n_by_1_are_answered(send: Send, model_name: str) -> None:
    columns = np.asarray(rows(2)).T.tolist()
    inputs = [
        feature_input(name, column, [2, 1]) for name, column in zip(NAMES, columns, strict=True)
    ]
    answer = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": inputs}))
    plain = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": [tensor(2, WIDTH)]}))
    assert answer.body["outputs"] == plain.body["outputs"]


def test_binary_data_without_the_header_says_what_is_missing(send: Send, model_name: str) -> None:
    request = oip_binary(model_name, 1, WIDTH)
    headers = {k: v for k, v in request.headers.items() if k != "Inference-Header-Content-Length"}
    answer = send(Request("POST", request.path, request.body, headers))
    message = assert_refused(answer, 400, "invalid_input")
    assert message.startswith("binary tensor data (binary_data_size) is read only by POST /v2/")
    broken = send(Request("POST", request.path, b"{bad", _JSON))
    assert_refused(broken, 400, "invalid_json", "body is not valid JSON")


def test_binary_header_without_inputs_is_400(send: Send, model_name: str) -> None:
    json_part = json.dumps({"outputs": []}).encode()
    headers = {"Inference-Header-Content-Length": str(len(json_part)), **_JSON}
    answer = send(Request("POST", f"/v2/models/{model_name}/infer", json_part + b"\0" * 8, headers))
    message = assert_refused(answer, 400, "invalid_input")
    assert (
        message
        == "Inference-Header-Content-Length is set, but there are no inputs for the binary data"
    )


def test_oip_at_a_versioned_path_checks_the_version(
    send: Send, model_name: str, classifier_dir: Path
) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    ok = send(as_json(f"/v2/models/{model_name}/versions/{version}/infer", oip()))
    assert ok.status == 200
    wrong = send(as_json(f"/v2/models/{model_name}/versions/0/infer", oip()))
    assert_refused(wrong, 404, "not_found", "version '0' of")


def test_oip_answers_json_outside_infer_even_when_binary_is_asked(send: Send) -> None:
    body = {**oip(), "parameters": {"binary_data_output": True}}
    answer = send(as_json("/", body))
    assert answer.status == 200
    assert answer.body["outputs"][0]["data"] == [int(np.argmax(probabilities_of(send, 1)[0]))]


def test_bigquery_probabilities_of_a_regressor_are_400(
    make_client: Callable[..., Any], regressor_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(regressor_dir))
    context = {"output": "probabilities"}
    answer = client.post("/", json={"calls": [[0.0] * 10], "userDefinedContext": context})
    assert answer.status_code == 400
    assert answer.get_json()["errorMessage"] == (
        "predict_proba (class probabilities) is not available: this model offers predict on "
        "the onnx runtime; MODEL_RUNTIME=sklearn serves every method the estimator has"
    )
    assert client.post("/", json={"calls": [[0.0] * 10]}).status_code == 200
