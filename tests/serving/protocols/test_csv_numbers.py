"""The CSV fast path (csv_body.read_numbers: a body of numbers only, read by orjson) against the
exact one (the csv module and the cell rule), on an all-number model fitted on a DataFrame with
names with spaces and integers (and the same features with a boolean): the same matrix to the
bit, or it steps aside and the exact path answers, so no cell, header or row can change an
answer or a message."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import train
from serving.batch import Batch
from serving.errors import InvalidInput
from serving.protocols import csv_body
from serving.protocols.csv_body import read_numbers, read_table
from serving.schema import Schema, parse_features
from serving.validate import validate
from tests.support.fixture_types import MakeClient
from tests.support.penguins_data import run_user_script

pytestmark = pytest.mark.in_process

DOSES_SCRIPT = """
import joblib, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(30)
frame = pd.DataFrame({
    "visits": rng.integers(0, 30, 200),
    "dose mg": rng.normal(5, 2, 200),
    "on treatment": rng.integers(0, 2, 200),
})
score = frame["visits"] + 3 * frame["on treatment"] + rng.normal(0, 5, 200)
label = np.where(score > 15, "yes", "no")
frame.assign(label=label).to_csv("doses.csv", index=False)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
joblib.dump(model, "model.joblib")
"""
HEADER = "visits,dose mg,on treatment"
CLEAN_ROW = "3,5.5,1"
# Cells the fast path may read, and cells only the csv module and the cell rule may (spaces,
# gaps, NA markers, words, other spellings of numbers, numbers no float or int64 holds).
TRICKY = [
    "7", "0", "1", "2", "-3", "2.5", "1e5", "1E+2", "-2.5e-3", "1e-400", "-0.0", "-0", "-0e0",
    "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "123456789012345678901234567890", "1e400", "-1e400", " 1", "1 ", "", "NA", "nan", "NaN",
    "inf", "-inf", "Infinity", "0x1", "1_000", "\u0661", "+1", ".5", "1.", "01", "true", "False",
    "None", "null", "yes", '"3"',
]  # fmt: skip


@pytest.fixture(scope="module")
def doses_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("doses")
    run_user_script(DOSES_SCRIPT, folder)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "doses.csv")]
    assert train.main([*args, "--target", "label", "--out", str(folder / "out")]) == 0
    return folder / "out"


@pytest.fixture(scope="module")
def schema(doses_dir: Path) -> Schema:
    manifest = json.loads((doses_dir / "manifest.json").read_text())
    found = parse_features(manifest["features"], manifest["feature_names"])
    assert [(f.name, f.type) for f in found] == [
        ("visits", "integer"),
        ("dose mg", "number"),
        ("on treatment", "integer"),
    ]
    return found


@pytest.fixture(params=["integer", "boolean"])
def schemas(schema: Schema, request: pytest.FixtureRequest) -> Schema:
    """The model's features, and the same with "on treatment" a boolean."""
    return Schema([*schema[:2], dataclasses.replace(schema[2], type=request.param)])


def outcome(read: Callable[[], Batch | None], schema: Schema) -> Any:
    """The checked matrix's bytes (so -0.0 is not 0.0), or the message refusing the body."""
    try:
        batch = read()
        assert batch is not None
        matrix = validate(batch, schema, 1000).matrix
    except InvalidInput as error:
        return str(error)
    assert matrix is not None
    return matrix.tobytes()


def bodies() -> list[bytes]:
    """Each tricky cell in each column, with a header, in another order, and without one; and
    the shapes of a table the csv module reads its own way."""
    found = []
    for cell in TRICKY:
        for column in range(3):
            row = CLEAN_ROW.split(",")
            row[column] = cell
            table = f"{CLEAN_ROW}\n{','.join(row)}\n"
            permuted = f"{','.join(row[1:] + row[:1])}\n{CLEAN_ROW[2:]},3\n"
            found += [f"{HEADER}\n{table}", table, f"dose mg,on treatment,visits\n{permuted}"]
    shapes = [
        f"{HEADER}\r\n{CLEAN_ROW}\r\n{CLEAN_ROW}\r\n",
        f"{HEADER}\n{CLEAN_ROW}",
        f"{HEADER}\n{CLEAN_ROW}\n\n{CLEAN_ROW}\n\n",
        f"\n{HEADER}\n{CLEAN_ROW}\n",
        f"\ufeff{HEADER}\n{CLEAN_ROW}\n",
        f'"visits","dose mg","on treatment"\n{CLEAN_ROW}\n',
        f"visits, dose mg ,on treatment\n{CLEAN_ROW}\n",
        f"visits,dose mg\n{CLEAN_ROW}\n",
        f"visits,dose mg,on treatment,visits\n{CLEAN_ROW},3\n",
        f"visits,dose mg,extra\n{CLEAN_ROW}\n",
        f"{HEADER}\n",
        f"{HEADER}\n{CLEAN_ROW}\n3,5.5\n",
        f"{HEADER}\n{CLEAN_ROW},\n",
        f"{HEADER}\n{CLEAN_ROW}\r3,5.5,0\n",
        f"{HEADER}\n3,\r5.5,1\n",
        f"{CLEAN_ROW}\n3,5.5,\r1\n",
        f"{CLEAN_ROW}\r\n{CLEAN_ROW}\r\r\n",
        f"{HEADER}\n3,0.{'1' * csv.field_size_limit()},1\n",
        f"{CLEAN_ROW}\n3,5.5,1,2\n",
        "3\n",
        "",
    ]
    return [body.encode() for body in found + shapes]


def test_the_fast_path_gives_what_the_exact_path_gives(schemas: Schema) -> None:
    schema = schemas
    for body in bodies():
        fast = read_numbers(body, schema)
        if fast is not None:
            exact = outcome(lambda: read_table(body, schema.names), schema)  # noqa: B023
            assert outcome(lambda: fast, schema) == exact, body  # noqa: B023


def test_the_fast_path_takes_bodies_of_numbers(schemas: Schema) -> None:
    schema = schemas
    taken = [
        f"{HEADER}\n{CLEAN_ROW}\n",
        f"{CLEAN_ROW}\n{CLEAN_ROW}",
        "on treatment,dose mg,visits\r\n1,5.5,3\r\n0,1e-400,4\r\n",
        f"{HEADER}\n3,123456789012345678901234567890,0\n3,-2.5e-3,1\n9007199254740993,-0.0,0\n",
    ]
    for body in taken:
        batch = read_numbers(body.encode(), schema)
        assert batch is not None, body
        exact = outcome(lambda: read_table(body.encode(), schema.names), schema)  # noqa: B023
        assert outcome(lambda: batch, schema) == exact  # noqa: B023


def test_answers_are_the_same_with_and_without_the_fast_path(
    doses_dir: Path, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(MODEL_URI=str(doses_dir), MODEL_RUNTIME="onnx")
    sample = [body for body in bodies() if body][::3]

    def answers() -> list[tuple[int, Any, Any]]:
        found = []
        for body in sample:
            answer = client.post("/", data=body, content_type="text/csv")
            reply = answer.get_json()
            found.append((answer.status_code, reply.get("predictions"), reply.get("error")))
        return found

    fast = answers()
    monkeypatch.setattr(csv_body, "read_numbers", lambda body, schema: None)
    assert answers() == fast
    assert {status for status, _, _ in fast} == {200, 400}
