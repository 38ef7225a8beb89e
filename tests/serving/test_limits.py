"""MAX_BODY_BYTES and MAX_ROWS: 413 and 422 saying the limit, decided before the body is read
whole or every row is built, whatever the framing (Content-Length, chunked, a lying length);
in process and on a real server."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from tests.support.answers import assert_error
from tests.support.fixture_types import MakeClient
from tests.support.fuzz_cases import send, valid_row
from tests.support.fuzz_targets import Case
from tests.support.raw_http import TIMEOUT, exchange, raw_post, stream_oversized
from tests.support.servers import Server, rss_kib, start_server

CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)
ROW = CANCER[0].tolist()
SMALL_LIMIT = 1000


# --- in process -------------------------------------------------------------------------------


@pytest.mark.in_process
def test_body_over_the_limit_by_content_length_is_413(
    make_client: MakeClient, classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_BODY_BYTES="200")
    body = json.dumps({"features": ROW}).encode()
    assert len(body) > 200
    response = client.post("/", data=body, content_type="application/json")
    message = assert_error(response, 413, "payload_too_large")
    assert f"body is {len(body)} bytes; the limit is 200 (MAX_BODY_BYTES)" == message
    small = json.dumps({"features": [round(v, 1) for v in ROW]}).encode()
    assert len(small) <= 200
    assert client.post("/", data=small, content_type="application/json").status_code == 200


class CountingStream(io.BytesIO):
    """A large body that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        super().__init__(b"1" * size)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.read_bytes += count
        return count


@pytest.mark.in_process
def test_streamed_body_over_the_limit_is_413_before_it_is_read_whole(
    make_client: MakeClient, classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_BODY_BYTES="1000")
    stream = CountingStream(5_000_000)
    response = client.post(
        "/",
        input_stream=stream,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert assert_error(response, 413, "payload_too_large") == (
        "body exceeds the limit of 1000 bytes (MAX_BODY_BYTES)"
    )
    assert stream.read_bytes <= 1001


@pytest.mark.in_process
def test_streamed_body_within_the_limit_is_read(client: Any, classifier_dir: Path) -> None:
    response = client.post(
        "/",
        input_stream=io.BytesIO(json.dumps({"features": ROW}).encode()),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200
    model = joblib.load(classifier_dir / "model.joblib")
    assert response.get_json()["prediction"] == model.predict(CANCER[:1]).tolist()[0]


@pytest.mark.in_process
def test_too_many_rows_is_422(make_client: MakeClient, classifier_dir: Path) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_ROWS="3")
    assert client.post("/", json={"instances": CANCER[:3].tolist()}).status_code == 200
    response = client.post("/", json={"instances": CANCER[:4].tolist()})
    assert assert_error(response, 422, "too_many_rows") == (
        "got 4 rows; at most 3 per request (MAX_ROWS)"
    )


@pytest.mark.in_process
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"instances": [' + b"[]," * 3_400_000 + b"[]]}", "application/json"),
        (b"a\n" + b"1\n" * 5_000_000, "text/csv"),
    ],
)
def test_row_count_is_refused_before_building_every_row(
    client: Any, body: bytes, content_type: str
) -> None:
    """A body of empty rows under the size limit: refused by count, holding little more than
    the body itself (which the framework already holds)."""
    tracemalloc.start()
    try:
        answer = client.post("/", data=body, content_type=content_type)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 422
    assert "at most 10000 rows per request (MAX_ROWS)" in answer.get_json()["error"]
    assert peak < 3 * len(body) + 8_000_000


# --- on a real server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_server(serve: Callable[..., Server], classifier_dir: Path) -> Server:
    """A real server refusing bodies over SMALL_LIMIT bytes."""
    return serve({"MODEL_URI": str(classifier_dir), "MAX_BODY_BYTES": str(SMALL_LIMIT)})


@pytest.mark.parametrize(
    ("framing", "first_bytes"),
    [
        ("Transfer-Encoding: chunked", b"1000\r\n" + b"1" * 4096 + b"\r\n"),
        ("Content-Length: 1000000000", b"1" * 4096),
    ],
)
def test_body_over_the_limit_is_refused_without_waiting_for_the_rest(
    small_limit_server: Server, framing: str, first_bytes: bytes
) -> None:
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()
    answer = raw_post(small_limit_server, head, first_bytes)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"application/json" in answer


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_over_limit_bodies_are_413_in_every_framing(
    small_limit_server: Server, framing: str
) -> None:
    body = json.dumps({"instances": [valid_row()] * 400}).encode()
    assert len(body) > SMALL_LIMIT
    case = Case("POST", "/", "application/json", body, framing)
    answer = send(small_limit_server.url, case)
    assert answer.status == 413
    assert json.loads(answer.body)["code"] == "payload_too_large"


def test_lying_huge_content_length_is_413_at_once(small_limit_server: Server) -> None:
    """10 GB declared, 2 bytes sent: refused from the header, without waiting for the body."""
    host, port = small_limit_server.url.removeprefix("http://").split(":")
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 10000000000\r\n\r\n{}"
    )
    status, payload = exchange(host, port, head.encode())
    assert status == 413
    assert payload["code"] == "payload_too_large"


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
