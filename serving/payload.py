"""Turn a decoded JSON body into a validated 2-D float64 array of rows, in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.errors import InvalidInput, TooManyRows

ACCEPTED_FIELDS = ("features", "instances", "probabilities")
SHAPES = (
    '{"features": [x1, ..., xn]} for one row, '
    '{"features": [[...], ...]} or {"instances": [[...], ...]} for several, '
    "rows may be objects keyed by feature name"
)


@dataclass(frozen=True)
class PredictRequest:
    """Validated rows and what the caller asked for."""

    rows: np.ndarray
    single: bool
    probabilities: bool


def parse_predict(body: Any, feature_names: Sequence[str], max_rows: int) -> PredictRequest:
    """Validate a predict body against the model's features; InvalidInput says what is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput(f"body must be a JSON object: {SHAPES}")
    unknown = sorted(set(body) - set(ACCEPTED_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown field {unknown[0]!r}; accepted fields: {', '.join(ACCEPTED_FIELDS)}"
        )
    if ("features" in body) == ("instances" in body):
        raise InvalidInput(f"give exactly one of 'features' or 'instances': {SHAPES}")
    probabilities = body.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise InvalidInput("'probabilities' must be true or false")
    key = "features" if "features" in body else "instances"
    data = body[key]
    single = key == "features" and _is_one_row(data)
    rows = [data] if single else data
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"'{key}' must be a non-empty list: {SHAPES}")
    if len(rows) > max_rows:
        raise TooManyRows(f"got {len(rows)} rows; at most {max_rows} per request (MAX_ROWS)")
    return PredictRequest(to_matrix(rows, feature_names), single, probabilities)


def _is_one_row(data: Any) -> bool:
    return isinstance(data, dict) or (
        isinstance(data, list) and bool(data) and not isinstance(data[0], list | dict)
    )


def to_matrix(rows: list[Any], feature_names: Sequence[str]) -> np.ndarray:
    """Rows (lists of numbers, or objects keyed by feature name) as a finite float64 array."""
    if any(isinstance(row, dict) for row in rows):
        rows = [_ordered(row, feature_names, i) for i, row in enumerate(rows)]
    try:
        array = np.asarray(rows)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"every row must be a list of {len(feature_names)} numbers; rows differ in length"
        ) from None
    if array.ndim != 2:
        raise InvalidInput(f"every row must be a list of {len(feature_names)} numbers")
    if array.shape[1] != len(feature_names):
        raise InvalidInput(f"expected {len(feature_names)} features, got {array.shape[1]}")
    if array.dtype.kind not in "fiub":
        raise InvalidInput(f"feature values must be numbers, got {_describe_bad_kind(array)}")
    matrix = array.astype(np.float64, copy=False)
    if not np.isfinite(matrix).all():
        row, column = np.argwhere(~np.isfinite(matrix))[0]
        raise InvalidInput(
            f"feature values must be finite numbers; row {row}, feature {column} is not"
        )
    return matrix


def _ordered(row: Any, feature_names: Sequence[str], index: int) -> list[Any]:
    if not isinstance(row, dict):
        raise InvalidInput(f"row {index}: mix of lists and objects; use one kind for all rows")
    missing = [name for name in feature_names if name not in row]
    if missing:
        raise InvalidInput(f"row {index}: missing feature {missing[0]!r} ({len(missing)} missing)")
    unknown = [name for name in row if name not in feature_names]
    if unknown:
        raise InvalidInput(f"row {index}: unknown feature {unknown[0]!r}")
    return [row[name] for name in feature_names]


def _describe_bad_kind(array: np.ndarray) -> str:
    if array.dtype.kind == "U":
        return "a string"
    return "null, a nested value or an integer too large for a float"
