"""A JSON body's skeleton (serving/protocols/detect.py): its brackets counted for the budget, and
`numbers_only` said of a body with no text, null or boolean in it, for the validation step to
skip its look at each cell. On the bundled model (fitted on a DataFrame, names with spaces) and
the same features with an integer and a boolean: a body said to hold numbers only gets exactly
the table, or the message, that it gets without the flag."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from serving.batch import Batch
from serving.errors import InvalidInput
from serving.exchange import Request
from serving.loading import load_model
from serving.protocols.detect import FORMAT_KEYS, Decoded, check_budget, detect, skeleton
from serving.schema import Schema
from serving.settings import Settings
from serving.validate import validate

pytestmark = pytest.mark.in_process


@pytest.fixture(scope="module", params=["as fitted", "an integer and a boolean"])
def schema(request: pytest.FixtureRequest) -> Schema:
    features = load_model(Settings.from_env({})).manifest.features
    if request.param == "as fitted":
        return features
    integer = dataclasses.replace(features[0], type="integer")
    boolean = dataclasses.replace(features[1], type="boolean")
    return Schema([integer, boolean, *features[2:]])


def decoded(body: str) -> Decoded:
    return detect(Request("POST", "/", "application/json", body.encode()), FORMAT_KEYS, 1000)


def rows(cells: str, width: int = 30) -> str:
    """Two rows: one of ones, and one whose first cells are `cells` (the rest ones)."""
    given = cells.split(";")
    second = ", ".join(given + ["1"] * (width - len(given)))
    return f"[{', '.join(['1'] * width)}], [{second}]"


def doc(inner: str, key: str = "instances", rest: str = "") -> str:
    """A body: `inner` in a list under `key`, then `rest` (more fields)."""
    return "{" + f'"{key}": [{inner}]{rest}' + "}"


NUMBERS_ONLY = [
    doc(rows("0")),
    "{ " + f'"instances" : [{rows("-0; 1e-400; 2.5e+3")}]' + " }\n",
    doc(rows("0; 1"), key="inputs"),
    doc(rows("2; 0.5")),
    doc(rows("9223372036854775808; 1")),
    doc(rows("123456789012345678901234567890; 1")),
    doc(rows("[1]")),
    doc(rows("{}")),
    doc(rows("[]; []")),
    doc(rows("1") + ", {}"),
    doc(f"[{rows('1')}]"),
    doc("1, 2, 3"),
    doc("[1, 2], [3]"),
    doc(", ".join(["1.5"] * 30), key="features"),
]
NOT_NUMBERS_ONLY = [
    doc(rows('"1"')),
    doc(rows("null")),
    doc(rows("true")),
    doc(rows("NaN")),
    doc(rows('"instances"')),
    doc(rows("1"), rest=', "probabilities": true'),
    doc(rows("1"), key="inst\\u0061nces"),
    doc(rows('{"mean radius": 1}')),
]


def outcome(batch: Batch, schema: Schema) -> Any:
    """The checked matrix's bytes, or the message refusing the batch."""
    try:
        matrix = validate(batch, schema, 1000).matrix
    except InvalidInput as error:
        return str(error)
    assert matrix is not None
    return matrix.tobytes()


@pytest.mark.parametrize("body", NUMBERS_ONLY)
def test_a_body_said_to_hold_numbers_only_gets_what_it_gets_without(
    body: str, schema: Schema
) -> None:
    found = decoded(body)
    assert found.numbers_only
    data = found.document[found.format]
    data = [data] if found.format == "features" else data
    with_flag = outcome(Batch(rows=data, numbers_only=True), schema)
    assert with_flag == outcome(Batch(rows=data), schema)


@pytest.mark.parametrize("body", NOT_NUMBERS_ONLY)
def test_text_null_booleans_and_other_strings_are_not_numbers_only(body: str) -> None:
    assert not decoded(body).numbers_only


def test_the_skeleton_holds_every_bracket() -> None:
    body = json.dumps({"instances": [[1.5, {"a": [2e-3, "[x{"]}]] * 7}).encode()
    bare = skeleton(body)
    assert bare.count(b"[") == body.count(b"[")
    assert bare.count(b"{") == body.count(b"{")
    assert bare == b'{"instancs":[' + b'[{"a":["[x{"]}]' * 7 + b"]}"
    check_budget(bare, 7)
