"""The one validation step: a parsed Batch checked against the model's schema becomes a Table.

Row limits, names, order and widths are checked here, whatever the request format; each
column's cells then by serving/request_cells.py. All-number models take a bulk numpy path;
models with text or missing values are checked column by column, and every error names the
row and the feature, never the value (except a text value refused as an unknown category).

Each cell is converted once: a CSV table arrives as one 2-D array of text, read as numbers all
at once when every cell is one, else column by column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.batch import Batch, Table
from serving.errors import InvalidInput, TooManyRows, echo
from serving.request_cells import as_numbers, missing_or_refuse, typed_table
from serving.schema import Feature, Schema


def validate(batch: Batch, features: Sequence[Feature], max_rows: int) -> Table:
    """The batch's rows as a Table in the model's feature order, or InvalidInput saying why."""
    schema = features if isinstance(features, Schema) else Schema(features)
    names, numeric = schema.names, schema.numeric
    if batch.columns is not None:
        columns = _columns_in_order(batch.columns, names)
        check_rows(len(columns[0]), max_rows)
        return typed_table(columns, features, batch.text)
    rows = batch.rows if batch.rows is not None else []
    check_rows(len(rows), max_rows)
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        rows = [_record(row, names, i) for i, row in enumerate(rows)]
    elif batch.names is not None:
        rows = _reorder(rows, batch.names, names)
    if numeric:
        matrix = _number_matrix(rows, features, batch.text)
        if matrix is not None:
            return Table.from_matrix(matrix)
    return typed_table(_transpose(rows, len(names)), features, batch.text)


def check_rows(count: int, max_rows: int) -> None:
    """Refuse empty batches and batches over MAX_ROWS."""
    if count == 0:
        raise InvalidInput("no rows: send at least one row")
    if count > max_rows:
        raise TooManyRows(f"got {count} rows; at most {max_rows} per request (MAX_ROWS)")


def in_feature_order(values: dict[Any, Any], names: Sequence[str], where: str) -> list[Any]:
    """The values keyed by feature name, in the model's order; every feature exactly once."""
    missing = [name for name in names if name not in values]
    if missing:
        raise InvalidInput(f"{where}missing feature {missing[0]!r} ({len(missing)} missing)")
    if len(values) != len(names):
        unknown = next(name for name in values if name not in set(names))
        raise InvalidInput(f"{where}unknown feature {echo(unknown)}")
    return [values[name] for name in names]


def _record(row: Any, names: Sequence[str], index: int) -> list[Any]:
    if not isinstance(row, dict):
        raise InvalidInput(f"row {index}: mix of lists and objects; use one kind for all rows")
    return in_feature_order(row, names, f"row {index}: ")


def _reorder(rows: Any, given: Sequence[Any], names: Sequence[str]) -> Any:
    """Positional rows whose columns are named `given`, put in the model's order."""
    given_names = [str(name) for name in given]
    if len(set(given_names)) != len(given_names):
        shown = ", ".join(echo(name) for name in given_names[:5])
        raise InvalidInput(f"column names repeat ({shown}...)")
    position = {name: index for index, name in enumerate(given_names)}
    order = in_feature_order(position, names, "columns: ")
    width = len(given_names)
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        if rows.shape[1] != width:
            raise InvalidInput(f"row 0: expected {width} values, one per named column")
        return rows[:, order]
    reordered = []
    for index, row in enumerate(rows):
        if not isinstance(row, list | tuple | np.ndarray) or len(row) != width:
            raise InvalidInput(f"row {index}: expected {width} values, one per named column")
        reordered.append([row[i] for i in order])
    return reordered


def _columns_in_order(columns: Any, names: Sequence[str]) -> list[Any]:
    ordered = in_feature_order(dict(columns), names, "")
    if not all(isinstance(values, list | np.ndarray) for values in ordered):
        raise InvalidInput("each feature's value must be a list, one value per row")
    if len({len(values) for values in ordered}) != 1:
        raise InvalidInput("every feature's list must have the same length")
    return ordered


def _number_matrix(rows: Any, features: Sequence[Feature], text: bool) -> np.ndarray | None:
    """The bulk path: rows of plain numbers (or, for text cells, of numbers' spellings) as a
    float64 matrix at once; None when cells need a closer look (null, text, missing
    markers), which the column-by-column path gives."""
    width = len(features)
    first = rows[0] if len(rows) else None
    if isinstance(first, list) and len(first) != width:
        # Before numpy copies a row that may hold millions of values.
        raise InvalidInput(f"expected {width} features, got {len(first)}")
    try:
        array = np.asarray(rows)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"every row must be a list of {width} numbers; rows differ in length or kind"
        ) from None
    if array.ndim != 2:
        raise InvalidInput(f"every row must be a list of {width} numbers")
    if array.shape[1] != width:
        raise InvalidInput(f"expected {width} features, got {array.shape[1]}")
    matrix = as_numbers(array, text)
    if matrix is None:
        return None
    if not np.isfinite(matrix).all():
        for row, column in np.argwhere(~np.isfinite(matrix)):
            missing_or_refuse(features[column], row, matrix[row, column])
    return matrix


def _transpose(rows: Any, width: int) -> list[Any]:
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        if rows.shape[1] != width:
            raise InvalidInput(f"expected {width} features, got {rows.shape[1]} (row 0)")
        return list(rows.T)
    for index, row in enumerate(rows):
        if not isinstance(row, list | tuple | np.ndarray):
            raise InvalidInput(f"every row must be a list of {width} values")
        if len(row) != width:
            raise InvalidInput(f"expected {width} features, got {len(row)} (row {index})")
    return [[row[i] for row in rows] for i in range(width)]
