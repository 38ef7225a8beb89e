"""One JSON line per event on stdout, in Cloud Logging's structured format."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from serving.errors import ECHO_CHARS
from serving.jsonio import log_line

_TRACE = "logging.googleapis.com/trace"
_SPAN = "logging.googleapis.com/spanId"


class CloudLoggingFormatter(logging.Formatter):
    """Formats a record as Cloud Logging's JSON: severity, message and the record's fields."""

    # The last second formatted, and its text: most records fall in the same second.
    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        return self.line(record.levelname, record.getMessage(), record.created, record.name, fields)

    def line(
        self, severity: str, message: str, created: float, name: str, fields: dict[str, Any]
    ) -> str:
        """The JSON line of one event at `created` (time.time()) from the logger `name`."""
        second = int(created)
        known, text = self._second
        if known != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            # One tuple, swapped whole: a thread never reads one second with another's text.
            self._second = (second, text)
        milliseconds = int((created - second) * 1000)
        entry = {
            "severity": severity,
            "message": message,
            "time": f"{text}.{milliseconds:03d}Z",
            "logger": name,
            **fields,
        }
        return log_line(entry)


# The handler configure() adds: a record that only it would take can skip the logging module.
_handler: logging.StreamHandler[Any] | None = None


def configure(level: str) -> None:
    """Send the `serving` loggers' records to stdout as JSON lines, once."""
    global _handler
    logger = logging.getLogger("serving")
    logger.setLevel(level)
    logger.propagate = False
    if not any(isinstance(h.formatter, CloudLoggingFormatter) for h in logger.handlers):
        _handler = logging.StreamHandler(sys.stdout)
        _handler.setFormatter(CloudLoggingFormatter())
        logger.addHandler(_handler)


def log(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """What `logger.log(level, message, extra={"fields": fields})` writes, for the line every
    request logs: when configure()'s handler alone would take the record, the line goes
    straight to it (the record, its caller's frame and its way down the loggers cost three
    times what the line does)."""
    handler = _sole_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra={"fields": fields})
        return
    assert isinstance(handler.formatter, CloudLoggingFormatter)
    line = handler.formatter.line(
        logging.getLevelName(level), message, time.time(), logger.name, fields
    )
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.stream.flush()
    except Exception:
        # As the logging module does with a line it cannot write (stdout closed).
        handler.handleError(logger.makeRecord(logger.name, level, "", 0, message, (), None))
    finally:
        handler.release()


def _sole_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    """configure()'s handler, when a record of `logger` at `level` would reach it and no other
    handler nor filter: a `serving.*` logger of its own neither."""
    parent = logger.parent
    if (
        _handler is None
        or logger.handlers
        or logger.filters
        or not logger.propagate
        or parent is None
        or parent.handlers != [_handler]
        or parent.filters
        or _handler.filters
        or level < _handler.level
        or not logger.isEnabledFor(level)
    ):
        return None
    return _handler


def trace_fields(headers: Any, project_id: str | None) -> dict[str, str]:
    """Cloud Logging trace fields from X-Cloud-Trace-Context or W3C traceparent, if present; an
    id that is not a short run of letters and digits is a client's string, and left out."""
    trace_id = span_id = ""
    cloud = headers.get("X-Cloud-Trace-Context", "")
    parent = headers.get("traceparent", "")
    if cloud:
        trace_id, _, rest = cloud.partition("/")
        span_id = rest.split(";", 1)[0]
    elif parent.count("-") == 3:
        _, trace_id, span_id, _ = parent.split("-")
    if not _an_id(trace_id):
        return {}
    trace = f"projects/{project_id}/traces/{trace_id}" if project_id else trace_id
    fields = {_TRACE: trace}
    if _an_id(span_id):
        fields[_SPAN] = span_id
    return fields


def _an_id(text: str) -> bool:
    return text.isalnum() and len(text) <= ECHO_CHARS
