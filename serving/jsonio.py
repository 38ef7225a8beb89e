"""JSON in and out with orjson: faster than the stdlib on large bodies (bench/jsonio.py,
BENCHMARKS.md) and strict: no NaN or Infinity literals, no invalid UTF-8."""

from __future__ import annotations

from typing import Any

import orjson

from serving.errors import InvalidJSON


def decode(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, or raise InvalidJSON saying where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON; numpy arrays are written directly."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
