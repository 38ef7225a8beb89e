"""CSV (`text/csv`) batches, with or without a header row; parsed with the csv module, no pandas.

The first row is a header when it names any of the model's features, and must then name each
exactly once (in any order); otherwise every row is data, in the model's feature order.
Cells are text: numbers are read from them, and an empty cell (or NA, null, ...) is missing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from serving.batch import Batch
from serving.errors import InvalidInput


def parse_csv(body: bytes, feature_names: Sequence[str]) -> Batch:
    """CSV bytes as a Batch of text rows, named by the header when there is one."""
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
    header = [cell.strip() for cell in lines[0]]
    if not set(header).isdisjoint(feature_names):
        return Batch(rows=lines[1:], names=header, text=True)
    return Batch(rows=lines, text=True)
