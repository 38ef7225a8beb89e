"""CSV (`text/csv`) bodies, with or without a header row, read into one table of text cells.

Parsed with the csv module, no pandas.
The first row is a header when it names any of the model's features, and must then name each
exactly once (in any order); otherwise every row is data, in the model's feature order.
Cells are text (serving/cells.py's "text" reading): numbers are read from them, and an empty cell
(or NA, null, ...) is missing unless the model learned that spelling as a category.
The answer is this function's own (`{"predictions": ...}`); `?predict_method=` chooses it,
and `?explain=true` adds each row's explanation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from serving.batch import Batch
from serving.errors import InvalidInput, echo
from serving.exchange import Inference, Request
from serving.loading import LoadedModel
from serving.protocols.detect import Decoded
from serving.protocols.own_format import check_method, predictions


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """The CSV body's rows, answered by the method its query string names (with their
    explanations for `?explain=true`)."""
    method = check_method(request.query.get("predict_method", "predict"))
    explain = request.query.get("explain", "false")
    if explain not in ("true", "false"):
        raise InvalidInput(f"?explain= must be true or false, got {echo(explain)}")
    rows = read_table(decoded.document, model.manifest.feature_names)
    return predictions(rows, (method,), explain=explain == "true")


def read_table(body: bytes, feature_names: Sequence[str]) -> Batch:
    """CSV bytes as a Batch of text rows, named by the header when there is one.

    Rows of one width become one 2-D array of their cells (pointers to the csv module's
    strings), which the validation step converts once; ragged rows stay lists, for it to
    say which row is wrong.
    """
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
        return Batch(rows=_table(lines[1:]), names=header, reading="text")
    return Batch(rows=_table(lines), reading="text")


def _table(lines: list[list[str]]) -> np.ndarray | list[list[str]]:
    table = np.array(lines, dtype=object)
    return table if table.ndim == 2 else lines
