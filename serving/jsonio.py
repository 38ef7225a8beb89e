"""JSON in and out: request bodies decoded, answers encoded, strictly and fast (orjson).

orjson is faster than the stdlib on large bodies (bench/jsonio.py, BENCHMARKS.md) and strict:
no Infinity literals, no invalid UTF-8.

One exception: a `NaN` literal, which is how MLflow's client (and pandas) send a missing value,
reads as null, i.e. missing, for the validation step to accept or refuse.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from serving.errors import InvalidJSON


def decode(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, or raise InvalidJSON saying where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if b"NaN" in body:
            return _with_nan_as_null(body, exc)
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None


def table_of_numbers(text: bytes) -> Any:
    """A CSV table respelled as a JSON array of rows (serving/protocols/csv_body.py), strictly:
    InvalidJSON for anything but JSON. Not a request body: that is decoded by `decode`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidJSON("the table is not JSON") from None


def _with_nan_as_null(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """The stdlib parser, reading NaN as None; anything else it finds is still invalid."""

    def constant(name: str) -> None:
        if name != "NaN":
            raise ValueError(name)

    try:
        return json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError):
        raise InvalidJSON(f"body is not valid JSON: {error}") from None


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON; numpy arrays are written directly."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def log_line(entry: dict[Any, Any]) -> str:
    """A log entry as one line of ASCII JSON; an array as a list, anything else JSON cannot
    hold as its str().

    orjson writes the usual entry about 15 times faster than the stdlib; an entry it cannot
    write as ASCII (text beyond ASCII, a key that is not a string, an integer past 64 bits)
    goes to the stdlib, which escapes it.
    """
    try:
        line = orjson.dumps(entry, default=_plain).decode()
    except TypeError:
        line = ""
    return line if line.isascii() and line else json.dumps(entry, default=_plain)


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else str(value)
