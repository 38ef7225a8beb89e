"""A lazily filled, thread-safe, run-once slot for the model; failures are retried with backoff."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from serving.errors import ModelUnavailable, ServingError

T = TypeVar("T")
logger = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class Failure:
    """The last failed build: its error, how many failed in a row, and when to try again."""

    kind: type[ModelUnavailable]
    message: str
    count: int
    retry_at: float


class LazySlot(Generic[T]):
    """Holds one value built on first use; concurrent first callers wait for one build.

    A failed build leaves the slot empty. Calls within the backoff window that follows get the
    same error at once, without a new build (a broken bucket is not hammered); the window is
    `retry_seconds`, doubling with each failure in a row up to MAX_RETRY_SECONDS (or
    `retry_seconds` if larger), and a success ends it.
    """

    def __init__(
        self,
        build: Callable[[], T],
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._value: T | None = None
        self._failure: Failure | None = None
        self._lock = threading.Lock()

    @property
    def value(self) -> T | None:
        """The value if already built, without building it."""
        return self._value

    def get(self) -> T:
        """The value, building it now if needed; ModelUnavailable when the build fails."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._raise_during_backoff()
                self._value = self._build_logged()
                self._failure = None
            return self._value

    def _raise_during_backoff(self) -> None:
        failure = self._failure
        if failure is None:
            return
        remaining = failure.retry_at - self._clock()
        if remaining > 0:
            retry_after = str(max(1, math.ceil(remaining)))
            raise failure.kind(failure.message, headers={"Retry-After": retry_after})

    def _build_logged(self) -> T:
        try:
            return self._build()
        except ServingError as exc:
            self._record(exc, exc.__cause__)
            raise
        except Exception as exc:
            error = ModelUnavailable("the model failed to load; see the logs")
            self._record(error, exc, with_trace=True)
            raise error from exc

    def _record(
        self, error: ServingError, cause: BaseException | None, with_trace: bool = False
    ) -> None:
        """Remember the failure, start its backoff window and log one line with the details."""
        count = self._failure.count + 1 if self._failure else 1
        cap = max(MAX_RETRY_SECONDS, self._retry_seconds)
        wait = min(self._retry_seconds * 2 ** min(count - 1, 30), cap)
        kind = type(error) if isinstance(error, ModelUnavailable) else ModelUnavailable
        self._failure = Failure(kind, error.message, count, self._clock() + wait)
        error.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        logger.error(
            "model unavailable: %s",
            error.message,
            exc_info=with_trace,
            extra={
                "fields": {
                    "reason": error.message,
                    "code": error.code,
                    "detail": _detail(cause),
                    "failures_in_a_row": count,
                    "retry_in_seconds": round(wait, 3),
                }
            },
        )


def _detail(cause: BaseException | None) -> str | None:
    """The underlying error in one line, for the log only."""
    if cause is None:
        return None
    return f"{type(cause).__module__}.{type(cause).__qualname__}: {cause}"[:1000].replace("\n", " ")
