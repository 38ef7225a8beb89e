"""A real functions-framework server (gunicorn) on 127.0.0.1, driven over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from serving.manifest import MANIFEST_NAME, sha256_hex
from tests.servers import Server, start_server

CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)
SECRET = 31337.4242


def request_lines(server: Server) -> list[dict[str, Any]]:
    return [line for line in server.json_logs() if "httpRequest" in line]


def test_predicts_over_http(server: Server, classifier_dir: Path) -> None:
    model = joblib.load(classifier_dir / "model.joblib")
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    response = requests.post(server.url, json={"instances": CANCER.tolist()}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "predictions": model.predict(CANCER).tolist(),
        "model_version": version,
    }
    one = requests.post(server.url, json={"features": CANCER[0].tolist()}, timeout=30).json()
    assert one == {"prediction": model.predict(CANCER[:1]).tolist()[0], "model_version": version}
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/", b"{", 400, "invalid_json"),
        ("POST", "/", b'{"features": [1, 2]}', 400, "invalid_input"),
        ("GET", "/missing", b"", 404, "not_found"),
        ("DELETE", "/", b"", 405, "method_not_allowed"),
    ],
)
def test_errors_over_http_are_json_with_the_request_id(
    server: Server, method: str, path: str, body: bytes, status: int, code: str
) -> None:
    response = requests.request(
        method,
        server.url + path,
        data=body,
        headers={"Content-Type": "application/json", "Function-Execution-Id": f"id-{status}"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["request_id"] == f"id-{status}"


def test_logs_are_json_lines_on_stdout(server: Server) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    requests.post(
        server.url,
        json={"features": [SECRET] * 30},
        headers={
            "Function-Execution-Id": "log-1",
            "traceparent": f"00-{trace}-b7ad6b7169203331-01",
        },
        timeout=30,
    )
    requests.post(server.url, json={"features": [SECRET] * 29}, timeout=30)
    (line,) = [line for line in request_lines(server) if line["request_id"] == "log-1"]
    assert line["severity"] == "INFO"
    assert line["message"] == "POST / 200"
    assert line["httpRequest"]["status"] == 200
    assert line["httpRequest"]["latency"].endswith("s")
    assert line["model_version"]
    assert line["logging.googleapis.com/trace"] == trace
    assert line["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    assert "31337" not in server.logs()


def raw_post(server: Server, head: bytes, first_bytes: bytes) -> bytes:
    """Send headers and the start of a body that never ends; return what comes back."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + first_bytes)
        return sock.recv(4096)


@pytest.mark.parametrize(
    ("framing", "first_bytes"),
    [
        ("Transfer-Encoding: chunked", b"1000\r\n" + b"1" * 4096 + b"\r\n"),
        ("Content-Length: 1000000000", b"1" * 4096),
    ],
)
def test_body_over_the_limit_is_refused_without_waiting_for_the_rest(
    classifier_dir: Path, framing: str, first_bytes: bytes
) -> None:
    server = start_server({"MODEL_URI": str(classifier_dir), "MAX_BODY_BYTES": "1000"})
    try:
        head = (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{framing}\r\n\r\n"
        ).encode()
        answer = raw_post(server, head, first_bytes)
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"application/json" in answer


def test_cold_instance_loads_the_model_once(classifier_dir: Path) -> None:
    """32 first requests at the same moment on a fresh server: one load, 32 right answers."""
    model = joblib.load(classifier_dir / "model.joblib")
    server = start_server({"MODEL_URI": str(classifier_dir)})
    clients = 32
    barrier = threading.Barrier(clients)
    answers: list[tuple[int, Any, Any]] = []

    def first_request(index: int) -> None:
        rows = CANCER[index * 10 : index * 10 + 10]
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.post(server.url, json={"instances": rows.tolist()}, timeout=60)
            answers.append((response.status_code, response.json(), model.predict(rows).tolist()))

    try:
        threads = [threading.Thread(target=first_request, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        logs = server.json_logs()
    finally:
        server.stop()
    assert len(answers) == clients
    for status, body, expected in answers:
        assert status == 200
        assert body["predictions"] == expected
    loaded = [line for line in logs if line["message"] == "model loaded"]
    assert len(loaded) == 1
    assert loaded[0]["manifest_sha256"] == sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    assert loaded[0]["source"] == "local folder"
    assert loaded[0]["seconds"] > 0
    assert len([line for line in logs if "httpRequest" in line]) == clients


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_ROWS", "zero"), ("MODEL_SHA256", "not-a-hash"), ("LOG_LEVEL", "CHATTY")],
)
def test_bad_setting_stops_start_up(name: str, value: str) -> None:
    server = start_server({name: value}, wait=False)
    try:
        returncode = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.stop()
        raise
    assert returncode != 0
    assert name in server.logs()
    assert value in server.logs()
