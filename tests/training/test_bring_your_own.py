"""A model trained elsewhere, on a DataFrame with text and gaps: packaged by
`train.py --from-model`, served by a real server, asked through every request format by real
clients, and compared with the same model's in-process `predict(DataFrame)`."""

from __future__ import annotations

import io
import json
import re
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton

import train
from tests.support.clients import mlflow_client, triton_client
from tests.support.penguins_data import PENGUINS, TEXT, penguins, records, run_user_script
from tests.support.servers import REPO, Server, start_server

USER_SCRIPT = re.search(
    r"```python\n(# my_pipeline\.py.*?)```", (REPO / "docs" / "models.md").read_text(), re.DOTALL
)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/models.md's my_pipeline.py run as the user would, then `train.py --from-model`."""
    assert USER_SCRIPT, "docs/models.md shows the user's training script"
    folder = tmp_path_factory.mktemp("byo")
    run_user_script(USER_SCRIPT.group(1), folder, str(PENGUINS))
    args = ["--from-model", str(folder / "penguins.joblib"), "--data", str(PENGUINS)]
    assert train.main([*args, "--target", "species", "--out", str(folder / "model")]) == 0
    return folder / "model"


@pytest.fixture(scope="module")
def user_model(packaged: Path) -> Any:
    return joblib.load(packaged / "model.joblib")


@pytest.fixture(scope="module", params=["onnx", "sklearn"])
def packaged_server(packaged: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    running = start_server(
        {"MODEL_URI": str(packaged), "MODEL_RUNTIME": request.param},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )
    yield running
    running.stop()


def assert_same(answer: dict[str, Any], model: Any, frame: pd.DataFrame) -> None:
    assert answer["predictions"] == model.predict(frame).tolist()
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(frame), atol=1e-9)


def test_manifest_has_the_typed_schema(packaged: Path) -> None:
    manifest = json.loads((packaged / "manifest.json").read_text())
    features = {f["name"]: f for f in manifest["features"]}
    assert manifest["fitted_on"] == "dataframe"
    assert features["island"] == {
        "name": "island",
        "type": "string",
        "nullable": True,
        "categories": ["Biscoe", "Dream", "Torgersen"],
        "other_categories": True,
    }
    assert features["bill_length_mm"] == {
        "name": "bill_length_mm",
        "type": "number",
        "nullable": True,
    }
    assert features["year"]["type"] == "integer"
    assert set(manifest["artifacts"]) == {
        "model.joblib",
        "model.onnx",
        "model.bigquery.onnx",
        "explanations.npz",
    }
    assert manifest["onnx_parity"]["labels_equal"] is True
    # The 344 sample rows, and one edge row per missing value, "" and unseen text, and each
    # end of int64 the model takes (training/probe.py's with_edge_rows).
    edges = sum(f["nullable"] for f in manifest["features"])
    edges += sum(2 for f in manifest["features"] if f["type"] == "string")
    edges += sum(2 for f in manifest["features"] if f["type"] == "integer")
    assert manifest["onnx_parity"]["rows"] == 344 + edges
    assert manifest["source"]["packaged_from"] == "penguins.joblib"
    assert 0.9 < manifest["metrics"]["accuracy"] <= 1


def test_rows_by_name_and_by_position(packaged_server: Server, user_model: Any) -> None:
    frame = penguins()
    by_name = requests.post(
        packaged_server.url, json={"instances": records(frame), "probabilities": True}, timeout=30
    ).json()
    positional = [list(row.values()) for row in records(frame)]
    by_position = requests.post(
        f"{packaged_server.url}/predict",
        json={"instances": positional, "probabilities": True},
        timeout=30,
    ).json()
    assert_same(by_name, user_model, frame)
    assert_same(by_position, user_model, frame)


