"""Types, missing values and text as the fitted model sees them (issue 25, items 1-6): the
schema `train.py --from-model` writes, the runtimes' answers on it, and `--column-type`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

import train
from serving import cells
from serving.batch import Table
from serving.cells import INT64_MAX, INT64_MIN, CellError
from serving.manifest import Manifest
from serving.runtimes import onnx_runtime, sklearn_runtime
from serving.schema import Feature
from tests.support import schema_packages
from tests.support.fixture_types import MakeClient
from tests.support.penguins_data import PENGUINS, penguins, records, run_user_script
from tests.support.schema_packages import Package
from training.data import load_csv
from training.probe import with_edge_rows


@pytest.fixture(scope="module")
def none_category(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return schema_packages.none_category(tmp_path_factory.mktemp("none-category"))


@pytest.fixture(scope="module")
def zip_codes(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return schema_packages.zip_codes(tmp_path_factory.mktemp("zip-codes"))


def manifest_of(folder: Path) -> Manifest:
    return Manifest.parse((folder / "manifest.json").read_bytes())


def runtimes(folder: Path) -> list[Any]:
    """Every runtime the folder has an artifact for, loaded as the function loads it."""
    manifest = manifest_of(folder)
    built = [sklearn_runtime.load((folder / "model.joblib").read_bytes(), manifest)]
    if (folder / "model.onnx").exists():
        built.append(onnx_runtime.load((folder / "model.onnx").read_bytes(), manifest))
    return built


def table(values: dict[str, list[Any]], manifest: Manifest, reading: Any) -> Table:
    """Cells checked by the one cell rule, as the wired validation step will hand them over."""
    columns = tuple(cells.column(values[f.name], f, reading) for f in manifest.features)
    return Table(columns, None, len(columns[0]))


def text_cells(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The frame as CSV cells: "" for a gap, numbers as pandas writes them."""
    return {name: ["" if pd.isna(v) else str(v) for v in frame[name]] for name in frame.columns}


def json_cells(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {
        name: [None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in frame[name]]
        for name in frame.columns
    }


def answers(client: Any, rows: list[dict[str, Any]], probabilities: bool = True) -> Any:
    reply = client.post("/", json={"instances": rows, "probabilities": probabilities})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


# --- "None" is a category (item 2) -------------------------------------------------------------


def test_a_learned_none_is_a_category_in_the_manifest(none_category: Package) -> None:
    features = none_category.manifest_features()
    airbags = features["airbags"]
    assert airbags["categories"] == ["Driver & Passenger", "Driver only", "None"]
    assert airbags["marker_categories"] == ["None"]
    manifest = json.loads((none_category.folder / "manifest.json").read_text())
    statistics = {f["name"]: f for f in manifest["training_statistics"]["features"]}
    # The sample CSV was read by the same rule: "None" is the category, never a gap.
    assert statistics["airbags"]["missing_share"] == 0
    assert statistics["origin"]["missing_share"] > 0


def test_none_in_text_cells_and_json_gives_the_models_answer(none_category: Package) -> None:
    model, frame = none_category.model(), none_category.frame
    expected = model.predict_proba(frame)
    manifest = manifest_of(none_category.folder)
    for runtime in runtimes(none_category.folder):
        for values, reading in ((text_cells(frame), "text"), (json_cells(frame), "json")):
            got = runtime.run(table(values, manifest, reading), ("predict_proba",))
            np.testing.assert_allclose(got["predict_proba"], expected, rtol=0, atol=1e-12)


def test_none_in_json_requests_is_the_category(
    none_category: Package, make_client: MakeClient
) -> None:
    model, frame = none_category.model(), none_category.frame.iloc[:40]
    client = make_client(MODEL_URI=str(none_category.folder))
    got = answers(client, records(frame))
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(frame), atol=1e-12)


# --- text that looks like numbers (item 3) ----------------------------------------------------


def test_zip_codes_the_model_encodes_as_text_are_text(zip_codes: Package) -> None:
    features = zip_codes.manifest_features()
    assert features["zip"]["type"] == "string"
    assert features["zip"]["categories"] == ["02134", "02139", "10001", "60601", "94105"]
    assert features["cylinders"]["categories"] == ["4", "6", "8", "rotary"]
    assert features["sqft"]["type"] == "integer"


