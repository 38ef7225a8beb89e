"""score.py against a real local server: order, errors, a server restarted mid-run, resume."""

from __future__ import annotations

import base64
import csv
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from scoring.journal import (
    Journal,
    JournalMismatch,
    Position,
    journal_path,
    partial_path,
    read_position,
)
from scoring.transport import auth_headers_for
from tests.support.servers import JsonHandler, Server, in_thread, start_server

REPO = Path(__file__).resolve().parents[2]
ROWS = 3000


@pytest.fixture(scope="module")
def input_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Breast-cancer rows repeated to ROWS, in the model's feature order, with a header."""
    data = load_breast_cancer()
    path = tmp_path_factory.mktemp("score") / "input.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(data.feature_names)
        for index in range(ROWS):
            writer.writerow(data.data[index % len(data.data)].tolist())
    return path


@pytest.fixture(scope="module")
def expected(classifier_dir: Path, input_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    """In-process labels and probabilities of the input rows."""
    model = joblib.load(classifier_dir / "model.joblib")
    rows = np.loadtxt(input_csv, delimiter=",", skiprows=1)
    return model.predict(rows), model.predict_proba(rows)


def score(input_csv: Path, url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "score.py", str(input_csv), "--url", url, "--out", str(out), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


def start_score(input_csv: Path, url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    """score.py as a user starts it at a terminal: Ctrl-C (SIGINT) interrupts it, even when this
    suite runs in a background job, whose children inherit SIGINT ignored (then Python never
    raises KeyboardInterrupt)."""
    return subprocess.Popen(
        [sys.executable, "score.py", str(input_csv), "--url", url, "--out", str(out), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_journal_lines(out: Path, count: int, process: subprocess.Popen[str]) -> None:
    """Until the run has journaled `count` chunks (the settings line aside)."""
    deadline = time.monotonic() + 60
    path = journal_path(out)
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.exists() and path.read_bytes().count(b"\n") > count:
            return
        time.sleep(0.01)
    raise TimeoutError("the run journaled too few chunks")


class _Gate(ThreadingHTTPServer):
    """In front of the function: forwards the first `open_for` requests, holds every later one
    until `release` is set, then refuses it with a 503. A run sent through it is surely
    mid-way when the test stops it, and can never finish, however fast the machine is."""

    daemon_threads = True

    def __init__(self, upstream: str, open_for: int) -> None:
        super().__init__(("127.0.0.1", 0), _GateHandler)
        self.upstream, self.open_for = upstream, open_for
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.seen = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _GateHandler(JsonHandler):
    server: _Gate

    def do_GET(self) -> None:
        """The model's description, always passed through."""
        with urllib.request.urlopen(self.server.upstream + self.path, timeout=30) as response:
            self.reply_json(response.status, response.read())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.seen += 1
            forward = self.server.seen <= self.server.open_for
        status, answer = 503, b'{"error": {"code": "held_by_the_test"}}'
        if forward:
            headers = {"Content-Type": self.headers["Content-Type"]}
            request = urllib.request.Request(self.server.upstream + self.path, body, headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, answer = error.code, error.read()
        else:
            self.server.release.wait(60)
        self.reply_json(status, answer)


@pytest.fixture
def gate(server: Server) -> Iterator[_Gate]:
    """A gate that lets 30 chunks through to the real server."""
    running = _Gate(server.url, open_for=30)
    with in_thread(running):
        try:
            yield running
        finally:
            running.release.set()


def check_output(
    out: Path, input_csv: Path, expected: tuple[np.ndarray, np.ndarray], probabilities: bool
) -> None:
    """Every input row once, in order, its text untouched, with in-process predictions."""
    labels, probas = expected
    source = input_csv.read_text().splitlines()
    lines = out.read_text().splitlines()
    assert len(lines) == len(source)
    added = ["prediction"] + (["probability_0", "probability_1"] if probabilities else [])
    assert lines[0] == source[0] + "," + ",".join(added)
    width = len(source[0].split(","))
    for index, (line, original) in enumerate(zip(lines[1:], source[1:], strict=True)):
        cells = line.split(",")
        assert ",".join(cells[:width]) == original, index
        assert int(cells[width]) == labels[index], index
        if probabilities:
            got = [float(cell) for cell in cells[width + 1 :]]
            np.testing.assert_allclose(got, probas[index], atol=1e-5)
    assert not journal_path(out).exists()
    assert not partial_path(out).exists()


def test_output_is_complete_in_order_and_matches_in_process(
    server: Server, input_csv: Path, expected: Any, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    done = score(
        input_csv,
        server.url,
        out,
        "--rows-per-request",
        "97",
        "--concurrency",
        "4",
        "--probabilities",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    check_output(out, input_csv, expected, probabilities=True)


def test_a_refused_chunk_stops_with_the_message_and_its_rows(
    server: Server, input_csv: Path, tmp_path: Path
) -> None:
    lines = input_csv.read_text().splitlines()
    lines[250] = "not a number," + lines[250].split(",", 1)[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")

    done = score(bad, server.url, tmp_path / "scored.csv", "--rows-per-request", "100")

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "rows 201-300" in done.stderr
    assert "HTTP 400" in done.stderr
    # The bad cell's row as the file counts it (the function names it within the request).
    assert "row 250, feature 'mean radius': expected a number, got text" in done.stderr


def test_a_server_killed_and_restarted_mid_run_loses_and_repeats_nothing(
    classifier_dir: Path, input_csv: Path, expected: Any, tmp_path: Path
) -> None:
    first = start_server({"MODEL_URI": str(classifier_dir)})
    port = int(first.url.rsplit(":", 1)[1])
    out = tmp_path / "scored.csv"
    client = start_score(
        input_csv,
        first.url,
        out,
        "--rows-per-request",
        "10",
        "--concurrency",
        "2",
        "--commit-interval",
        "0",
        "--backoff-base",
        "0.2",
        "--max-attempts",
        "12",
    )
    second = None
    try:
        wait_for_journal_lines(out, 20, client)
        first.process.kill()
        first.process.wait(timeout=10)
        time.sleep(1.0)
        second = start_server({"MODEL_URI": str(classifier_dir)}, port=port)
        _, stderr = client.communicate(timeout=180)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        first.stop()
        if second is not None:
            second.stop()
    assert client.returncode == 0, stderr
    check_output(out, input_csv, expected, probabilities=False)


def test_an_interrupted_run_resumes_without_losing_or_repeating_a_chunk(
    server: Server, gate: _Gate, input_csv: Path, expected: Any, tmp_path: Path
) -> None:
    """Meanwhile the output's name holds the last complete output, untouched (issue 26)."""
    out = tmp_path / "scored.csv"
    out.write_text("yesterday's complete output\n")
    args = ("--rows-per-request", "10", "--concurrency", "2", "--commit-interval", "0")
    client = start_score(input_csv, gate.url, out, *args)
    wait_for_journal_lines(out, 20, client)
    client.send_signal(signal.SIGINT)
    gate.release.set()
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 130, stderr
    assert "resume" in stderr
    assert "Traceback" not in stderr
    assert journal_path(out).exists()
    assert 20 < len(partial_path(out).read_text().splitlines()) < ROWS + 1
    assert out.read_text() == "yesterday's complete output\n"

    done = score(input_csv, server.url, out, *args)

    assert done.returncode == 0, done.stderr
    check_output(out, input_csv, expected, probabilities=False)


def test_a_crash_between_output_and_journal_is_repaired_on_resume(
    server: Server, gate: _Gate, input_csv: Path, expected: Any, tmp_path: Path
) -> None:
    """Rows written but never journaled, and a torn journal line: both dropped, then redone."""
    out = tmp_path / "scored.csv"
    args = ("--rows-per-request", "10", "--concurrency", "2", "--commit-interval", "0")
    client = start_score(input_csv, gate.url, out, *args)
    wait_for_journal_lines(out, 20, client)
    client.kill()
    client.communicate(timeout=30)
    assert not out.exists()
    with partial_path(out).open("ab") as output:
        output.write(b"1,2,3,half a row wri")
    with journal_path(out).open("ab") as journal:
        journal.write(b'{"chunk": 999, "input_off')

    done = score(input_csv, server.url, out, "--resume", *args)

    assert done.returncode == 0, done.stderr
    check_output(out, input_csv, expected, probabilities=False)


def test_a_journal_from_other_settings_is_refused(
    server: Server, input_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    partial_path(out).write_text("")
    journal_path(out).write_text(json.dumps({"input": "elsewhere.csv"}) + "\n")

    done = score(input_csv, server.url, out, "--rows-per-request", "10")

    assert done.returncode == 1
    assert "other settings" in done.stderr
    assert "Traceback" not in done.stderr


def test_plain_http_urls_get_no_authorization_header() -> None:
    assert auth_headers_for("http://127.0.0.1:8080/")() == {}


class _TokenEndpoint(JsonHandler):
    """Google's OAuth token endpoint, as a service-account key's token_uri points to it."""

    assertions: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        form = self.rfile.read(int(self.headers["Content-Length"])).decode()
        assertion = dict(part.split("=", 1) for part in form.split("&"))["assertion"]
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertions.append(claims)
        self.reply_json(200, {"id_token": _unsigned_jwt({"exp": int(time.time()) + 3600})})


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    parts = [{"alg": "none"}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=") for p in parts]
    return b".".join([*encoded, b"sig"]).decode()


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    with in_thread(HTTPServer(("127.0.0.1", 0), _TokenEndpoint)) as url:
        yield f"{url}/token"


def test_https_urls_send_an_identity_token_for_the_service(
    token_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth's own service-account flow, its token endpoint served on 127.0.0.1."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "test-project",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "scorer@test-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_endpoint,
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    _TokenEndpoint.assertions.clear()

    headers = auth_headers_for("https://scorer-abc-uc.a.run.app/v1/path?x=1")

    first = headers()
    assert first["Authorization"].startswith("Bearer ey")
    assert headers() == first  # cached: one token fetch for the whole run
    assert len(_TokenEndpoint.assertions) == 1
    assert _TokenEndpoint.assertions[0]["target_audience"] == "https://scorer-abc-uc.a.run.app"


def test_a_journal_torn_in_its_first_line_starts_over_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    settings = {"input": "in.csv", "probabilities": False, "rows_per_request": 10}
    partial_path(out).write_bytes(b"header,prediction\n")
    journal_path(out).write_bytes(b'{"input": "in.cs')

    journal = Journal(out, settings, resume=True)
    assert journal.position == Position()
    journal.record(0, b"header,prediction\n1,0\n", 40, 1)
    journal.close()

    assert partial_path(out).read_bytes() == b"header,prediction\n1,0\n"
    assert read_position(journal_path(out), settings) == Position(1, 40, 22, 1)


def test_an_output_shorter_than_its_journal_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    settings = {"input": "in.csv", "probabilities": False, "rows_per_request": 10}
    journal = Journal(out, settings, resume=False)
    journal.record(0, b"header,prediction\n1,0\n", 40, 1)
    journal.close()
    partial_path(out).write_bytes(b"header")

    with pytest.raises(JournalMismatch, match="shorter"):
        Journal(out, settings, resume=True)
