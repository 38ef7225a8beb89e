"""HTTP on a bare socket to a real server: exact bytes, a body that never ends, a stream past
the limit, and many first requests released at the same moment."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

import requests

from tests.support.servers import Server

TIMEOUT = 15.0


def raw_post(server: Server, head: bytes, first_bytes: bytes) -> bytes:
    """Send headers and the start of a body that never ends; return what comes back."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + first_bytes)
        return sock.recv(4096)


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