@pytest.mark.parametrize("runtime", ["sklearn", "auto"])
def test_zip_codes_served_in_json_and_csv_give_the_models_answer(
    zip_codes: Package, make_client: MakeClient, runtime: str
) -> None:
    model, frame = zip_codes.model(), zip_codes.frame.iloc[:50]
    expected = model.predict(frame)
    client = make_client(MODEL_URI=str(zip_codes.folder), MODEL_RUNTIME=runtime)
    np.testing.assert_allclose(
        answers(client, records(frame), False)["predictions"], expected, atol=1e-9
    )
    body = frame.to_csv(index=False)
    reply = client.post("/", data=body, content_type="text/csv")
    assert reply.status_code == 200, reply.get_json()
    np.testing.assert_allclose(reply.get_json()["predictions"], expected, atol=1e-9)


HIDDEN = """
import joblib, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
frame = pd.read_csv("houses.csv", dtype={"zip": str})
target = frame.pop("price")
# A step with no feature names in front of the encoder: nothing tells train.py that zip is text.
hidden = make_pipeline(FunctionTransformer(), OneHotEncoder(handle_unknown="ignore"))
prepare = make_column_transformer((hidden, ["zip"]), (StandardScaler(), ["sqft"]))
joblib.dump(make_pipeline(prepare, Ridge()).fit(frame, target), "model.joblib")
"""


def package_hidden(folder: Path, zip_codes: Package, *extra: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    pd.read_csv(zip_codes.csv, dtype=str).drop(columns="cylinders").to_csv(
        folder / "houses.csv", index=False
    )
    run_user_script(HIDDEN, folder)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "houses.csv")]
    return train.main([*args, "--target", "price", "--out", str(folder / "out"), *extra])


def test_a_column_the_model_takes_as_text_is_named_with_the_fix(
    tmp_path: Path, zip_codes: Package, capsys: pytest.CaptureFixture[str]
) -> None:
    assert package_hidden(tmp_path, zip_codes) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert (
        "model.joblib cannot predict the sample rows: it takes 'zip' as text, but its sample "
        "cells read as numbers; pass --column-type zip=text (" in err
    )
    assert "np." not in err
    assert package_hidden(tmp_path, zip_codes, "--column-type", "zip=text") == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["features"][0] == {
        "name": "zip",
        "type": "string",
        "nullable": True,
        "categories": ["02134", "02139", "10001", "60601", "94105"],
        "other_categories": True,
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "zip=integer",
            "--column-type zip=integer: the model's OneHotEncoder treats 'zip' as text "
            "(categories '02134', '02139', '10001', '60601', ...)",
        ),
        (
            "sqft=text",
            "--column-type sqft: model.joblib cannot predict with 'sqft' read as text; it "
            "takes 'sqft' as numbers (",
        ),
        ("colour=text", "--column-type colour=text: the model takes no column 'colour'"),
        ("zip=date", "--column-type zip=date: expected NAME=TYPE, TYPE one of text, number"),
    ],
)
def test_a_wrong_column_type_is_refused_in_one_line(
    zip_codes: Package,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    override: str,
    message: str,
) -> None:
    args = ["--from-model", str(zip_codes.folder.parent / "model.joblib"), "--data"]
    args += [str(zip_codes.csv), "--target", "price", "--out", str(tmp_path / "out")]
    assert train.main([*args, "--column-type", override]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err


# --- missing values the model accepts, probed with a real missing cell (item 1) ---------------

ORDINAL_HGB = """
import joblib, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder
frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
target = frame.pop("species")
frame[["island", "sex"]] = frame[["island", "sex"]].astype(object)
encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
prepare = make_column_transformer((encode, ["island", "sex"]), remainder="passthrough")
model = make_pipeline(prepare, HistGradientBoostingClassifier(max_iter=30, random_state=0))
joblib.dump(model.fit(frame, target), "model.joblib")
"""
FROM_DTYPE = """
import joblib, pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
frame = pd.read_csv(PENGUINS).dropna(subset=["sex"])
target = frame.pop("species")
frame[["island", "sex"]] = frame[["island", "sex"]].astype("category")
model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=30)
joblib.dump(model.fit(frame, target), "model.joblib")
"""


@pytest.fixture(scope="module", params=["ordinal", "from_dtype"])
def text_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(request.param)
    script = ORDINAL_HGB if request.param == "ordinal" else FROM_DTYPE
    run_user_script(script.replace("PENGUINS", repr(str(PENGUINS))), folder)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(PENGUINS)]
    assert train.main([*args, "--target", "species", "--out", str(folder / "out")]) == 0
    return folder / "out"


