"""The one cell rule: how a value a client sends, or a CSV file holds, becomes a feature's value.

A value is read one of three ways, by where it comes from (`Reading`):

- "json": the function's own JSON, KServe v1, Vertex, MLflow and OIP JSON tensors. Values are
  as JSON types them: only null is missing, and a string is never missing, whatever it spells
  ("", "NA" and "None" are text). A number feature takes numbers (true and false as 1 and 0),
  never text.
- "bigquery": as "json", but a number may come as the text BigQuery's TO_JSON_STRING writes
  (INT64 beyond 2^53, NUMERIC, "NaN", "Infinity"): "NaN" is missing, "Infinity" is not finite.
- "text": CSV cells and OIP BYTES cells in binary tensor data, and the CSV files train.py
  reads. Every cell is text. One of pandas' NA markers (MISSING_MARKERS) is missing, unless
  the model learned that spelling as a category of the feature (Feature.marker_categories);
  numbers are read from the text.

Text is never stripped, in training, packaging and serving alike: ' red' is not 'red'. Spaces
around a number are not part of it (' 5' is 5, and ' NA' in a number column is missing).

A checked column is float64 for numbers, integers and booleans (NaN = missing) and an object
array of str for text (None = missing). Every cell is checked: a list or an object where a
value belongs, text in a number feature, an integer outside int64, a value that is not finite,
a category the model refuses, or a missing value the model cannot take is a CellError naming
the row (counted from 1) and the feature, never the value (issue 26: a client's feature values
stay out of answers and logs), except a category the model refuses, cut to 40 characters.

Columns are converted whole, in C, where their cells allow: what kinds of values a column
holds is one pass (`set(map(type, ...))`), its numbers one NumPy conversion; a text array
(NumPy's fixed-width `U` dtype, as long as the longest cell in every cell) is never built from
a client's values, so a body costs a small multiple of its size. The cells that need a closer
look are then found one by one. `matrix` reads a whole table of all-number features at once.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from serving.errors import InvalidInput, echo

if TYPE_CHECKING:
    from serving.schema import Feature

Reading = Literal["json", "bigquery", "text"]
READINGS: tuple[Reading, ...] = ("json", "bigquery", "text")
# Text cells read as a missing value: pandas' own defaults (read_csv's na_values).
MISSING_MARKERS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
# Booleans spelled in text, as pandas reads them (and 0 and 1).
TRUE_SPELLINGS = frozenset({"true", "True", "TRUE", "1"})
FALSE_SPELLINGS = frozenset({"false", "False", "FALSE", "0"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The float nearest INT64_MAX is 2^63 itself: float64 holds no integer between 2^63 - 1024
# and 2^63, so a whole number in int64's range is at most this once it is a float.
_TWO_63 = 2.0**63
# From how many rows `_packed` converts them faster than NumPy (bench: about 8 on 30 features).
PACKED_FROM_ROWS = 16
# The kinds of values a JSON number column may hold (null is missing; true and false are 1 and 0),
# and a text column.
_NUMBER_KINDS = frozenset({float, int, bool, type(None)})
_TEXT_KINDS = frozenset({str, type(None)})


class CellError(InvalidInput):
    """A cell that cannot be its feature's value: which row (from 1), which feature, why."""

    def __init__(self, row: int, feature: str, reason: str) -> None:
        super().__init__(f"row {row}, feature {feature!r}: {reason}")
        self.row = row
        self.feature = feature
        self.reason = reason


def column(values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading) -> np.ndarray:
    """The feature's cells as its checked column (see the module docstring), or CellError."""
    if feature.is_text:
        typed, missing = _text_column(values, feature, reading)
    else:
        typed = _number_column(values, feature, reading)
        missing = np.isnan(typed)
    if not feature.nullable and missing is not None and missing.any():
        raise CellError(
            _first(missing),
            feature.name,
            f"missing, but this model needs a value there{_need(feature)}",
        )
    return typed


