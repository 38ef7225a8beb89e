"""`train.py --from-model`: every failure one line (issue 25 item 8), messages in plain Python
spelling (item 6 of "Messages"), and honest metrics: on --holdout rows, or labelled as the
sample rows that may include training rows (item 10)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import train
from tests.support.fixture_types import MakeClient
from tests.support.penguins_data import PENGUINS, run_user_script
from training.reasons import one_line

PIPELINE = textwrap.dedent("""
import joblib, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
frame = pd.read_csv("train.csv")
target = frame.pop("TARGET")
prepare = make_column_transformer(
    (make_pipeline(SimpleImputer(), StandardScaler()), ["bill_length_mm", "body_mass_g"]),
    (OneHotEncoder(handle_unknown="ignore"), ["island"]),
)
joblib.dump(make_pipeline(prepare, ESTIMATOR).fit(frame, target), "model.joblib")
""")


def penguin_table(target: str) -> pd.DataFrame:
    frame = pd.read_csv(PENGUINS).dropna(subset=["bill_length_mm", "sex"])
    table = frame[["island", "bill_length_mm", "body_mass_g"]].copy()
    if target == "adult":
        table[target] = (frame["sex"] == "male").astype(int)  # classes 0 and 1
    else:
        table[target] = frame[target]
    return table.reset_index(drop=True)


def packaged(folder: Path, target: str, estimator: str, sample: pd.DataFrame, *extra: str) -> int:
    """Fit on the penguins in the user's own script, then package it with `sample` as CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    penguin_table(target).to_csv(folder / "train.csv", index=False)
    script = PIPELINE.replace("TARGET", target).replace("ESTIMATOR", estimator)
    run_user_script(script, folder)
    sample.to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    return train.main([*args, "--target", target, "--out", str(folder / "out"), *extra])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("train.py: error: ")
    assert "Traceback" not in captured.err
    assert "np." not in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("target", "estimator"),
    [("species", "LogisticRegression(max_iter=2000)"), ("flipper_length_mm", "Ridge()")],
)
def test_empty_targets_are_dropped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, estimator: str
) -> None:
    sample = penguin_table(target)
    sample.loc[[3, 7, 11], target] = np.nan
    assert packaged(tmp_path, target, estimator, sample) == 0
    out = capsys.readouterr().out
    assert f"dropped 3 rows whose target {target!r} is empty or NA" in out
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    rows = len(sample) - 3
    assert manifest["metrics"]["measured_on"] == (
        f"the {rows} sample rows of sample.csv (may include training rows)"
    )


def test_labels_that_are_not_the_models_classes_name_both_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = penguin_table("adult")
    sample["adult"] = np.where(sample["adult"] == 1, "yes", "no")
    assert packaged(tmp_path, "adult", "LogisticRegression()", sample) == 1
    err = one_error_line(capsys)
    assert (
        "the target 'adult' in sample.csv holds labels no, yes, but the model's classes are 0, 1"
        in err
    )


def test_text_labels_for_a_regressor_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = penguin_table("flipper_length_mm")
    sample["flipper_length_mm"] = "long"
    assert packaged(tmp_path, "flipper_length_mm", "Ridge()", sample) == 1
    err = one_error_line(capsys)
    assert "holds text (long), but the model is a regressor, which predicts numbers" in err


def test_a_sample_whose_numbers_the_model_cannot_take_names_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = penguin_table("species")
    sample["body_mass_g"] = sample["body_mass_g"].map(lambda grams: f"{grams / 1000:.2f} kg")
    assert packaged(tmp_path, "species", "LogisticRegression(max_iter=2000)", sample) == 1
    err = one_error_line(capsys)
    assert (
        "model.joblib cannot predict the sample rows: it takes 'body_mass_g' as numbers, but its "
        "sample cells read as text; pass --column-type body_mass_g=number (" in err
    )


def test_holdout_metrics_say_which_rows_they_are_on(
    tmp_path: Path, make_client: MakeClient
) -> None:
    table = penguin_table("species")
    holdout = tmp_path / "holdout.csv"
    table.iloc[::4].to_csv(holdout, index=False)
    extra = ("--holdout", str(holdout))
    assert packaged(tmp_path, "species", "LogisticRegression(max_iter=2000)", table, *extra) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    on = f"the {len(table.iloc[::4])} held-out rows of holdout.csv (--holdout)"
    assert manifest["metrics"]["measured_on"] == on
    summary = make_client(MODEL_URI=str(tmp_path / "out")).get("/").get_json()
    assert summary["metrics"]["measured_on"] == on


def test_sample_metrics_are_labelled_on_get_and_the_card(
    tmp_path: Path, make_client: MakeClient
) -> None:
    table = penguin_table("species")
    assert packaged(tmp_path, "species", "LogisticRegression(max_iter=2000)", table) == 0
    client = make_client(MODEL_URI=str(tmp_path / "out"))
    on = f"the {len(table)} sample rows of sample.csv (may include training rows)"
    assert client.get("/").get_json()["metrics"]["measured_on"] == on
    card = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "may include training rows" in card


def test_holdout_needs_a_target() -> None:
    with pytest.raises(SystemExit):
        train.parse_args(["--from-model", "m.joblib", "--data", "s.csv", "--holdout", "h.csv"])


def test_library_errors_become_one_plain_line() -> None:
    error = ValueError("could not convert string to float: np.str_('4.10 kg')\nmore detail")
    assert one_line(error) == "could not convert string to float: '4.10 kg'"
    assert one_line("a np.float64(1.5) b") == "a 1.5 b"
    long = one_line("word " * 80)
    assert len(long) <= 200
    assert long.endswith("word ...")