def test_a_missing_text_cell_the_model_takes_is_nullable(text_model: Path) -> None:
    features = {
        f["name"]: f for f in json.loads((text_model / "manifest.json").read_text())["features"]
    }
    assert features["island"]["nullable"] is True
    assert features["sex"]["nullable"] is True
    category = text_model.parent.name.startswith("from_dtype")
    assert features["island"].get("dtype") == ("category" if category else None)
    assert features["island"]["categories"] == ["Biscoe", "Dream", "Torgersen"]


def test_missing_text_is_answered_as_the_model_answers(
    text_model: Path, make_client: MakeClient
) -> None:
    model = joblib.load(text_model / "model.joblib")
    frame = penguins([0, 150, 300])
    frame.loc[0, "island"] = None
    frame.loc[1, "sex"] = None
    own = frame.copy()
    if text_model.parent.name.startswith("from_dtype"):
        own[["island", "sex"]] = own[["island", "sex"]].astype("category")
    expected = model.predict_proba(own)
    for runtime in ("sklearn", "auto"):
        client = make_client(MODEL_URI=str(text_model), MODEL_RUNTIME=runtime)
        np.testing.assert_allclose(
            answers(client, records(frame))["probabilities"], expected, atol=1e-9
        )


def test_a_category_feature_is_rebuilt_as_a_pandas_categorical() -> None:
    features = [
        Feature("island", "string", True, ("Biscoe", "Dream"), False, dtype="category"),
        Feature("year", "integer"),
    ]
    columns = (np.array(["Dream", None], dtype=object), np.array([2007.0, 2.0**63]))
    frame = sklearn_runtime.model_frame(columns, features)
    assert isinstance(frame["island"].dtype, pd.CategoricalDtype)
    assert list(frame["island"].cat.categories) == ["Biscoe", "Dream"]
    assert frame["island"].isna().tolist() == [False, True]
    assert frame["year"].tolist() == [2007, INT64_MAX]


# --- "" is text on both runtimes; a missing cell is missing (item 4) ---------------------------

PENGUINS_PIPELINE = """
import joblib, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
frame = pd.read_csv(PENGUINS).dropna(subset=["bill_length_mm"])
target = frame.pop("species")
frame[["island", "sex"]] = frame[["island", "sex"]].astype(object)
numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
impute = SimpleImputer(strategy="most_frequent")
text = make_pipeline(impute, OneHotEncoder(handle_unknown="ignore"))
prepare = make_column_transformer((StandardScaler(), numbers), (text, ["island", "sex"]))
model = make_pipeline(prepare, LogisticRegression(max_iter=2000)).fit(frame, target)
joblib.dump(model, "model.joblib")
"""


@pytest.fixture(scope="module")
def penguins_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("penguins")
    run_user_script(PENGUINS_PIPELINE.replace("PENGUINS", repr(str(PENGUINS))), folder)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(PENGUINS)]
    assert train.main([*args, "--target", "species", "--out", str(folder / "out")]) == 0
    assert (folder / "out" / "model.onnx").exists(), "the gate passes with the edge rows"
    return folder / "out"


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_empty_text_and_missing_text_mean_the_same_on_both_runtimes(
    penguins_model: Path, make_client: MakeClient, runtime: str
) -> None:
    model = joblib.load(penguins_model / "model.joblib")
    frame = penguins([0, 0, 0])
    frame.loc[0, "sex"] = ""
    frame.loc[1, "sex"] = np.nan
    frame.loc[2, "island"] = ""
    client = make_client(MODEL_URI=str(penguins_model), MODEL_RUNTIME=runtime)
    got = answers(client, records(frame))["probabilities"]
    np.testing.assert_allclose(got, model.predict_proba(frame), atol=1e-9)
    assert not np.allclose(got[0], got[1]), "'' is unknown text here, null is imputed"


def test_the_gate_fed_the_edge_rows(penguins_model: Path) -> None:
    manifest = json.loads((penguins_model / "manifest.json").read_text())
    features = manifest["features"]
    edges = sum(f["nullable"] for f in features) + 2 * sum(
        f["type"] in ("string", "integer") for f in features
    )
    assert manifest["onnx_parity"]["rows"] == 342 + edges


