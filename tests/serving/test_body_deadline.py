"""BodyDeadlines on socket pairs: a read ends at the deadline, not before, and only inside the
block (tests/serving/test_slow_clients.py has the same through a real server and real slow
clients)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from serving.body_deadline import BodyDeadlines

pytestmark = pytest.mark.in_process

# Long enough that a read must still be waiting for it; short enough for a quick test.
SHORT = 0.3
# Far past every read in these tests: a deadline that must never fire while they run.
LONG = 60.0


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of one connection."""
    server_side, client_side = socket.socketpair()
    server_side.settimeout(10)
    yield server_side, client_side
    server_side.close()
    client_side.close()


def read_until_stopped(sock: socket.socket) -> tuple[bytes, float]:
    """Everything readable until the read side ends, and when it ended."""
    data = b""
    while chunk := sock.recv(1024):
        data += chunk
    return data, time.monotonic()


def test_a_stalled_read_ends_at_the_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    server_side, client_side = pair
    deadlines = BodyDeadlines()
    client_side.sendall(b"part of a body")
    with deadlines.watch(server_side, SHORT) as deadline:
        data, ended = read_until_stopped(server_side)
    assert data == b"part of a body"
    assert ended >= deadline
    assert ended - deadline < 5  # the read ended because of the deadline, not the socket timeout


def test_a_body_within_its_deadline_is_read_whole_and_the_socket_stays_open(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_side, client_side = pair
    deadlines = BodyDeadlines()
    with deadlines.watch(server_side, SHORT):
        client_side.sendall(b"a whole body")
        assert server_side.recv(1024) == b"a whole body"
    time.sleep(2 * SHORT)  # past the deadline of the finished block: it must not fire now
    client_side.sendall(b"the next request")
    assert server_side.recv(1024) == b"the next request"


def test_an_earlier_deadline_is_kept_although_a_later_one_came_first() -> None:
    """The watcher, asleep until the later deadline, is woken for the earlier one."""
    deadlines = BodyDeadlines()
    first_server, first_client = socket.socketpair()
    second_server, second_client = socket.socketpair()
    second_server.settimeout(10)
    try:
        with (
            deadlines.watch(first_server, LONG),
            deadlines.watch(second_server, SHORT) as deadline,
        ):
            _, ended = read_until_stopped(second_server)
        assert deadline <= ended < deadline + 5
    finally:
        for sock in (first_server, first_client, second_server, second_client):
            sock.close()


def test_a_later_deadline_waits_for_its_own_time_after_an_earlier_one() -> None:
    """Two deadlines in order: each read ends at its own, the second not with the first."""
    deadlines = BodyDeadlines()
    sockets = [socket.socketpair() for _ in range(2)]
    try:
        for server_side, _ in sockets:
            server_side.settimeout(10)
        with (
            deadlines.watch(sockets[0][0], SHORT) as first,
            deadlines.watch(sockets[1][0], 3 * SHORT) as second,
        ):
            _, first_ended = read_until_stopped(sockets[0][0])
            _, second_ended = read_until_stopped(sockets[1][0])
        assert first <= first_ended < second
        assert second <= second_ended
    finally:
        for pair in sockets:
            for sock in pair:
                sock.close()


def test_a_client_gone_before_its_deadline_is_no_error(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_side, _ = pair
    deadlines = BodyDeadlines()
    with deadlines.watch(server_side, SHORT):
        server_side.close()
        time.sleep(2 * SHORT)
    # The watcher survived the failed shutdown: it still enforces a new deadline.
    other_server, other_client = socket.socketpair()
    other_server.settimeout(10)
    try:
        with deadlines.watch(other_server, SHORT) as deadline:
            _, ended = read_until_stopped(other_server)
        assert deadline <= ended < deadline + 5
    finally:
        other_server.close()
        other_client.close()


def test_requests_one_after_another_do_not_wake_the_watcher(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Each wake-up costs a request a switch of threads: a body read in time, once the watcher
    has nothing left to watch, must not wake it again."""
    server_side, _ = pair
    deadlines = BodyDeadlines()
    notified = []
    notify = deadlines._condition.notify

    def counting_notify(n: int = 1) -> None:
        notified.append(n)
        notify(n)

    deadlines._condition.notify = counting_notify  # type: ignore[method-assign]
    for _ in range(50):
        with deadlines.watch(server_side, LONG):
            pass
        time.sleep(0.002)  # the watcher gets its turn between requests, as it would
    assert len(notified) <= 2