def matrix(
    rows: Sequence[Any] | np.ndarray,
    features: Sequence[Feature],
    reading: Reading,
    numbers_only: bool = False,
) -> np.ndarray | None:
    """All-number features' rows (equal-width lists, or a 2-D array) as their checked float64
    [rows, features] matrix, converted (`_packed`) and checked at once in C; None when a cell
    needs a closer look, for `column` to take each column and accept it or say which cell is
    wrong.
    `numbers_only`: no cell is text, null or a boolean (the body held none), so JSON's cells
    need no look before the conversion, which refuses a list or an object in a cell itself.

    It gives exactly what `column` gives on each column, or None.
    """
    # Row-major, as the model's arithmetic (BLAS) sums in the same order whatever the format.
    if isinstance(rows, np.ndarray) and rows.dtype.kind in "biuf":
        numbers = rows.astype(np.float64, order="C", copy=False)
    else:
        if reading == "json" and not numbers_only and not all_numbers(_flat(rows)):
            return None
        packed = _packed(rows, len(features))
        if packed is None:
            try:
                packed = np.array(rows, dtype=np.float64, order="C")
            except (ValueError, TypeError, OverflowError):
                return None
        numbers = packed
    if numbers.ndim != 2 or numbers.shape[1] != len(features):
        return None
    return numbers if _all_accepted(numbers, features) else None


def _packed(rows: Sequence[Any] | np.ndarray, width: int) -> np.ndarray | None:
    """Rows of `width` numbers each as a float64 [rows, width] matrix, each row packed as C
    doubles by `struct.pack_into` (about 0.6x NumPy's time on 1,000 nested lists, which looks
    at the shape of every cell); None for anything else (text, a list or an object in a cell,
    a row of another width, or a few rows, which NumPy converts as fast), for NumPy to convert
    or refuse. Both read a number as `float()`."""
    if len(rows) < PACKED_FROM_ROWS:
        return None
    numbers = np.empty((len(rows), width), dtype=np.float64)
    row_format, row_bytes, buffer = f"{width}d", width * numbers.itemsize, numbers.data
    try:
        for index, row in enumerate(rows):
            struct.pack_into(row_format, buffer, index * row_bytes, *row)
    except (TypeError, struct.error):
        return None
    return numbers


def all_numbers(values: Iterable[Any]) -> bool:
    """Whether every value is a number or a boolean (no text, null, list or object), in one C
    loop: `sum` refuses anything else, and an integer no float can hold."""
    try:
        sum(values, 0.0)
    except (TypeError, OverflowError):
        return False
    return True


def missing_text(cells: np.ndarray, feature: Feature | None = None) -> np.ndarray:
    """Which text cells (a str array) are missing: an NA marker the feature did not learn."""
    learned = feature.marker_categories if feature is not None else ()
    markers = [m for m in MISSING_MARKERS if m not in learned]
    return np.isin(cells, markers)


def number_from_text(cell: str) -> float | None:
    """The number a text cell spells (NaN when it is missing), or None when it spells none."""
    text = cell.strip()
    if text in MISSING_MARKERS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def integer_column(values: np.ndarray, feature: str) -> np.ndarray:
    """A checked integer feature's float64 column as int64 for a runtime (float64 when it holds
    missing values), refusing what int64 cannot hold instead of wrapping it to INT64_MIN.

    A float of exactly 2^63 is INT64_MAX: the checked value was within int64, and float64 has
    no nearer spelling of it.
    """
    beyond = (values > _TWO_63) | (values < -_TWO_63)
    if beyond.any():
        raise CellError(_first(beyond), feature, OUT_OF_RANGE)
    if np.isnan(values).any():
        return values
    top = values == _TWO_63
    whole = np.where(top, 0.0, values).astype(np.int64)
    whole[top] = INT64_MAX
    return whole


