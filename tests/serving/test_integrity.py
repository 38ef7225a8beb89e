"""A broken, tampered or missing model: a clear 503 naming the failed check, logged, and
nothing deserialised; for a trained copy and for the repo's own model/, in process and on a
real server. The loader's checks themselves: tests/serving/test_loading.py."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest
import requests
from sklearn.datasets import load_breast_cancer

from serving.errors import ArtifactTooLarge, InvalidInput, ModelUnavailable, ServingError
from serving.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, sha256_hex
from tests.support import artifacts
from tests.support.answers import assert_error, assert_no_internals
from tests.support.artifacts import edit_manifest, evil_artifact, pin
from tests.support.fixture_types import Logs, MakeClient
from tests.support.servers import start_server

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "model"
ARTIFACTS = {"sklearn": "model.joblib", "onnx": "model.onnx"}
TIMEOUT = 30.0
ROW = load_breast_cancer().data[0].tolist()
UNAVAILABLE = "the model is unavailable; retry later, or ask the operator to check the logs for "


# --- a trained copy, in process ---------------------------------------------------------------


def request_line(serving_logs: Logs, request_id: str) -> dict[str, Any]:
    """The one line logged for the request with this id."""
    lines = [line for line in serving_logs() if "httpRequest" in line]
    found = [line for line in lines if line["request_id"] == request_id]
    assert len(found) == 1, lines
    return found[0]


def test_only_a_clients_own_mistake_is_explained_in_the_answer() -> None:
    storage = ModelUnavailable("permission denied reading gs://models/clf/manifest.json")
    too_large = ArtifactTooLarge.for_file("gs://models/clf/model.onnx", 10)
    assert storage.client_message("r-1") == UNAVAILABLE + "request r-1"
    assert too_large.client_message("") == UNAVAILABLE + "the time of this request"
    assert (too_large.status, too_large.code) == (503, "integrity_check_failed")
    assert "gs://" not in ServingError("gs://models/clf/ broke").client_message("r-2")
    assert InvalidInput("expected 30 features, got 29").client_message("r-3") == (
        "expected 30 features, got 29"
    )


def test_corrupted_artifact_is_503_and_logged(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    artifacts.flip_a_byte(model_copy / "model.onnx")
    client = make_client(MODEL_URI=str(model_copy))
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "i-1"})
    message = assert_error(response, 503, "integrity_check_failed", "i-1")
    assert message == UNAVAILABLE + "request i-1"
    logged = request_line(serving_logs, "i-1")
    assert logged["severity"] == "ERROR"
    assert logged["reason"].startswith("model.onnx sha256 is ")
    assert "but manifest.json pins" in logged["reason"]
    assert logged["reason"] in logged["message"]
    health = client.get("/health")
    assert_error(health, 503, "integrity_check_failed")
    metadata = client.get("/", headers={"Function-Execution-Id": "i-2"}).get_json()
    assert metadata["loaded"] is False
    assert metadata["code"] == "integrity_check_failed"
    assert metadata["reason"] == UNAVAILABLE + "request i-2"
    assert request_line(serving_logs, "i-2")["reason"].startswith("model.onnx sha256 is")


def test_hash_mismatch_unpickles_nothing(
    make_client: MakeClient, model_copy: Path, tmp_path: Path, serving_logs: Logs
) -> None:
    marker = tmp_path / "unpickled"
    (model_copy / "model.joblib").write_bytes(evil_artifact(marker))
    client = make_client(MODEL_URI=str(model_copy), MODEL_RUNTIME="sklearn")
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "h-1"})
    assert assert_error(response, 503, "integrity_check_failed") == UNAVAILABLE + "request h-1"
    assert "model.joblib sha256 is" in request_line(serving_logs, "h-1")["reason"]
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
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "e-1"})
    assert_error(response, 503, "integrity_check_failed")
    assert request_line(serving_logs, "e-1")["reason"].endswith(f"but MODEL_SHA256 pins {pinned}")
    assert not marker.exists()
    assert any("MODEL_SHA256 pins" in line["message"] for line in serving_logs())


def test_model_sha256_pin_of_another_manifest_is_503(
    make_client: MakeClient, classifier_dir: Path, serving_logs: Logs
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_SHA256="0" * 64)
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "p-1"})
    assert "MODEL_SHA256" not in assert_error(response, 503, "integrity_check_failed")
    assert "MODEL_SHA256 pins " + "0" * 64 in request_line(serving_logs, "p-1")["reason"]


def test_matching_model_sha256_serves(make_client: MakeClient, classifier_dir: Path) -> None:
    pinned = sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_SHA256=pinned.upper())
    assert client.post("/", json={"features": ROW}).status_code == 200
    assert client.get("/").get_json()["manifest_sha256"] == pinned


def test_missing_artifact_is_503(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    (model_copy / "model.onnx").unlink()
    client = make_client(MODEL_URI=str(model_copy))
    response = client.post("/", json={"features": ROW}, headers={"Function-Execution-Id": "m-1"})
    assert assert_error(response, 503, "model_unavailable") == UNAVAILABLE + "request m-1"
    logged = request_line(serving_logs, "m-1")
    assert logged["reason"] == "model.onnx is missing from the model folder"


def test_missing_model_folder_is_503(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(MODEL_URI=str(tmp_path / "nowhere"))
    assert_error(client.get("/health"), 503, "model_unavailable")


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


# --- the bundled model/, every fault ----------------------------------------------------------


def _name(value: object) -> str | None:
    return getattr(value, "__name__", None) or (None if " " in str(value) else str(value))


@pytest.fixture
def bundled_copy(tmp_path: Path) -> Path:
    """A copy of the repo's own model/ to break (the repo's folder is never touched)."""
    return Path(shutil.copytree(BUNDLED, tmp_path / "model"))


def flip_a_byte(folder: Path, name: str, other: Path) -> None:
    artifacts.flip_a_byte(folder / name)


def truncate(folder: Path, name: str, other: Path) -> None:
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])


def delete(folder: Path, name: str, other: Path) -> None:
    (folder / name).unlink()


def grow(folder: Path, name: str, other: Path) -> None:
    """Bytes appended: refused by size, before anything hashes or deserialises them."""
    with (folder / name).open("ab") as file:
        file.write(b"\0" * 4096)


def replace_with_other_model(folder: Path, name: str, other: Path) -> None:
    """Another trained model's artifact of the same kind, dropped in place."""
    shutil.copyfile(other / name, folder / name)


