"""The ONNX runtime: chosen when verified, never imports scikit-learn, answers like scikit-learn."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.support.fixture_types import TrainModel
from tests.support.servers import REPO, Server, start_server

HEAVY = ("sklearn", "scipy", "joblib", "pandas")


@pytest.fixture(scope="module")
def onnx_server(serve: Callable[..., Server], classifier_dir: Path) -> Server:
    """A real server on the default runtime choice (auto), with a sys.modules peephole."""
    return serve(
        {"MODEL_URI": str(classifier_dir)},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )


def test_onnx_path_never_imports_scikit_learn(onnx_server: Server) -> None:
    answer = requests.post(onnx_server.url, json={"features": [[1.0] * 30] * 3}, timeout=30)
    metadata = requests.get(onnx_server.url, timeout=30).json()
    modules = requests.get(f"{onnx_server.url}/__test__/modules", timeout=30).json()

    assert answer.status_code == 200
    assert metadata["runtime"] == "onnx"
    assert "onnxruntime" in modules
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []


def test_sklearn_runtime_does_import_scikit_learn(classifier_dir: Path) -> None:
    """The peephole itself can see scikit-learn when it is there (so the test above can fail)."""
    server = start_server(
        {"MODEL_URI": str(classifier_dir), "MODEL_RUNTIME": "sklearn"},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )
    try:
        assert requests.post(server.url, json={"features": [1.0] * 30}, timeout=30).ok
        modules = requests.get(f"{server.url}/__test__/modules", timeout=30).json()
    finally:
        server.stop()
    assert "sklearn" in modules


def _dataset_rows(model_dir: Path) -> np.ndarray:
    from sklearn import datasets

    manifest = json.loads((model_dir / "manifest.json").read_text())
    loader = manifest["training_data"]["source"].rsplit(".", 1)[1]
    return np.asarray(getattr(datasets, loader)().data, dtype=np.float64)


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("key", ["features", "instances"])
def test_both_runtimes_equal_scikit_learn_in_process(
    make_client: Callable[..., object], classifier_dir: Path, runtime: str, key: str
) -> None:
    import joblib

    pipeline = joblib.load(classifier_dir / "model.joblib")
    rows = _dataset_rows(classifier_dir)
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)

    response = client.post("/", json={key: rows.tolist(), "probabilities": True})

    body = response.get_json()
    assert response.status_code == 200
    assert body["predictions"] == pipeline.predict(rows).tolist()
    assert body["classes"] == pipeline.classes_.tolist()
    np.testing.assert_allclose(body["probabilities"], pipeline.predict_proba(rows), atol=1e-12)
    assert client.get("/").get_json()["runtime"] == runtime


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "iris"])
def test_decision_values_on_both_runtimes_equal_scikit_learn(
    make_client: Callable[..., object], train_model: TrainModel, runtime: str, dataset: str
) -> None:
    """train.py exposes the linear classifier's scores as an ONNX output, two classes or more."""
    import joblib

    folder = train_model("--dataset", dataset)
    pipeline = joblib.load(folder / "model.joblib")
    rows = _dataset_rows(folder)
    client = make_client(MODEL_URI=str(folder), MODEL_RUNTIME=runtime)

    body = client.post(
        "/",
        json={"instances": rows.tolist(), "parameters": {"predict_method": "decision_function"}},
    )

    assert body.status_code == 200, body.get_json()
    assert body.get_json()["classes"] == pipeline.classes_.tolist()
    expected = pipeline.decision_function(rows)
    np.testing.assert_allclose(body.get_json()["predictions"], expected, rtol=0, atol=1e-9)
    assert np.shape(body.get_json()["predictions"]) == expected.shape