def kind_of(value: Any) -> str:
    """What a cell holds, in words, never its value: 'null', 'text', 'a number', 'a list'..."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    return "an object"


def expected(feature: Feature) -> str:
    """What the feature takes, in words, with a few of its categories."""
    if feature.type == "integer":
        return "an integer"
    if feature.type == "boolean":
        return "a boolean (true or false)"
    if not feature.is_text:
        return "a number"
    if not feature.categories:
        return "text"
    listed = ", ".join(echo(c) for c in feature.categories[:5])
    more = f" ... ({len(feature.categories)} in all)" if len(feature.categories) > 5 else ""
    return f"text, one of {listed}{more}"


OUT_OF_RANGE = f"the value is outside the integers this model takes ({INT64_MIN} to {INT64_MAX})"


def _need(feature: Feature) -> str:
    return f" ({expected(feature)})" if feature.is_text else ""


def _first(mask: np.ndarray) -> int:
    """The row number (from 1) of the first true cell."""
    return int(np.argmax(mask)) + 1


def _flat(rows: Sequence[Any] | np.ndarray) -> Iterable[Any]:
    """Every cell of the rows, row by row (a row that is not a list gives its keys or
    characters, or fails to iterate: `all_numbers` refuses both)."""
    return rows.flat if isinstance(rows, np.ndarray) else chain.from_iterable(rows)


def _all_accepted(numbers: np.ndarray, features: Sequence[Feature]) -> bool:
    """Whether `column` accepts every column of a float64 matrix as it is: finite, missing only
    where the feature may be, whole integers well inside int64, booleans 0 or 1."""
    if not np.isfinite(numbers).all():
        missing = np.isnan(numbers)
        if np.isinf(numbers).any() or any(
            not f.nullable and missing[:, j].any() for j, f in enumerate(features)
        ):
            return False
    for j, feature in enumerate(features):
        if feature.type == "integer":
            values = numbers[:, j]
            whole = np.isnan(values) | (values == np.round(values))
            if not whole.all() or (np.abs(values) >= _TWO_63).any():
                return False
        elif feature.type == "boolean":
            values = numbers[:, j]
            if not (np.isnan(values) | (values == 0) | (values == 1)).all():
                return False
    return True


def _number_column(
    values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading
) -> np.ndarray:
    numbers = _converted(values, feature, reading)
    if numbers is None:
        cells = values.tolist() if isinstance(values, np.ndarray) else values
        numbers = np.array(
            [_number(v, feature, reading, row) for row, v in enumerate(cells, 1)],
            dtype=np.float64,
        )
    _check_numbers(numbers, values, feature)
    return numbers


def _converted(
    values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading
) -> np.ndarray | None:
    """A number column as float64 in one NumPy pass; None when some cell needs a closer look."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind in "biuf":
            if feature.type == "integer" and kind == "u":
                _refuse_beyond_int64(values > INT64_MAX, values, feature)
            return values.astype(np.float64, copy=False)
        if kind == "U" and reading != "json":
            return _numbers_from_text(values, feature, reading)
    cells = values.tolist() if isinstance(values, np.ndarray) else values
    kinds = set(map(type, cells))
    if not kinds <= _NUMBER_KINDS:
        if reading == "json" or not kinds <= _NUMBER_KINDS | {str}:
            return None
        if reading == "text":
            cells = _spelled(cells, feature)
    try:
        return np.array(cells, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None


def _spelled(cells: Sequence[Any], feature: Feature) -> list[Any]:
    """Text cells as float() reads them: a missing marker as "nan", a boolean's spelling as
    "1" or "0" (what `_spelled_number` reads them as, one cell at a time)."""
    spelled: list[Any] = []
    for cell in cells:
        text = cell.strip() if isinstance(cell, str) else cell
        if text in MISSING_MARKERS:
            text = "nan"
        elif feature.type == "boolean" and text in TRUE_SPELLINGS | FALSE_SPELLINGS:
            text = "1" if text in TRUE_SPELLINGS else "0"
        spelled.append(text)
    return spelled


def _numbers_from_text(cells: np.ndarray, feature: Feature, reading: Reading) -> np.ndarray:
    """A text array read as numbers, in one NumPy pass when every cell spells one."""
    stripped = np.char.strip(cells)
    missing = np.isin(stripped, ["NaN"] if reading == "bigquery" else list(MISSING_MARKERS))
    spelled = np.where(missing, "nan", stripped)
    if feature.type == "boolean":
        spelled = np.where(np.isin(spelled, list(TRUE_SPELLINGS)), "1", spelled)
        spelled = np.where(np.isin(spelled, list(FALSE_SPELLINGS)), "0", spelled)
    try:
        return spelled.astype(np.float64)
    except ValueError:
        return np.array([_number(str(v), feature, reading, row) for row, v in enumerate(cells, 1)])


def _number(value: Any, feature: Feature, reading: Reading, row: int) -> float:
    """One cell of a number, integer or boolean feature as float64 (NaN = missing)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        if feature.type == "integer" and not INT64_MIN <= value <= INT64_MAX:
            raise CellError(row, feature.name, OUT_OF_RANGE)
        try:
            return float(value)
        except OverflowError:
            raise CellError(row, feature.name, "the number is too large") from None
    if isinstance(value, float):
        return value
    if isinstance(value, str) and reading != "json":
        return _spelled_number(value, feature, reading, row)
    raise CellError(row, feature.name, f"expected {expected(feature)}, got {kind_of(value)}")


def _spelled_number(text: str, feature: Feature, reading: Reading, row: int) -> float:
    stripped = text.strip()
    if feature.type == "boolean" and stripped in TRUE_SPELLINGS | FALSE_SPELLINGS:
        return float(stripped in TRUE_SPELLINGS)
    if reading == "bigquery" and stripped == "NaN":
        return math.nan
    if reading == "text" and stripped in MISSING_MARKERS:
        return math.nan
    if feature.type == "integer":
        try:
            return _number(int(stripped), feature, reading, row)
        except ValueError:
            pass
    try:
        return float(stripped)
    except ValueError:
        raise CellError(row, feature.name, f"expected {expected(feature)}, got text") from None


def _check_numbers(
    numbers: np.ndarray, cells: Sequence[Any] | np.ndarray, feature: Feature
) -> None:
    """Refuse what the column holds that the feature cannot take: inf, a fraction in an
    integer, a number beyond int64, a boolean other than 0 and 1."""
    infinite = np.isinf(numbers)
    if infinite.any():
        raise CellError(_first(infinite), feature.name, "values must be finite numbers")
    if feature.type == "integer":
        fraction = np.isfinite(numbers) & (numbers != np.round(numbers))
        if fraction.any():
            raise CellError(
                _first(fraction), feature.name, "expected an integer, got a number with a fraction"
            )
        _refuse_beyond_int64(np.abs(numbers) >= _TWO_63, cells, feature)
    if feature.type == "boolean":
        other = ~np.isnan(numbers) & (numbers != 0) & (numbers != 1)
        if other.any():
            row = _first(other)
            raise CellError(
                row, feature.name, f"expected {expected(feature)}, got {kind_of(cells[row - 1])}"
            )


def _refuse_beyond_int64(
    suspect: np.ndarray, cells: Sequence[Any] | np.ndarray, feature: Feature
) -> None:
    """Refuse the first suspect cell whose exact value int64 cannot hold (a float of 2^63 may
    have been INT64_MAX itself, given as an integer or its text: the cell decides)."""
    for index in np.flatnonzero(suspect):
        value = _exact(cells[int(index)])
        if not (isinstance(value, int) and INT64_MIN <= value <= INT64_MAX):
            raise CellError(int(index) + 1, feature.name, OUT_OF_RANGE)


def _exact(cell: Any) -> Any:
    """A cell's exact value: an int when it is (or spells) a whole number, else as it came."""
    if isinstance(cell, np.generic):
        cell = cell.item()
    if isinstance(cell, str):
        try:
            return int(cell.strip())
        except ValueError:
            return float(cell.strip())
    return cell


def _text_column(
    values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading
) -> tuple[np.ndarray, np.ndarray | None]:
    """The text column (object, None = missing) and which cells are missing (None: none are)."""
    cells = values.tolist() if isinstance(values, np.ndarray) else values
    kinds = set(map(type, cells))
    if not kinds <= _TEXT_KINDS:
        for row, value in enumerate(cells, 1):
            if not isinstance(value, str | None):
                raise CellError(
                    row, feature.name, f"expected {expected(feature)}, got {kind_of(value)}"
                )
    text = np.fromiter(cells, dtype=object, count=len(cells))
    missing = None
    if reading == "text":
        markers = MISSING_MARKERS.difference(feature.marker_categories)
        missing = np.fromiter(map(markers.__contains__, cells), dtype=bool, count=len(cells))
        text[missing] = None
    if type(None) in kinds:
        absent = np.asarray(text == None)  # noqa: E711 (elementwise)
        missing = absent if missing is None else missing | absent
    if not feature.other_categories and feature.categories is not None:
        unknown = set(text.tolist()).difference(feature.categories)
        unknown.discard(None)
        if unknown:
            row = next(row for row, value in enumerate(text.tolist(), 1) if value in unknown)
            raise CellError(
                row,
                feature.name,
                f"{echo(text[row - 1])} is not a category this model knows; "
                f"expected {expected(feature)}",
            )
    return text, missing
