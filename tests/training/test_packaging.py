"""`train.py --from-model`: what it refuses in one line (and why), what it packages, and the
400s a strict packaged model gives, naming the row and the feature, in several formats."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sklearn

import train
from tests.support.fixture_types import MakeClient
from tests.support.penguins_data import PENGUINS, penguins, records, run_user_script

# The start of every user script: the penguins without the rows whose numbers are missing.
PREAMBLE = f"""
import joblib, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
frame = pd.read_csv({str(PENGUINS)!r}).dropna(subset=["bill_length_mm"])
target = frame.pop("species")
frame[["island", "sex"]] = frame[["island", "sex"]].astype(object)
numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
"""
# Numbers must be present; an island never seen in training is an error; sex may be missing.
STRICT = textwrap.dedent("""
prepare = make_column_transformer(
    (StandardScaler(), numbers),
    (OneHotEncoder(handle_unknown="error"), ["island"]),
    (make_pipeline(SimpleImputer(strategy="most_frequent"),
                   OneHotEncoder(handle_unknown="ignore")), ["sex"]),
)
model = make_pipeline(prepare, LogisticRegression(max_iter=2000)).fit(frame, target)
""")


def package(folder: Path, script: str, *extra: str, model: str = "model.joblib") -> int:
    """Run the user's script in `folder`, then train.py --from-model on what it wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    run_user_script(PREAMBLE + script, folder)
    args = ["--from-model", str(folder / model), "--data", str(PENGUINS), "--target", "species"]
    return train.main([*args, "--out", str(folder / "out"), *extra])


REFUSALS = [
    (
        "main_function",
        textwrap.dedent("""
        def double(x):
            return x * 2
        model = make_pipeline(
            make_column_transformer((FunctionTransformer(double), numbers)),
            LogisticRegression(max_iter=2000),
        ).fit(frame, target)
        joblib.dump(model, "model.joblib")
        """),
        "refers to 'double' defined in the training script (__main__)",
    ),
    (
        "local_module",
        textwrap.dedent("""
        import pathlib, sys
        pathlib.Path("my_steps.py").write_text("def triple(x):\\n    return x * 3\\n")
        sys.path.insert(0, ".")
        from my_steps import triple
        model = make_pipeline(
            make_column_transformer((FunctionTransformer(triple), numbers)),
            LogisticRegression(max_iter=2000),
        ).fit(frame, target)
        joblib.dump(model, "model.joblib")
        """),
        "needs the module 'my_steps', which the function would not have",
    ),
    (
        "library_not_deployed",
        textwrap.dedent("""
        import yaml
        step = FunctionTransformer(inverse_func=yaml.safe_dump, check_inverse=False)
        model = make_pipeline(
            make_column_transformer((step, numbers)), LogisticRegression(max_iter=2000)
        ).fit(frame, target)
        joblib.dump(model, "model.joblib")
        """),
        "needs the module 'yaml', which the function would not have",
    ),
    (
        "other_sklearn_version",
        STRICT
        + textwrap.dedent("""
        import sklearn.base
        sklearn.base.__version__ = "1.5.0"
        joblib.dump(model, "model.joblib")
        """),
        f"pickled with scikit-learn 1.5.0, but requirements.txt serves scikit-learn "
        f"{sklearn.__version__}; retrain with {sklearn.__version__}, or pass --force-version",
    ),
    (
        "unfitted",
        textwrap.dedent("""
        joblib.dump(make_pipeline(StandardScaler(), LogisticRegression()), "model.joblib")
        """),
        "holds an unfitted Pipeline: fit it first",
    ),
    (
        "not_scikit_learn",
        textwrap.dedent("""
        joblib.dump({"weights": [1, 2, 3]}, "model.joblib")
        """),
        "holds a builtins.dict, not a scikit-learn classifier or regressor",
    ),
    (
        "sample_lacks_a_column",
        textwrap.dedent("""
        frame["colour"] = "blue"
        model = make_pipeline(
            make_column_transformer((OneHotEncoder(), ["colour"]), (StandardScaler(), numbers)),
            LogisticRegression(max_iter=2000),
        ).fit(frame, target)
        joblib.dump(model, "model.joblib")
        """),
        "penguins.csv lacks the column 'colour' that the model needs (1 missing)",
    ),
    (
        "not_a_model_file",
        textwrap.dedent("""
        open("model.joblib", "wb").write(b"these are not the bytes of a pickle")
        """),
        "cannot read model.joblib",
    ),
    (
        "untrusted_skops_type",
        STRICT.replace("StandardScaler(), numbers", "FunctionTransformer(np.round), numbers")
        + textwrap.dedent("""
        import skops.io
        skops.io.dump(model, "model.skops")
        """),
        "holds types skops does not trust: numpy.dtype, numpy.round; pass --trusted TYPE",
    ),
]


