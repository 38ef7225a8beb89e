"""Turn a decoded JSON body into a validated 2-D float64 array of rows, in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.errors import InvalidInput, TooManyRows

ACCEPTED_FIELDS = ("features", "instances", "probabilities", "parameters", "params")
# What a request may ask for, named after the estimator's methods (MLflow's `predict_method`).
METHODS = ("predict", "predict_proba", "decision_function")
OPTION_KEYS = ("parameters", "params")
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
    method: str = "predict"


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
    method = read_method(body)
    probabilities = body.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise InvalidInput("'probabilities' must be true or false")
    key = "features" if "features" in body else "instances"
    data = body[key]
    single = key == "features" and _is_one_row(data)
    rows = [data] if single else data
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"'{key}' must be a non-empty list: {SHAPES}")
    check_rows(len(rows), max_rows)
    return PredictRequest(to_matrix(rows, feature_names), single, probabilities, method)


def read_method(body: dict[str, Any]) -> str:
    """The `predict_method` from `parameters` (Vertex, KServe) or `params` (MLflow)."""
    given = [key for key in OPTION_KEYS if key in body]
    if len(given) > 1:
        raise InvalidInput("give 'parameters' or 'params', not both")
    if not given:
        return "predict"
    options = body[given[0]]
    if options is None:
        return "predict"
    if not isinstance(options, dict):
        raise InvalidInput(
            f'\'{given[0]}\' must be an object such as {{"predict_method": "predict"}}'
        )
    unknown = sorted(set(options) - {"predict_method"})
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; accepted: predict_method")
    return check_method(options.get("predict_method", "predict"))


def check_method(method: Any) -> str:
    """A predict method name, or InvalidInput listing the accepted ones."""
    if method not in METHODS:
        raise InvalidInput(f"predict_method must be one of {', '.join(METHODS)}, got {method!r}")
    return str(method)


def check_rows(count: int, max_rows: int) -> None:
    """Refuse empty batches and batches over MAX_ROWS."""
    if count == 0:
        raise InvalidInput("no rows: send at least one row")
    if count > max_rows:
        raise TooManyRows(f"got {count} rows; at most {max_rows} per request (MAX_ROWS)")


def columns_to_matrix(columns: dict[str, Any], feature_names: Sequence[str]) -> np.ndarray:
    """Columnar input ({feature name: [values]}) as rows; every feature named once."""
    lists = in_feature_order(columns, feature_names, "")
    if not all(isinstance(values, list) for values in lists):
        raise InvalidInput("each feature's value must be a list, one value per row")
    try:
        rows = np.asarray(lists).T
    except (ValueError, OverflowError):
        raise InvalidInput("every feature's list must have the same length") from None
    if rows.ndim != 2:
        raise InvalidInput("each feature's value must be a flat list of numbers, one per row")
    return to_matrix(rows, feature_names)


def _is_one_row(data: Any) -> bool:
    return isinstance(data, dict) or (
        isinstance(data, list) and bool(data) and not isinstance(data[0], list | dict)
    )


def to_matrix(rows: list[Any] | np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """Rows (lists of numbers, or objects keyed by feature name) as a finite float64 array."""
    # The first row decides the kind; a later row of the other kind is refused by _ordered
    # (objects) or by the dtype check below (lists), without a Python pass over every row.
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        rows = [_ordered(row, feature_names, i) for i, row in enumerate(rows)]
    try:
        array = np.asarray(rows)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"every row must be a list of {len(feature_names)} numbers; "
            "rows differ in length or kind"
        ) from None
    if array.ndim != 2:
        raise InvalidInput(f"every row must be a list of {len(feature_names)} numbers")
    if array.shape[1] != len(feature_names):
        raise InvalidInput(f"expected {len(feature_names)} features, got {array.shape[1]}")
    if array.dtype.kind not in "fiub":
        raise InvalidInput(f"feature values must be numbers, got {_describe_bad_kind(array)}")
    return check_finite(array.astype(np.float64, copy=False))


def check_finite(matrix: np.ndarray) -> np.ndarray:
    """The matrix itself, or InvalidInput naming the first NaN or infinite cell."""
    if not np.isfinite(matrix).all():
        row, column = np.argwhere(~np.isfinite(matrix))[0]
        raise InvalidInput(
            f"feature values must be finite numbers; row {row}, feature {column} is not"
        )
    return matrix


def _ordered(row: Any, feature_names: Sequence[str], index: int) -> list[Any]:
    if not isinstance(row, dict):
        raise InvalidInput(f"row {index}: mix of lists and objects; use one kind for all rows")
    return in_feature_order(row, feature_names, f"row {index}: ")


def in_feature_order(values: dict[str, Any], feature_names: Sequence[str], where: str) -> list[Any]:
    """The values keyed by feature name, in the model's order; every feature exactly once."""
    missing = [name for name in feature_names if name not in values]
    if missing:
        raise InvalidInput(f"{where}missing feature {missing[0]!r} ({len(missing)} missing)")
    if len(values) != len(feature_names):
        unknown = next(name for name in values if name not in set(feature_names))
        raise InvalidInput(f"{where}unknown feature {unknown!r}")
    return [values[name] for name in feature_names]


def _describe_bad_kind(array: np.ndarray) -> str:
    if array.dtype.kind == "U":
        return "a string"
    return "null, a nested value or an integer too large for a float"
