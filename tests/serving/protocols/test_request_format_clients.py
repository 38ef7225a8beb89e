"""Every request format against a real functions-framework server, with real client libraries
(tritonclient, MLflow's ScoringServerClient), on both runtimes; answers equal in-process ones.
Then a model whose feature names look like numbers, by column label and by CSV header. The
parsers alone: tests/serving/protocols/test_request_formats.py."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from sklearn.datasets import load_breast_cancer
from tritonclient.utils import InferenceServerException

from serving.batch import Table
from serving.loading import LoadedModel, load_model
from serving.settings import Settings
from tests.support.clients import mlflow_client, triton_client
from tests.support.csv_data import write_csv
from tests.support.fixture_types import TrainModel
from tests.support.servers import Server, start_server

ROWS = load_breast_cancer().data[[0, 1, 19, 20, 21, 568]]
VERTEX = {"AIP_PREDICT_ROUTE": "/vertex/predict", "AIP_HEALTH_ROUTE": "/vertex/health"}
TIMEOUT = 10


@pytest.fixture(scope="module", params=["onnx", "sklearn"])
def served(request: pytest.FixtureRequest, classifier_dir: Path) -> Iterator[tuple[Server, Any]]:
    """A real server for one runtime, and the same runtime loaded in-process."""
    runtime = request.param
    env = {"MODEL_URI": str(classifier_dir), "MODEL_RUNTIME": runtime, **VERTEX}
    server = start_server(env)
    try:
        model = load_model(Settings.from_env(env))
        requests.get(f"{server.url}/health", timeout=30).raise_for_status()
        yield server, model
    finally:
        server.stop()


def expected(model: LoadedModel, method: str, rows: np.ndarray = ROWS) -> list[Any]:
    """In-process answers from the same runtime."""
    return np.asarray(model.runtime.run(Table.from_matrix(rows), (method,))[method]).tolist()


def test_tritonclient_health_metadata_and_infer(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    client = triton_client(server)
    name = model.manifest.name
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready(name)
        assert client.is_model_ready(name, model.manifest.model_version)
        assert not client.is_model_ready("other-model")
        metadata = client.get_model_metadata(name)
        tensor = triton.InferInput("input", list(ROWS.shape), "FP64")
        tensor.set_data_from_numpy(ROWS, binary_data=False)
        outputs = [triton.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
        result = client.infer(name, [tensor], outputs=outputs, request_id="req-7")
        with pytest.raises(InferenceServerException, match="this function serves 'breast-cancer'"):
            client.infer("other-model", [tensor])
    finally:
        client.close()
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 30]}]
    outputs_meta = {o["name"]: o for o in metadata["outputs"]}
    assert outputs_meta["predict"]["datatype"] == "INT64"
    assert outputs_meta["predict_proba"]["shape"] == [-1, 2]
    assert outputs_meta["decision_function"] == {
        "name": "decision_function",
        "datatype": "FP64",
        "shape": [-1],
    }
    assert metadata["parameters"]["classes"] == [0, 1]
    response = result.get_response()
    assert response["id"] == "req-7"
    assert response["model_version"] == model.manifest.model_version
    assert result.as_numpy("predict").tolist() == expected(model, "predict")
    assert result.as_numpy("predict_proba").tolist() == expected(model, "predict_proba")


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("FP64", ROWS),
        ("FP32", ROWS.astype(np.float32)),
        ("INT64", ROWS.round().astype(np.int64)),
        ("BYTES", ROWS.astype(str).astype(object)),
    ],
)
def test_tritonclient_binary_inputs_by_default(
    served: tuple[Server, LoadedModel], datatype: str, values: np.ndarray
) -> None:
    """tritonclient sends and asks for binary tensor data unless told otherwise: it works
    unchanged, and gets binary outputs where it asks for them."""
    server, model = served
    client = triton_client(server)
    try:
        assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        tensor = triton.InferInput("input", list(values.shape), datatype)
        tensor.set_data_from_numpy(values)
        outputs = [
            triton.InferRequestedOutput("predict"),
            triton.InferRequestedOutput("predict_proba", binary_data=False),
        ]
        result = client.infer(model.manifest.name, [tensor], outputs=outputs)
        no_outputs_named = client.infer(model.manifest.name, [tensor])
    finally:
        client.close()
    rows = values.astype(np.float64)
    assert result.as_numpy("predict").tolist() == expected(model, "predict", rows)
    assert result.as_numpy("predict_proba").tolist() == expected(model, "predict_proba", rows)
    assert no_outputs_named.as_numpy("predict").tolist() == expected(model, "predict", rows)
    labels, probabilities = result.get_output("predict"), result.get_output("predict_proba")
    assert "data" not in labels
    assert labels["parameters"] == {"binary_data_size": 8 * len(rows)}
    assert "parameters" not in probabilities
    assert len(probabilities["data"]) == 2 * len(rows)
    assert "data" not in no_outputs_named.get_output("predict")


def test_tritonclient_binary_per_feature_inputs(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    client = triton_client(server)
    tensors = []
    for i, name in enumerate(model.manifest.feature_names):
        tensor = triton.InferInput(name, [len(ROWS)], "FP64")
        tensor.set_data_from_numpy(np.ascontiguousarray(ROWS[:, i]))
        tensors.append(tensor)
    try:
        result = client.infer(model.manifest.name, tensors)
    finally:
        client.close()
    assert result.as_numpy("predict").tolist() == expected(model, "predict")


@pytest.mark.parametrize("path", ["/", "/v1/models/breast-cancer:predict"])
def test_binary_outputs_only_on_the_oip_infer_route(
    served: tuple[Server, LoadedModel], path: str
) -> None:
    """The base URL and KServe v1 take OIP bodies too, but answer JSON whatever they ask."""
    server, model = served
    tensor = {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": ROWS[0].tolist()}
    body = {"inputs": [tensor], "parameters": {"binary_data_output": True}}
    answer = requests.post(f"{server.url}{path}", json=body, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["outputs"][0]["data"] == expected(model, "predict", ROWS[:1])


@pytest.mark.parametrize(
    ("body", "headers", "fragment"),
    [
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "99"}, "JSON part's length"),
        (
            b'{"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", '
            b'"parameters": {"binary_data_size": 240}}]}' + bytes(240),
            {},
            "Inference-Header-Content-Length header",
        ),
        (b'{"inputs": []}' + bytes(8), {"Inference-Header-Content-Length": "14"}, "add up to 0"),
        (b'{"id": "x"}' + bytes(8), {"Inference-Header-Content-Length": "11"}, "no inputs"),
    ],
)
def test_broken_binary_requests_are_400_saying_why(
    served: tuple[Server, LoadedModel], body: bytes, headers: dict[str, str], fragment: str
) -> None:
    server, model = served
    answer = requests.post(
        f"{server.url}/v2/models/{model.manifest.name}/infer",
        data=body,
        headers={"Content-Type": "application/octet-stream", **headers},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


def test_oip_per_feature_inputs_fp32_and_decision_values(
    served: tuple[Server, LoadedModel],
) -> None:
    server, model = served
    names = model.manifest.feature_names
    per_feature = [
        {"name": n, "shape": [len(ROWS)], "datatype": "FP64", "data": ROWS[:, i].tolist()}
        for i, n in enumerate(names)
    ]
    url = f"{server.url}/v2/models/{model.manifest.name}/infer"
    by_feature = requests.post(url, json={"inputs": per_feature}, timeout=TIMEOUT)
    fp32 = ROWS.astype(np.float32)
    nested = {"name": "x", "shape": list(ROWS.shape), "datatype": "FP32", "data": fp32.tolist()}
    as_fp32 = requests.post(url, json={"inputs": [nested]}, timeout=TIMEOUT)
    decision = requests.post(
        url,
        json={"inputs": [nested], "outputs": [{"name": "decision_function"}]},
        timeout=TIMEOUT,
    )
    assert by_feature.status_code == 200
    assert by_feature.json()["outputs"][0]["data"] == expected(model, "predict")
    assert as_fp32.json()["outputs"][0]["data"] == expected(
        model, "predict", fp32.astype(np.float64)
    )
    assert decision.status_code == 200
    assert decision.json()["outputs"][0]["data"] == expected(
        model, "decision_function", fp32.astype(np.float64)
    )


def test_mlflow_scoring_server_client(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    client = mlflow_client(server)
    client.ping()
    frame = pd.DataFrame(ROWS, columns=list(model.manifest.feature_names))
    labels = client.invoke(frame).get_predictions(predictions_format="ndarray")
    shuffled = frame[list(reversed(frame.columns))]
    probabilities = client.invoke(shuffled, params={"predict_method": "predict_proba"})
    from_array = client.invoke(ROWS).get_predictions(predictions_format="ndarray")
    assert labels.tolist() == expected(model, "predict")
    assert from_array.tolist() == expected(model, "predict")
    assert probabilities["predictions"] == expected(model, "predict_proba")
    assert probabilities["classes"] == [0, 1]


def test_mlflow_records_and_csv(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    names = list(model.manifest.feature_names)
    records = [dict(zip(names, row, strict=True)) for row in ROWS.tolist()]
    by_records = requests.post(
        f"{server.url}/invocations", json={"dataframe_records": records}, timeout=TIMEOUT
    )
    text = io.StringIO()
    pd.DataFrame(ROWS, columns=names).to_csv(text, index=False)
    csv_headed = requests.post(
        f"{server.url}/invocations",
        data=text.getvalue(),
        headers={"Content-Type": "text/csv"},
        timeout=TIMEOUT,
    )
    bare = "\n".join(",".join(repr(v) for v in row) for row in ROWS.tolist())
    csv_bare = requests.post(
        f"{server.url}/?predict_method=predict_proba",
        data=bare,
        headers={"Content-Type": "text/csv"},
        timeout=TIMEOUT,
    )
    assert by_records.json()["predictions"] == expected(model, "predict")
    assert csv_headed.json()["predictions"] == expected(model, "predict")
    assert csv_bare.json()["predictions"] == expected(model, "predict_proba")
    assert requests.get(f"{server.url}/version", timeout=TIMEOUT).status_code == 200


def test_kserve_v1_as_its_clients_send_it(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    base = f"{server.url}/v1/models/{model.manifest.name}"
    ready = requests.get(base, timeout=TIMEOUT)
    instances = requests.post(f"{base}:predict", json={"instances": ROWS.tolist()}, timeout=TIMEOUT)
    inputs = requests.post(
        f"{base}:predict",
        json={"inputs": ROWS.tolist(), "parameters": {"predict_method": "predict_proba"}},
        timeout=TIMEOUT,
    )
    wrong = requests.post(
        f"{server.url}/v1/models/iris:predict", json={"instances": ROWS.tolist()}, timeout=TIMEOUT
    )
    assert ready.json() == {"name": model.manifest.name, "ready": True}
    assert instances.json()["predictions"] == expected(model, "predict")
    assert inputs.json()["predictions"] == expected(model, "predict_proba")
    assert wrong.status_code == 404
    assert "'breast-cancer'" in wrong.json()["error"]


def test_vertex_routes_and_base_url(served: tuple[Server, LoadedModel]) -> None:
    server, model = served
    body = {"instances": ROWS.tolist(), "parameters": {"predict_method": "predict_proba"}}
    routed = requests.post(f"{server.url}/vertex/predict", json=body, timeout=TIMEOUT)
    base = requests.post(server.url, json=body, timeout=TIMEOUT)
    health = requests.get(f"{server.url}/vertex/health", timeout=TIMEOUT)
    assert routed.json()["predictions"] == expected(model, "predict_proba")
    assert base.json() == routed.json()
    assert health.status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instances": [[1.0] * 30], "inputs": [[1.0] * 30]}, "more than one format"),
        ({"dataframe_split": {"data": [[1.0] * 30]}, "features": [1.0] * 30}, "more than one"),
        ({"rows": [[1.0] * 30]}, "no accepted format"),
    ],
)
def test_base_url_refuses_ambiguous_or_unknown_bodies(
    served: tuple[Server, LoadedModel], body: dict[str, Any], fragment: str
) -> None:
    server, _ = served
    response = requests.post(server.url, json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert "accepted shapes" in response.json()["error"]


# --- feature names that look like numbers -----------------------------------------------------


@pytest.fixture(scope="module")
def integer_names_dir(train_model: TrainModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a CSV whose header is 0,1,2,3,y: its feature names look like numbers."""
    rows = [[i % 7, (i * 3) % 5, i % 2, (i * 5) % 11, "yes" if i % 3 else "no"] for i in range(60)]
    data = write_csv(tmp_path_factory.mktemp("csv") / "digits.csv", ["0", "1", "2", "3", "y"], rows)
    return train_model("--data", str(data), "--target", "y")


