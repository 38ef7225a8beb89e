"""serving/cells.py, the one cell rule: every reading, type, marker, limit and message."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving import cells
from serving.cells import INT64_MAX, INT64_MIN, CellError, column, integer_column
from serving.errors import InvalidInput, echo
from serving.schema import Feature

pytestmark = pytest.mark.in_process

NUMBER = Feature("size", "number", nullable=True)
INTEGER = Feature("count", "integer", nullable=True)
BOOLEAN = Feature("smoker", "boolean", nullable=True)
TEXT = Feature("colour", "string", nullable=True)
# "None" is a category this model learned (air bags: none), so it is never missing text.
AIRBAGS = Feature(
    "airbags",
    "string",
    nullable=True,
    categories=("Driver only", "None"),
    other_categories=False,
    marker_categories=("None",),
)


def same(got: np.ndarray, expected: list[Any]) -> bool:
    """Equal cell by cell, NaN equal to NaN and None to None."""
    return len(got) == len(expected) and all(
        (isinstance(e, float) and math.isnan(e) and math.isnan(g)) or g == e
        for g, e in zip(got.tolist(), expected, strict=True)
    )


# (feature, reading, cells, the checked column)
ACCEPTED = [
    (NUMBER, "json", [1, 2.5, None, True], [1.0, 2.5, math.nan, 1.0]),
    (NUMBER, "text", ["1", " 2.5 ", "", "NA", "None", " NA"], [1, 2.5] + [math.nan] * 4),
    (NUMBER, "bigquery", ["1.5", "NaN", 3, None], [1.5, math.nan, 3.0, math.nan]),
    (INTEGER, "json", [3, 4.0, None, INT64_MAX, INT64_MIN], [3, 4, math.nan, 2.0**63, -(2.0**63)]),
    (INTEGER, "bigquery", ["9223372036854775807", "-9223372036854775808"], [2.0**63, -(2.0**63)]),
    (INTEGER, "text", ["12", "1e3", ""], [12, 1000, math.nan]),
    (BOOLEAN, "json", [True, False, 0, 1, None], [1, 0, 0, 1, math.nan]),
    (BOOLEAN, "text", ["True", "false", "TRUE", "0", "1", ""], [1, 0, 1, 0, 1, math.nan]),
    # JSON, OIP JSON and BigQuery: a string is never missing, only null is.
    (
        TEXT,
        "json",
        ["", "NA", "None", "null", None, " red"],
        ["", "NA", "None", "null", None, " red"],
    ),
    (TEXT, "bigquery", ["NaN", "", None], ["NaN", "", None]),
    # CSV and OIP BYTES: NA markers are missing; text is never stripped.
    (TEXT, "text", ["", "NA", "None", "n/a", " red", "red "], [None] * 4 + [" red", "red "]),
    # ... unless the model learned the spelling as a category.
    (AIRBAGS, "text", ["None", "", "Driver only", "NA"], ["None", None, "Driver only", None]),
    (AIRBAGS, "json", ["None", None], ["None", None]),
]


@pytest.mark.parametrize(("feature", "reading", "values", "expected"), ACCEPTED)
def test_accepted_cells(
    feature: Feature, reading: Any, values: list[Any], expected: list[Any]
) -> None:
    typed = column(values, feature, reading)
    assert same(typed, expected), typed
    assert typed.dtype == (object if feature.is_text else np.float64)
    # The same cells as a NumPy array (OIP's tensors, CSV's column) give the same column.
    if all(isinstance(v, str) for v in values):
        assert same(column(np.array(values), feature, reading), expected)


OUTSIDE = f"the value is outside the integers this model takes ({INT64_MIN} to {INT64_MAX})"
# (feature, reading, cells, the CellError's message)
REFUSED = [
    (NUMBER, "json", [1, "2"], "row 2, feature 'size': expected a number, got text"),
    (NUMBER, "text", ["1", "abc"], "row 2, feature 'size': expected a number, got text"),
    (NUMBER, "bigquery", ["Infinity"], "row 1, feature 'size': values must be finite numbers"),
    (NUMBER, "json", [math.inf], "row 1, feature 'size': values must be finite numbers"),
    (NUMBER, "text", ["1e400"], "row 1, feature 'size': values must be finite numbers"),
    (NUMBER, "json", [10**400], "row 1, feature 'size': the number is too large"),
    # A list or an object where a cell belongs, in every reading.
    (NUMBER, "json", [[5, 6]], "row 1, feature 'size': expected a number, got a list"),
    (NUMBER, "json", [1, [5]], "row 2, feature 'size': expected a number, got a list"),
    (
        NUMBER,
        "json",
        [[1.0, 2.0], [3.0, 4.0]],
        "row 1, feature 'size': expected a number, got a list",
    ),
    (NUMBER, "bigquery", [{"a": 1}], "row 1, feature 'size': expected a number, got an object"),
    (TEXT, "json", ["a", ["b"]], "row 2, feature 'colour': expected text, got a list"),
    (TEXT, "text", [{"b": 1}], "row 1, feature 'colour': expected text, got an object"),
    # What a cell holds is named, never its value (issue 26).
    (TEXT, "json", ["a", 3], "row 2, feature 'colour': expected text, got a number"),
    (TEXT, "json", [True], "row 1, feature 'colour': expected text, got a boolean"),
    # Integers outside what int64 holds, however they are spelled.
    (INTEGER, "json", [1e20], f"row 1, feature 'count': {OUTSIDE}"),
    (INTEGER, "json", [1, 2**63], f"row 2, feature 'count': {OUTSIDE}"),
    (INTEGER, "json", [-(2**63) - 1], f"row 1, feature 'count': {OUTSIDE}"),
    (INTEGER, "json", [2.0**63], f"row 1, feature 'count': {OUTSIDE}"),
    (INTEGER, "bigquery", ["9223372036854775808"], f"row 1, feature 'count': {OUTSIDE}"),
    (INTEGER, "text", ["5", "1e20"], f"row 2, feature 'count': {OUTSIDE}"),
    (INTEGER, "json", [np.uint64(2**63)], f"row 1, feature 'count': {OUTSIDE}"),
    (
        INTEGER,
        "json",
        [1, 3.5],
        "row 2, feature 'count': expected an integer, got a number with a fraction",
    ),
    (BOOLEAN, "json", [0.5], "row 1, feature 'smoker': expected a boolean (true or false), got"),
    (BOOLEAN, "text", ["yes"], "row 1, feature 'smoker': expected a boolean (true or false), got"),
    (
        AIRBAGS,
        "json",
        ["None", "Both"],
        "row 2, feature 'airbags': 'Both' is not a category this model knows; expected text, "
        "one of 'Driver only', 'None'",
    ),
]


@pytest.mark.parametrize(("feature", "reading", "values", "message"), REFUSED)
def test_refused_cells_name_row_and_feature(
    feature: Feature, reading: Any, values: list[Any], message: str
) -> None:
    with pytest.raises(CellError) as refused:
        column(values, feature, reading)
    assert message in str(refused.value)
    assert isinstance(refused.value, InvalidInput)  # a 400 wherever it is raised
    assert "np." not in str(refused.value)


def test_uint64_tensor_beyond_int64_is_refused() -> None:
    with pytest.raises(CellError, match="row 2, feature 'count': the value is outside"):
        column(np.array([1, 2**63], dtype=np.uint64), INTEGER, "json")


@pytest.mark.parametrize("reading", cells.READINGS)
def test_a_missing_value_the_model_cannot_take(reading: Any) -> None:
    required = Feature("size", "number")
    with pytest.raises(CellError, match="row 3, feature 'size': missing, but this model needs"):
        column([1, 2, None], required, reading)
    text = Feature("colour", "string", categories=("red",))
    with pytest.raises(
        CellError, match=r"row 1, feature 'colour': missing, .* \(text, one of 'red'\)"
    ):
        column([None], text, reading)


def test_integer_column_refuses_what_int64_cannot_hold_instead_of_wrapping() -> None:
    assert integer_column(np.array([2.0**63, -(2.0**63), 5.0]), "count").tolist() == [
        INT64_MAX,
        INT64_MIN,
        5,
    ]
    assert integer_column(np.array([2.0**63, 5.0]), "count").dtype == np.int64
    with pytest.raises(CellError, match="row 2, feature 'count': the value is outside"):
        integer_column(np.array([1.0, 1e20]), "count")
    with pytest.raises(CellError, match="row 1, feature 'count': the value is outside"):
        integer_column(np.array([-1e20, math.nan]), "count")
    kept = integer_column(np.array([1.0, math.nan]), "count")
    assert kept.dtype == np.float64
    assert math.isnan(kept[1])


def test_messages_spell_values_as_python_does() -> None:
    assert echo(np.str_("x")) == "'x'"
    assert echo(np.float64(1.0)) == "1.0"
    assert cells.kind_of(np.float64(2.5)) == "a number"
    assert cells.kind_of(np.bool_(True)) == "a boolean"
    assert echo("y" * 100) == "'" + "y" * 36 + "..."
    assert cells.expected(AIRBAGS) == "text, one of 'Driver only', 'None'"


def test_missing_text_and_number_from_text() -> None:
    spelled = np.array(["", "NA", "None", "none", " NA"])
    assert cells.missing_text(spelled).tolist() == [True, True, True, False, False]
    assert cells.missing_text(spelled, AIRBAGS).tolist() == [True, True, False, False, False]
    assert cells.number_from_text(" 2.5 ") == 2.5
    assert math.isnan(cells.number_from_text(" NA ") or 0)
    assert cells.number_from_text("big") is None


def test_a_whole_column_at_once_equals_cell_by_cell() -> None:
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=5000)
    spelled = np.where(rng.random(5000) < 0.1, "NA", numbers.astype(str))
    vectorised = column(spelled, NUMBER, "text")
    one_by_one = [column([cell], NUMBER, "text")[0] for cell in spelled[:200].tolist()]
    assert same(vectorised[:200], one_by_one)
    assert int(np.isnan(vectorised).sum()) == int((spelled == "NA").sum())


JSON_CELLS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    ),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(JSON_CELLS, min_size=1, max_size=6),
    feature=st.sampled_from([NUMBER, INTEGER, BOOLEAN, TEXT, AIRBAGS, Feature("x", "number")]),
    reading=st.sampled_from(cells.READINGS),
)
def test_any_cells_give_a_column_or_a_cell_error(
    values: list[Any], feature: Feature, reading: Any
) -> None:
    """Never another exception (a 500): a checked column of the right length, or a 400."""
    try:
        typed = column(values, feature, reading)
    except CellError as exc:
        refused = exc
    else:
        refused = None
    if refused is not None:
        assert 1 <= refused.row <= len(values)
        assert refused.feature == feature.name
        assert "np." not in str(refused)
        return
    assert typed.shape == (len(values),)
    if feature.is_text:
        assert all(v is None or isinstance(v, str) for v in typed.tolist())
    else:
        assert typed.dtype == np.float64
        assert not np.isinf(typed).any()