def test_csv_with_empty_cells(packaged_server: Server, user_model: Any) -> None:
    frame = penguins()
    body = frame.sample(frac=1.0, axis=1, random_state=3).to_csv(index=False, na_rep="")
    answer = requests.post(
        f"{packaged_server.url}/?predict_method=predict_proba",
        data=body,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).json()
    assert answer["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    np.testing.assert_allclose(answer["predictions"], user_model.predict_proba(frame), atol=1e-9)


def test_mlflow_client_with_a_dataframe(packaged_server: Server, user_model: Any) -> None:
    frame = penguins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' to_json and MLflow's own warnings, not ours
        answer = mlflow_client(packaged_server).invoke(frame).get_predictions()
    assert answer.iloc[:, 0].tolist() == user_model.predict(frame).tolist()
    split = requests.post(
        f"{packaged_server.url}/invocations",
        json={"dataframe_records": records(frame), "params": {"predict_method": "predict"}},
        timeout=30,
    ).json()
    assert split["predictions"] == user_model.predict(frame).tolist()


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_one_input_per_feature(
    packaged_server: Server, user_model: Any, binary: bool
) -> None:
    """BYTES for text ("" for a gap), FP64 for numbers (NaN for a gap: binary data only, as
    JSON has no NaN), INT64 for the year."""
    frame = penguins() if binary else penguins([0, 150, 200, 300])
    inputs = []
    for name in frame.columns:
        if name in TEXT:
            values = np.array([v if isinstance(v, str) else "" for v in frame[name]], dtype=object)
            tensor = triton.InferInput(name, [len(frame)], "BYTES")
        elif name == "year":
            values = frame[name].to_numpy(np.int64)
            tensor = triton.InferInput(name, [len(frame)], "INT64")
        else:
            values = frame[name].to_numpy(np.float64)
            tensor = triton.InferInput(name, [len(frame)], "FP64")
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("predict", "predict_proba")
    ]
    client = triton_client(packaged_server)
    result = client.infer("penguins", inputs, outputs=outputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict")]
    assert labels == user_model.predict(frame).tolist()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), user_model.predict_proba(frame), atol=1e-9
    )
    metadata = client.get_model_metadata("penguins")
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]}["island"] == "BYTES"


def test_kserve_v1_and_vertex_instances(packaged_server: Server, user_model: Any) -> None:
    frame = penguins()
    v1 = requests.post(
        f"{packaged_server.url}/v1/models/penguins:predict",
        json={"instances": records(frame)},
        timeout=30,
    ).json()
    assert v1["predictions"] == user_model.predict(frame).tolist()


def test_pandas_only_for_the_scikit_learn_runtime(packaged_server: Server) -> None:
    assert requests.post(
        packaged_server.url, json={"instances": records(penguins())}, timeout=30
    ).ok
    runtime = requests.get(packaged_server.url, timeout=30).json()["runtime"]
    modules = requests.get(f"{packaged_server.url}/__test__/modules", timeout=30).json()
    heavy = {m.split(".")[0] for m in modules} & {"pandas", "sklearn", "scipy", "joblib"}
    assert heavy == (set() if runtime == "onnx" else {"pandas", "sklearn", "scipy", "joblib"})


def test_models_page_walkthrough_curl(packaged_server: Server, user_model: Any) -> None:
    """docs/models.md's curl with a text field and a null, against this server."""
    page = (REPO / "docs" / "models.md").read_text()
    command = next(
        line
        for line in page.splitlines()
        if line.startswith("curl -s -X POST http://127.0.0.1:8081")
    )
    done = subprocess.run(
        ["bash", "-c", command.replace("http://127.0.0.1:8081", packaged_server.url)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(done.stdout)
    row = json.loads(re.search(r"-d '(.*)'", command).group(1))["instances"]  # type: ignore[union-attr]
    # In-process, the row reads as the user's script reads its CSV: a gap is NaN.
    frame = pd.read_csv(io.StringIO(pd.DataFrame(row).to_csv(index=False)))
    frame[TEXT] = frame[TEXT].astype(object)
    assert_same(answer, user_model, frame)
    shown = json.loads(page[page.index(command) :].split("```json\n", 1)[1].split("```")[0])
    assert answer["predictions"] == shown["predictions"]
    np.testing.assert_allclose(answer["probabilities"], shown["probabilities"], atol=5e-5)
