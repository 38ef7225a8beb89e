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
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": f"{self._seconds(int(record.created))}.{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return log_line(entry)

    def _seconds(self, second: int) -> str:
        known, text = self._second
        if known != second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            # One tuple, swapped whole: a thread never reads one second with another's text.
            self._second = (second, text)
        return text


def configure(level: str) -> None:
    """Send the `serving` loggers' records to stdout as JSON lines, once."""
    logger = logging.getLogger("serving")
    logger.setLevel(level)
    logger.propagate = False
    if not any(isinstance(h.formatter, CloudLoggingFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingFormatter())
        logger.addHandler(handler)


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
