"""Slow clients against a real server: a body that stalls or trickles gets a JSON 408 once
BODY_TIMEOUT_SECONDS has passed, its connection closes, and other requests get through meanwhile."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixture_types import Logs
from tests.support.servers import REPO, Server, in_thread
from tests.support.slow_client import CLIENT_TIMEOUT, json_of, read_until_closed, stalled_client

pytestmark = pytest.mark.in_process

# Few threads, so that a handful of stalled clients would hold all of them.
THREADS = 2
BODY_TIMEOUT_SECONDS = 1.0


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """For the module's bundled_server."""
    return {"THREADS": str(THREADS), "BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS)}


def features(server: Server) -> list[float]:
    """A valid row for whatever the bundled model expects."""
    with urllib.request.urlopen(server.url, timeout=CLIENT_TIMEOUT) as answer:
        return [1.0] * len(json.load(answer)["feature_names"])


def post(server: Server, body: dict[str, Any]) -> tuple[int, float]:
    started = time.monotonic()
    request = urllib.request.Request(
        server.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as answer:
        return answer.status, time.monotonic() - started


def test_stalled_bodies_get_408_and_other_requests_get_through(bundled_server: Server) -> None:
    row = {"features": features(bundled_server)}
    # Twice as many stalled clients as threads: before the deadline existed, they held every
    # thread for ever and the request below timed out.
    stalled = [stalled_client(bundled_server.url, b'{"feat', 100) for _ in range(2 * THREADS)]
    status, seconds = post(bundled_server, row)
    assert status == 200
    print(f"a normal request behind {len(stalled)} stalled clients took {seconds:.2f} s")
    for connection in stalled:
        answer_status, answer = json_of(read_until_closed(connection))
        assert answer_status == 408
        assert answer["code"] == "request_timeout"
        assert "BODY_TIMEOUT_SECONDS" in answer["error"]
        assert answer["request_id"]


def test_a_client_that_sent_only_headers_gets_408(bundled_server: Server) -> None:
    status, answer = json_of(read_until_closed(stalled_client(bundled_server.url, b"", 50)))
    assert (status, answer["code"]) == (408, "request_timeout")


def test_a_trickling_body_is_bounded_as_a_whole(bundled_server: Server) -> None:
    """A byte every 0.2 s keeps every single read short: only a deadline for the whole body
    stops it."""
    connection = stalled_client(bundled_server.url, b"", 10_000)
    connection.settimeout(0.05)
    received, started = b"", time.monotonic()
    while not received and time.monotonic() - started < CLIENT_TIMEOUT:
        try:
            connection.sendall(b" ")
            received = connection.recv(65536)
        except TimeoutError:
            time.sleep(0.15)
        except ConnectionError:
            break
    connection.settimeout(CLIENT_TIMEOUT)
    status, answer = json_of(received + read_until_closed(connection))
    assert (status, answer["code"]) == (408, "request_timeout")


def test_a_body_sent_in_parts_within_the_deadline_is_served(bundled_server: Server) -> None:
    body = json.dumps({"features": features(bundled_server)}).encode()
    connection = stalled_client(bundled_server.url, body[:5], len(body))
    time.sleep(0.2)
    connection.sendall(body[5:])
    connection.shutdown(socket.SHUT_WR)
    status, answer = json_of(read_until_closed(connection))
    assert status == 200
    assert "prediction" in answer


def test_the_server_logs_each_408(bundled_server: Server) -> None:
    read_until_closed(stalled_client(bundled_server.url, b"{", 10))
    timeouts = [e for e in bundled_server.json_logs() if e.get("code") == "request_timeout"]
    assert timeouts
    assert all(e["httpRequest"]["status"] == 408 for e in timeouts)


# The same deadline in this process: werkzeug's threaded server also puts the connection's
# socket in the WSGI environment, so the function's own code can be watched at work (and
# mutation testing, which sees only this process, can see these tests).
IN_PROCESS_TIMEOUT = 0.5


@pytest.fixture
def in_process_url(app_env: Callable[..., None], classifier_dir: Path) -> Iterator[str]:
    import functions_framework
    from werkzeug.serving import make_server

    app_env(MODEL_URI=str(classifier_dir), BODY_TIMEOUT_SECONDS=str(IN_PROCESS_TIMEOUT))
    app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
    with in_thread(make_server("127.0.0.1", 0, app, threaded=True)) as url:
        yield url


def test_in_process_a_stalled_body_gets_408_and_a_closed_connection(
    in_process_url: str, serving_logs: Logs
) -> None:
    started = time.monotonic()
    raw = read_until_closed(stalled_client(in_process_url, b'{"feat', 100))
    status, answer = json_of(raw)
    head = raw.partition(b"\r\n\r\n")[0].decode().lower()
    assert time.monotonic() - started >= IN_PROCESS_TIMEOUT
    assert status == 408
    assert answer["code"] == "request_timeout"
    assert answer["error"] == (
        "the request body did not arrive within 0.5 s (BODY_TIMEOUT_SECONDS); "
        "send the whole body without pausing"
    )
    assert "connection: close" in head
    logged = [line for line in serving_logs() if line.get("code") == "request_timeout"]
    assert [line["httpRequest"]["status"] for line in logged] == [408]


def test_in_process_a_body_that_ends_early_is_a_400_not_a_timeout(in_process_url: str) -> None:
    connection = stalled_client(in_process_url, b'{"feat', 100)
    connection.shutdown(socket.SHUT_WR)
    status, answer = json_of(read_until_closed(connection))
    assert (status, answer["code"]) == (400, "bad_request")


def test_in_process_a_body_sent_in_parts_within_the_deadline_is_served(
    in_process_url: str,
) -> None:
    body = json.dumps({"features": [1.0] * 30}).encode()
    connection = stalled_client(in_process_url, body[:5], len(body))
    time.sleep(IN_PROCESS_TIMEOUT / 4)
    connection.sendall(body[5:])
    connection.shutdown(socket.SHUT_WR)
    status, answer = json_of(read_until_closed(connection))
    assert status == 200
    assert answer["prediction"] in (0, 1)
