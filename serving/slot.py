"""A lazily filled, thread-safe, run-once slot for the model; failures are retried later."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from serving.errors import ModelUnavailable, ServingError

T = TypeVar("T")
logger = logging.getLogger(__name__)


class LazySlot(Generic[T]):
    """Holds one value built on first use; concurrent first callers wait for one build.

    A failed build leaves the slot empty, so a later call tries again.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
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
                self._value = self._build_logged()
            return self._value

    def _build_logged(self) -> T:
        try:
            return self._build()
        except ServingError as exc:
            logger.error("model unavailable: %s", exc.message)
            raise
        except Exception as exc:
            logger.exception("model failed to load")
            raise ModelUnavailable("the model failed to load; see the logs") from exc
