"""Hostile HTTP against a real server: arbitrary bodies, types, framings and methods.

The server must never answer 5xx, never hang, always answer JSON with a short message, and keep
serving; where the generator knows the right status (tests/fuzz_known.py), it must be that one.
CI runs FUZZ_EXAMPLES cases (a few hundred); bench/fuzz.py runs >= 10,000.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import TrainModel
from tests.fuzz_known import (
    DIGITS,
    FUZZ_MAX_BODY_BYTES,
    FUZZ_MAX_ROWS,
    MAIN,
    MAX_ERROR_BYTES,
    Case,
    all_finite,
    check_expected,
    digits_csv,
    digits_train_args,
    known_cases,
    register,
)
from tests.servers import Server, start_server

# Hypothesis keeps caches beside the working directory by default: never in the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hypothesis-sklearn-cloud-function")
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
TIMEOUT = 15.0
N_FEATURES = 30
EXPECTED_STATUSES = {200, 400, 404, 405, 413, 415, 422}
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
        st.fixed_dictionaries({"features": _rows()}, optional={"probabilities": _json_values()}),
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


def _encode(value: Any, utf8: bool) -> bytes:
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
        st.builds(_encode, _json_values(), utf8),
        st.builds(_encode, _shaped_bodies(), utf8),
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
    return st.builds(_encode, _shaped_bodies(), st.just(True))


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
    header = _encode(body, True)
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


def exchange(
    host: str, port: str, wire: bytes, close_write: bool = False
) -> tuple[int, dict[str, Any]]:
    """Send raw bytes (closing our side after them if asked); the status and JSON answer."""
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(wire)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return response.status, json.loads(response.read())
        finally:
            response.close()


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
        check_expected(case, answer.status, None)
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
    check_expected(case, answer.status, payload)


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


def error_lines(log: str) -> list[str]:
    """Log lines at ERROR or worse (structured or gunicorn's own), and any traceback."""
    return [
        line
        for line in log.splitlines()
        if _severity(line) in ("ERROR", "CRITICAL") or "Traceback" in line or "[ERROR]" in line
    ]


def _severity(line: str) -> str | None:
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry.get("severity") if isinstance(entry, dict) else None


def fuzz_env(model_dir: Path) -> dict[str, str]:
    """The fuzzed server's environment: small limits, so both sides of each are reached."""
    return {
        "MODEL_URI": str(model_dir),
        "MAX_BODY_BYTES": str(FUZZ_MAX_BODY_BYTES),
        "MAX_ROWS": str(FUZZ_MAX_ROWS),
    }


def valid_row() -> list[float]:
    return [1.0] * N_FEATURES


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def fuzz_server(classifier_dir: Path) -> Iterator[Server]:
    """A real server with a small body limit, shared by the fuzz cases."""
    register(MAIN, classifier_dir)
    running = start_server(fuzz_env(classifier_dir))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fuzz_servers(
    fuzz_server: Server, train_model: TrainModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """The main server and one serving "digits" (numeric-looking names, text, gaps)."""
    data = digits_csv(tmp_path_factory.mktemp("digits") / "digits.csv")
    digits_dir = train_model(*digits_train_args(data))
    register(DIGITS, digits_dir)
    digits = start_server(fuzz_env(digits_dir))
    warm_up(digits)
    yield {MAIN: fuzz_server, DIGITS: digits}
    digits.stop()


def warm_up(server: Server) -> None:
    """Have the server load its model now, in the background: the scikit-learn runtime's
    imports take seconds, which the first cases sent to the main server can overlap."""

    def health() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{server.url}/health", timeout=TIMEOUT)

    threading.Thread(target=health, daemon=True).start()


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_hostile_requests_get_json_4xx_or_2xx(fuzz_servers: dict[str, Server], case: Case) -> None:
    server = fuzz_servers[case.target]
    check(case, send(server.url, case))
    assert server.process.poll() is None, "the server exited"


def test_server_keeps_serving_and_logged_no_error_after_fuzzing(
    fuzz_servers: dict[str, Server],
) -> None:
    """Runs after the fuzz cases (same module servers): still predicts, nothing logged as error,
    no log line longer than a few KB whatever the client sent."""
    main = fuzz_servers[MAIN]
    response = requests.post(main.url, json={"features": valid_row()}, timeout=TIMEOUT)
    assert response.status_code == 200
    for server in fuzz_servers.values():
        assert error_lines(server.logs()) == []
        assert longest_line(server.logs()) < MAX_LOG_LINE


def longest_line(log: str) -> int:
    return max((len(line) for line in log.splitlines()), default=0)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_over_limit_bodies_are_413_in_every_framing(fuzz_server: Server, framing: str) -> None:
    body = json.dumps({"instances": [valid_row()] * 400}).encode()
    assert len(body) > FUZZ_MAX_BODY_BYTES
    case = Case("POST", "/", "application/json", body, framing)
    answer = send(fuzz_server.url, case)
    assert answer.status == 413
    assert json.loads(answer.body)["code"] == "payload_too_large"


def test_lying_huge_content_length_is_413_at_once(fuzz_server: Server) -> None:
    """10 GB declared, 2 bytes sent: refused from the header, without waiting for the body."""
    host, port = fuzz_server.url.removeprefix("http://").split(":")
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 10000000000\r\n\r\n{}"
    )
    status, payload = exchange(host, port, head.encode())
    assert status == 413
    assert payload["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/", "/invocations", "/v2/models/breast-cancer/infer"])
