"""The handler in-process, through functions_framework.create_app(...).test_client()."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes

from serving.logs import trace_fields
from serving.manifest import MANIFEST_NAME, sha256_hex
from tests.test_loading import edit_manifest, evil_artifact, pin

REPO = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., Any]
Logs = Callable[[], list[dict[str, Any]]]
CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)
DIABETES = np.asarray(load_diabetes().data, dtype=np.float64)
NAMES = [str(n) for n in load_breast_cancer().feature_names]
ROW = CANCER[0].tolist()
# A value that appears nowhere else: the logs must never contain it.
SECRET = 31337.4242
# What the README promises between the ONNX answers and scikit-learn's, written here, not read from
# the manifest the code under test wrote (a loosened gate would loosen the test with it).
PROMISED_PARITY = 1e-9


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "httpRequest" in line]


def assert_error(response: Any, status: int, code: str, request_id: str | None = None) -> str:
    """The one JSON error shape; returns its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "code", "request_id"}
    assert body["code"] == code
    assert body["error"]
    assert "Traceback" not in body["error"]
    if request_id is not None:
        assert body["request_id"] == request_id
    else:
        assert body["request_id"]
    return str(body["error"])


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
        "probabilities are only available for classifiers; this model's task is regression"
    )


# --- GET: metadata and health ----------------------------------------------------------------


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


# --- errors ----------------------------------------------------------------------------------


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


def test_body_over_the_limit_by_content_length_is_413(
    make_client: MakeClient, classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_BODY_BYTES="200")
    body = json.dumps({"features": ROW}).encode()
    assert len(body) > 200
    response = client.post("/", data=body, content_type="application/json")
    message = assert_error(response, 413, "payload_too_large")
    assert f"body is {len(body)} bytes; the limit is 200 (MAX_BODY_BYTES)" == message
    small = json.dumps({"features": [round(v, 1) for v in ROW]}).encode()
    assert len(small) <= 200
    assert client.post("/", data=small, content_type="application/json").status_code == 200


