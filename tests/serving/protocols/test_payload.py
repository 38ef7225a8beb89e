"""Pure unit tests: JSON decoding (jsonio.py), this function's own body
(protocols/own_format.py) and the one validation step (validate.py) behind it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving import jsonio
from serving.batch import Method
from serving.errors import InvalidInput, InvalidJSON, TooManyRows
from serving.protocols.detect import format_key
from serving.protocols.own_format import read_rows
from serving.schema import Feature
from serving.validate import validate

pytestmark = pytest.mark.in_process

NAMES = ("a", "b", "c")
THIRTY = tuple(f"f{i}" for i in range(30))


def parse(
    body: Any, names: tuple[str, ...] = NAMES, max_rows: int = 10
) -> tuple[Any, tuple[Method, ...], bool]:
    """The body's rows checked against all-number features, the methods it asks for, and
    whether it sent one row."""
    batch, methods, single = read_rows(body, format_key(body, ("features", "instances")))
    return validate(batch, [Feature(name) for name in names], max_rows).matrix, methods, single


@pytest.mark.parametrize(
    ("body", "rows", "single", "probabilities"),
    [
        ({"features": [1, 2, 3]}, [[1, 2, 3]], True, False),
        ({"features": [1.5, -2, 3e10]}, [[1.5, -2, 3e10]], True, False),
        ({"features": [[1, 2, 3], [4, 5, 6]]}, [[1, 2, 3], [4, 5, 6]], False, False),
        ({"features": [[1, 2, 3]]}, [[1, 2, 3]], False, False),
        ({"instances": [[1, 2, 3]]}, [[1, 2, 3]], False, False),
        ({"instances": [[1, 2, 3], [7, 8, 9]]}, [[1, 2, 3], [7, 8, 9]], False, False),
        ({"instances": [{"c": 3, "a": 1, "b": 2}]}, [[1, 2, 3]], False, False),
        (
            {"instances": [{"b": 2, "c": 3, "a": 1}, {"a": 4, "c": 6, "b": 5}]},
            [[1, 2, 3], [4, 5, 6]],
            False,
            False,
        ),
        ({"features": {"c": 3, "b": 2, "a": 1}}, [[1, 2, 3]], True, False),
        ({"features": [[1, 2, 3]], "probabilities": True}, [[1, 2, 3]], False, True),
        ({"features": [1, 2, 3], "probabilities": False}, [[1, 2, 3]], True, False),
        # JSON booleans count as 1/0 (documented in docs/request-formats.md).
        ({"features": [True, False, 1]}, [[1, 0, 1]], True, False),
        # Integers beyond int64 but within uint64 still become floats.
        ({"features": [2**63, 0, 0]}, [[2.0**63, 0, 0]], True, False),
        (
            {"features": [1.7976931348623157e308, 0, 0]},
            [[1.7976931348623157e308, 0, 0]],
            True,
            False,
        ),
    ],
)
def test_good_payloads(
    body: Any, rows: list[list[float]], single: bool, probabilities: bool
) -> None:
    matrix, methods, one_row = parse(body)
    assert matrix.dtype == np.float64
    assert matrix.shape == (len(rows), 3)
    assert matrix.tolist() == rows
    assert one_row is single
    assert (methods == ("predict", "predict_proba")) is probabilities


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2, 3], "body must be a JSON object"),
        ("features", "body must be a JSON object"),
        (None, "body must be a JSON object"),
        ({}, "body matches no accepted format"),
        ({"features": [1, 2, 3], "instances": [[1, 2, 3]]}, "matches more than one format"),
        ({"features": [1, 2, 3], "extra": 1}, "unknown field 'extra'"),
        ({"rows": [[1, 2, 3]]}, "body matches no accepted format"),
        ({"features": [1, 2, 3], "rows": [[1, 2, 3]]}, "unknown field 'rows'"),
        ({"features": [1, 2, 3], "probabilities": "yes"}, "'probabilities' must be true or false"),
        ({"features": [1, 2, 3], "probabilities": 1}, "'probabilities' must be true or false"),
        ({"features": []}, "'features' must be a non-empty list"),
        ({"instances": []}, "'instances' must be a non-empty list"),
        ({"features": "1,2,3"}, "'features' must be a non-empty list"),
        ({"features": 5}, "'features' must be a non-empty list"),
        ({"instances": {"a": 1, "b": 2, "c": 3}}, "'instances' must be a non-empty list"),
        ({"instances": [1, 2, 3]}, "row 1: expected a list of 3 values, got a number"),
        ({"features": [1, 2]}, "expected 3 features, got 2"),
        ({"features": [1, 2, 3, 4]}, "expected 3 features, got 4"),
        ({"features": [[1, 2, 3], [1, 2]]}, "expected 3 features, got 2 (row 2)"),
        ({"instances": [[1, 2], [1, 2, 3]]}, "expected 3 features, got 2"),
        ({"features": [[[1, 2, 3]]]}, "expected 3 features, got 1 (row 1)"),
        ({"features": [[[1], [2], [3]]]}, "row 1, feature 'a': expected a number, got a list"),
        ({"features": [1, "2", 3]}, "row 1, feature 'b': expected a number, got text"),
        ({"features": ["a", "b", "c"]}, "row 1, feature 'a': expected a number, got text"),
        ({"features": [1, None, 3]}, "row 1, feature 'b': missing, but this model needs a value"),
        (
            {"features": [None, None, None]},
            "feature 'a': missing, but this model needs",
        ),
        ({"features": [1, {"x": 1}, 3]}, "feature 'b': expected a number, got an object"),
        ({"features": [1, [2], 3]}, "row 1, feature 'b': expected a number, got a list"),
        ({"features": [10**400, 1, 2]}, "row 1, feature 'a': the number is too large"),
        ({"features": [float("nan"), 1, 2]}, "row 1, feature 'a': missing, but this model"),
        ({"features": [[1, 2, 3], [1, float("inf"), 3]]}, "row 2, feature 'b': values must be"),
        ({"instances": [{"a": 1, "b": 2}]}, "row 1: missing feature 'c'"),
        ({"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}, "row 1: unknown feature 'd'"),
        ({"instances": [{"a": 1, "b": 2, "c": 3}, {"a": 1}]}, "row 2: missing feature 'b'"),
        ({"instances": [{"a": 1, "b": 2, "c": 3}, [1, 2, 3]]}, "row 2: mix of lists and objects"),
        ({"instances": [[1, 2, 3], {"a": 1, "b": 2, "c": 3}]}, "row 2: mix of lists and objects"),
        (
            {"instances": [{"a": None, "b": 2, "c": 3}]},
            "feature 'a': missing, but this model needs",
        ),
        ({"instances": [{"a": "1", "b": 2, "c": 3}]}, "feature 'a': expected a number, got text"),
    ],
)
def test_bad_payloads(body: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(body)
    assert message in caught.value.message
    assert (caught.value.status, caught.value.code) == (400, "invalid_input")


def test_wrong_feature_count_says_expected_and_got() -> None:
    with pytest.raises(InvalidInput, match=r"^expected 30 features, got 29 \(row 1\)$"):
        parse({"features": [0.5] * 29}, THIRTY)


@pytest.mark.parametrize("key", ["features", "instances"])
def test_too_many_rows_is_422(key: str) -> None:
    with pytest.raises(TooManyRows) as caught:
        parse({key: [[1, 2, 3]] * 4}, max_rows=3)
    assert caught.value.status == 422
    assert caught.value.code == "too_many_rows"
    assert "got 4 rows; at most 3" in caught.value.message
    assert "MAX_ROWS" in caught.value.message


def test_rows_up_to_the_limit_are_accepted() -> None:
    assert parse({"instances": [[1, 2, 3]] * 3}, max_rows=3)[0].shape == (3, 3)


# --- jsonio -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"features": [1, 2.5, -3e2]}', {"features": [1, 2.5, -300.0]}),
        (b"[]", []),
        ('{"name": "caf\u00e9"}'.encode(), {"name": "caf\u00e9"}),
        (b'  {"a": true, "b": null}  ', {"a": True, "b": None}),
    ],
)
def test_decode_good_json(body: bytes, value: Any) -> None:
    assert jsonio.decode(body) == value


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"features": [NaN, Infinity]}', "line 1 column 15"),
        (b'{"features": [Infinity]}', "line 1 column 15"),
        (b'{"features": [-Infinity]}', "line 1 column"),
        (b"", "line 1 column 1"),
        (b"{", "line 1 column 2"),
        (b'{"features": [1, 2,]}', "line 1 column"),
        (b'{"a": 1}\n{"b": 2}', "line 2 column 1"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a": "\xc3"}', "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "line 1 column"),
    ],
)
def test_decode_bad_json(body: bytes, where: str) -> None:
    """Refused as invalid_json, saying where it broke (Infinity is not JSON)."""
    with pytest.raises(InvalidJSON) as caught:
        jsonio.decode(body)
    assert caught.value.message.startswith("body is not valid")
    assert where in caught.value.message
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999"])
def test_overflowing_number_is_refused(literal: bytes) -> None:
    """1e999 is not finite: refused by the JSON decoder or, if it decodes to inf, the payload."""
    with pytest.raises((InvalidJSON, InvalidInput)) as caught:
        parse(jsonio.decode(b'{"features": [' + literal + b", 1, 2]}"))
    assert caught.value.status == 400
    assert "finite" in caught.value.message or "infinity" in caught.value.message


def test_nan_literal_reads_as_a_missing_value() -> None:
    """MLflow's client writes a DataFrame's gaps as NaN: read as null, then validated."""
    assert jsonio.decode(b'{"features": [NaN, 1, 2]}') == {"features": [None, 1, 2]}
    with pytest.raises(InvalidInput, match="feature 'a': missing, but this model needs"):
        parse(jsonio.decode(b'{"features": [NaN, 1, 2]}'))


def test_encode_round_trips_exactly() -> None:
    values = {"a": [1, 2.5, 0.1 + 0.2, 2.097979868052302e-09], "b": "\u00e9", "c": None}
    encoded = jsonio.encode(values)
    assert b" " not in encoded
    assert jsonio.decode(encoded) == values
    assert encoded.decode("utf-8")
