"""Issue 25's cell rule on the request path, in every format and on both runtimes: a list or an
object where a value belongs is a 400 naming its row and feature (item 7), integers int64 cannot
hold or with a fraction are refused in the bulk all-number path too (item 6), an OIP shape NumPy
cannot build is a 400 (item 7), OIP JSON BYTES take null as missing, and rows count from 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

import train
from serving.cells import INT64_MAX
from tests.support.fixture_types import MakeClient
from tests.support.penguins_data import penguins, records, run_user_script

RUNTIMES = ["onnx", "sklearn"]
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def refused(answer: Any, message: str) -> None:
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["code"] == "invalid_input"
    assert answer.get_json()["error"].startswith(message), answer.get_json()


def in_formats(rows: list[dict[str, Any]], names: list[str]) -> dict[str, tuple[str, Any]]:
    """The rows in every JSON format that can carry any JSON value in a cell: (path, body)."""
    table = [[row[name] for name in names] for row in rows]
    columns = {name: [row[name] for row in rows] for name in names}
    return {
        "instances": ("/", {"instances": table}),
        "records": ("/", {"instances": rows}),
        "MLflow split": ("/invocations", {"dataframe_split": {"columns": names, "data": table}}),
        "MLflow records": ("/invocations", {"dataframe_records": rows}),
        "MLflow inputs": ("/invocations", {"inputs": columns}),
        "BigQuery": ("/", {"calls": table}),
    }


# --- a list or an object where a value belongs (item 7) ---------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    ("cell", "kind"), [([5], "a list"), ([1.0, 2.0], "a list"), ({"mm": 5}, "an object")]
)
def test_a_list_or_object_in_a_cell_is_a_400_in_every_format(
    penguins_dir: Path, make_client: MakeClient, runtime: str, cell: Any, kind: str
) -> None:
    client = make_client(MODEL_URI=str(penguins_dir), MODEL_RUNTIME=runtime)
    rows = records(penguins([0, 150]))
    names = list(rows[0])
    rows[1]["bill_length_mm"] = cell
    for fmt, (path, body) in in_formats(rows, names).items():
        answer = client.post(path, json=body)
        refused(answer, f"row 2, feature 'bill_length_mm': expected a number, got {kind}")
        assert str(cell) not in answer.get_json()["error"], fmt


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_list_in_a_text_cell_is_a_400(
    penguins_dir: Path, make_client: MakeClient, runtime: str
) -> None:
    client = make_client(MODEL_URI=str(penguins_dir), MODEL_RUNTIME=runtime)
    rows = records(penguins([0]))
    rows[0]["island"] = ["Biscoe"]
    for path, body in in_formats(rows, list(rows[0])).values():
        refused(client.post(path, json=body), "row 1, feature 'island': expected text")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_list_in_an_all_number_models_cell_names_the_cell(
    classifier_dir: Path, make_client: MakeClient, runtime: str
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)
    names = client.get("/").get_json()["feature_names"]
    rows = [dict.fromkeys(names, 1.0), dict.fromkeys(names, 1.0)]
    rows[1]["mean area"] = [1.0, 2.0]
    for path, body in in_formats(rows, names).values():
        refused(client.post(path, json=body), "row 2, feature 'mean area': expected a number")


# --- integers in the bulk all-number path (item 6) --------------------------------------------


COUNTS_SCRIPT = """
import joblib, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(6)
frame = pd.DataFrame({"visits": rng.integers(0, 30, 200), "dose mg": rng.normal(5, 2, 200)})
label = np.where(frame["visits"] + rng.normal(0, 5, 200) > 15, "yes", "no")
frame.assign(label=label).to_csv("counts.csv", index=False)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
joblib.dump(model, "model.joblib")
"""


@pytest.fixture(scope="module")
def counts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An all-number model fitted on a DataFrame: an integer feature (visits), a number (dose
    mg); both runtimes."""
    folder = tmp_path_factory.mktemp("counts")
    run_user_script(COUNTS_SCRIPT, folder)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "counts.csv")]
    assert train.main([*args, "--target", "label", "--out", str(folder / "out")]) == 0
    assert (folder / "out" / "model.onnx").exists()
    return folder / "out"


def test_the_counts_model_is_all_numbers_with_an_integer(counts_dir: Path) -> None:
    features = json.loads((counts_dir / "manifest.json").read_text())["features"]
    assert [(f["name"], f["type"]) for f in features] == [
        ("visits", "integer"),
        ("dose mg", "number"),
    ]


