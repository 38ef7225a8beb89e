"""The example the model card and GET / publish is made up, never a training row, unless
`train.py --example-row N` asks for row N (in training and in --from-model packaging)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import train
from serving.schema import Feature
from tests.support.penguins_data import PENGUINS, TRAIN_ARGS
from training.folder import synthetic_example

REPO = Path(__file__).resolve().parents[2]


def example_of(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text())["example"])


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def is_a_row_of(example: dict[str, Any], path: Path) -> bool:
    """Whether some row of the CSV holds exactly the example's values (gaps as None)."""
    frame = pd.read_csv(path)[list(example)]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return example in rows


def test_the_bundled_example_is_no_row_of_the_data_but_its_training_medians() -> None:
    example = example_of(REPO / "model")
    data = load_breast_cancer(as_frame=True)
    rows = [dict(zip(data.data.columns, row, strict=True)) for row in data.data.values.tolist()]
    assert example not in rows
    x_train, _, _, _ = train_test_split(
        data.data, data.target, test_size=0.2, random_state=0, stratify=data.target
    )
    # Decimal places the columns' values have: 3, 6 and 1.
    assert example["mean radius"] == round(float(np.median(x_train["mean radius"])), 3)
    assert example["smoothness error"] == round(float(np.median(x_train["smoothness error"])), 6)
    assert example["worst area"] == round(float(np.median(x_train["worst area"])), 1)


def test_each_feature_gets_its_median_or_most_common_value() -> None:
    frame = pd.DataFrame(
        {
            "count": [3, 5, np.nan, 8, 9, 10],  # whole numbers with a gap: float64 in pandas
            "price": [1.125, 1.25, 2.0, 3.5, np.nan, 9.75],
            "colour": ["red", "blue", "blue", "red", np.nan, "green"],  # a tie: blue first
            "member": [True, False, True, True, False, True],
            "empty": [np.nan] * 6,
        }
    )
    features = [
        Feature("count", "number", True),
        Feature("price", "number", True),
        Feature("colour", "string", True, ("blue", "green", "red")),
        Feature("member", "boolean"),
        Feature("empty", "number", True),
    ]

    example = synthetic_example(frame, features)

    assert example == {"count": 8, "price": 2.0, "colour": "blue", "member": True, "empty": None}
    assert isinstance(example["count"], int)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert example not in rows


def test_medians_keep_the_columns_decimal_places() -> None:
    frame = pd.DataFrame({"x": [0.0012, 0.0015, 0.0019, 0.0021], "n": [1, 2, 3, 4]})
    example = synthetic_example(frame, [Feature("x"), Feature("n", "integer")])
    assert example == {"x": 0.0017, "n": 2}  # medians 0.0017 and 2.5 (to even: 2)
    assert isinstance(example["n"], int)


def test_the_penguin_example_is_typical_and_no_real_row(penguins_dir: Path) -> None:
    example = example_of(penguins_dir)
    rows = csv_rows(PENGUINS)
    assert not is_a_row_of(example, PENGUINS)
    assert example["island"] == "Biscoe"
    assert example["sex"] in ("male", "female")
    assert all(isinstance(example[k], int) for k in ("flipper_length_mm", "body_mass_g", "year"))
    assert all(round(example[k], 1) == example[k] for k in ("bill_length_mm", "bill_depth_mm"))
    lengths = sorted(float(row["bill_length_mm"]) for row in rows if row["bill_length_mm"] != "NA")
    assert lengths[len(lengths) // 4] < example["bill_length_mm"] < lengths[3 * len(lengths) // 4]


def test_example_row_publishes_row_n_counting_from_1_after_the_header(tmp_path: Path) -> None:
    assert train.main([*TRAIN_ARGS, "--example-row", "1", "--out", str(tmp_path / "m")]) == 0
    assert example_of(tmp_path / "m") == {
        "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
        "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": "male", "year": 2007,
    }  # fmt: skip


def test_example_row_when_packaging_a_model_and_out_of_range(
    penguins_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(penguins_dir / "model.joblib")
    packaging = ["--from-model", model, "--data", str(PENGUINS), "--target", "species"]

    assert train.main([*packaging, "--example-row", "4", "--out", str(tmp_path / "m")]) == 0
    example = example_of(tmp_path / "m")
    assert example["island"] == "Torgersen"
    assert example["year"] == 2007
    assert all(example[k] is None for k in ("bill_length_mm", "sex"))  # row 4 is all gaps

    capsys.readouterr()
    assert train.main([*packaging, "--example-row", "345", "--out", str(tmp_path / "n")]) == 1
    assert capsys.readouterr().err == (
        "train.py: error: --example-row 345: the data has rows 1 to 344\n"
    )


def test_a_packaged_model_publishes_a_synthetic_example_too(
    penguins_dir: Path, tmp_path: Path
) -> None:
    model = str(penguins_dir / "model.joblib")
    args = ["--from-model", model, "--data", str(PENGUINS), "--out", str(tmp_path / "m")]
    assert train.main(args) == 0
    assert train.main([*args[:-1], str(tmp_path / "r"), "--example-row", "1"]) == 0
    example, real = example_of(tmp_path / "m"), example_of(tmp_path / "r")
    assert not is_a_row_of(example, PENGUINS)
    assert is_a_row_of(real, PENGUINS)  # the oracle tells a real row from a made-up one
    assert None not in example.values()