def test_truncated_chunked_body_is_400_not_500(fuzz_server: Server, path: str) -> None:
    body = b'{"features": [1, 2'
    host, port = fuzz_server.url.removeprefix("http://").split(":")
    wire = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + b"%x\r\n%s" % (len(body) + 50, body)
    status, payload = exchange(host, port, wire, close_write=True)
    assert status == 400
    assert payload["code"] == "bad_request"
    assert "chunked" in payload["error"]


def test_truncated_body_says_how_much_arrived(fuzz_server: Server) -> None:
    case = Case("POST", "/", "application/json", b'{"features": [1]}', "truncated")
    answer = send(fuzz_server.url, case)
    assert answer.status == 400
    assert "17 of the 26 bytes" in json.loads(answer.body)["error"]


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its children (the gunicorn worker), in KiB."""
    total = 0
    for one in [pid, *_children(pid)]:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def test_oversized_chunked_upload_is_refused_early_and_costs_no_memory(
    classifier_dir: Path,
) -> None:
    """64 MiB streamed without Content-Length at a 1 MiB limit: 413 after about 1 MiB read."""
    limit, total = 1 << 20, 64 << 20
    server = start_server({"MODEL_URI": str(classifier_dir), "MAX_BODY_BYTES": str(limit)})
    try:
        assert requests.get(f"{server.url}/health", timeout=TIMEOUT).status_code == 200
        before = rss_kib(server.process.pid)
        status, sent = stream_oversized(server.url, total)
        after = rss_kib(server.process.pid)
        alive = requests.get(f"{server.url}/health", timeout=TIMEOUT).status_code
    finally:
        server.stop()
    assert status == 413
    assert sent < total / 2, f"the server read {sent} bytes before refusing"
    assert after - before < 8 * 1024, f"RSS grew {after - before} KiB"
    assert alive == 200


def stream_oversized(url: str, total: int, chunk_size: int = 64 << 10) -> tuple[int, int]:
    """Stream up to `total` bytes chunked (no Content-Length) until the server answers;
    returns its status and how many bytes were sent by then."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b"1" * chunk_size
    answer: list[int] = []
    sent = 0
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        reader = threading.Thread(target=lambda: answer.append(_status(sock)), daemon=True)
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        reader.start()
        try:
            while sent < total and not answer:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection after answering: expected
        reader.join(timeout=TIMEOUT)
    return (answer[0] if answer else 0), sent


