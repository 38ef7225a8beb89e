"""Each column's cells read as its feature's type says: numbers, integers, booleans or text.

Missing values (null, NaN, or in text cells a missing marker such as "" or "NA") are accepted
where the feature may be missing; text outside a closed set of categories is refused. Every
error names the row and the feature, and what was expected, never the value: the one exception
is a text value refused as an unknown category, cut to 40 characters, so the caller can find it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.batch import Table
from serving.errors import InvalidInput, echo
from serving.schema import MISSING_MARKERS, Feature


def typed_table(columns: list[Any], features: Sequence[Feature], text: bool) -> Table:
    """Each feature's column read as its type says, as a Table (with the float64 matrix when
    every feature is a number)."""
    typed = tuple(
        _text_column(values, feature, text)
        if feature.is_text
        else _number_column(values, feature, text)
        for values, feature in zip(columns, features, strict=True)
    )
    numbers = [column for column, f in zip(typed, features, strict=True) if not f.is_text]
    matrix = np.column_stack(numbers) if len(numbers) == len(typed) else None
    return Table(typed, matrix, len(typed[0]))


def _number_column(values: Any, feature: Feature, text: bool) -> np.ndarray:
    column = _bulk_numbers(values, text)
    if column is None:
        column = np.array([_number(v, feature, row, text) for row, v in enumerate(values)])
    for row in np.flatnonzero(~np.isfinite(column)):
        missing_or_refuse(feature, int(row), column[row])
    if feature.type == "integer":
        for row in np.flatnonzero(np.isfinite(column) & (column != np.round(column))):
            raise InvalidInput(
                f"row {row}, feature {feature.name!r}: expected an integer, "
                "got a number with a fraction"
            )
    return column


def _bulk_numbers(values: Any, text: bool) -> np.ndarray | None:
    """The column as float64 at once when every cell is a plain number (or, for text
    cells, a number's spelling); None when some cell needs a closer look."""
    try:
        array = np.asarray(values)
    except (ValueError, OverflowError):
        return None
    return as_numbers(array, text)


def as_numbers(array: np.ndarray, text: bool) -> np.ndarray | None:
    """The array as float64 at once: numbers, or text cells (a CSV table's strings, OIP
    BYTES) that all spell numbers; None when some cell does not."""
    if not (array.dtype.kind in "fiub" or (text and array.dtype.kind in "UO")):
        return None
    try:
        return array.astype(np.float64, order="C", copy=False)
    except (ValueError, OverflowError, TypeError):
        return None


def _number(value: Any, feature: Feature, row: int, text: bool) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool | int | float | np.number):
        try:
            return float(value)
        except OverflowError:
            raise InvalidInput(f"row {row}, feature {feature.name!r}: number too large") from None
    if isinstance(value, str) and text:
        if value.strip() in MISSING_MARKERS:
            return math.nan
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInput(
        f"row {row}, feature {feature.name!r}: expected {_expected(feature)}, got {_kind(value)}"
    )


def missing_or_refuse(feature: Feature, row: int, value: float) -> None:
    """A NaN is a missing value, refused where the feature needs one; an infinity is refused."""
    if math.isnan(value) and feature.nullable:
        return
    if math.isnan(value):
        raise InvalidInput(
            f"row {row}, feature {feature.name!r}: missing, but this model needs a value there"
        )
    raise InvalidInput(f"row {row}, feature {feature.name!r}: values must be finite numbers")


def _text_column(values: Any, feature: Feature, text: bool) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    known = set(feature.categories or ()) if not feature.other_categories else None
    cells = values.tolist() if isinstance(values, np.ndarray) else values
    for row, value in enumerate(cells):
        if value is None or (text and isinstance(value, str) and value in MISSING_MARKERS):
            if not feature.nullable:
                raise InvalidInput(
                    f"row {row}, feature {feature.name!r}: missing, but this model needs a "
                    f"value there ({_expected(feature)})"
                )
            value = None
        elif not isinstance(value, str):
            raise InvalidInput(
                f"row {row}, feature {feature.name!r}: expected {_expected(feature)}, "
                f"got {_kind(value)}"
            )
        elif known is not None and value not in known:
            raise InvalidInput(
                f"row {row}, feature {feature.name!r}: {echo(value)} is not a category this "
                f"model knows; expected {_expected(feature)}"
            )
        column[row] = value
    return column


def _expected(feature: Feature) -> str:
    if not feature.is_text:
        return "an integer" if feature.type == "integer" else f"a {feature.type}"
    if not feature.categories:
        return "text"
    shown = ", ".join(echo(c) for c in feature.categories[:5])
    more = f" ... ({len(feature.categories)} in all)" if len(feature.categories) > 5 else ""
    return f"text, one of {shown}{more}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"