def test_edge_rows_from_the_schema() -> None:
    features = [
        Feature("island", "string", True, ("Biscoe",), True),
        Feature("strict", "string", False, ("a",), False),
        Feature("year", "integer"),
        Feature("mass", "number", True),
    ]
    columns = {"island": ["Biscoe", None], "strict": ["a", "a"], "year": [2007, 2008]}
    columns["mass"] = [None, 1.5]
    grown = with_edge_rows(columns, features)
    base = ("Biscoe", "a", 2007, None)
    rows = list(zip(*(grown[f.name] for f in features), strict=True))
    assert rows[2:] == [
        (None, "a", 2007, None),
        ("", "a", 2007, None),
        ("\x00never-seen-in-training", "a", 2007, None),
        ("Biscoe", "a", INT64_MAX, None),
        ("Biscoe", "a", INT64_MIN, None),
        ("Biscoe", "a", 2007, None),
    ]
    assert rows[0] == base


# --- text is never stripped, at training and serving (item 5) ---------------------------------


def test_a_csv_with_spaces_after_commas_is_served_as_it_was_trained(
    tmp_path: Path, make_client: MakeClient
) -> None:
    rng = np.random.default_rng(5)
    size = rng.normal(size=300).round(3)
    colours = rng.choice(["red", "blue", "green"], 300)
    label = np.where((colours == "red") | (size > 0.5), "yes", "no")
    rows = [f"{s}, {c}, {y}" for s, c, y in zip(size, colours, label, strict=True)]
    csv = tmp_path / "spaced.csv"
    csv.write_text("\n".join(["size, colour, label", *rows]) + "\n")
    out = tmp_path / "out"
    assert train.main(["--data", str(csv), "--target", "label", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    # The cells as the file holds them: training does not strip text, and neither does serving.
    assert manifest["features"][1]["categories"] == [" blue", " green", " red"]
    model = joblib.load(out / "model.joblib")
    # The rows as training read them, and as pandas reads the file: the same cells.
    trained_on = load_csv(csv, "label", "auto").features
    frame = pd.read_csv(csv).drop(columns=" label").set_axis(["size", "colour"], axis=1)
    pd.testing.assert_frame_equal(trained_on, frame, check_dtype=False)
    body = "\n".join(["size,colour", *(row.rsplit(",", 1)[0] for row in rows)]) + "\n"
    reply = make_client(MODEL_URI=str(out)).post("/", data=body, content_type="text/csv")
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["predictions"] == model.predict(trained_on).tolist()


# --- integers int64 cannot hold are refused, never wrapped (item 6) ---------------------------


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_int64s_ends_are_answered_as_the_model_answers(penguins_model: Path, runtime: str) -> None:
    model = joblib.load(penguins_model / "model.joblib")
    manifest = manifest_of(penguins_model)
    served = {r.name: r for r in runtimes(penguins_model)}[runtime]
    frame = penguins([0, 0, 0])
    frame["year"] = [INT64_MAX, INT64_MIN, 2008]
    got = served.run(table(json_cells(frame), manifest, "json"), ("predict_proba",))
    np.testing.assert_allclose(got["predict_proba"], model.predict_proba(frame), atol=1e-9)


@pytest.mark.parametrize("value", [1e20, -1e20, 2.0**64])
def test_the_sklearn_runtime_refuses_an_integer_beyond_int64(
    penguins_model: Path, make_client: MakeClient, value: float
) -> None:
    row = records(penguins([0]))[0] | {"year": value}
    client = make_client(MODEL_URI=str(penguins_model), MODEL_RUNTIME="sklearn")
    reply = client.post("/", json={"instances": [row]})
    assert reply.status_code == 400
    assert reply.get_json()["error"].startswith("row 1, feature 'year': ")
    assert "is outside the integers this model takes" in reply.get_json()["error"]
    with pytest.raises(CellError, match="row 1, feature 'year'"):
        cells.column([value], Feature("year", "integer"), "json")


def test_probed_rows_are_the_rows_the_runtime_builds() -> None:
    """A missing integer is NaN in a float column, as pandas and the runtime have it."""
    features = [Feature("n", "integer", True), Feature("t", "string", True)]
    frame = sklearn_runtime.model_frame(
        (np.array([math.nan, 3.0]), np.array([None, "x"], dtype=object)), features
    )
    assert frame["n"].dtype == np.float64
    assert not pd.api.types.is_numeric_dtype(frame["t"])
    assert frame["t"].isna().tolist() == [True, False]