@pytest.mark.parametrize(
    ("script", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], script: str, message: str
) -> None:
    model = "model.skops" if "skops" in script else "model.joblib"
    assert package(tmp_path, script, model=model) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("train.py: error: ")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_trusted_skops_type_and_forced_version_are_packaged(
    tmp_path: Path, make_client: MakeClient
) -> None:
    skops_script = STRICT.replace(
        "StandardScaler(), numbers", "FunctionTransformer(np.round), numbers"
    )
    skops_script += "\nimport skops.io\nskops.io.dump(model, 'model.skops')\n"
    assert (
        package(
            tmp_path / "a",
            skops_script,
            "--trusted",
            "numpy.round",
            "--trusted",
            "numpy.dtype",
            model="model.skops",
        )
        == 0
    )

    old = STRICT + "\nimport sklearn.base\nsklearn.base.__version__ = '1.5.0'\n"
    old += "joblib.dump(model, 'model.joblib')\n"
    assert package(tmp_path / "b", old, "--force-version") == 0
    manifest = json.loads((tmp_path / "b" / "out" / "manifest.json").read_text())
    assert manifest["libraries"]["scikit-learn"] == "1.5.0"
    client = make_client(MODEL_URI=str(tmp_path / "b" / "out"), MODEL_RUNTIME="sklearn")
    assert "trained with scikit-learn 1.5.0" in client.get("/").get_json()["warnings"][0]


@pytest.fixture(scope="module")
def strict_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strict")
    assert package(folder, STRICT + "\njoblib.dump(model, 'model.joblib')\n") == 0
    return folder / "out"


def test_strict_schema_is_what_the_model_does(strict_model: Path) -> None:
    features = {
        f["name"]: f for f in json.loads((strict_model / "manifest.json").read_text())["features"]
    }
    assert features["bill_length_mm"]["nullable"] is False
    assert features["island"]["nullable"] is False
    assert features["island"]["other_categories"] is False
    assert features["sex"]["nullable"] is True
    assert features["sex"]["other_categories"] is True


GOOD = records(penguins([0]))[0]
# (change to the good row, what the 400 must say)
BAD_VALUES = [
    ({"bill_length_mm": "long"}, "row 1, feature 'bill_length_mm': expected a number, got text"),
    ({"island": 3}, "feature 'island': expected text, one of 'Biscoe', 'Dream', 'Torgersen', got"),
    ({"bill_length_mm": None}, "feature 'bill_length_mm': missing, but this model needs a value"),
    ({"island": None}, "feature 'island': missing, but this model needs a value there (text"),
    (
        {"island": "Atlantis"},
        "row 1, feature 'island': 'Atlantis' is not a category this model knows; expected text, "
        "one of 'Biscoe', 'Dream', 'Torgersen'",
    ),
    ({"year": 2007.5}, "row 1, feature 'year': expected an integer, got a number with a fraction"),
]


def as_format(row: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """(path, request) for one row in one request format."""
    if kind == "split":
        split = {"columns": list(row), "data": [list(row.values())]}
        return "/invocations", {"json": {"dataframe_split": split}}
    if kind == "csv":
        cells = ["" if v is None else str(v) for v in row.values()]
        body = ",".join(row) + "\n" + ",".join(cells) + "\n"
        return "/", {"data": body, "content_type": "text/csv"}
    return "/", {"json": {"instances": [row]}}


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("kind", ["instances", "split", "csv"])
def test_bad_values_name_row_and_feature(
    strict_model: Path, make_client: MakeClient, runtime: str, kind: str
) -> None:
    client = make_client(MODEL_URI=str(strict_model), MODEL_RUNTIME=runtime)
    path, good = as_format(GOOD, kind)
    assert client.post(path, **good).status_code == 200
    for change, message in BAD_VALUES:
        if kind == "csv" and change in ({"island": 3}, {"bill_length_mm": "long"}):
            continue  # in CSV every cell is text: 3 is a word, "long" is checked below
        path, request = as_format({**GOOD, **change}, kind)
        answer = client.post(path, **request)
        assert answer.status_code == 400, (kind, change)
        assert message in answer.get_json()["error"], (kind, change, answer.get_json())


@pytest.mark.parametrize("kind", ["instances", "split", "csv"])
def test_missing_and_unknown_columns(
    strict_model: Path, make_client: MakeClient, kind: str
) -> None:
    client = make_client(MODEL_URI=str(strict_model))
    without_sex = {k: v for k, v in GOOD.items() if k != "sex"}
    path, request = as_format(without_sex, kind)
    assert "missing feature 'sex'" in client.post(path, **request).get_json()["error"]
    path, request = as_format({**GOOD, "colour": "blue"}, kind)
    assert "unknown feature 'colour'" in client.post(path, **request).get_json()["error"]