def test_decision_values_off_parity_are_left_out_of_the_export(
    train_model: TrainModel,
    make_client: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Labels and probabilities still ship through ONNX; decision values then need sklearn."""
    from training import export

    monkeypatch.setattr(export, "check_decision_parity", lambda *args, **kwargs: 1e-3)
    folder = train_model()
    client = make_client(MODEL_URI=str(folder), MODEL_RUNTIME="onnx")

    assert "decision values left out (max difference 0.001 > 1e-09)" in capsys.readouterr().out
    assert (
        "decision_function_max_abs_diff"
        not in json.loads((folder / "manifest.json").read_text())["onnx_parity"]
    )
    row = _dataset_rows(folder)[:1].tolist()
    assert client.post("/", json={"instances": row}).status_code == 200
    refused = client.post(
        "/", json={"instances": row, "parameters": {"predict_method": "decision_function"}}
    )
    assert refused.status_code == 400
    assert "MODEL_RUNTIME=sklearn" in refused.get_json()["error"]


def test_regression_onnx_equals_scikit_learn(
    make_client: Callable[..., object], regressor_dir: Path
) -> None:
    import joblib

    pipeline = joblib.load(regressor_dir / "model.joblib")
    rows = _dataset_rows(regressor_dir)
    client = make_client(MODEL_URI=str(regressor_dir), MODEL_RUNTIME="onnx")

    body = client.post("/", json={"instances": rows.tolist()}).get_json()

    np.testing.assert_allclose(body["predictions"], pipeline.predict(rows), rtol=1e-12)


def test_manifest_records_onnx_parity(classifier_dir: Path) -> None:
    manifest = json.loads((classifier_dir / "manifest.json").read_text())

    parity = manifest["onnx_parity"]
    assert manifest["artifacts"]["model.onnx"]["runtime"] == "onnx"
    assert parity["labels_equal"] is True
    assert parity["max_abs_diff"] <= parity["tolerance"] <= 1e-9
    assert parity["decision_function_max_abs_diff"] <= parity["tolerance"]


@pytest.fixture(scope="module")
def hinge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packaged SGDClassifier with its default hinge loss: decision values, no probabilities."""
    import joblib
    import pandas as pd
    from sklearn.datasets import load_wine
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import train

    folder = tmp_path_factory.mktemp("hinge")
    data = load_wine()
    model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    joblib.dump(model.fit(data.data, data.target), folder / "model.joblib")
    pd.DataFrame(data.data, columns=data.feature_names).to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    assert train.main([*args, "--out", str(folder / "out")]) == 0
    return folder / "out"


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_a_classifier_without_probabilities_serves_its_scores_on_onnx(
    hinge_dir: Path, make_client: Callable[..., object], runtime: str
) -> None:
    """The converter's scores become the decision values; nothing calls them probabilities."""
    import joblib
    from sklearn.datasets import load_wine

    pipeline = joblib.load(hinge_dir / "model.joblib")
    rows = load_wine().data
    client = make_client(MODEL_URI=str(hinge_dir), MODEL_RUNTIME=runtime)
    decision = client.post(
        "/",
        json={"instances": rows.tolist(), "parameters": {"predict_method": "decision_function"}},
    )
    labels = client.post("/", json={"instances": rows.tolist()})
    probabilities = client.post("/", json={"instances": rows[:1].tolist(), "probabilities": True})
    metadata = client.get("/").get_json()
    oip_outputs = client.get(f"/v2/models/{metadata['name']}").get_json()["outputs"]

    assert (hinge_dir / "model.onnx").exists()
    assert metadata["runtime"] == runtime
    assert [output["name"] for output in oip_outputs] == [
        "predict",
        "decision_function",
        "explanations",  # a linear model is explained by its coefficients
    ]
    assert labels.get_json()["predictions"] == pipeline.predict(rows).tolist()
    expected = pipeline.decision_function(rows)
    np.testing.assert_allclose(decision.get_json()["predictions"], expected, rtol=0, atol=1e-9)
    assert probabilities.status_code == 400
    assert (
        "predict_proba (class probabilities) is not available" in probabilities.get_json()["error"]
    )


@pytest.fixture(scope="module")
def unconvertible_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packaged model that has no float64 ONNX: SVR (onnxruntime has no double SVMRegressor)."""
    import joblib
    import pandas as pd
    from sklearn.datasets import load_diabetes
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    import train

    folder = tmp_path_factory.mktemp("unconvertible")
    data = load_diabetes()
    rows = np.asarray(data.data)
    model = make_pipeline(StandardScaler(), SVR()).fit(rows, data.target)
    joblib.dump(model, folder / "model.joblib")
    pd.DataFrame(rows, columns=data.feature_names).to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    assert train.main([*args, "--out", str(folder / "out")]) == 0
    return folder / "out"


def test_unconvertible_model_ships_joblib_only_and_serves_with_sklearn(
    unconvertible_dir: Path, make_client: Callable[..., object]
) -> None:
    client = make_client(MODEL_URI=str(unconvertible_dir))
    manifest = json.loads((unconvertible_dir / "manifest.json").read_text())
    metadata = client.get("/").get_json()

    assert not (unconvertible_dir / "model.onnx").exists()
    assert set(manifest["artifacts"]) == {"model.joblib"}
    assert metadata["runtime"] == "sklearn"
    assert client.post("/", json={"features": [0.1] * 10}).status_code == 200


def test_forcing_onnx_without_an_onnx_artifact_is_a_clear_503(
    unconvertible_dir: Path,
    make_client: Callable[..., object],
    serving_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    client = make_client(MODEL_URI=str(unconvertible_dir), MODEL_RUNTIME="onnx")

    response = client.post(
        "/", json={"features": [0.0] * 10}, headers={"Function-Execution-Id": "o-1"}
    )

    assert response.status_code == 503
    assert response.get_json()["code"] == "model_unavailable"
    logged = [line for line in serving_logs() if line.get("request_id") == "o-1"]
    assert "MODEL_RUNTIME=onnx" in logged[0]["reason"]


def test_the_function_turns_onnxruntime_telemetry_off(
    make_client: Callable[..., object], classifier_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY", raising=False)

    make_client(MODEL_URI=str(classifier_dir))  # executes main.py

    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
