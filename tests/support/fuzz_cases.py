"""Hostile requests for the fuzzer: the strategies that draw them, the wire that sends them,
and the properties every answer must have whatever was sent.

Shared by tests/serving/test_fuzz.py (a few hundred cases in CI) and bench/fuzz.py (>= 10,000);
the classes whose exact status is known are in tests/support/fuzz_known.py, their oracle in
tests/support/fuzz_targets.py.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.support.fuzz_known import known_cases
from tests.support.fuzz_targets import (
    FUZZ_MAX_BODY_BYTES,
    FUZZ_MAX_ROWS,
    MAIN,
    MAX_ERROR_BYTES,
    RUNTIMES,
    Case,
    all_finite,
    check_expected,
)

TIMEOUT = 15.0
N_FEATURES = 30
EXPECTED_STATUSES = {200, 301, 400, 404, 405, 413, 415, 422}
# Malformed HTTP framing (a bad Content-Length header, say) never reaches the function: the
# server's HTTP parser answers it. Cases here only break what the function itself must handle.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND")
PATHS = (
    "/",
    "/predict",
    "/health",
    "/ping",
    "/version",
    "/invocations",
    "/v1/models",
    "/v1/models/breast-cancer",
    "/v1/models/breast-cancer:predict",
    "/v1/models/other:predict",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/breast-cancer",
    "/v2/models/breast-cancer/ready",
    "/v2/models/breast-cancer/infer",
    "/v2/models/breast-cancer/versions/1/infer",
    "/v2/models/other/infer",
    "//",
    "/health/",
    "/../etc/passwd",
    "/%00",
    "/%ff%fe",
)
PREDICT_PATHS = (
    "/",
    "/predict",
    "/invocations",
    "/v1/models/breast-cancer:predict",
    "/v2/models/breast-cancer/infer",
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "APPLICATION/JSON",
    "text/csv",
    "text/csv; header=present",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
    "application/json, text/csv",
    ";;;",
)
FRAMINGS = ("length", "length", "length", "chunked", "chunked-cut", "truncated", "overlong")
BODY_KEYS = (
    "features",
    "instances",
    "inputs",
    "dataframe_split",
    "dataframe_records",
    "probabilities",
    "parameters",
    "params",
    "columns",
    "data",
    "index",
    "name",
    "shape",
    "datatype",
    "predict_method",
    "explain",
    "outputs",
    "mean radius",
    "calls",
    "userDefinedContext",
    "model_name",
    "model_version",
)
# Cloud Logging drops entries over 256 KB; a line holding a whole body would be one of them.
# Client values are cut short in log lines (the path at 200 characters, echoed values at 40).
MAX_LOG_LINE = 4 * 1024
# Texts that would reveal internals if an error message echoed them back from the server.
INTERNALS = ("Traceback", 'File "', "site-packages", "/serving/", '.py"', "Werkzeug", "<html")


@dataclass(frozen=True)
class Answer:
    """What came back: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


# ---------------------------------------------------------------- bodies


def _numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(min_value=-1e6, max_value=1e6),
        st.floats(min_value=-1e6, max_value=1e6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-1e308, max_value=1e308),
        st.integers(),
        st.integers(min_value=-(2**200), max_value=2**200),
        st.sampled_from([0, -0.0, 1e-320, 5e-324, 1.7976931348623157e308, 2**63, -(2**63) - 1]),
        st.booleans(),
    )


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), _numbers(), st.text(max_size=20))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=8),
            st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), st.text(max_size=8)), inner),
        ),
        max_leaves=40,
    )


def _rows() -> st.SearchStrategy[Any]:
    width = st.sampled_from([N_FEATURES, N_FEATURES, N_FEATURES - 1, N_FEATURES + 1, 0, 1])
    row = width.flatmap(lambda n: st.lists(_numbers(), min_size=n, max_size=n))
    return st.one_of(row, st.lists(row, max_size=4), st.lists(st.lists(row, max_size=2)))