def replace_with_marker_pickle(folder: Path, name: str, other: Path) -> None:
    """A pickle that creates `unpickled` beside the folder if it is ever deserialised."""
    (folder / name).write_bytes(evil_artifact(folder.parent / "unpickled"))


# (fault, code, what the message says)
ARTIFACT_FAULTS = [
    (flip_a_byte, "integrity_check_failed", "{name} sha256 is "),
    (truncate, "integrity_check_failed", "{name} sha256 is "),
    (delete, "model_unavailable", "{name} is missing from the model folder"),
    (grow, "integrity_check_failed", "{name} holds more than the {size} bytes expected"),
    (replace_with_other_model, "integrity_check_failed", "{name} sha256 is "),
    (replace_with_marker_pickle, "integrity_check_failed", "{name} sha256 is "),
]


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
@pytest.mark.parametrize(("fault", "code", "says"), ARTIFACT_FAULTS, ids=_name)
def test_broken_bundled_artifact_is_503_and_never_deserialised(
    make_client: MakeClient,
    bundled_copy: Path,
    regressor_dir: Path,
    serving_logs: Logs,
    runtime: str,
    fault: Callable[[Path, str, Path], None],
    code: str,
    says: str,
) -> None:
    name = ARTIFACTS[runtime]
    size = (bundled_copy / name).stat().st_size
    fault(bundled_copy, name, regressor_dir)
    client = make_client(MODEL_URI=str(bundled_copy), MODEL_RUNTIME=runtime)
    expected = says.format(name=name, size=size)
    assert_unavailable(client, code, expected, serving_logs)
    assert not (bundled_copy.parent / "unpickled").exists()


def rename_a_feature(folder: Path, other: Path) -> None:
    edit_manifest(folder, lambda raw: raw["feature_names"].__setitem__(0, "renamed"))


def swap_in_other_model(folder: Path, other: Path) -> None:
    """Another valid model folder (manifest and artifacts, consistent) in place of this one."""
    for path in other.iterdir():
        shutil.copyfile(path, folder / path.name)


def repin_marker_pickle(folder: Path, other: Path) -> None:
    """A marker pickle whose hash the edited manifest now pins: only MODEL_SHA256 catches it."""
    (folder / "model.joblib").write_bytes(evil_artifact(folder.parent / "unpickled"))
    pin(folder, "model.joblib")


