"""Faults in the bundled model, a real server fault, and what responses and logs may reveal."""

from __future__ import annotations

import io
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

from serving.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, sha256_hex
from tests.servers import Server, start_server
from tests.test_loading import edit_manifest, evil_artifact, pin

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "model"
MakeClient = Callable[..., Any]
Logs = Callable[[], list[dict[str, Any]]]
ARTIFACTS = {"sklearn": "model.joblib", "onnx": "model.onnx"}
TIMEOUT = 30.0
# Feature values that appear nowhere else: the logs must never contain them.
SECRET_VALUES = (31337.4242, 27182.8182, 16180.3398)
SECRET_TEXT = "s3cr3t-cell-value"
SECRET_CSV_CELL = "s3cr3t-csv-cell"
EXPLODE = 666.0


# ---------------------------------------------------------------- bundled-model faults


def _name(value: object) -> str | None:
    return getattr(value, "__name__", None) or (None if " " in str(value) else str(value))


@pytest.fixture
def bundled_copy(tmp_path: Path) -> Path:
    """A copy of the repo's own model/ to break (the repo's folder is never touched)."""
    return Path(shutil.copytree(BUNDLED, tmp_path / "model"))


def flip_a_byte(folder: Path, name: str, other: Path) -> None:
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))


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


# ---------------------------------------------------------------- a real server fault


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


# ---------------------------------------------------------------- privacy and hygiene


PATH_LEAKS = ("Traceback", 'File "', str(REPO), sys.prefix, "site-packages", "/tmp/")
LIBRARY_LEAKS = ("RuntimeError", "numpy.", "orjson.", "sklearn.", "werkzeug", "gunicorn", "<html")


def assert_no_internals(text: str, leaks: tuple[str, ...] = PATH_LEAKS + LIBRARY_LEAKS) -> None:
    """No stack trace, no file path of the server, no library internals."""
    for leak in leaks:
        assert leak not in text, f"{leak!r} in {text[:300]}"


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
def debug_server(classifier_dir: Path) -> Iterator[Server]:
    """A real server logging at DEBUG: even the most talkative logs must hold no values."""
    running = start_server({"MODEL_URI": str(classifier_dir), "LOG_LEVEL": "DEBUG"})
    yield running
    running.stop()


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