def _shaped_bodies() -> st.SearchStrategy[Any]:
    """Bodies close to the accepted shapes, so the fuzzer gets past the first checks."""
    tensor = st.fixed_dictionaries(
        {
            "name": st.one_of(st.text(max_size=8), st.none()),
            "shape": st.lists(st.integers(min_value=-2, max_value=40), max_size=3),
            "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "FP16", "x"]),
            "data": _rows(),
        }
    )
    return st.one_of(
        st.fixed_dictionaries(
            {"features": _rows()},
            optional={"probabilities": _json_values(), "explain": _json_values()},
        ),
        st.fixed_dictionaries({"instances": _rows()}, optional={"parameters": _json_values()}),
        st.fixed_dictionaries({"inputs": st.one_of(_rows(), st.lists(tensor, max_size=2))}),
        st.fixed_dictionaries(
            {"dataframe_split": st.fixed_dictionaries({"columns": _json_values(), "data": _rows()})}
        ),
        st.fixed_dictionaries(
            {"dataframe_records": st.lists(st.dictionaries(st.text(max_size=12), _numbers()))}
        ),
        st.dictionaries(st.sampled_from(BODY_KEYS), _json_values(), max_size=4),
    )


def encode(value: Any, utf8: bool) -> bytes:
    """JSON text, NaN/Infinity literals included; lone surrogates become invalid UTF-8."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=not utf8)
    return text.encode("utf-8", errors="surrogatepass")


def _duplicate_keys() -> st.SearchStrategy[bytes]:
    row = json.dumps([1.0] * N_FEATURES)
    return st.sampled_from(
        [
            f'{{"features": {row}, "features": {row}}}',
            f'{{"features": {row}, "instances": [{row}], "features": 1}}',
            f'{{"probabilities": true, "probabilities": "yes", "features": {row}}}',
        ]
    ).map(str.encode)


def _deep_nesting() -> st.SearchStrategy[bytes]:
    def nest(depth: int, key: str) -> bytes:
        inner = "[" * depth + "1" + "]" * depth
        return f'{{"{key}": {inner}}}'.encode()

    return st.builds(nest, st.integers(min_value=1, max_value=3000), st.sampled_from(BODY_KEYS[:5]))


def _long_arrays() -> st.SearchStrategy[bytes]:
    """Arrays near and over the body limit: many rows, or one very long row."""

    def rows(count: int, width: int) -> bytes:
        return json.dumps({"instances": [[0.5] * width] * count}).encode()

    return st.one_of(
        st.builds(rows, st.integers(min_value=1, max_value=200), st.just(N_FEATURES)),
        st.builds(rows, st.just(1), st.integers(min_value=1, max_value=8000)),
    )


def _csv() -> st.SearchStrategy[bytes]:
    cell = st.one_of(_numbers().map(str), st.text(max_size=6))
    line = st.lists(cell, min_size=0, max_size=32).map(",".join)
    return st.lists(line, max_size=5).map(lambda lines: "\n".join(lines).encode("utf-8", "replace"))


def bodies() -> st.SearchStrategy[bytes]:
    """Every kind of body the fuzzer sends."""
    utf8 = st.booleans()
    return st.one_of(
        st.builds(encode, _json_values(), utf8),
        st.builds(encode, _shaped_bodies(), utf8),
        _duplicate_keys(),
        _deep_nesting(),
        _long_arrays(),
        _csv(),
        st.binary(max_size=200),
        st.builds(
            lambda data, cut: data[: max(0, len(data) - cut)], _encode_shaped(), st.integers(1, 40)
        ),
        st.just(b""),
    )


def _encode_shaped() -> st.SearchStrategy[bytes]:
    return st.builds(encode, _shaped_bodies(), st.just(True))


BINARY_TYPES = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8", "UINT8": "u1"}


@st.composite
def _binary_infer(draw: st.DrawFn) -> Case:
    """The OIP binary extension: a JSON part, raw tensor bytes, a length header that may lie.

    Half the cases are well formed (one [N, 30] input of the size its datatype needs, its
    values finite, the header true), so they reach prediction and binary outputs; the rest
    break sizes, datatypes, the tail and the header at random.
    """
    well_formed = draw(st.booleans())
    tensors, data = [], b""
    for _ in range(1 if well_formed else draw(st.integers(1, 3))):
        datatype = draw(st.sampled_from([*BINARY_TYPES, *([] if well_formed else ["BOOL", "X"])]))
        rows = draw(st.integers(1, 3) if well_formed else st.integers(0, 3))
        shape = [rows, N_FEATURES]
        if not well_formed:
            shape = draw(st.sampled_from([shape, [rows]]))
        dtype = np.dtype(BINARY_TYPES.get(datatype, "u1"))
        values = draw(
            st.lists(st.integers(0, 100), min_size=math.prod(shape), max_size=math.prod(shape))
        )
        chunk = np.array(values, dtype=dtype).tobytes()
        name, size = "input", len(chunk)
        if not well_formed:
            chunk = draw(st.one_of(st.just(chunk), st.binary(max_size=300)))
            name = draw(st.sampled_from(["input", "mean radius", ""]))
            size = draw(st.one_of(st.just(len(chunk)), st.integers(-2, 300)))
        parameters = {"binary_data_size": size}
        tensors.append(
            {"name": name, "shape": shape, "datatype": datatype, "parameters": parameters}
        )
        data += chunk
    body: dict[str, Any] = {"inputs": tensors}
    if draw(st.booleans()):
        flag = draw(st.one_of(st.just(True), st.booleans(), _numbers()))
        body["parameters"] = {"binary_data_output": flag}
    if draw(st.booleans()):
        names = st.sampled_from(["predict", "predict_proba", "decision_function", "x"])
        flags = st.one_of(st.booleans(), _numbers())
        output = st.fixed_dictionaries(
            {"name": names}, optional={"parameters": st.fixed_dictionaries({"binary_data": flags})}
        )
        body["outputs"] = draw(st.lists(output, max_size=3))
    header = encode(body, True)
    declared = str(len(header))
    if not well_formed:
        data += draw(st.one_of(st.just(b""), st.binary(max_size=40)))
        declared = draw(
            st.one_of(
                st.just(declared),
                st.integers(-3, len(header) + len(data) + 3).map(str),
                st.sampled_from(["", "x", "1e3", "0x10", "\u00b2", "99999999999999999999"]),
            )
        )
    return Case(
        "POST",
        "/v2/models/breast-cancer/infer",
        draw(st.sampled_from(["application/octet-stream", "application/json", None])),
        header + data,
        "length",
        (("Inference-Header-Content-Length", declared),),
    )


def cases() -> st.SearchStrategy[Case]:
    """Hostile requests: two fifths of a class whose right status is known (fuzz_known.py),
    a fifth each of JSON POSTs to a predict route, anything, and the OIP binary extension."""
    path = st.one_of(
        st.sampled_from(PATHS),
        st.text(st.characters(codec="ascii", exclude_characters=" #?\r\n\t"), max_size=30).map(
            lambda text: "/" + text.lstrip("/")
        ),
    )
    anything = st.builds(
        Case,
        method=st.sampled_from(METHODS),
        path=path,
        content_type=st.one_of(st.sampled_from(CONTENT_TYPES), st.none()),
        body=bodies(),
        framing=st.sampled_from(FRAMINGS),
    )
    predict = st.builds(
        Case,
        method=st.just("POST"),
        path=st.sampled_from(PREDICT_PATHS),
        content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]),
        body=bodies(),
        framing=st.sampled_from(["length", "length", "length", "chunked"]),
    )
    # Chosen by weight: one_of would merge the eight known classes into its own list, one
    # branch each, and they would crowd out the rest.
    mix = (predict, anything, _binary_infer(), known_cases(), known_cases())
    return st.integers(0, len(mix) - 1).flatmap(lambda index: mix[index])


# ---------------------------------------------------------------- the wire


def send(base_url: str, case: Case, timeout: float = TIMEOUT) -> Answer:
    """Send one case over a fresh connection and read the first answer, within `timeout`."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(_wire(case))
        if case.framing in ("truncated", "chunked-cut"):
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=case.method)
        try:
            response.begin()
            body = response.read()
        finally:
            response.close()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Answer(response.status, headers, body)


