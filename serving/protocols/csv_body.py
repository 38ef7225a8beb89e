"""CSV (`text/csv`) bodies, with or without a header row, read into one table of text cells.

Parsed with the csv module, no pandas; or, for an all-number model and a body of numbers only
(no quotes, spaces, text or gaps), by orjson in one pass (`read_numbers`): the same values,
since every cell is then a JSON number, which orjson and float() both round correctly.
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
import re
from collections.abc import Sequence

import numpy as np

from serving import cells, jsonio
from serving.batch import Batch
from serving.errors import InvalidInput, InvalidJSON, echo
from serving.exchange import Inference, Request
from serving.loading import LoadedModel
from serving.protocols.detect import Decoded
from serving.protocols.own_format import check_method, predictions
from serving.schema import Schema

# The bytes a body of numbers only is made of: JSON's spelling of numbers, commas, line ends.
NUMBER_BYTES = b"0123456789.eE+-,\r\n"
# A cell "-0": JSON reads the integer 0, float() reads -0.0 (found in one C pass, as "-0" that
# goes on as no number does; an exponent "e-0" too, which takes the csv module's path alike).
NEGATIVE_ZERO = re.compile(rb"-0(?![0-9.eE])")


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """The CSV body's rows, answered by the method its query string names (with their
    explanations for `?explain=true`)."""
    method = check_method(request.query.get("predict_method", "predict"))
    explain = request.query.get("explain", "false")
    if explain not in ("true", "false"):
        raise InvalidInput(f"?explain= must be true or false, got {echo(explain)}")
    features = model.manifest.features
    rows = read_numbers(decoded.document, features) or read_table(decoded.document, features.names)
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


def read_numbers(body: bytes, schema: Schema) -> Batch | None:
    """An all-number model's CSV body of numbers only, with or without a header naming every
    feature (in any order), as its checked float64 matrix, read by orjson in one pass; None
    when a cell, a row or the header needs `read_table` and the cell rule.

    It gives exactly what `read_table` and the validation step give, or None: every cell is
    then a JSON number (no spaces, gaps, text, leading zeros or "-0"), which orjson and float()
    both round correctly, every line ends where the csv module ends it, no cell is longer than
    it takes, and `cells.matrix` accepts the table whole.
    """
    if not schema.numeric:
        return None
    first, _, rest = body.partition(b"\n")
    order = _header_order(first, schema.names)
    if order is None:
        return None
    data = rest if order else body
    if data.translate(None, NUMBER_BYTES) or NEGATIVE_ZERO.search(data):
        return None
    if _lone_cr(data) or _long_line(data):
        return None
    try:
        rows = jsonio.table_of_numbers(b"[[" + data.rstrip(b"\r\n").replace(b"\n", b"],[") + b"]]")
        numbers = np.array(rows, dtype=np.float64)
    except (InvalidJSON, ValueError, TypeError):
        return None
    if order and numbers.ndim == 2 and numbers.shape[1] == len(order):
        numbers = numbers[:, order]
    matrix = cells.matrix(numbers, schema, "text")
    return None if matrix is None else Batch(rows=matrix, reading="text")


def _lone_cr(data: bytes) -> bool:
    """Whether a carriage return ends no line: JSON reads it as a space, the csv module as the
    end of a row (or a malformed body)."""
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")


def _long_line(data: bytes) -> bool:
    """Whether a line may hold a cell the csv module refuses as too long (its field_size_limit),
    where orjson reads a number of any length."""
    limit = csv.field_size_limit()
    return len(data) >= limit and max(map(len, data.split(b"\n"))) >= limit


def _header_order(line: bytes, names: Sequence[str]) -> list[int] | None:
    """Where each feature's column is, when the first line is a header (it names a feature, as
    `read_table` decides) naming every feature once; [] when it is no header; None when it
    needs the csv module (quotes, a lone carriage return) or names the features wrongly."""
    if b'"' in line or b"\r" in line.rstrip(b"\r"):
        return None
    try:
        header = [cell.strip() for cell in line.decode().rstrip("\r").split(",")]
    except UnicodeDecodeError:
        return None
    if set(header).isdisjoint(names):
        return []
    if len(header) != len(names) or set(header) != set(names):
        return None
    return [header.index(name) for name in names]
