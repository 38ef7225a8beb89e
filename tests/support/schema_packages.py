"""Three model folders the way users make them (issue 25), for any test to serve in any format.

- `none_category`: cars whose air bags may be "None", a real category (read with pandas'
  keep_default_na=False), one-hot encoded; "" is missing.
- `zip_codes`: house prices one-hot encoding zip codes that look like numbers ('02134') and
  cylinders that mostly do ('4', '6', 'rotary').
- `custom_code`: the penguins with a transformer class of the user's own (user_features.py),
  shipped with `train.py --code`.

Each builder writes the data, runs the user's own training script as a separate program,
packages what it saved with `train.py --from-model`, and returns a Package: the folder, the
sample CSV and the rows as the user's script read them, to compare the function's answers with
the model's own `predict` (`Package.model()` loads it, with the user's code importable).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

import train
from serving.user_code import importable
from tests.support.penguins_data import PENGUINS, run_user_script


@dataclass(frozen=True)
class Package:
    """A packaged model folder and the data it was packaged with."""

    folder: Path
    csv: Path
    target: str
    frame: pd.DataFrame
    code: dict[str, bytes] = field(default_factory=dict)

    def model(self) -> Any:
        """The user's fitted model, loaded in this process (its own code importable)."""
        with importable(self.code):
            return joblib.load(self.folder / "model.joblib")

    def manifest_features(self) -> dict[str, dict[str, Any]]:
        import json

        manifest = json.loads((self.folder / "manifest.json").read_text())
        return {f["name"]: f for f in manifest["features"]}


def package(workdir: Path, script: str, csv: Path, target: str, *extra: str) -> Path:
    """Run the user's script in `workdir` (it saves model.joblib), then package it."""
    run_user_script(textwrap.dedent(script), workdir)
    out = workdir / "out"
    args = ["--from-model", str(workdir / "model.joblib"), "--data", str(csv)]
    assert train.main([*args, "--target", target, "--out", str(out), *extra]) == 0
    return out


def none_category(workdir: Path) -> Package:
    """Air bags "None" (none fitted) is a category; an empty cell is a missing value."""
    rng = np.random.default_rng(25)
    rows = 240
    frame = pd.DataFrame(
        {
            "airbags": rng.choice(["None", "Driver only", "Driver & Passenger"], rows),
            "origin": rng.choice(["USA", "non-USA"], rows),
            "horsepower": rng.normal(140, 40, rows).round(),
            "weight (lb)": rng.normal(3000, 500, rows).round(),
        }
    )
    frame.loc[rng.random(rows) < 0.08, "horsepower"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "origin"] = None
    score = (frame["airbags"] == "None") * 1.5 - frame["horsepower"].fillna(140) / 60
    frame["cheap"] = np.where(score + rng.normal(0, 0.5, rows) > -1.6, "yes", "no")
    csv = workdir / "cars.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv, index=False)
    script = f"""
        import joblib, pandas as pd
        from sklearn.compose import make_column_transformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        # "None" air bags is data, not a gap: only empty cells are missing.
        frame = pd.read_csv({str(csv)!r}, keep_default_na=False, na_values=[""])
        target = frame.pop("cheap")
        prepare = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["airbags", "origin"]),
            (make_pipeline(SimpleImputer(), StandardScaler()), ["horsepower", "weight (lb)"]),
        )
        model = make_pipeline(prepare, LogisticRegression(max_iter=1000)).fit(frame, target)
        joblib.dump(model, "model.joblib")
    """
    folder = package(workdir, script, csv, "cheap")
    features = pd.read_csv(csv, keep_default_na=False, na_values=[""]).drop(columns="cheap")
    return Package(folder, csv, "cheap", features)


def zip_codes(workdir: Path) -> Package:
    """Zip codes and cylinders that look like numbers, one-hot encoded as the text they are."""
    rng = np.random.default_rng(2134)
    rows = 300
    zips = ["02134", "02139", "10001", "60601", "94105"]
    frame = pd.DataFrame(
        {
            "zip": rng.choice(zips, rows),
            "cylinders": rng.choice(["4", "6", "8", "rotary"], rows, p=[0.5, 0.3, 0.15, 0.05]),
            "sqft": rng.normal(1500, 300, rows).round(),
        }
    )
    frame["price"] = (
        frame["sqft"] * 200
        + frame["zip"].map(dict(zip(zips, [90e3, 80e3, 150e3, 40e3, 200e3], strict=True)))
        + rng.normal(0, 1e4, rows)
    )
    csv = workdir / "houses.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv, index=False)
    script = f"""
        import joblib, pandas as pd
        from sklearn.compose import make_column_transformer
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        frame = pd.read_csv({str(csv)!r}, dtype={{"zip": str, "cylinders": str}})
        target = frame.pop("price")
        prepare = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["zip", "cylinders"]),
            (StandardScaler(), ["sqft"]),
        )
        joblib.dump(make_pipeline(prepare, Ridge()).fit(frame, target), "model.joblib")
    """
    folder = package(workdir, script, csv, "price")
    features = pd.read_csv(csv, dtype={"zip": str, "cylinders": str}).drop(columns="price")
    return Package(folder, csv, "price", features)


# The docs' own example (docs/models.md), so that the page shows what the tests serve.
USER_FEATURES = re.search(
    r"```python\n# user_features\.py.*?\n(.*?)```",
    (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text(),
    re.DOTALL,
).group(1)


def custom_code(workdir: Path, *extra: str) -> Package:
    """The penguins with the user's BillRatio transformer, shipped with --code."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "user_features.py").write_text(USER_FEATURES)
    script = f"""
        import joblib, pandas as pd
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from user_features import BillRatio
        numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
        frame = pd.read_csv({str(PENGUINS)!r}).dropna(subset=numbers)
        model = make_pipeline(
            BillRatio(), SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)
        ).fit(frame[numbers], frame["species"])
        joblib.dump(model, "model.joblib")
    """
    code = ("--code", str(workdir / "user_features.py"))
    sample = workdir / "sample.csv"
    numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    penguins = pd.read_csv(PENGUINS).dropna(subset=numbers)
    penguins[[*numbers, "species"]].to_csv(sample, index=False)
    folder = package(workdir, script, sample, "species", *code, *extra)
    code_files = {"user_features.py": USER_FEATURES.encode()}
    return Package(folder, sample, "species", penguins[numbers].reset_index(drop=True), code_files)
