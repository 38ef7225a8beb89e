"""CSV (`text/csv`) batches, with or without a header row; parsed with csv and numpy, no pandas.

A first row holding anything that is not a number is a header: its names map to features and
may come in any order. Without a header the columns are the features in the model's order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from serving.errors import InvalidInput
from serving.payload import check_finite, check_rows, in_feature_order

CSV_TYPES = ("text/csv",)


def parse_csv(body: bytes, feature_names: Sequence[str], max_rows: int) -> np.ndarray:
    """CSV bytes as a finite float64 matrix in the model's feature order."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"CSV body is not valid UTF-8 (byte {exc.start})") from None
    try:
        lines = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise InvalidInput(f"CSV body is malformed: {exc}") from None
    if not lines:
        raise InvalidInput("CSV body has no rows")
    header = lines[0] if _is_header(lines[0]) else None
    data = lines[1:] if header is not None else lines
    check_rows(len(data), max_rows)
    try:
        cells = np.array(data, dtype=np.str_)
    except ValueError:
        raise InvalidInput("CSV rows differ in their number of columns") from None
    if cells.shape[1] != len(feature_names):
        raise InvalidInput(f"expected {len(feature_names)} features, got {cells.shape[1]}")
    if header is not None:
        cells = np.ascontiguousarray(cells[:, _column_order(header, feature_names)])
    try:
        matrix = cells.astype(np.float64)
    except ValueError:
        raise InvalidInput(_first_bad_cell(cells)) from None
    return check_finite(matrix)


def _is_header(first: list[str]) -> bool:
    try:
        np.array(first, dtype=np.str_).astype(np.float64)
    except ValueError:
        return True
    return False


def _column_order(header: list[str], feature_names: Sequence[str]) -> list[int]:
    """Each feature's column in the header; every feature named once."""
    positions = {name.strip(): index for index, name in enumerate(header)}
    return in_feature_order(positions, feature_names, "CSV header: ")


def _first_bad_cell(cells: np.ndarray) -> str:
    for (row, column), cell in np.ndenumerate(cells):
        try:
            float(cell)
        except ValueError:
            # The cell itself is not echoed: error messages are logged, feature values never.
            return f"CSV row {row}, feature {column} is not a number"
    return "CSV cells must be numbers"
