"""JSON in and out: strict about what JSON allows (no NaN or Infinity literals)."""

from __future__ import annotations

import json
from typing import Any

from serving.errors import InvalidJSON


def _reject_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not valid JSON; send finite numbers only")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)


def decode(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, or raise InvalidJSON saying where it broke."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(
            f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidJSON("body is nested too deeply") from None


def encode(payload: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