@pytest.fixture(scope="module")
def numeric_names_server(serve: Callable[..., Server], integer_names_dir: Path) -> Server:
    return serve({"MODEL_URI": str(integer_names_dir)})


def test_dataframe_split_with_integer_column_labels(numeric_names_server: Server) -> None:
    """Columns [3, 2, 1, 0] (numbers, reversed) name features "3", "2", "1", "0"."""
    split = {"columns": [3, 0, 2, 1], "data": [[0.3, 0.5, -0.2, 1.0]]}
    by_number = requests.post(
        f"{numeric_names_server.url}/invocations", json={"dataframe_split": split}, timeout=30
    )
    in_order = requests.post(
        f"{numeric_names_server.url}/invocations",
        json={"instances": [[0.5, 1.0, -0.2, 0.3]]},
        timeout=30,
    )
    assert by_number.status_code == 200, by_number.text
    assert by_number.json()["predictions"] == in_order.json()["predictions"]
    frame = pd.DataFrame([[0.3, 0.5, -0.2, 1.0]], columns=[3, 0, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own import-time warnings
        answer = mlflow_client(numeric_names_server).invoke(frame).get_predictions()
    assert answer.iloc[:, 0].tolist() == in_order.json()["predictions"]


def test_csv_header_of_numeric_names_is_a_header(numeric_names_server: Server) -> None:
    """`3,2,1,0` names the features (reordered), it is not a data row."""
    answer = requests.post(
        numeric_names_server.url,
        data="3,2,1,0\n0.3,-0.2,1.0,0.5\n",
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).json()
    in_order = requests.post(
        numeric_names_server.url, json={"instances": [[0.5, 1.0, -0.2, 0.3]]}, timeout=30
    ).json()
    assert answer["predictions"] == in_order["predictions"]
