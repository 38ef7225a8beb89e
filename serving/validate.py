"""The one validation step: a parsed Batch checked against the model's schema becomes a Table.

Row limits, names, order and widths are checked here, whatever the request format; each
column's cells by the one cell rule (serving/cells.py), read as the batch's format reads them.
Every message counts rows from 1 and names the row and the feature, never a feature's value
(except a text value refused as an unknown category, cut to 40 characters).

Each body is reshaped once and each cell converted once, in C: objects keyed by feature name
become rows in the model's order with one `itemgetter` per record, named columns are put in the
model's order the same way, and rows become columns with one `zip`. An all-number model's rows
are converted and checked as one matrix (`cells.matrix`); other models, or a table where some
cell needs a closer look, are read column by column (`cells.column`), which says which cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from serving import cells
from serving.batch import Batch, Table
from serving.errors import InvalidInput, TooManyRows, echo
from serving.schema import Feature, Schema


def validate(batch: Batch, features: Sequence[Feature], max_rows: int) -> Table:
    """The batch's rows as a Table in the model's feature order, or InvalidInput saying why."""
    schema = features if isinstance(features, Schema) else Schema(features)
    if batch.columns is not None:
        columns = _columns_in_order(batch.columns, schema.names)
        check_rows(len(columns[0]), max_rows)
        return _table(columns, schema, batch)
    rows: Any = batch.rows if batch.rows is not None else []
    check_rows(len(rows), max_rows)
    if isinstance(rows, list) and isinstance(rows[0], dict):
        rows = _records(rows, schema.names)
    elif batch.names is not None:
        rows = _reorder(rows, batch.names, schema.names)
    if schema.numeric:
        matrix = cells.matrix(rows, schema, batch.reading, batch.numbers_only)
        if matrix is not None:
            return Table.from_matrix(matrix)
    return _table(_transpose(rows, len(schema)), schema, batch)


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


def _table(columns: Sequence[Any], schema: Schema, batch: Batch) -> Table:
    """Each feature's column checked by the cell rule; with the float64 matrix when every
    feature is a number."""
    typed = tuple(
        cells.column(values, feature, batch.reading_of(feature.name))
        for values, feature in zip(columns, schema, strict=True)
    )
    matrix = np.column_stack(typed) if schema.numeric else None
    return Table(typed, matrix, len(typed[0]))


def _in_order(positions: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A row's values at `positions` (keys or indexes) as a tuple, read in C."""
    get = itemgetter(*positions)
    return get if len(positions) > 1 else lambda row: (get(row),)


def _records(rows: list[Any], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """Objects keyed by feature name as rows in the model's order; the first record that is not
    one (a list among objects, a feature missing or unknown) is named."""
    if set(map(type, rows)) == {dict} and set(map(len, rows)) == {len(names)}:
        try:
            return list(map(_in_order(names), rows))
        except KeyError:
            pass
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InvalidInput(f"row {number}: mix of lists and objects; use one kind for all rows")
        in_feature_order(row, names, f"row {number}: ")
    raise AssertionError("a record failed to read but none is wrong")


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
            raise InvalidInput(f"row 1: expected {width} values, one per named column")
        return rows if order == list(range(width)) else rows[:, order]
    if not _all_lists_of(rows, width):
        for number, row in enumerate(rows, 1):
            if not isinstance(row, list | tuple) or len(row) != width:
                raise InvalidInput(f"row {number}: expected {width} values, one per named column")
    return rows if order == list(range(width)) else list(map(_in_order(order), rows))


def _columns_in_order(columns: Any, names: Sequence[str]) -> list[Any]:
    ordered = in_feature_order(dict(columns), names, "")
    if not all(isinstance(values, list | np.ndarray) for values in ordered):
        raise InvalidInput("each feature's value must be a list, one value per row")
    if len({len(values) for values in ordered}) != 1:
        raise InvalidInput("every feature's list must have the same length")
    return ordered


def _all_lists_of(rows: Any, width: int) -> bool:
    """Whether every row is a list (or tuple) of `width` values, in two C passes."""
    return set(map(type, rows)) <= {list, tuple} and set(map(len, rows)) == {width}


def _transpose(rows: Any, width: int) -> Sequence[Any]:
    """Positional rows as one sequence of cells per feature; the first row of another shape
    is named."""
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        if rows.shape[1] != width:
            raise InvalidInput(f"expected {width} features, got {rows.shape[1]} (row 1)")
        return list(rows.T)
    if not _all_lists_of(rows, width):
        for number, row in enumerate(rows, 1):
            if isinstance(row, dict):
                raise InvalidInput(
                    f"row {number}: mix of lists and objects; use one kind for all rows"
                )
            if not isinstance(row, list | tuple | np.ndarray):
                raise InvalidInput(
                    f"row {number}: expected a list of {width} values, got {cells.kind_of(row)}"
                )
            if len(row) != width:
                raise InvalidInput(f"expected {width} features, got {len(row)} (row {number})")
    return list(zip(*rows, strict=True))