def _status(sock: socket.socket) -> int:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status


def test_64_simultaneous_first_requests_load_the_model_once(classifier_dir: Path) -> None:
    """A cold instance hit by 64 requests at once: one load, 64 correct answers."""
    import joblib
    import numpy as np

    estimator = joblib.load(classifier_dir / "model.joblib")
    rows = np.random.default_rng(7).normal(size=(64, N_FEATURES)) * 50 + 50
    expected = estimator.predict(rows).tolist()
    server = start_server({"MODEL_URI": str(classifier_dir)})
    try:
        results = fire_together(server.url, [{"features": row.tolist()} for row in rows])
        logs = server.logs()
        messages = [entry["message"] for entry in server.json_logs()]
    finally:
        server.stop()
    assert [status for status, _ in results] == [200] * 64
    assert [body["prediction"] for _, body in results] == expected
    assert messages.count("model loaded") == 1
    assert error_lines(logs) == []


def fire_together(url: str, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """POST every body from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict[str, Any]]] = [(0, {})] * len(bodies)

    def one(index: int) -> None:
        data = json.dumps(bodies[index]).encode()
        with requests.Session() as session:
            prepared = session.prepare_request(
                requests.Request(
                    "POST", url, data=data, headers={"Content-Type": "application/json"}
                )
            )
            barrier.wait(timeout=30)
            response = session.send(prepared, timeout=60)
            results[index] = (response.status_code, response.json())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_numbers_json_cannot_hold_are_refused(fuzz_server: Server) -> None:
    """Sanity for the strategies: NaN and Infinity literals really reach the server. NaN is
    how MLflow's client writes a missing value: read as one, which this model refuses."""
    for value, code in (
        (math.nan, "invalid_input"),
        (math.inf, "invalid_json"),
        (-math.inf, "invalid_json"),
    ):
        body = _encode({"features": [value] * N_FEATURES}, utf8=True)
        answer = send(fuzz_server.url, Case("POST", "/", "application/json", body, "length"))
        assert answer.status == 400
        assert json.loads(answer.body)["code"] == code


FRAMEWORK_404_PATHS = ("/favicon.ico", "/robots.txt", "/v2/models/%0A/infer", "/a%0Ab")


@pytest.mark.parametrize("path", FRAMEWORK_404_PATHS)
def test_framework_not_found_answers_json(
    make_client: Any, classifier_dir: Path, path: str
) -> None:
    """The handler for paths functions-framework answers itself, registered as main.py should."""
    from serving.http import framework_not_found

    client = make_client(MODEL_URI=str(classifier_dir))
    client.application.register_error_handler(404, framework_not_found)
    response = client.get(path, headers={"Function-Execution-Id": "nf-1"})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": response.get_json()["error"],
        "code": "not_found",
        "request_id": "nf-1",
    }
    assert response.get_json()["error"].startswith("no route ")


@pytest.mark.parametrize("path", FRAMEWORK_404_PATHS)
def test_paths_the_framework_answers_itself_are_json(fuzz_server: Server, path: str) -> None:
    case = Case("GET", path, None, b"", "length")
    answer = send(fuzz_server.url, case)
    assert answer.status == 404
    assert answer.headers.get("content-type") == "application/json"


@pytest.mark.parametrize("path", ["/", "/v2/models/breast-cancer/infer"])
def test_a_per_feature_input_with_no_rows_is_400(fuzz_server: Server, path: str) -> None:
    """Found by the fuzzer: an input named after a feature whose shape holds a 0."""
    tensor = {"name": "mean radius", "shape": [0, 3], "datatype": "FP64", "data": []}
    body = json.dumps({"inputs": [tensor]}).encode()
    answer = send(fuzz_server.url, Case("POST", path, "application/json", body, "length"))
    assert answer.status == 400, answer.body
    assert json.loads(answer.body)["code"] == "invalid_input"
