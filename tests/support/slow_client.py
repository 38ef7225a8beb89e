"""A client that sends its request's headers and part of its body, then waits: for the slow
client tests and bench/slow_clients.py."""

from __future__ import annotations

import json
import socket
from typing import Any

# A bound on the client's own waiting, far above any deadline under test: reaching it is a hang.
CLIENT_TIMEOUT = 30.0


def stalled_client(url: str, sent_body: bytes, declared: int) -> socket.socket:
    """A connection that sent its headers and `sent_body`, then waits (Content-Length
    `declared`)."""
    port = int(url.rsplit(":", 1)[1])
    connection = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {declared}\r\n\r\n"
    )
    connection.sendall(head.encode() + sent_body)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    return received


def json_of(raw_response: bytes) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a raw HTTP/1.1 response (chunked, as the 408 is streamed)."""
    head, _, body = raw_response.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return status, json.loads(body)
