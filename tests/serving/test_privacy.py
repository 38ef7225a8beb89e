"""What answers and logs may reveal: a fault inside the model is a bare JSON 500 (the traceback
goes to the log), no answer names a path or a library, and the logs hold sizes and shapes,
never a feature value or a long client string; in process and on real servers."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from serving.manifest import MANIFEST_NAME
from tests.support.answers import (
    LIBRARY_LEAKS,
    PATH_LEAKS,
    assert_error,
    assert_no_internals,
    request_lines,
)
from tests.support.artifacts import edit_manifest, evil_artifact, pin
from tests.support.fixture_types import Logs, MakeClient
from tests.support.servers import Server, start_server

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0
NAMES = [str(n) for n in load_breast_cancer().feature_names]
ROW = load_breast_cancer().data[0].tolist()
# Feature values that appear nowhere else: the logs must never contain them.
SECRET_VALUES = (31337.4242, 27182.8182, 16180.3398)
SECRET = SECRET_VALUES[0]
SECRET_TEXT = "s3cr3t-cell-value"
SECRET_CSV_CELL = "s3cr3t-csv-cell"
EXPLODE = 666.0


# --- a fault inside the model -----------------------------------------------------------------


def test_a_real_fault_is_a_bare_500(
    make_client: MakeClient, model_copy: Path, tmp_path: Path, serving_logs: Logs
) -> None:
    """A verified artifact that is not a model: the fault is logged, the caller learns nothing."""
    (model_copy / "model.joblib").write_bytes(evil_artifact(tmp_path / "unpickled"))
    pin(model_copy, "model.joblib")
    client = make_client(MODEL_URI=str(model_copy), MODEL_RUNTIME="sklearn")
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "f-1"})
    assert assert_error(response, 500, "internal", "f-1") == "internal error"
    assert "NoneType" not in response.get_data(as_text=True)
    faults = [line for line in serving_logs() if line["message"] == "unhandled error"]
    assert len(faults) == 1
    assert faults[0]["request_id"] == "f-1"
    assert "Traceback" in faults[0]["exception"]
    # And the request's own line: the status, the stable code, the request id.
    answered = [line for line in serving_logs() if line["message"] == "POST / 500: internal error"]
    assert [(line["code"], line["request_id"], line["severity"]) for line in answered] == [
        ("internal", "f-1", "ERROR")
    ]


class ExplodingEstimator:
    """Predicts 0, except for rows starting with EXPLODE: then it fails like a buggy library."""

    def predict(self, rows: np.ndarray) -> np.ndarray:
        if rows[0, 0] == EXPLODE:
            raise RuntimeError(f"internal failure in {__file__} with rows {rows[0, :3]}")
        return np.zeros(len(rows), dtype=np.int64)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.full((len(rows), 2), 0.5)


@pytest.fixture
def exploding_model(classifier_dir: Path, tmp_path: Path) -> Path:
    """A model folder with a valid manifest pinning a pickled ExplodingEstimator."""
    folder = tmp_path / "exploding"
    folder.mkdir()
    shutil.copyfile(classifier_dir / MANIFEST_NAME, folder / MANIFEST_NAME)
    joblib.dump(ExplodingEstimator(), folder / "model.joblib")
    edit_manifest(
        folder,
        lambda raw: raw.update(
            artifacts={k: v for k, v in raw["artifacts"].items() if k == "model.joblib"}
        ),
    )
    pin(folder, "model.joblib")
    return folder


@pytest.fixture
def exploding_server(exploding_model: Path) -> Iterator[Server]:
    """A real server whose model raises on demand; its worker can import this module."""
    module = sys.modules[ExplodingEstimator.__module__].__file__
    assert module is not None
    import_roots = [str(Path(module).parent), str(REPO)]
    server = start_server(
        {"MODEL_URI": str(exploding_model), "PYTHONPATH": os.pathsep.join(import_roots)}
    )
    yield server
    server.stop()


def test_a_real_fault_is_a_json_500_without_internals_and_the_next_request_succeeds(
    exploding_server: Server,
) -> None:
    url = exploding_server.url
    bad = requests.post(
        url,
        json={"features": [EXPLODE] + [1.0] * 29},
        headers={"Function-Execution-Id": "boom-1"},
        timeout=TIMEOUT,
    )
    good = requests.post(url, json={"features": [1.0] * 30}, timeout=TIMEOUT)
    health = requests.get(f"{url}/health", timeout=TIMEOUT)
    logs = exploding_server.logs()
    assert bad.status_code == 500
    assert bad.headers["Content-Type"] == "application/json"
    assert bad.json() == {"error": "internal error", "code": "internal", "request_id": "boom-1"}
    assert_no_internals(bad.text)
    assert (good.status_code, good.json()["prediction"]) == (200, 0)
    assert health.status_code == 200
    assert exploding_server.process.poll() is None
    faults = [json.loads(line) for line in logs.splitlines() if '"unhandled error"' in line]
    assert len(faults) == 1
    assert faults[0]["request_id"] == "boom-1"
    assert "RuntimeError: internal failure" in faults[0]["exception"]


# --- what answers and logs hold ---------------------------------------------------------------


def test_feature_values_never_appear_in_logs(client: Any, serving_logs: Logs) -> None:
    row = [SECRET] * 30
    client.post("/", json={"features": row})
    client.post("/", json={"features": row[:29]})
    client.post("/", json={"features": [str(SECRET), *row[:29]]})
    client.post(
        "/", json={"instances": [dict(zip(NAMES, row, strict=True))], "probabilities": True}
    )
    client.post("/", data=json.dumps({"features": row})[:-3], content_type="application/json")
    lines = serving_logs()
    assert len(request_lines(lines)) == 5
    text = json.dumps(lines)
    assert "31337" not in text


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


def secret_row(index: int = 0) -> list[float]:
    return [SECRET_VALUES[index % 3] + i / 1000 for i in range(30)]


def secret_requests(names: list[str]) -> list[tuple[str, str, str, bytes]]:
    """(method, path, content type, body): good and bad, on every route, all holding secrets."""
    row = secret_row()
    keyed = dict(zip(names, row, strict=True))
    short = row[:29]
    csv_rows = "\n".join(",".join(map(str, secret_row(i))) for i in range(3))

    def js(value: Any) -> bytes:
        return json.dumps(value).encode()

    tensor = {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": row}
    posts = [
        ("/", js({"features": row})),
        ("/", js({"instances": [row, secret_row(1)], "probabilities": True})),
        ("/", js({"instances": [keyed]})),
        ("/", js({"features": short})),
        ("/", js({"features": [*short, SECRET_TEXT]})),
        ("/", js({"instances": [row, short]})),
        ("/", js({"features": row, "unknown": 1})),
        ("/", js({"inputs": [tensor]})),
        ("/", js({"inputs": [{**tensor, "shape": [2, 30]}]})),
        ("/invocations", js({"dataframe_split": {"columns": names, "data": [row]}})),
        ("/invocations", js({"dataframe_records": [keyed]})),
        ("/invocations", js({"inputs": [short]})),
        ("/v1/models/breast-cancer:predict", js({"instances": [row]})),
        ("/v1/models/breast-cancer:predict", js({"instances": [short]})),
        ("/v2/models/breast-cancer/infer", js({"inputs": [tensor]})),
        ("/v2/models/breast-cancer/infer", js({"inputs": [{**tensor, "datatype": "BYTES"}]})),
        ("/v2/models/breast-cancer/infer", js({"inputs": [{**tensor, "data": short}]})),
    ]
    calls = [("POST", path, "application/json", body) for path, body in posts]
    calls += [
        ("POST", "/", "text/csv", csv_rows.encode()),
        ("POST", "/invocations", "text/csv", csv_rows.encode()),
        ("POST", "/", "text/plain", js({"features": row})),
        ("GET", "/", "", b""),
    ]
    return calls


@pytest.fixture(scope="module")
def debug_server(serve: Callable[..., Server], classifier_dir: Path) -> Server:
    """A real server logging at DEBUG: even the most talkative logs must hold no values."""
    return serve({"MODEL_URI": str(classifier_dir), "LOG_LEVEL": "DEBUG"})


def send_all(server: Server, names: list[str]) -> list[requests.Response]:
    return [
        requests.request(
            method,
            server.url + path,
            data=body,
            headers={"Content-Type": content_type} if content_type else {},
            timeout=TIMEOUT,
        )
        for method, path, content_type, body in secret_requests(names)
    ]


def test_responses_never_reveal_internals(debug_server: Server, classifier_dir: Path) -> None:
    names = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["feature_names"]
    responses = send_all(debug_server, names)
    statuses = {response.status_code for response in responses}
    assert 200 in statuses
    assert statuses & {400, 415}, "the battery must include refused requests"
    for response in responses:
        assert response.headers["Content-Type"] == "application/json"
        # The metadata answer names libraries on purpose (versions, training data source).
        leaks = PATH_LEAKS + LIBRARY_LEAKS if response.status_code >= 400 else PATH_LEAKS
        assert_no_internals(response.text, leaks)


def test_logs_hold_sizes_and_shapes_never_feature_values(
    debug_server: Server, classifier_dir: Path
) -> None:
    names = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["feature_names"]
    send_all(debug_server, names)
    logs = debug_server.logs()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    served = [line for line in lines if line.get("httpRequest", {}).get("status") == 200]
    assert served, "no request line was logged"
    assert all("rows" in line for line in served if line["httpRequest"]["requestMethod"] == "POST")
    for value in SECRET_VALUES:
        whole = str(int(value))
        assert whole not in logs, f"a feature value ({whole}...) was logged"


def test_a_bad_csv_cell_is_not_logged(debug_server: Server) -> None:
    # A first row that is all numbers, so the second is data, not a header.
    csv_rows = ",".join(["1.0"] * 30) + "\n" + ",".join(["1.0"] * 29 + [SECRET_CSV_CELL])
    response = requests.post(
        debug_server.url, data=csv_rows, headers={"Content-Type": "text/csv"}, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert SECRET_CSV_CELL not in debug_server.logs()


def test_a_bad_json_value_is_not_logged(debug_server: Server) -> None:
    body = {"features": [1.0] * 29 + [SECRET_TEXT]}
    response = requests.post(debug_server.url, json=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert SECRET_TEXT not in debug_server.logs()