def _wire(case: Case) -> bytes:
    lines = [
        f"{case.method} {_quote(case.path)} HTTP/1.1",
        f"Host: {case.host}",
        "Connection: close",
    ]
    if case.content_type is not None:
        lines.append(f"Content-Type: {case.content_type}")
    lines += [f"{name}: {value}" for name, value in case.headers]
    body = case.body
    if case.framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        body = b"".join(
            b"%x\r\n%s\r\n" % (len(piece), piece)
            for piece in (body[i : i + 1000] for i in range(0, len(body), 1000))
        )
        body += b"0\r\n\r\n"
    elif case.framing == "chunked-cut":
        # A chunk that promises more bytes than come before the client closes its side.
        lines.append("Transfer-Encoding: chunked")
        body = b"%x\r\n%s" % (len(body) + 10, body)
    elif case.framing == "truncated":
        # Declares more than is sent, then closes its side: a body cut off mid-way.
        lines.append(f"Content-Length: {len(body) + 1 + len(body) // 2}")
    elif case.framing == "overlong":
        # Declares fewer bytes than are sent: the rest is not part of this request.
        lines.append(f"Content-Length: {len(body) // 2}")
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _quote(path: str) -> str:
    return "".join(c if 33 <= ord(c) < 127 else f"%{ord(c):02X}" for c in path)


