"""What the metadata routes say for every kind of model, and the JSON 404 of the paths the
framework answers itself: its message, request id, media type and log line."""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression
from sklearn.svm import LinearSVC

from serving.loading import LoadedModel
from serving.manifest import MANIFEST_NAME
from serving.protocols.oip_v2 import model_metadata
from serving.protocols.own_routes import model_summary
from serving.runtimes.sklearn_runtime import SklearnRuntime
from serving.schema import Feature
from tests.support.artifacts import edit_manifest
from training.export import serving_manifest

pytestmark = pytest.mark.in_process

MIXED = [
    Feature("size"),
    Feature("count", "integer"),
    Feature("flag", "boolean"),
    Feature("color", "string", categories=("a", "b")),
    Feature("width", nullable=True),
]


def loaded(estimator: Any, features: list[Feature], classes: list[Any] | None) -> LoadedModel:
    task = "regression" if classes is None else "classification"
    manifest = serving_manifest(features, task, classes, on_dataframe=True)
    runtime = SklearnRuntime(estimator, (), sklearn.__version__, manifest)
    return LoadedModel(manifest, "0" * 64, runtime, "local folder", 0.0)


def test_mixed_model_lists_one_input_per_feature() -> None:
    estimator = DummyClassifier().fit(np.zeros((3, 1)), ["x", "y", "z"])
    answer = model_metadata(loaded(estimator, MIXED, ["x", "y", "z"]))
    assert answer["inputs"] == [
        {"name": "size", "datatype": "FP64", "shape": [-1]},
        {"name": "count", "datatype": "INT64", "shape": [-1]},
        {"name": "flag", "datatype": "BOOL", "shape": [-1]},
        {"name": "color", "datatype": "BYTES", "shape": [-1]},
        {"name": "width", "datatype": "FP64", "shape": [-1]},
    ]
    assert answer["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert answer["platform"] == "sklearn_classification"
    assert answer["parameters"]["classes"] == ["x", "y", "z"]
    assert answer["parameters"]["per_feature_inputs"] == (
        "one input of shape [-1] per feature, named after it (FP64 for numbers, BYTES for text; "
        "a missing value is null in BYTES JSON data, an empty element in BYTES binary data)"
    )


def test_one_nullable_number_makes_inputs_per_feature() -> None:
    features = [Feature("a"), Feature("b", nullable=True)]
    estimator = LinearRegression().fit(np.eye(2), [0.0, 1.0])
    answer = model_metadata(loaded(estimator, features, None))
    assert [i["name"] for i in answer["inputs"]] == ["a", "b"]
    plain = model_metadata(loaded(estimator, [Feature("a"), Feature("b")], None))
    assert plain["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 2]}]


@pytest.mark.parametrize(("classes", "shape"), [([0, 1], [-1]), ([0, 1, 2], [-1, 3])])
def test_decision_values_have_one_column_per_class_beyond_two(
    classes: list[int], shape: list[int]
) -> None:
    estimator = LinearSVC().fit(np.eye(5)[: len(classes)], classes)
    features = [Feature(f"x{i}") for i in range(5)]
    outputs = {
        o["name"]: o for o in model_metadata(loaded(estimator, features, classes))["outputs"]
    }
    assert outputs["decision_function"]["shape"] == shape
    assert "predict_proba" not in outputs


def test_regressor_metadata(make_client: Callable[..., Any], regressor_dir: Path) -> None:
    manifest = json.loads((regressor_dir / MANIFEST_NAME).read_bytes())
    client = make_client(MODEL_URI=str(regressor_dir), MODEL_RUNTIME="sklearn")
    answer = client.get(f"/v2/models/{manifest['name']}").get_json()
    assert answer["platform"] == "sklearn_regression"
    assert answer["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [-1]},
        {"name": "explanations", "datatype": "FP64", "shape": [-1, 11]},  # 10 features, base
    ]
    assert answer["parameters"]["classes"] is None
    assert answer["parameters"]["task"] == "regression"
    wrong = client.get(f"/v2/models/{manifest['name']}/versions/0")
    assert wrong.status_code == 404
    assert "version '0' of" in wrong.get_json()["error"]


def test_get_root_states_the_model_its_features_source_and_libraries(
    make_client: Callable[..., Any], classifier_dir: Path
) -> None:
    manifest = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME="sklearn")
    answer = client.get("/").get_json()
    assert set(answer) == {
        "loaded", "name", "model_version", "task", "feature_names", "n_features", "features",
        "fitted_on", "example", "classes", "metrics", "created_at", "runtime", "source",
        "manifest_sha256", "artifacts", "libraries", "training_data", "explanations",
        "warnings",
    }  # fmt: skip
    assert answer["explanations"] == {
        "available": True,
        "method": "linear",
        "output": "margin",
        "outputs": [1],
    }
    assert answer["features"] == manifest["features"]
    assert answer["fitted_on"] == "array"
    assert answer["example"] == manifest["example"]
    assert answer["source"] == "local folder"
    assert answer["runtime"] == "sklearn"
    assert answer["libraries"]["trained_with"] == manifest["libraries"]
    assert answer["libraries"]["serving"] == {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def test_a_folder_written_before_explanations_says_so_on_get_root(
    make_client: Callable[..., Any], classifier_dir: Path, tmp_path: Path
) -> None:
    shutil.copytree(classifier_dir, tmp_path / "old")
    edit_manifest(tmp_path / "old", lambda raw: raw.pop("explanations"))
    client = make_client(MODEL_URI=str(tmp_path / "old"))

    answer = client.get("/").get_json()

    assert answer["explanations"] == {
        "available": False,
        "reason": "the model folder was written without explanations; package it again",
    }


def test_a_model_fitted_on_a_dataframe_says_so() -> None:
    estimator = LinearRegression().fit(np.eye(5), np.arange(5.0))
    assert model_summary(loaded(estimator, MIXED, None))["fitted_on"] == "dataframe"


def test_framework_404_is_json_with_the_request_id_and_a_log_line(
    make_client: Callable[..., Any],
    classifier_dir: Path,
    serving_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    answer = client.get("/favicon.ico", headers={"Function-Execution-Id": "rid-404"})
    assert (answer.status_code, answer.mimetype) == (404, "application/json")
    assert answer.get_json() == {
        "error": "no route '/favicon.ico'",
        "code": "not_found",
        "request_id": "rid-404",
    }
    lines = [line for line in serving_logs() if line.get("code") == "not_found"]
    assert lines[0]["message"] == "GET 404: no route '/favicon.ico'"
    assert lines[0]["request_id"] == "rid-404"
    assert lines[0]["severity"] == "WARNING"


def test_framework_404_cuts_a_long_path_at_200_characters(
    make_client: Callable[..., Any], classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    path = "/" + "a" * 250 + "\n"
    answer = client.get("/" + "a" * 250 + "%0A")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == f"no route {path[:200]!r}"


def test_feature_to_json() -> None:
    assert Feature("a").to_json() == {"name": "a", "type": "number", "nullable": False}
    color = Feature("c", "string", nullable=True, categories=("x", "y"), other_categories=False)
    assert color.to_json() == {
        "name": "c",
        "type": "string",
        "nullable": True,
        "categories": ["x", "y"],
        "other_categories": False,
    }


def test_log_lines_say_what_each_format_answered(
    make_client: Callable[..., Any],
    classifier_dir: Path,
    serving_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    name = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["name"]
    tensor = {"name": "input", "shape": [2, 30], "datatype": "FP64", "data": [1.0] * 60}
    outputs = [{"name": "predict_proba"}]
    assert client.post(f"/v2/models/{name}/infer", json={"inputs": [tensor], "outputs": outputs})
    context = {"output": "probabilities"}
    assert client.post("/", json={"calls": [[1.0] * 30] * 3, "userDefinedContext": context})
    assert client.post("/", json={"instances": [[1.0] * 30], "probabilities": True})
    lines = [line for line in serving_logs() if "httpRequest" in line]
    assert [(line["rows"], line.get("methods")) for line in lines[:1]] == [(2, ["predict_proba"])]
    assert (lines[1]["rows"], lines[1]["methods"]) == (3, ["predict_proba"])
    assert (lines[2]["rows"], lines[2]["methods"]) == (1, ["predict", "predict_proba"])


def test_onnx_overflow_names_the_row(make_client: Callable[..., Any], classifier_dir: Path) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME="onnx")
    for method in ("predict", "decision_function"):
        body = {"instances": [[1.0] * 30, [1e308] * 30], "parameters": {"predict_method": method}}
        answer = client.post("/", json=body)
        assert answer.status_code == 400
        assert answer.get_json()["code"] == "not_finite"
        assert "its output for row 2 is not a finite number" in answer.get_json()["error"]


def test_every_format_hands_its_scored_rows_to_the_prediction_log(
    make_client: Callable[..., Any],
    classifier_dir: Path,
    serving_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), PREDICTION_LOG_RATE="1")
    name = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["name"]
    rows = [[1.0] * 30, [2.0] * 30]
    tensor = {"name": "input", "shape": [2, 30], "datatype": "FP64", "data": rows[0] + rows[1]}
    labels = client.post("/", json={"instances": rows}).get_json()["predictions"]
    binary = {"inputs": [tensor], "parameters": {"binary_data_output": True}}
    requests = [
        ("/", {"calls": rows}),
        (f"/v2/models/{name}/infer", {"inputs": [tensor]}),
        (f"/v2/models/{name}/infer", binary),
        ("/invocations", {"dataframe_split": {"data": rows}}),
    ]
    for path, body in requests:
        assert client.post(path, json=body).status_code == 200
    entries = [line["prediction_log"] for line in serving_logs() if "prediction_log" in line]
    assert len(entries) == 1 + len(requests)
    for entry in entries:
        assert entry["outputs"] == labels
        assert len(entry["rows"]) == 2


def test_every_route_of_a_fresh_app(make_client: Callable[..., Any], classifier_dir: Path) -> None:
    """Built in this test, so a mutation run maps the route table to it."""
    manifest = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())
    name, version = manifest["name"], manifest["model_version"]
    client = make_client(
        MODEL_URI=str(classifier_dir), AIP_PREDICT_ROUTE="/vx/predict", AIP_HEALTH_ROUTE="/vx/ok"
    )
    row = {"instances": [[1.0] * 30]}
    posts = ["/", "/predict", "/vx/predict", "/invocations", f"/v1/models/{name}:predict"]
    for path in posts:
        assert client.post(path, json=row).status_code == 200, path
        assert client.get(path).status_code in (200, 405), path
    tensor = {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}
    infer = client.post(f"/v2/models/{name}/infer", json={"inputs": [tensor]})
    assert infer.status_code == 200
    gets = ["/", "/health", "/ping", "/vx/ok", "/version", "/docs", "/assets/card.css"]
    gets += ["/v1/models", f"/v1/models/{name}", "/v2", "/v2/health/live", "/v2/health/ready"]
    gets += [f"/v2/models/{name}", f"/v2/models/{name}/versions/{version}/ready"]
    for path in gets:
        assert client.get(path).status_code == 200, path
    for path in ("/predict", "/invocations", f"/v1/models/{name}:predict"):
        answer = client.get(path)
        assert (answer.status_code, answer.headers["Allow"]) == (405, "POST"), path
    for path in ("/health", "/version", "/v2"):
        answer = client.post(path, json=row)
        assert (answer.status_code, answer.headers["Allow"]) == (405, "GET, HEAD"), path
    missing = client.get("/nowhere").get_json()["error"]
    assert missing.startswith("no route /nowhere; routes: /, /predict, /docs, /health")


def test_gcs_uri_parts() -> None:
    from serving.storage import is_gcs_uri, parse_gcs_uri

    assert parse_gcs_uri("gs://bucket") == ("bucket", "")
    assert parse_gcs_uri("gs://bucket/") == ("bucket", "")
    assert parse_gcs_uri("gs://bucket//models/v1//") == ("bucket", "models/v1/")
    for bad in ("gs://", "gs:///models", "gs://bu#cket/x", "gs://b ucket/x", "gs://b*/x"):
        with pytest.raises(ValueError, match="must look like gs:") as caught:
            parse_gcs_uri(bad)
        assert str(caught.value) == f"{bad!r} must look like gs://BUCKET/PREFIX/"
    assert is_gcs_uri("gs://b/x")
    assert not is_gcs_uri("/srv/gs://b")
