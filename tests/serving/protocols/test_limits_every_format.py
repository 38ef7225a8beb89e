"""Every limit at its boundary and one past it, in every request format: MAX_ROWS,
MAX_BODY_BYTES, the feature count, the bracket and line counts read before parsing, and the echo
cut of a client's value; the boundary must be answered, one past it get its own status and code.

Each format's request builder is in tests/support/format_requests.py; the real server and the
in-process app the tables run against are `send` (conftest.py here: the mutation run,
bench/mutation.py, sees only in-process code).
"""

from __future__ import annotations

import json

import pytest

from tests.support.format_requests import (
    ALL,
    JSON_TYPE,
    MAX_BODY_BYTES,
    MAX_ROWS,
    NAMED,
    NAMES,
    WIDTH,
    Answer,
    Request,
    Send,
    as_json,
    assert_refused,
    build,
    csv,
    oip_binary,
    tensor,
)

pytestmark = pytest.mark.in_process
ECHO = 40  # serving/validate.py cuts a client's value to this many characters


def assert_scored(answer: Answer, count: int) -> None:
    assert answer.status == 200, answer.body
    if "replies" in answer.body:
        assert len(answer.body["replies"]) == count
    elif "outputs" in answer.body:
        assert answer.body["outputs"][0]["shape"][0] == count
    else:
        assert len(answer.body["predictions"]) == count


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
    whole = {"Inference-Header-Content-Length": str(len(json_only.body)), **JSON_TYPE}
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