def check(case: Case, answer: Answer) -> None:
    """The properties every answer must have, whatever was sent, and the exact status (and
    row count) where the generator knows it."""
    assert answer.status in EXPECTED_STATUSES, f"{answer.status} for {case.describe()}"
    if case.method == "HEAD":
        assert answer.headers.get("content-type") == "application/json", case.describe()
        assert answer.body == b""
        check_expected(case, answer.status, None, answer.body, answer.headers)
        return
    payload = json.loads(json_part(answer, case))
    assert isinstance(payload, dict)
    if answer.status >= 400:
        # BigQuery's remote function protocol adds errorMessage, the same message.
        assert set(payload) - {"errorMessage"} == {"error", "code", "request_id"}, payload
        assert isinstance(payload["error"], str)
        assert payload["error"]
        assert isinstance(payload["code"], str)
        assert payload["code"]
        assert not any(text in payload["error"] for text in INTERNALS), payload
        assert len(answer.body) < MAX_ERROR_BYTES, f"{len(answer.body)} bytes: {case.describe()}"
    elif case.method == "POST":
        assert all_finite(payload), f"{payload} for {case.describe()}"
    if answer.status == 405:
        assert answer.headers.get("allow"), case.describe()
    check_expected(case, answer.status, payload, answer.body, answer.headers)


def json_part(answer: Answer, case: Case) -> bytes:
    """The answer's JSON: all of it, or with binary outputs the part its header measures."""
    declared = answer.headers.get("inference-header-content-length")
    if declared is None:
        assert answer.headers.get("content-type") == "application/json", case.describe()
        return answer.body
    assert answer.status == 200, case.describe()
    assert answer.headers.get("content-type") == "application/octet-stream", case.describe()
    header = answer.body[: int(declared)]
    outputs = json.loads(header)["outputs"]
    binary = sum(output.get("parameters", {}).get("binary_data_size", 0) for output in outputs)
    assert len(answer.body) == len(header) + binary > len(header), case.describe()
    return header


def fuzz_env(model_dir: Path, target: str = MAIN) -> dict[str, str]:
    """The fuzzed server's environment: small limits, so both sides of each are reached, and
    the target's runtime."""
    env = {
        "MODEL_URI": str(model_dir),
        "MAX_BODY_BYTES": str(FUZZ_MAX_BODY_BYTES),
        "MAX_ROWS": str(FUZZ_MAX_ROWS),
    }
    runtime = RUNTIMES[target]
    return env if runtime is None else env | {"MODEL_RUNTIME": runtime}


def valid_row() -> list[float]:
    return [1.0] * N_FEATURES