COUNTS_OUTSIDE = "row 2, feature 'visits': the value is outside the integers this model takes"


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    ("visits", "message"),
    [
        (2**63, COUNTS_OUTSIDE),
        (-(2**63) - 1, COUNTS_OUTSIDE),
        (1e20, COUNTS_OUTSIDE),
        (2.5, "row 2, feature 'visits': expected an integer, got a number with a fraction"),
    ],
)
def test_integers_are_checked_in_the_bulk_path(
    counts_dir: Path, make_client: MakeClient, runtime: str, visits: Any, message: str
) -> None:
    client = make_client(MODEL_URI=str(counts_dir), MODEL_RUNTIME=runtime)
    table = [[3, 5.0], [visits, 5.0]]
    for path, body in [
        ("/", {"instances": table}),
        ("/", {"calls": [[str(v) if isinstance(v, int) else v for v in r] for r in table]}),
        ("/invocations", {"dataframe_split": {"columns": ["visits", "dose mg"], "data": table}}),
    ]:
        refused(client.post(path, json=body), message)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_int64s_largest_value_is_taken_in_every_spelling(
    counts_dir: Path, make_client: MakeClient, runtime: str
) -> None:
    client = make_client(MODEL_URI=str(counts_dir), MODEL_RUNTIME=runtime)
    model = joblib.load(counts_dir / "model.joblib")
    frame = pd.DataFrame({"visits": [3, INT64_MAX], "dose mg": [5.0, 5.0]})
    expected = model.predict(frame).tolist()
    bodies = [
        ("/", {"instances": [[3, 5.0], [INT64_MAX, 5.0]]}),
        ("/", {"calls": [["3", 5.0], [str(INT64_MAX), 5.0]]}),
    ]
    for path, body in bodies:
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json().get("predictions", answer.get_json().get("replies")) == expected


# --- OIP: shapes NumPy cannot build (item 7), BYTES null --------------------------------------


@pytest.mark.parametrize(
    "shape",
    [[0, 2**63], [2**63, 0], [0] * 65, [1] * 65, [0, 2**64 - 1]],
    ids=["0 by 2^63", "2^63 by 0", "65 zeros", "65 ones", "0 by 2^64-1"],
)
def test_an_oip_shape_numpy_cannot_build_is_a_400(
    classifier_dir: Path, make_client: MakeClient, shape: list[int]
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    data = [] if 0 in shape else [1.0]
    tensor = {"name": "input", "shape": shape, "datatype": "FP64", "data": data}
    answer = client.post("/v2/models/breast-cancer/infer", json={"inputs": [tensor]})
    refused(answer, "input 'input': shape [")
    assert "cannot hold the data" in answer.get_json()["error"]
    assert len(answer.get_json()["error"]) < 200


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_oip_json_bytes_take_null_as_missing(
    penguins_dir: Path, make_client: MakeClient, runtime: str
) -> None:
    client = make_client(MODEL_URI=str(penguins_dir), MODEL_RUNTIME=runtime)
    frame = penguins([0, 150, 300])
    frame.loc[1, "sex"] = None
    frame.loc[2, "island"] = None
    rows = records(frame)
    expected = client.post("/", json={"instances": rows, "probabilities": True}).get_json()
    inputs = []
    for name in frame.columns:
        values = [row[name] for row in rows]
        text = name in ("island", "sex")
        inputs.append(
            {
                "name": name,
                "shape": [len(rows)],
                "datatype": "BYTES" if text else "FP64",
                "data": values,
            }
        )
    body = {"inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    name = client.get("/").get_json()["name"]
    answer = client.post(f"/v2/models/{name}/infer", json=body)
    assert answer.status_code == 200, answer.get_json()
    got = np.array(answer.get_json()["outputs"][0]["data"]).reshape(len(rows), -1)
    np.testing.assert_allclose(got, expected["probabilities"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_oip_integer_tensors_stay_exact(
    counts_dir: Path, make_client: MakeClient, runtime: str
) -> None:
    """INT64's largest value is not a float64: an INT64 tensor holding it is taken as it is."""
    client = make_client(MODEL_URI=str(counts_dir), MODEL_RUNTIME=runtime)
    model = joblib.load(counts_dir / "model.joblib")
    frame = pd.DataFrame({"visits": [3, INT64_MAX], "dose mg": [5.0, 5.0]})
    visits = {"name": "visits", "shape": [2], "datatype": "INT64", "data": [3, INT64_MAX]}
    dose = {"name": "dose mg", "shape": [2], "datatype": "FP64", "data": [5.0, 5.0]}
    infer = f"/v2/models/{client.get('/').get_json()['name']}/infer"
    answer = client.post(infer, json={"inputs": [visits, dose]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["outputs"][0]["data"] == model.predict(frame).tolist()
    beyond = visits | {"datatype": "UINT64", "data": [2**64 - 1, 2**63]}
    outside = COUNTS_OUTSIDE.replace("row 2", "row 1")
    refused(client.post(infer, json={"inputs": [beyond, dose]}), outside)
