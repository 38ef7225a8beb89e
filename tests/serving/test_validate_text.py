"""The validation step on models with text, integer and nullable features: every cell's check,
its message (row, feature, what was expected, what came), and the typed columns it gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving.batch import Batch
from serving.cells import Reading
from serving.errors import InvalidInput
from serving.schema import Feature
from serving.validate import validate

pytestmark = pytest.mark.in_process

COLORS = tuple(f"color{i}" for i in range(7))
SCHEMA = (
    Feature("size"),
    Feature("count", "integer", nullable=True),
    Feature("color", "string", categories=COLORS, other_categories=False),
    Feature("note", "string", nullable=True),
)
GOOD = [1.5, 2, "color1", "hello"]


def check(rows: list[Any], reading: Reading = "json") -> list[Any]:
    table = validate(Batch(rows=rows, reading=reading), SCHEMA, max_rows=10)
    assert table.matrix is None
    assert table.n_rows == len(rows)
    return [column.tolist() for column in table.columns]


def refused(rows: list[Any], reading: Reading = "json") -> str:
    with pytest.raises(InvalidInput) as caught:
        validate(Batch(rows=rows, reading=reading), SCHEMA, max_rows=10)
    return caught.value.message


def test_good_rows_become_typed_columns() -> None:
    rows = [GOOD, [2.0, None, "color2", None]]
    size, count, color, note = check(rows)
    assert (size, count[0], color, note) == ([1.5, 2.0], 2.0, ["color1", "color2"], ["hello", None])
    assert np.isnan(count[1])


def test_columns_are_float_and_object_arrays() -> None:
    table = validate(Batch(rows=[GOOD]), SCHEMA, max_rows=10)
    assert [column.dtype.kind for column in table.columns] == ["f", "f", "O", "O"]


def test_text_cells_read_numbers_and_missing_markers() -> None:
    rows = [["1.5", "2", "color1", "NA"], ["", "", "color3", ""]]
    message = refused(rows, "text")
    assert message == "row 2, feature 'size': missing, but this model needs a value there"
    columns = check([["1.5", "NA", "color1", "NA"]], "text")
    assert columns[:1] == [[1.5]]
    assert np.isnan(columns[1][0])
    assert columns[2:] == [["color1"], [None]]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([None, 2, "color1", "x"], "row 2, feature 'size': missing, but this model needs a value"),
        (["a", 2, "color1", "x"], "row 2, feature 'size': expected a number, got text"),
        ([True, 2, "color1", "x"], None),
        ([[1], 2, "color1", "x"], "row 2, feature 'size': expected a number, got a list"),
        ([{}, 2, "color1", "x"], "row 2, feature 'size': expected a number, got an object"),
        (
            [1.0, 2.5, "color1", "x"],
            "row 2, feature 'count': expected an integer, got a number with a fraction",
        ),
        ([1.0, "2", "color1", "x"], "row 2, feature 'count': expected an integer, got text"),
        ([1.0, 2, None, "x"], "row 2, feature 'color': missing, but this model needs a value"),
        ([1.0, 2, 3, "x"], "row 2, feature 'color': expected text, one of 'color0', 'color1'"),
        ([1.0, 2, True, "x"], "expected text, one of 'color0', 'color1', 'color2', 'color3', "),
        ([1.0, 2, "red", "x"], "row 2, feature 'color': 'red' is not a category this model knows"),
        ([1.0, 2, "color1", 5], "row 2, feature 'note': expected text, got a number"),
        ([1.0, 2, "color1", False], "row 2, feature 'note': expected text, got a boolean"),
        ([1.0, 2, "color1", None], None),
    ],
)
def test_each_cell_is_checked_and_named(row: list[Any], message: str | None) -> None:
    rows = [GOOD, row]
    if message is None:
        assert len(check(rows)[0]) == 2
    else:
        assert message in refused(rows)


def test_categories_are_listed_five_then_counted() -> None:
    message = refused([[1.0, 2, "red", "x"]])
    assert message.endswith(
        "expected text, one of 'color0', 'color1', 'color2', 'color3', 'color4' ... (7 in all)"
    )


def test_few_categories_are_listed_whole() -> None:
    schema = (Feature("color", "string", categories=("a", "b"), other_categories=False),)
    with pytest.raises(InvalidInput) as caught:
        validate(Batch(rows=[["c"]]), schema, max_rows=10)
    assert caught.value.message.endswith("expected text, one of 'a', 'b'")


def test_other_categories_are_accepted_when_the_model_takes_them() -> None:
    schema = (Feature("color", "string", categories=("a",), other_categories=True),)
    table = validate(Batch(rows=[["zzz"]]), schema, max_rows=10)
    assert table.columns[0].tolist() == ["zzz"]


def test_free_text_expects_text() -> None:
    schema = (Feature("note", "string"),)
    with pytest.raises(InvalidInput) as caught:
        validate(Batch(rows=[[None]]), schema, max_rows=10)
    assert caught.value.message == (
        "row 1, feature 'note': missing, but this model needs a value there (text)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("inf"), "row 1, feature 'size': values must be finite numbers"),
        (10**400, "row 1, feature 'size': the number is too large"),
    ],
)
def test_numbers_out_of_range(value: Any, message: str) -> None:
    assert refused([[value, 2, "color1", "x"]]) == message


def test_a_long_value_is_echoed_cut_to_forty_characters() -> None:
    message = refused([[1.0, 2, "c" * 60, "x"]])
    assert f"{repr('c' * 60)[:37]}... is not a category" in message


def test_columns_are_checked_the_same_way() -> None:
    columns = {"size": [1.0], "count": [None], "color": ["color1"], "note": ["n"]}
    table = validate(Batch(columns=columns), SCHEMA, max_rows=10)
    assert table.columns[2].tolist() == ["color1"]
    columns["color"] = ["red"]
    with pytest.raises(InvalidInput, match="'red' is not a category"):
        validate(Batch(columns=columns), SCHEMA, max_rows=10)
