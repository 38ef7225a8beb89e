"""Bound the time a request body may take to arrive, so a slow client cannot hold a thread.

A socket timeout alone bounds each read, not the body: a client that sends one byte just before
every timeout would keep its thread for ever. Instead one watcher thread shuts the read side of
a connection whose deadline has passed; the server's read then ends at once, wherever it was
waiting, and the function answers 408 on the still-open write side.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator


class BodyDeadlines:
    """Deadlines for the bodies being read now; one daemon thread enforces them."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: dict[int, tuple[float, socket.socket]] = {}
        self._keys = itertools.count()
        self._watcher: threading.Thread | None = None
        # When the watcher wakes next (None: not until notified).
        self._wake_at: float | None = None
        # The longest time a body was given so far: how long the watcher sleeps with nothing
        # to watch (see _watch).
        self._longest = 0.0

    @contextlib.contextmanager
    def watch(self, sock: socket.socket, seconds: float) -> Iterator[float]:
        """Within the block, `sock` stops being readable `seconds` from now; yields the
        deadline (time.monotonic())."""
        deadline = time.monotonic() + seconds
        key = next(self._keys)
        with self._condition:
            self._pending[key] = (deadline, sock)
            self._longest = max(self._longest, seconds)
            # Started on first use, in the serving process: gunicorn imports main.py before
            # it forks its worker, and a thread does not survive a fork.
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="body-deadlines", daemon=True
                )
                self._watcher.start()
            # Deadlines mostly arrive in order: the watcher is woken only for an earlier one,
            # so a request costs it no extra wake-up (a wake-up costs the request a switch of
            # threads: about 70 us, more than the rest of the HTTP glue).
            if self._wake_at is None or deadline < self._wake_at:
                self._condition.notify()
        try:
            yield deadline
        finally:
            with self._condition:
                self._pending.pop(key, None)

    def _watch(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for key, (deadline, sock) in list(self._pending.items()):
                    if deadline <= now:
                        del self._pending[key]
                        # The client may have gone already: nothing left to stop.
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RD)
                # With nothing to watch, it sleeps for the longest time a body was given: the
                # next request's deadline, that far from a later moment, then falls after its
                # wake-up and needs no notify (a nearer one still notifies).
                upcoming = [deadline for deadline, _ in self._pending.values()]
                self._wake_at = min(upcoming) if upcoming else now + self._longest
                self._condition.wait(self._wake_at - now)