class CountingStream(io.BytesIO):
    """A large body that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        super().__init__(b"1" * size)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.read_bytes += count
        return count


def test_streamed_body_over_the_limit_is_413_before_it_is_read_whole(
    make_client: MakeClient, classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_BODY_BYTES="1000")
    stream = CountingStream(5_000_000)
    response = client.post(
        "/",
        input_stream=stream,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert assert_error(response, 413, "payload_too_large") == (
        "body exceeds the limit of 1000 bytes (MAX_BODY_BYTES)"
    )
    assert stream.read_bytes <= 1001


def test_streamed_body_within_the_limit_is_read(client: Any, classifier_dir: Path) -> None:
    response = client.post(
        "/",
        input_stream=io.BytesIO(json.dumps({"features": ROW}).encode()),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200
    model = joblib.load(classifier_dir / "model.joblib")
    assert response.get_json()["prediction"] == model.predict(CANCER[:1]).tolist()[0]


def test_too_many_rows_is_422(make_client: MakeClient, classifier_dir: Path) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MAX_ROWS="3")
    assert client.post("/", json={"instances": CANCER[:3].tolist()}).status_code == 200
    response = client.post("/", json={"instances": CANCER[:4].tolist()})
    assert assert_error(response, 422, "too_many_rows") == (
        "got 4 rows; at most 3 per request (MAX_ROWS)"
    )


# --- integrity: 503 and nothing deserialised ---------------------------------------------------


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupted_artifact_is_503_and_logged(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    corrupt(model_copy / "model.onnx")
    client = make_client(MODEL_URI=str(model_copy))
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "i-1"})
    message = assert_error(response, 503, "integrity_check_failed", "i-1")
    assert message.startswith("model.onnx sha256 is ")
    assert "but manifest.json pins" in message
    errors = [line for line in serving_logs() if line["severity"] == "ERROR"]
    assert any("model.onnx sha256 is" in line["message"] for line in errors)
    health = client.get("/health")
    assert_error(health, 503, "integrity_check_failed")
    metadata = client.get("/").get_json()
    assert metadata["loaded"] is False
    assert metadata["code"] == "integrity_check_failed"
    assert metadata["reason"].startswith("model.onnx sha256 is")


def test_hash_mismatch_unpickles_nothing(
    make_client: MakeClient, model_copy: Path, tmp_path: Path, serving_logs: Logs
) -> None:
    marker = tmp_path / "unpickled"
    (model_copy / "model.joblib").write_bytes(evil_artifact(marker))
    client = make_client(MODEL_URI=str(model_copy), MODEL_RUNTIME="sklearn")
    response = client.post("/", json={"features": ROW})
    assert "model.joblib sha256 is" in assert_error(response, 503, "integrity_check_failed")
    assert_error(client.get("/health"), 503, "integrity_check_failed")
    assert not marker.exists()
    assert any("model.joblib sha256 is" in line["message"] for line in serving_logs())


def test_edited_manifest_against_model_sha256_unpickles_nothing(
    make_client: MakeClient, model_copy: Path, tmp_path: Path, serving_logs: Logs
) -> None:
    marker = tmp_path / "unpickled"
    pinned = sha256_hex((model_copy / MANIFEST_NAME).read_bytes())
    (model_copy / "model.joblib").write_bytes(evil_artifact(marker))
    pin(model_copy, "model.joblib")
    client = make_client(MODEL_URI=str(model_copy), MODEL_RUNTIME="sklearn", MODEL_SHA256=pinned)
    response = client.post("/", json={"features": ROW})
    message = assert_error(response, 503, "integrity_check_failed")
    assert message.endswith(f"but MODEL_SHA256 pins {pinned}")
    assert not marker.exists()
    assert any("MODEL_SHA256 pins" in line["message"] for line in serving_logs())


def test_model_sha256_pin_of_another_manifest_is_503(
    make_client: MakeClient, classifier_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_SHA256="0" * 64)
    message = assert_error(client.post("/", json={"features": ROW}), 503, "integrity_check_failed")
    assert "MODEL_SHA256 pins " + "0" * 64 in message


def test_matching_model_sha256_serves(make_client: MakeClient, classifier_dir: Path) -> None:
    pinned = sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_SHA256=pinned.upper())
    assert client.post("/", json={"features": ROW}).status_code == 200
    assert client.get("/").get_json()["manifest_sha256"] == pinned


def test_missing_artifact_is_503(make_client: MakeClient, model_copy: Path) -> None:
    (model_copy / "model.onnx").unlink()
    client = make_client(MODEL_URI=str(model_copy))
    message = assert_error(client.post("/", json={"features": ROW}), 503, "model_unavailable")
    assert message == "model.onnx is missing from the model folder"


def test_missing_model_folder_is_503(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(MODEL_URI=str(tmp_path / "nowhere"))
    assert_error(client.get("/health"), 503, "model_unavailable")


def test_failed_load_is_retried_by_a_later_request(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    good = (model_copy / "model.onnx").read_bytes()
    corrupt(model_copy / "model.onnx")
    client = make_client(MODEL_URI=str(model_copy), MODEL_RETRY_SECONDS="0.1")
    assert_error(client.post("/", json={"features": ROW}), 503, "integrity_check_failed")
    assert_error(client.get("/health"), 503, "integrity_check_failed")
    (model_copy / "model.onnx").write_bytes(good)
    deadline = time.monotonic() + 10  # a retry may wait out a short backoff first
    while (status := client.post("/", json={"features": ROW}).status_code) == 503:
        assert time.monotonic() < deadline, "the repaired model was never loaded"
        time.sleep(0.05)
    assert status == 200
    assert client.get("/health").status_code == 200
    assert len([line for line in serving_logs() if line["message"] == "model loaded"]) == 1


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


def test_bad_setting_stops_start_up(make_client: MakeClient) -> None:
    from serving.errors import SettingsError

    with pytest.raises(SettingsError, match="MAX_ROWS"):
        make_client(MAX_ROWS="lots")


# --- logs ------------------------------------------------------------------------------------


def test_one_log_line_per_request(client: Any, classifier_dir: Path, serving_logs: Logs) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    client.post(
        "/", json={"instances": CANCER[:7].tolist()}, headers={"Function-Execution-Id": "r-1"}
    )
    client.get("/nope", headers={"Function-Execution-Id": "r-2"})
    client.post("/", json={"features": [1]}, headers={"Function-Execution-Id": "r-3"})
    lines = request_lines(serving_logs())
    assert [line["request_id"] for line in lines] == ["r-1", "r-2", "r-3"]
    ok, missing, bad = lines
    assert ok["severity"] == "INFO"
    assert ok["message"] == "POST / 200"
    assert ok["httpRequest"]["status"] == 200
    assert ok["httpRequest"]["requestMethod"] == "POST"
    assert ok["httpRequest"]["latency"].endswith("s")
    assert float(ok["httpRequest"]["latency"][:-1]) > 0
    assert ok["latency_ms"] > 0
    assert ok["model_version"] == version
    assert ok["rows"] == 7
    assert missing["severity"] == "WARNING"
    assert missing["httpRequest"]["status"] == 404
    assert missing["code"] == "not_found"
    assert bad["message"] == "POST / 400: expected 30 features, got 1"
    assert all("logging.googleapis.com/trace" not in line for line in lines)


@pytest.mark.parametrize(
    ("headers", "project", "trace", "span"),
    [
        (
            {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
            "demo-project",
            "projects/demo-project/traces/105445aa7843bc8bf206b12000100000",
            "1",
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "demo-project",
            "projects/demo-project/traces/4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            None,
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
    ],
)
def test_trace_is_logged(
    make_client: MakeClient,
    classifier_dir: Path,
    serving_logs: Logs,
    headers: dict[str, str],
    project: str | None,
    trace: str,
    span: str,
) -> None:
    env = {"MODEL_URI": str(classifier_dir)}
    if project:
        env["GOOGLE_CLOUD_PROJECT"] = project
    client = make_client(**env)
    client.get("/health", headers=headers)
    (line,) = request_lines(serving_logs())
    assert line["logging.googleapis.com/trace"] == trace
    assert line["logging.googleapis.com/spanId"] == span


def test_log_level_filters_request_lines(
    make_client: MakeClient, classifier_dir: Path, serving_logs: Logs
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), LOG_LEVEL="WARNING")
    client.post("/", json={"features": ROW})
    client.get("/nope")
    assert [line["httpRequest"]["status"] for line in request_lines(serving_logs())] == [404]


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
    ("headers", "project", "expected"),
    [
        ({}, "p", {}),
        ({"X-Cloud-Trace-Context": "abc123/42;o=1"}, "p", {"trace": "projects/p/traces/abc123"}),
        ({"X-Cloud-Trace-Context": "abc123"}, None, {"trace": "abc123"}),
        ({"X-Cloud-Trace-Context": "not a trace!/1"}, "p", {}),
        ({"traceparent": "00-abc-def"}, "p", {}),
        ({"traceparent": "00-0123abcd-00f0-01"}, None, {"trace": "0123abcd", "span": "00f0"}),
        (
            {"X-Cloud-Trace-Context": "aaa/1", "traceparent": "00-bbb-2-01"},
            None,
            {"trace": "aaa", "span": "1"},
        ),
    ],
)
def test_trace_fields(
    headers: dict[str, str], project: str | None, expected: dict[str, str]
) -> None:
    fields = trace_fields(headers, project)
    assert fields.get("logging.googleapis.com/trace") == expected.get("trace")
    if "span" in expected:
        assert fields["logging.googleapis.com/spanId"] == expected["span"]


def test_log_lines_go_to_stdout_as_json() -> None:
    script = (
        "import logging\n"
        "from serving import logs\n"
        "logs.configure('INFO')\n"
        "logs.configure('INFO')\n"  # twice: still one handler, one line per record
        "logging.getLogger('serving.test').info('hello', extra={'fields': {'rows': 3}})\n"
        "logging.getLogger('serving.test').debug('hidden')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    entry = json.loads(line)
    assert {"severity": "INFO", "message": "hello", "rows": 3}.items() <= entry.items()
    assert entry["time"].endswith("Z")