def corrupt_manifest_json(folder: Path, other: Path) -> None:
    data = (folder / MANIFEST_NAME).read_bytes()
    (folder / MANIFEST_NAME).write_bytes(data[: len(data) // 2])


def pad_manifest(folder: Path, other: Path) -> None:
    """Still valid JSON, but past the manifest size cap: refused before it is hashed."""
    with (folder / MANIFEST_NAME).open("ab") as file:
        file.write(b" " * MAX_MANIFEST_BYTES)


def delete_manifest(folder: Path, other: Path) -> None:
    (folder / MANIFEST_NAME).unlink()


MANIFEST_FAULTS = [
    (rename_a_feature, "integrity_check_failed", "but MODEL_SHA256 pins "),
    (swap_in_other_model, "integrity_check_failed", "but MODEL_SHA256 pins "),
    (repin_marker_pickle, "integrity_check_failed", "but MODEL_SHA256 pins "),
    (corrupt_manifest_json, "integrity_check_failed", "but MODEL_SHA256 pins "),
    (
        pad_manifest,
        "integrity_check_failed",
        f"manifest.json holds more than the {MAX_MANIFEST_BYTES} bytes expected",
    ),
    (delete_manifest, "model_unavailable", "manifest.json is missing from the model folder"),
]


@pytest.mark.parametrize(("fault", "code", "says"), MANIFEST_FAULTS, ids=_name)
def test_edited_bundled_manifest_against_its_pin_is_503(
    make_client: MakeClient,
    bundled_copy: Path,
    regressor_dir: Path,
    serving_logs: Logs,
    fault: Callable[[Path, Path], None],
    code: str,
    says: str,
) -> None:
    pinned = sha256_hex((BUNDLED / MANIFEST_NAME).read_bytes())
    fault(bundled_copy, regressor_dir)
    client = make_client(MODEL_URI=str(bundled_copy), MODEL_RUNTIME="sklearn", MODEL_SHA256=pinned)
    assert_unavailable(client, code, says, serving_logs)
    assert not (bundled_copy.parent / "unpickled").exists()


def test_malformed_manifest_unpinned_is_503_naming_the_check(
    make_client: MakeClient, bundled_copy: Path, regressor_dir: Path, serving_logs: Logs
) -> None:
    corrupt_manifest_json(bundled_copy, regressor_dir)
    client = make_client(MODEL_URI=str(bundled_copy))
    assert_unavailable(client, "integrity_check_failed", "manifest.json is malformed", serving_logs)


def test_the_marker_pickle_does_mark_when_deserialised(tmp_path: Path) -> None:
    """The proof above is only worth something if unpickling the marker really leaves a mark."""
    marker = tmp_path / "unpickled"
    joblib.load(io.BytesIO(evil_artifact(marker)))
    assert marker.exists()


def test_pinned_intact_bundled_copy_serves(make_client: MakeClient, bundled_copy: Path) -> None:
    """The control: the same copy, unbroken and pinned, serves."""
    pinned = sha256_hex((BUNDLED / MANIFEST_NAME).read_bytes())
    client = make_client(MODEL_URI=str(bundled_copy), MODEL_SHA256=pinned)
    assert client.get("/health").status_code == 200
    response = client.post("/", json={"features": [1.0] * 30})
    assert response.status_code == 200


def assert_unavailable(client: Any, code: str, says: str, serving_logs: Logs) -> None:
    """POST and health are a clear 503 with the code and what to do; each request's log line,
    and the slot's error line, name the failed check."""
    responses = {
        "x-1": client.post(
            "/", json={"features": [1.0] * 30}, headers={"Function-Execution-Id": "x-1"}
        ),
        "x-2": client.get("/health", headers={"Function-Execution-Id": "x-2"}),
        "x-3": client.get("/v2/health/ready", headers={"Function-Execution-Id": "x-3"}),
    }
    for request_id, response in responses.items():
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert set(body) == {"error", "code", "request_id"}
        assert body["code"] == code
        assert body["error"].endswith(f"check the logs for request {request_id}")
        assert says not in body["error"]
        assert_no_internals(response.get_data(as_text=True))
        logged = [line for line in serving_logs() if line.get("request_id") == request_id]
        assert len(logged) == 1
        assert says in logged[0]["reason"]
    failed = [line for line in serving_logs() if line["message"].startswith("model unavailable")]
    assert failed, "no log line says the model is unavailable"
    assert says in failed[0]["reason"]
    assert failed[0]["code"] == code


def test_real_server_with_a_corrupted_bundled_artifact_stays_up_and_says_why(
    bundled_copy: Path,
) -> None:
    flip_a_byte(bundled_copy, "model.onnx", bundled_copy)
    server = start_server({"MODEL_URI": str(bundled_copy), "MODEL_RETRY_SECONDS": "0.05"})
    try:
        first = requests.post(server.url, json={"features": [1.0] * 30}, timeout=TIMEOUT)
        health = requests.get(f"{server.url}/health", timeout=TIMEOUT)
        metadata = requests.get(server.url, timeout=TIMEOUT)
        logs = server.logs()
        alive = server.process.poll() is None
    finally:
        server.stop()
    assert (first.status_code, health.status_code, metadata.status_code) == (503, 503, 200)
    assert first.json()["code"] == "integrity_check_failed"
    assert metadata.json()["loaded"] is False
    assert alive
    failed = [json.loads(line) for line in logs.splitlines() if "model unavailable" in line]
    assert failed
    assert failed[0]["severity"] == "ERROR"
    assert failed[0]["reason"].startswith("model.onnx sha256 is ")
