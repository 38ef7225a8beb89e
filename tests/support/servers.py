"""Start and stop a real functions-framework server on 127.0.0.1 for tests and benchmarks, and
read what it logged and how much memory it holds."""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FRAMEWORK = Path(sys.executable).parent / "functions-framework"
# The variables serving/settings.py reads: never inherited from the caller's shell, so a test
# server sees only what its test passes.
SETTINGS_VARIABLES = frozenset(
    re.findall(r'"([A-Z][A-Z0-9_]{3,})"', (REPO / "serving" / "settings.py").read_text())
)


@contextmanager
def in_thread(server: socketserver.BaseServer) -> Iterator[str]:
    """Serve on a daemon thread until the block ends; yields the server's http://127.0.0.1 URL."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet request handler for the test doubles that answer JSON."""

    def reply_json(self, status: int, payload: object) -> None:
        """Answer payload (bytes as they are, anything else JSON-encoded)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest shows what a test asserts."""


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts connections on the port; fail if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


@dataclass
class Server:
    """A running functions-framework server and where its output goes."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def json_logs(self) -> list[dict[str, Any]]:
        """The structured (JSON) lines of the output, in order; gunicorn's own lines skipped."""
        lines = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if isinstance(entry, dict) and "severity" in entry:
                    lines.append(entry)
        return lines

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process we started (kill it if it lingers) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_server(
    env: Mapping[str, str] | None = None,
    source: Path = REPO / "main.py",
    wait: bool = True,
    preexec: Callable[[], None] | None = None,
    port: int | None = None,
) -> Server:
    """Start `functions-framework --target predict` on a loopback port (a free one by default)."""
    port = port or free_port()
    runtime_dir = tempfile.mkdtemp(prefix="ff-runtime-")
    log_path = Path(runtime_dir) / "server.log"
    inherited = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    full_env = {**inherited, "XDG_RUNTIME_DIR": runtime_dir, **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(FRAMEWORK),
                *("--target", "predict", "--source", str(source)),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=source.parent,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    if wait:
        try:
            wait_for_port(port, process)
        except Exception:
            server.stop()
            raise
    return server


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


def longest_line(log: str) -> int:
    """The length of the log's longest line, in characters."""
    return max((len(line) for line in log.splitlines()), default=0)


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


def offline_gcloud_env(config: Path) -> dict[str, str]:
    """The gcloud CLI's settings for tests: a throwaway config, no prompts, no metadata server."""
    config.mkdir(parents=True, exist_ok=True)
    return {
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        # Without it gcloud still resolves the metadata server's host name.
        "CLOUDSDK_METRICS_ENVIRONMENT": "test",
    }
