"""The function's own format and routes: answers equal the model's, GET / and /health, and the
one JSON error for every refused request; through the real framework in process, then over
real HTTP. Limits: tests/serving/test_limits.py; a broken model: tests/serving/test_integrity.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes

from serving.manifest import MANIFEST_NAME, sha256_hex
from tests.support.answers import assert_error
from tests.support.artifacts import edit_manifest
from tests.support.fixture_types import Logs, MakeClient
from tests.support.fuzz_cases import send
from tests.support.fuzz_targets import Case
from tests.support.raw_http import exchange
from tests.support.servers import Server

pytestmark = pytest.mark.in_process

CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)
DIABETES = np.asarray(load_diabetes().data, dtype=np.float64)
NAMES = [str(n) for n in load_breast_cancer().feature_names]
ROW = CANCER[0].tolist()
# What the docs promise between the ONNX answers and scikit-learn's, written here, not read from
# the manifest the code under test wrote (a loosened gate would loosen the test with it).
PROMISED_PARITY = 1e-9
HUGE = [1e308] * 30


# --- predictions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("runtime", "served_by"), [("sklearn", "sklearn"), ("onnx", "onnx")])
def test_predictions_equal_model_predict_exactly(
    make_client: MakeClient, classifier_dir: Path, runtime: str, served_by: str
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)
    model = joblib.load(classifier_dir / "model.joblib")
    response = client.post("/", json={"instances": CANCER.tolist()})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"predictions", "model_version"}
    assert body["predictions"] == model.predict(CANCER).tolist()
    assert all(type(label) is int for label in body["predictions"])
    assert client.get("/").get_json()["runtime"] == served_by


def test_auto_runtime_picks_onnx_when_listed(client: Any) -> None:
    assert client.get("/").get_json()["runtime"] == "onnx"


def test_one_row_answers_prediction(client: Any, classifier_dir: Path) -> None:
    manifest = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())
    model = joblib.load(classifier_dir / "model.joblib")
    response = client.post("/", json={"features": ROW})
    assert response.status_code == 200
    assert response.get_json() == {
        "prediction": model.predict(CANCER[:1]).tolist()[0],
        "model_version": manifest["model_version"],
    }


@pytest.mark.parametrize("key", ["features", "instances"])
def test_several_rows_answer_predictions(client: Any, classifier_dir: Path, key: str) -> None:
    model = joblib.load(classifier_dir / "model.joblib")
    response = client.post("/", json={key: CANCER[:5].tolist()})
    assert response.get_json()["predictions"] == model.predict(CANCER[:5]).tolist()


def test_keyed_rows_in_any_order_equal_list_rows(client: Any) -> None:
    keyed = [dict(reversed(list(zip(NAMES, row, strict=True)))) for row in CANCER[:20].tolist()]
    by_name = client.post("/", json={"instances": keyed}).get_json()
    by_position = client.post("/", json={"instances": CANCER[:20].tolist()}).get_json()
    assert by_name == by_position


def test_json_with_charset_is_accepted(client: Any) -> None:
    response = client.post(
        "/", data=json.dumps({"features": ROW}), content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_probabilities_come_with_classes(
    make_client: MakeClient, classifier_dir: Path, runtime: str
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)
    model = joblib.load(classifier_dir / "model.joblib")
    manifest = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())
    body = client.post("/", json={"instances": CANCER.tolist(), "probabilities": True}).get_json()
    assert set(body) == {"predictions", "probabilities", "classes", "model_version"}
    assert body["classes"] == model.classes_.tolist() == manifest["classes"]
    assert body["predictions"] == model.predict(CANCER).tolist()
    expected = model.predict_proba(CANCER)
    if runtime == "sklearn":
        assert body["probabilities"] == expected.tolist()
    tolerance = PROMISED_PARITY
    if runtime == "onnx":
        np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=tolerance)
    one = client.post("/", json={"features": ROW, "probabilities": True}).get_json()
    assert one["prediction"] == body["predictions"][0]
    assert one["classes"] == body["classes"]
    # One row goes through other BLAS paths than a batch: compare with the model on one row.
    single = model.predict_proba(CANCER[:1])[0]
    if runtime == "sklearn":
        assert one["probabilities"] == single.tolist()
    else:
        np.testing.assert_allclose(one["probabilities"], single, rtol=0, atol=tolerance)


def test_regression_predictions_equal_model_predict_with_sklearn(
    make_client: MakeClient, regressor_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(regressor_dir), MODEL_RUNTIME="sklearn")
    model = joblib.load(regressor_dir / "model.joblib")
    body = client.post("/", json={"instances": DIABETES.tolist()}).get_json()
    assert body["predictions"] == model.predict(DIABETES).tolist()


def test_regression_predictions_with_onnx_within_parity_tolerance(
    make_client: MakeClient, regressor_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(regressor_dir), MODEL_RUNTIME="onnx")
    model = joblib.load(regressor_dir / "model.joblib")
    body = client.post("/", json={"instances": DIABETES.tolist()}).get_json()
    np.testing.assert_allclose(
        body["predictions"], model.predict(DIABETES), rtol=0, atol=PROMISED_PARITY
    )


def test_regression_refuses_probabilities(make_client: MakeClient, regressor_dir: Path) -> None:
    client = make_client(MODEL_URI=str(regressor_dir))
    response = client.post("/", json={"features": DIABETES[0].tolist(), "probabilities": True})
    message = assert_error(response, 400, "invalid_input")
    assert message == (
        "predict_proba (class probabilities) is not available: this model offers predict on "
        "the onnx runtime; MODEL_RUNTIME=sklearn serves every method the estimator has"
    )


def test_post_predict_answers_as_the_base_url(client: Any) -> None:
    body = {"features": [[1.0] * 30, [2.0] * 30], "probabilities": True}
    assert client.post("/predict", json=body).get_json() == client.post("/", json=body).get_json()


# --- GET: metadata and health -----------------------------------------------------------------


def test_metadata_describes_the_model(client: Any, classifier_dir: Path) -> None:
    manifest_bytes = (classifier_dir / MANIFEST_NAME).read_bytes()
    manifest = json.loads(manifest_bytes)
    body = client.get("/").get_json()
    assert body["loaded"] is True
    for field in ("name", "model_version", "task", "feature_names", "n_features", "classes"):
        assert body[field] == manifest[field], field
    assert body["metrics"] == manifest["metrics"]
    assert body["created_at"] == manifest["created_at"]
    assert body["artifacts"] == manifest["artifacts"]
    assert body["manifest_sha256"] == sha256_hex(manifest_bytes)
    assert body["libraries"]["trained_with"] == manifest["libraries"]
    assert body["libraries"]["serving"]["numpy"] == np.__version__
    assert "onnxruntime" in body["libraries"]["serving"]
    assert body["training_data"] == manifest["training_data"]
    assert body["warnings"] == []
    assert body["runtime"] == "onnx"
    assert client.get("/", headers={"Content-Type": "text/plain"}).status_code == 200


def test_health_loads_the_model(client: Any, classifier_dir: Path) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": version}
    assert client.get("/health/").status_code == 200
    assert client.head("/health").status_code == 200


def test_sklearn_version_mismatch_shows_in_metadata_and_log(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    edit_manifest(model_copy, lambda raw: raw["libraries"].update({"scikit-learn": "1.0.2"}))
    client = make_client(MODEL_URI=str(model_copy), MODEL_RUNTIME="sklearn")
    warning = (
        f"model trained with scikit-learn 1.0.2, serving with scikit-learn {sklearn.__version__}"
    )
    assert client.get("/").get_json()["warnings"] == [warning]
    assert [line["severity"] for line in serving_logs() if line["message"] == warning] == [
        "WARNING"
    ]


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "message"),
    [
        (b"{", "application/json", 400, "invalid_json", "body is not valid JSON"),
        (b"", "application/json", 400, "invalid_json", "body is not valid JSON"),
        (b'{"features": [Infinity]}', "application/json", 400, "invalid_json", "not valid JSON"),
        (b"\xff", "application/json", 400, "invalid_json", "not valid UTF-8"),
        (
            json.dumps({"features": ROW[:29]}).encode(),
            "application/json",
            400,
            "invalid_input",
            "expected 30 features, got 29",
        ),
        (
            json.dumps({"features": [*ROW[:29], 1e308 * 10]}).encode(),
            "application/json",
            400,
            "invalid_json",
            "not valid JSON",
        ),
        (b'{"features": "x"}', "application/json", 400, "invalid_input", "non-empty list"),
        (b'{"rows": []}', "application/json", 400, "invalid_input", "accepted"),
        (b"{}", "text/plain", 415, "unsupported_media_type", "send application/json"),
        (b"{}", "", 415, "unsupported_media_type", "(none)"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "Content"),
    ],
)
def test_bad_posts(
    client: Any, body: bytes, content_type: str, status: int, code: str, message: str
) -> None:
    headers = {"Function-Execution-Id": "exec-42"}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/", data=body, headers=headers)
    assert message in assert_error(response, status, code, "exec-42")


def test_overflowing_numbers_are_refused(client: Any) -> None:
    """1e999 is refused as JSON or, if the decoder makes it inf, as a non-finite value."""
    response = client.post(
        "/", data=b'{"features": [' + b"1e999, " * 29 + b"1]}", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] in ("invalid_json", "invalid_input")


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
        assert "row 2" in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/", "GET, HEAD, POST"),
        ("DELETE", "/", "GET, HEAD, POST"),
        ("PATCH", "/", "GET, HEAD, POST"),
        ("POST", "/health", "GET, HEAD"),
        ("PUT", "/health", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(client: Any, method: str, path: str, allow: str) -> None:
    response = client.open(path, method=method, headers={"Function-Execution-Id": "m-1"})
    assert f"method {method} is not allowed" in assert_error(
        response, 405, "method_not_allowed", "m-1"
    )
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/nope", "/predictions", "/health/extra", "/index.html"])
def test_unknown_path_is_404(client: Any, path: str) -> None:
    response = client.get(path, headers={"Function-Execution-Id": "p-1"})
    assert f"no route {path}" in assert_error(response, 404, "not_found", "p-1")


# --- over real HTTP (gunicorn on 127.0.0.1) ---------------------------------------------------


def test_predicts_over_http(server: Server, classifier_dir: Path) -> None:
    model = joblib.load(classifier_dir / "model.joblib")
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    response = requests.post(server.url, json={"instances": CANCER.tolist()}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "predictions": model.predict(CANCER).tolist(),
        "model_version": version,
    }
    one = requests.post(server.url, json={"features": CANCER[0].tolist()}, timeout=30).json()
    assert one == {"prediction": model.predict(CANCER[:1]).tolist()[0], "model_version": version}
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/", b"{", 400, "invalid_json"),
        ("POST", "/", b'{"features": [1, 2]}', 400, "invalid_input"),
        ("GET", "/missing", b"", 404, "not_found"),
        ("DELETE", "/", b"", 405, "method_not_allowed"),
    ],
)
def test_errors_over_http_are_json_with_the_request_id(
    server: Server, method: str, path: str, body: bytes, status: int, code: str
) -> None:
    response = requests.request(
        method,
        server.url + path,
        data=body,
        headers={"Content-Type": "application/json", "Function-Execution-Id": f"id-{status}"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["request_id"] == f"id-{status}"


def test_long_host_label_gets_json(server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    wire = f"GET / HTTP/1.1\r\nHost: {'a' * 64}.example\r\nConnection: close\r\n\r\n".encode()
    status, body = exchange(host, port, wire)
    assert status == 400
    assert body["code"] == "bad_request"


def test_requests_the_framework_refuses_get_json_and_a_log_line_in_process(
    client: Any, serving_logs: Logs
) -> None:
    headers = {"Host": f"{'a' * 64}.example", "Function-Execution-Id": "host-1"}
    bad_host = client.get("/", headers=headers)
    not_found = client.get("/favicon.ico", headers={"Function-Execution-Id": "icon-1"})

    assert bad_host.status_code == 400
    assert bad_host.get_json() == {
        "error": "the request is malformed (its Host header or URL could not be read)",
        "code": "bad_request",
        "request_id": "host-1",
    }
    assert not_found.status_code == 404
    assert not_found.get_json() == {
        "error": "no route '/favicon.ico'",
        "code": "not_found",
        "request_id": "icon-1",
    }
    for answer in (bad_host, not_found):
        assert answer.headers["Content-Type"] == "application/json"
    lines = [
        (line["severity"], line["message"], line["code"], line["request_id"])
        for line in serving_logs()
    ]
    assert lines == [
        (
            "WARNING",
            "GET 400: the request is malformed (its Host header or URL could not be read)",
            "bad_request",
            "host-1",
        ),
        ("WARNING", "GET 404: no route '/favicon.ico'", "not_found", "icon-1"),
    ]


@pytest.mark.parametrize("path", ["/", "/invocations", "/v2/models/breast-cancer/infer"])
def test_truncated_chunked_body_is_400_not_500(server: Server, path: str) -> None:
    body = b'{"features": [1, 2'
    host, port = server.url.removeprefix("http://").split(":")
    wire = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + b"%x\r\n%s" % (len(body) + 50, body)
    status, payload = exchange(host, port, wire, close_write=True)
    assert status == 400
    assert payload["code"] == "bad_request"
    assert "chunked" in payload["error"]


def test_truncated_body_says_how_much_arrived(server: Server) -> None:
    case = Case("POST", "/", "application/json", b'{"features": [1]}', "truncated")
    answer = send(server.url, case)
    assert answer.status == 400
    assert "17 of the 26 bytes" in json.loads(answer.body)["error"]


# --- paths functions-framework answers itself -------------------------------------------------


FRAMEWORK_404_PATHS = ("/favicon.ico", "/robots.txt", "/v2/models/%0A/infer", "/a%0Ab")


@pytest.mark.parametrize("path", FRAMEWORK_404_PATHS)
def test_framework_not_found_answers_json(
    make_client: Any, classifier_dir: Path, path: str
) -> None:
    """The handler for paths functions-framework answers itself, registered as main.py should."""
    from serving.http import framework_not_found

    client = make_client(MODEL_URI=str(classifier_dir))
    client.application.register_error_handler(404, framework_not_found)
    response = client.get(path, headers={"Function-Execution-Id": "nf-1"})
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": response.get_json()["error"],
        "code": "not_found",
        "request_id": "nf-1",
    }
    assert response.get_json()["error"].startswith("no route ")


@pytest.mark.parametrize("path", FRAMEWORK_404_PATHS)
def test_paths_the_framework_answers_itself_are_json(server: Server, path: str) -> None:
    case = Case("GET", path, None, b"", "length")
    answer = send(server.url, case)
    assert answer.status == 404
    assert answer.headers.get("content-type") == "application/json"
