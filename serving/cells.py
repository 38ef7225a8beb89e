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
the row (counted from 1) and the feature. Columns are converted whole with NumPy where their
cells allow; the cells that need a closer look are then found one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from serving.errors import InvalidInput

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
_ECHO = 40  # at most this many characters of a client's value go into a message


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
        typed = _text_column(values, feature, reading)
        missing = _absent(typed)
    else:
        typed = _number_column(values, feature, reading)
        missing = np.isnan(typed)
    if not feature.nullable and missing.any():
        raise CellError(
            _first(missing),
            feature.name,
            f"missing, but this model needs a value there{_need(feature)}",
        )
    return typed


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
        row = _first(beyond)
        raise CellError(row, feature, _out_of_range(values[row - 1].item()))
    if np.isnan(values).any():
        return values
    top = values == _TWO_63
    whole = np.where(top, 0.0, values).astype(np.int64)
    whole[top] = INT64_MAX
    return whole


def shown(value: Any) -> str:
    """A client's value for a message: as Python spells it (never a NumPy repr), cut short."""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= _ECHO else text[: _ECHO - 3] + "..."


def kind_of(value: Any) -> str:
    """What a cell holds, in words: 'null', 'text', 'the number 3', 'a list', 'an object'."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
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
    listed = ", ".join(shown(c) for c in feature.categories[:5])
    more = f" ... ({len(feature.categories)} in all)" if len(feature.categories) > 5 else ""
    return f"text, one of {listed}{more}"


def _need(feature: Feature) -> str:
    return f" ({expected(feature)})" if feature.is_text else ""


def _absent(text: np.ndarray) -> np.ndarray:
    """Which cells of an object column are None (missing)."""
    return np.asarray(text == None)  # noqa: E711 (elementwise)


def _first(mask: np.ndarray) -> int:
    """The row number (from 1) of the first true cell."""
    return int(np.argmax(mask)) + 1


def _cells(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """The cells as a 1-D array: the column itself when NumPy can build it as one, else an
    object array holding each cell as it came (lists and objects included)."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values
    try:
        array = np.asarray(values)
    except (ValueError, OverflowError, TypeError):
        array = None
    # NumPy spells a list mixing numbers and text as all text: such a list is taken cell by cell.
    mixed = array is not None and array.dtype.kind == "U"
    if array is not None and array.ndim == 1 and not (mixed and not _all_text(values)):
        return array
    return np.fromiter(values, dtype=object, count=len(values))


def _all_text(values: Sequence[Any] | np.ndarray) -> bool:
    return all(isinstance(v, str) for v in values)


def _number_column(
    values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading
) -> np.ndarray:
    cells = _cells(values)
    kind = cells.dtype.kind
    if kind in "biuf":
        numbers = cells.astype(np.float64)
        if feature.type == "integer" and kind == "u":
            _refuse_beyond_int64(cells > INT64_MAX, values, feature)
    elif kind == "U" and reading != "json":
        numbers = _numbers_from_text(cells, feature, reading)
    else:
        numbers = np.array([_number(v, feature, reading, row) for row, v in enumerate(cells, 1)])
    _check_numbers(numbers, values, feature)
    return numbers


def _numbers_from_text(cells: np.ndarray, feature: Feature, reading: Reading) -> np.ndarray:
    """A column of text cells read as numbers, in one NumPy pass when every cell spells one."""
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
            raise CellError(row, feature.name, _out_of_range(value))
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
            row = _first(fraction)
            got = f"{numbers[row - 1].item():g}"
            raise CellError(row, feature.name, f"expected an integer, got {got}")
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
            raise CellError(int(index) + 1, feature.name, _out_of_range(value))


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


def _out_of_range(value: Any) -> str:
    got = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{got} is outside the integers this model takes ({INT64_MIN} to {INT64_MAX})"


def _text_column(
    values: Sequence[Any] | np.ndarray, feature: Feature, reading: Reading
) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        text = values.astype(object)
        missing = missing_text(values, feature) if reading == "text" else None
    else:
        text = np.fromiter(values, dtype=object, count=len(values))
        for row, value in enumerate(text, 1):
            if value is not None and not isinstance(value, str):
                raise CellError(
                    row, feature.name, f"expected {expected(feature)}, got {kind_of(value)}"
                )
        markers = MISSING_MARKERS.difference(feature.marker_categories)
        missing = None
        if reading == "text":
            missing = np.fromiter((v in markers for v in text), bool, len(text))
    if missing is not None:
        text[missing] = None
    if not feature.other_categories and feature.categories is not None:
        known = set(feature.categories)
        for row, value in enumerate(text, 1):
            if value is not None and value not in known:
                raise CellError(
                    row,
                    feature.name,
                    f"{shown(value)} is not a category this model knows; "
                    f"expected {expected(feature)}",
                )
    return text
