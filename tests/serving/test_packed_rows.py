"""All-number rows packed into the matrix row by row (serving/cells.py `_packed`) get exactly
what NumPy's conversion of the nested lists gives: the same answer, status and message for every
body, on the bundled model (fitted on a DataFrame, names with spaces) in every row format, and
the same matrix or message on the same features with an integer and a boolean."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from serving import cells
from serving.batch import Batch
from serving.endpoint import Endpoint
from serving.errors import ServingError
from serving.loading import load_model
from serving.schema import Schema
from serving.settings import Settings
from serving.validate import validate

pytestmark = pytest.mark.in_process

WIDTH = 30
TRICKY_CELLS = [
    "1",
    "2.5",
    "-0",
    "-0.0",
    "1E5",
    "1e-400",
    "-1e-400",
    "1e308",
    "1e400",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551617",
    "123456789012345678901234567890",
    "1" + "0" * 400,
    "0.1000000000000000055511151231257827",
    "2.2250738585072011e-308",
    "true",
    "false",
    "null",
    "NaN",
    '"1.5"',
    '"NaN"',
    "[1]",
    "{}",
]
# Refused as invalid JSON before any conversion.
NOT_JSON = ["01", "1.", "-", ".5", "+1", "1_0"]


def rows(cell: str, width: int = WIDTH) -> str:
    """Enough rows to be packed: ones, then one whose third cell is `cell`, then 0.5s."""
    ones = ", ".join([f"[{', '.join(['1'] * width)}]"] * cells.PACKED_FROM_ROWS)
    third = ["1", "1", cell] + ["1"] * (width - 3)
    return f"{ones}, [{', '.join(third)}], [{', '.join(['0.5'] * width)}]"


def bodies() -> list[tuple[str, str, str]]:
    """(path, media type, body) of every shape: each tricky cell in each row format, ragged and
    narrow rows, records, one row, CSV."""
    found = []
    for cell in TRICKY_CELLS + NOT_JSON:
        for key in ("instances", "features", "inputs", "calls"):
            found.append(("/", "application/json", "{" + f'"{key}": [{rows(cell)}]' + "}"))
        csv_cell = cell.strip('"') if cell != "null" else ""
        found.append(("/", "text/csv", rows(csv_cell).replace("], [", "\n").strip("[]")))
    found += [
        ("/", "application/json", '{"instances": [[1, 2], [3, 4]]}'),
        ("/", "application/json", '{"instances": [' + rows("1", WIDTH + 1) + "]}"),
        ("/", "application/json", '{"instances": [[1], ' + rows("1") + "]}"),
        ("/", "application/json", '{"instances": [' + rows("1") + ", 5]}"),
        ("/", "application/json", '{"instances": [' + rows("1") + ', "' + "x" * WIDTH + '"]}'),
        ("/", "application/json", '{"features": [' + ", ".join(["1.5"] * WIDTH) + "]}"),
        ("/", "application/json", '{"calls": [[' + ", ".join(['"NaN"'] * WIDTH) + "]]}"),
    ]
    # NaN sends the body to the stdlib parser, whose integers have no bound.
    with_nan = "[" + ", ".join(["NaN"] + ["1"] * (WIDTH - 1)) + "]"
    for key in ("instances", "calls"):
        body = "{" + f'"{key}": [{rows("1" + "0" * 400)}, {with_nan}]' + "}"
        found.append(("/", "application/json", body))
    return found


def outcome(endpoint: Endpoint, path: str, media_type: str, body: str) -> Any:
    """The answer's status and JSON, or the error's class, status and message."""
    try:
        reply = endpoint.answer("POST", path, media_type, body.encode())
    except ServingError as error:
        return type(error).__name__, error.status, str(error)
    return reply.status, json.dumps(reply.json, sort_keys=True)


@pytest.fixture(scope="module")
def endpoint() -> Endpoint:
    return Endpoint(Settings.from_env({}))


def test_bodies_get_what_nested_lists_converted_by_numpy_get(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = bodies()
    packed = [outcome(endpoint, *case) for case in cases]
    monkeypatch.setattr(cells, "_packed", lambda rows, width: None)
    converted = [outcome(endpoint, *case) for case in cases]
    for case, got, expected in zip(cases, packed, converted, strict=True):
        assert got == expected, case
    assert sum(result[0] == 200 for result in packed) > len(TRICKY_CELLS)


@pytest.mark.parametrize("cell", TRICKY_CELLS)
def test_an_integer_and_a_boolean_feature_get_the_same_matrix_or_message(
    cell: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = load_model(Settings.from_env({})).manifest.features
    integer = dataclasses.replace(features[2], type="integer")
    boolean = dataclasses.replace(features[1], type="boolean")
    schema = Schema([features[0], boolean, integer, *features[3:]])
    data = json.loads(f"[{rows(cell)}]")

    def checked() -> Any:
        try:
            matrix = validate(Batch(rows=data), schema, 1000).matrix
        except ServingError as error:
            return str(error)
        assert matrix is not None
        return matrix.tobytes()

    packed = checked()
    monkeypatch.setattr(cells, "_packed", lambda rows, width: None)
    assert packed == checked()
