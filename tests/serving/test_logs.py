"""The log: one JSON line per request on stdout in Cloud Logging's format, with the trace, the
request id, the status and the latency; LOG_LEVEL filters it. What it must never hold:
tests/serving/test_privacy.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from serving.jsonio import log_line
from serving.logs import CloudLoggingFormatter, trace_fields
from serving.manifest import MANIFEST_NAME
from tests.support.answers import request_lines
from tests.support.fixture_types import Logs, MakeClient
from tests.support.servers import Server

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)
ROW = CANCER[0].tolist()
# A value that appears nowhere else: the logs must never contain it.
SECRET = 31337.4242
HUGE = [1e308] * 30


# --- in process -------------------------------------------------------------------------------


def test_one_log_line_per_request(client: Any, classifier_dir: Path, serving_logs: Logs) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    client.post(
        "/", json={"instances": CANCER[:7].tolist()}, headers={"Function-Execution-Id": "r-1"}
    )
    client.get("/nope", headers={"Function-Execution-Id": "r-2"})
    client.post("/", json={"features": [1]}, headers={"Function-Execution-Id": "r-3"})
    lines = request_lines(serving_logs())
    assert [line["request_id"] for line in lines] == ["r-1", "r-2", "r-3"]
    ok, missing, bad = lines
    assert ok["severity"] == "INFO"
    assert ok["message"] == "POST / 200"
    assert ok["httpRequest"]["status"] == 200
    assert ok["httpRequest"]["requestMethod"] == "POST"
    assert ok["httpRequest"]["latency"].endswith("s")
    assert float(ok["httpRequest"]["latency"][:-1]) > 0
    assert ok["latency_ms"] > 0
    assert ok["model_version"] == version
    assert ok["rows"] == 7
    assert missing["severity"] == "WARNING"
    assert missing["httpRequest"]["status"] == 404
    assert missing["code"] == "not_found"
    assert bad["message"] == "POST / 400: expected 30 features, got 1 (row 1)"
    assert all("logging.googleapis.com/trace" not in line for line in lines)


@pytest.mark.parametrize(
    ("headers", "project", "trace", "span"),
    [
        (
            {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
            "demo-project",
            "projects/demo-project/traces/105445aa7843bc8bf206b12000100000",
            "1",
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "demo-project",
            "projects/demo-project/traces/4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            None,
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
    ],
)
def test_trace_is_logged(
    make_client: MakeClient,
    classifier_dir: Path,
    serving_logs: Logs,
    headers: dict[str, str],
    project: str | None,
    trace: str,
    span: str,
) -> None:
    env = {"MODEL_URI": str(classifier_dir)}
    if project:
        env["GOOGLE_CLOUD_PROJECT"] = project
    client = make_client(**env)
    client.get("/health", headers=headers)
    (line,) = request_lines(serving_logs())
    assert line["logging.googleapis.com/trace"] == trace
    assert line["logging.googleapis.com/spanId"] == span


def test_log_level_filters_request_lines(
    make_client: MakeClient, classifier_dir: Path, serving_logs: Logs
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), LOG_LEVEL="WARNING")
    client.post("/", json={"features": ROW})
    client.get("/nope")
    assert [line["httpRequest"]["status"] for line in request_lines(serving_logs())] == [404]


@pytest.mark.parametrize(
    ("headers", "project", "expected"),
    [
        ({}, "p", {}),
        ({"X-Cloud-Trace-Context": "abc123/42;o=1"}, "p", {"trace": "projects/p/traces/abc123"}),
        ({"X-Cloud-Trace-Context": "abc123"}, None, {"trace": "abc123"}),
        ({"X-Cloud-Trace-Context": "not a trace!/1"}, "p", {}),
        ({"traceparent": "00-abc-def"}, "p", {}),
        ({"traceparent": "00-0123abcd-00f0-01"}, None, {"trace": "0123abcd", "span": "00f0"}),
        (
            {"X-Cloud-Trace-Context": "aaa/1", "traceparent": "00-bbb-2-01"},
            None,
            {"trace": "aaa", "span": "1"},
        ),
    ],
)
def test_trace_fields(
    headers: dict[str, str], project: str | None, expected: dict[str, str]
) -> None:
    fields = trace_fields(headers, project)
    assert fields.get("logging.googleapis.com/trace") == expected.get("trace")
    if "span" in expected:
        assert fields["logging.googleapis.com/spanId"] == expected["span"]


@pytest.mark.parametrize(
    "entry",
    [
        {"message": "POST / 200", "latency_ms": 0.25, "rows": 3, "methods": ["predict"]},
        {"userAgent": "caf\u00e9 \u2603", "request_id": "\ud800"},  # beyond ASCII, a surrogate
        {1: "a key that is not a string"},
        {"big": 2**70, "nested": {"list": [None, True, 1.5]}},
        {"object": object, "array": np.arange(3), "number": np.float32(0.5)},
    ],
)
def test_a_log_line_is_one_line_of_ascii_json_as_the_stdlib_reads_it(entry: dict[Any, Any]) -> None:
    line = log_line(entry)
    assert line.isascii()
    assert "\n" not in line
    expected = json.loads(json.dumps(entry, default=str))
    if "array" in entry:
        expected |= {"array": [0, 1, 2], "number": 0.5}
    assert json.loads(line) == expected


def test_each_record_gets_its_own_time() -> None:
    formatter = CloudLoggingFormatter()
    found = []
    for created in (1796688000.25, 1796688000.5, 1796688001.0, 1796688000.75):
        record = logging.LogRecord("serving.test", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created % 1) * 1000
        found.append(json.loads(formatter.format(record))["time"])
    assert found == [
        "2026-12-08T00:00:00.250Z",
        "2026-12-08T00:00:00.500Z",
        "2026-12-08T00:00:01.000Z",
        "2026-12-08T00:00:00.750Z",
    ]


def test_log_lines_go_to_stdout_as_json() -> None:
    script = (
        "import logging\n"
        "from serving import logs\n"
        "logs.configure('INFO')\n"
        "logs.configure('INFO')\n"  # twice: still one handler, one line per record
        "logging.getLogger('serving.test').info('hello', extra={'fields': {'rows': 3}})\n"
        "logging.getLogger('serving.test').debug('hidden')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    entry = json.loads(line)
    assert {"severity": "INFO", "message": "hello", "rows": 3}.items() <= entry.items()
    assert entry["time"].endswith("Z")


def test_a_request_line_written_straight_is_the_line_the_logging_module_writes() -> None:
    """logs.log skips the logging module when configure()'s handler alone takes the line; the
    line is the same, and a handler of the operator's own gets every line through logging."""
    script = (
        "import io, logging\n"
        "from serving import logs\n"
        "logs.configure('INFO')\n"
        "logger = logging.getLogger('serving.http')\n"
        "fields = {'httpRequest': {'status': 200}, 'rows': 3, 'methods': ['predict']}\n"
        "logs.log(logger, logging.INFO, 'POST / 200', fields)\n"
        "logger.log(logging.INFO, 'POST / 200', extra={'fields': fields})\n"
        "logs.log(logger, logging.DEBUG, 'hidden', fields)\n"
        "extra = io.StringIO()\n"
        "logging.getLogger('serving').addHandler(logging.StreamHandler(extra))\n"
        "logs.log(logger, logging.WARNING, 'POST / 400: bad', {'code': 'bad'})\n"
        "print('extra:', extra.getvalue().strip())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    straight, through_logging, warning, extra = done.stdout.splitlines()
    entries = [json.loads(line) for line in (straight, through_logging, warning)]
    for entry in entries:
        assert entry.pop("time").endswith("Z")
    assert entries[0] == entries[1]
    assert entries[0] == {
        "severity": "INFO",
        "message": "POST / 200",
        "logger": "serving.http",
        "httpRequest": {"status": 200},
        "rows": 3,
        "methods": ["predict"],
    }
    assert entries[2]["severity"] == "WARNING"
    assert extra == "extra: POST / 400: bad"


# --- on a real server -------------------------------------------------------------------------


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
    (line,) = [line for line in request_lines(server.json_logs()) if line["request_id"] == "log-1"]
    assert line["severity"] == "INFO"
    assert line["message"] == "POST / 200"
    assert line["httpRequest"]["status"] == 200
    assert line["httpRequest"]["latency"].endswith("s")
    assert line["model_version"]
    assert line["logging.googleapis.com/trace"] == trace
    assert line["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    assert "31337" not in server.logs()


def test_huge_numbers_leave_only_json_lines_in_the_log(server: Server) -> None:
    answer = requests.post(server.url, json={"features": HUGE, "probabilities": True}, timeout=30)
    assert answer.status_code == 400
    for line in server.logs().splitlines():
        if line.startswith("{"):
            json.loads(line)
        else:
            assert "Warning" not in line, line
