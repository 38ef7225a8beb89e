"""Hostile input, round two: each defect a probe found, tested where a client would meet it."""

from __future__ import annotations

import json
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from tests.conftest import TrainModel
from tests.servers import Server, start_server
from tests.test_fuzz import exchange
from tests.test_train import write_csv

MakeClient = Callable[..., Any]
HUGE = [1e308] * 30


@pytest.fixture(scope="module")
def integer_names_dir(train_model: TrainModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a CSV whose header is 0,1,2,3,y: its feature names look like numbers."""
    rows = [[i % 7, (i * 3) % 5, i % 2, (i * 5) % 11, "yes" if i % 3 else "no"] for i in range(60)]
    data = write_csv(tmp_path_factory.mktemp("csv") / "digits.csv", ["0", "1", "2", "3", "y"], rows)
    return train_model("--data", str(data), "--target", "y")


@pytest.fixture(scope="module")
def digits_server(integer_names_dir: Path) -> Iterator[Server]:
    running = start_server({"MODEL_URI": str(integer_names_dir)})
    yield running
    running.stop()


def test_dataframe_split_with_integer_column_labels(digits_server: Server) -> None:
    """Columns [3, 2, 1, 0] (numbers, reversed) name features "3", "2", "1", "0"."""
    from tests.test_protocols_server import mlflow_client

    split = {"columns": [3, 0, 2, 1], "data": [[0.3, 0.5, -0.2, 1.0]]}
    by_number = requests.post(
        f"{digits_server.url}/invocations", json={"dataframe_split": split}, timeout=30
    )
    in_order = requests.post(
        f"{digits_server.url}/invocations", json={"instances": [[0.5, 1.0, -0.2, 0.3]]}, timeout=30
    )
    assert by_number.status_code == 200, by_number.text
    assert by_number.json()["predictions"] == in_order.json()["predictions"]
    frame = pd.DataFrame([[0.3, 0.5, -0.2, 1.0]], columns=[3, 0, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's own import-time warnings
        answer = mlflow_client(digits_server).invoke(frame).get_predictions()
    assert answer.iloc[:, 0].tolist() == in_order.json()["predictions"]


def test_csv_header_of_numeric_names_is_a_header(digits_server: Server) -> None:
    """`3,2,1,0` names the features (reordered), it is not a data row."""
    answer = requests.post(
        digits_server.url,
        data="3,2,1,0\n0.3,-0.2,1.0,0.5\n",
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).json()
    in_order = requests.post(
        digits_server.url, json={"instances": [[0.5, 1.0, -0.2, 0.3]]}, timeout=30
    ).json()
    assert answer["predictions"] == in_order["predictions"]


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("probabilities", [True, False])
def test_huge_finite_numbers_are_a_400_naming_the_row(
    make_client: MakeClient, classifier_dir: Path, runtime: str, probabilities: bool
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)
    rows = [[1.0] * 30, HUGE]
    answer = client.post("/", json={"instances": rows, "probabilities": probabilities})
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["code"] == "not_finite"
    assert "overflows the model's arithmetic" in body["error"]
    if runtime == "onnx":
        assert "row 1" in body["error"]


def test_huge_numbers_leave_only_json_lines_in_the_log(server: Server) -> None:
    answer = requests.post(server.url, json={"features": HUGE, "probabilities": True}, timeout=30)
    assert answer.status_code == 400
    for line in server.logs().splitlines():
        if line.startswith("{"):
            json.loads(line)
        else:
            assert "Warning" not in line, line


def test_duplicate_feature_names_in_a_manifest_are_a_503_not_a_500(
    make_client: MakeClient, model_copy: Path, serving_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["feature_names"][1] = manifest["feature_names"][0]
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    client = make_client(MODEL_URI=str(model_copy))
    answer = client.post(
        "/", json={"features": [1.0] * 30}, headers={"Function-Execution-Id": "d-1"}
    )
    assert answer.status_code == 503
    assert "feature_names" not in answer.get_json()["error"]
    logged = [line for line in serving_logs() if line.get("request_id") == "d-1"]
    assert "feature_names must not repeat a name" in logged[0]["reason"]


def test_csv_with_a_byte_order_mark(make_client: MakeClient, classifier_dir: Path) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    names = client.get("/").get_json()["feature_names"]
    body = ",".join(f'"{n}"' for n in names) + "\n" + ",".join(["1.0"] * 30) + "\n"
    with_mark = client.post("/", data=b"\xef\xbb\xbf" + body.encode(), content_type="text/csv")
    plain = client.post("/", data=body.encode(), content_type="text/csv")
    assert with_mark.status_code == 200, with_mark.get_json()
    assert with_mark.get_json() == plain.get_json()


def test_csv_typo_in_the_only_row_names_the_cell(client: Any) -> None:
    answer = client.post("/", data="1," * 29 + "x1\n", content_type="text/csv").get_json()
    assert (
        answer["error"] == "row 0, feature 'worst fractal dimension': expected a number, got text"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": [1.0] * 30, "parameters": {"predict_method": "x" * 3_000_000}}, "method"),
        ({"features": [1.0] * 30, "z" * 3_000_000: 1}, "field"),
        (
            {"inputs": [{"name": "y" * 3_000_000, "shape": [1], "datatype": "X", "data": [1]}]},
            "input",
        ),
    ],
)
def test_client_strings_are_cut_short_in_answers_and_logs(
    client: Any, serving_logs: Callable[[], list[dict[str, Any]]], body: Any, field: str
) -> None:
    answer = client.post("/", json=body)
    assert answer.status_code == 400
    assert len(answer.data) < 2000
    assert "..." in answer.get_json()["error"]
    assert all(len(json.dumps(line)) < 4000 for line in serving_logs())


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"instances": [' + b"[]," * 3_400_000 + b"[]]}", "application/json"),
        (b"a\n" + b"1\n" * 5_000_000, "text/csv"),
    ],
)
def test_row_count_is_refused_before_building_every_row(
    client: Any, body: bytes, content_type: str
) -> None:
    """A body of empty rows under the size limit: refused by count, holding little more than
    the body itself (which the framework already holds)."""
    tracemalloc.start()
    try:
        answer = client.post("/", data=body, content_type=content_type)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 422
    assert "at most 10000 rows per request (MAX_ROWS)" in answer.get_json()["error"]
    assert peak < 3 * len(body) + 8_000_000


def test_long_host_label_gets_json(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    wire = f"GET / HTTP/1.1\r\nHost: {'a' * 64}.example\r\nConnection: close\r\n\r\n".encode()
    status, body = exchange(host, port, wire)
    assert status == 400
    assert body["code"] == "bad_request"


def test_kserve_client_body_naming_the_model(client: Any) -> None:
    """KServe's InferenceRESTClient puts model_name (and may put model_version) in the body."""
    name = client.get("/").get_json()["name"]
    tensor = {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}
    good = {"model_name": name, "inputs": [tensor]}
    assert client.post(f"/v2/models/{name}/infer", json=good).status_code == 200
    wrong = client.post(f"/v2/models/{name}/infer", json={**good, "model_name": "other"})
    assert wrong.status_code == 404
    assert "model 'other' is not served here" in wrong.get_json()["error"]


def test_post_predict_answers_as_the_base_url(client: Any) -> None:
    body = {"features": [[1.0] * 30, [2.0] * 30], "probabilities": True}
    assert client.post("/predict", json=body).get_json() == client.post("/", json=body).get_json()
