"""MODEL_URI=gs://...: pinned and verified downloads from a real GCS server (fake-gcs-server).

Every failure is produced for real: objects deleted or overwritten, a missing bucket, the
server stopped, or a proxy in front of it that is slow, denies access, corrupts or cuts a
download. The client library is never patched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors

from serving.errors import IntegrityError, ModelUnavailable
from serving.gcs import GcsStore
from serving.manifest import sha256_hex
from tests.support.gcs_server import FakeGcs, Proxy
from tests.support.servers import REPO, offline_gcloud_env, start_server

BUCKET = "models"
ROW = {"features": [0.0] * 30}


@pytest.fixture
def proxy(gcs: FakeGcs) -> Iterator[Proxy]:
    """A proxy in front of the module's fake-gcs-server, passing everything through."""
    running = Proxy(gcs.port)
    yield running
    running.stop()


def storage_client(url: str) -> Any:
    """A google-cloud-storage client for the server at url, with anonymous credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )


def publish(url: str, folder: Path, prefix: str, bucket: str = BUCKET) -> int:
    """Upload every file of a model folder under gs://bucket/prefix/; manifest's generation."""
    target = storage_client(url).bucket(bucket)
    generation = 0
    for path in sorted(folder.iterdir()):
        blob = target.blob(f"{prefix}/{path.name}")
        blob.upload_from_filename(str(path))
        if path.name == "manifest.json":
            generation = int(blob.generation)
    return generation


def pin(folder: Path) -> str:
    return sha256_hex((folder / "manifest.json").read_bytes())


def gcs_env(storage_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The function's environment for gs://models/prefix/ served through storage_url."""
    return {
        "MODEL_URI": f"gs://{BUCKET}/{prefix}/",
        "STORAGE_EMULATOR_HOST": storage_url,
        "NO_GCE_CHECK": "true",
        "MODEL_FETCH_TIMEOUT_SECONDS": "1",
        "MODEL_RETRY_SECONDS": "0.4",
        **extra,
    }


Logs = Callable[[], list[dict[str, Any]]]


def assert_unavailable(client: Any, code: str, reason: str, serving_logs: Logs) -> None:
    """Predict and health answer 503 with the code and what to do, never the reason nor a gs://
    path; the request's log line holds the reason. Metadata still answers 200."""
    answer = client.post("/", json=ROW, headers={"Function-Execution-Id": "gcs-1"})
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["code"] == code
    assert body["error"].endswith("check the logs for request gcs-1")
    assert client.get("/health").status_code == 503
    metadata = client.get("/")
    assert metadata.status_code == 200
    assert metadata.get_json()["loaded"] is False
    for text in (answer.get_data(as_text=True), metadata.get_data(as_text=True)):
        for leak in (reason, "gs://", "Traceback", "http://"):
            assert leak not in text
    logged = [line for line in serving_logs() if line.get("request_id") == "gcs-1"]
    assert [line["reason"] for line in logged] == [reason]


# Each failure the client library raises, translated to a short reason (in process, with the
# library's own exception types; the same failures are produced for real further down).


def _chain(
    error: BaseException, cause: BaseException, context: BaseException | None = None
) -> BaseException:
    """error, as if raised from cause while handling context."""
    error.__cause__, error.__context__ = cause, context
    return error


def _cycle() -> BaseException:
    first, second = ValueError("first"), ValueError("second")
    first.__context__, second.__context__ = second, first
    return first


TRANSLATED = {
    "no token": (
        auth_errors.RefreshError("metadata server said no"),
        "could not get a token from Application Default Credentials",
    ),
    "retries ran out on a timeout": (
        api_errors.RetryError("Timeout of 1.0s exceeded", cause=requests.ReadTimeout()),
        "storage timed out after 1 s reading {uri}",
    ),
    "connection refused": (requests.ConnectionError(), "storage unreachable reading {uri}"),
    # The message (a string) is looked at before the cause and must not end the search.
    "503 caused by a lost connection": (
        _chain(api_errors.ServiceUnavailable("gone"), requests.ConnectionError()),
        "storage unreachable reading {uri}",
    ),
    # An error raised while handling another: both chains are followed.
    "raised while handling a lost connection": (
        _chain(api_errors.ServiceUnavailable("gone"), requests.ConnectionError(), ValueError("x")),
        "storage unreachable reading {uri}",
    ),
    "HTTP status": (
        api_errors.InternalServerError("boom"),
        "storage answered HTTP 500 reading {uri}",
    ),
    "API error without a status": (
        api_errors.GoogleAPICallError("?"),
        "could not read {uri} from storage",
    ),
    "anything else": (ValueError("?"), "could not read {uri} from storage"),
    "a cycle of causes": (_cycle(), "could not read {uri} from storage"),
}


@pytest.mark.in_process
@pytest.mark.parametrize("case", TRANSLATED)
def test_a_client_library_failure_becomes_a_short_reason(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    store = GcsStore("b", "p/", timeout=1.0)
    error, reason = TRANSLATED[case]
    translated = store._translate(error, "model.onnx")
    assert type(translated) is ModelUnavailable
    assert translated.message == reason.format(uri="gs://b/p/model.onnx")


@pytest.mark.in_process
def test_no_application_default_credentials_is_a_short_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-key.json"))
    with pytest.raises(ModelUnavailable) as caught:
        GcsStore("b", "p/", timeout=1.0)
    assert caught.value.message == "no Application Default Credentials for Cloud Storage"
    assert isinstance(caught.value.__cause__, auth_errors.DefaultCredentialsError)


# Loading from the bucket.


def test_loads_the_pinned_model_and_fetches_only_the_onnx_artifact(
    make_client: Callable[..., Any], classifier_dir: Path, proxy: Proxy, gcs: FakeGcs
) -> None:
    publish(gcs.url, classifier_dir, "onnx-only")
    local = make_client(MODEL_URI=str(classifier_dir)).post("/", json=ROW).get_json()
    client = make_client(**gcs_env(proxy.url, "onnx-only", MODEL_SHA256=pin(classifier_dir)))

    answer = client.post("/", json=ROW)

    assert answer.status_code == 200
    assert answer.get_json() == local
    metadata = client.get("/").get_json()
    assert (metadata["source"], metadata["runtime"]) == ("gs://models/onnx-only/", "onnx")
    assert proxy.state.downloads() == [
        "/download/storage/v1/b/models/o/onnx-only%2Fmanifest.json?alt=media",
        "/download/storage/v1/b/models/o/onnx-only%2Fmodel.onnx?alt=media",
    ]


def test_sklearn_runtime_fetches_only_the_pickle(
    make_client: Callable[..., Any], classifier_dir: Path, proxy: Proxy, gcs: FakeGcs
) -> None:
    publish(gcs.url, classifier_dir, "sk-only")
    env = gcs_env(proxy.url, "sk-only", MODEL_SHA256=pin(classifier_dir), MODEL_RUNTIME="sklearn")
    client = make_client(**env)

    assert client.post("/", json=ROW).status_code == 200
    assert [path.split("%2F")[1] for path in proxy.state.downloads()] == [
        "manifest.json?alt=media",
        "model.joblib?alt=media",
    ]


def test_unpinned_model_loads_only_when_the_risk_is_accepted(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs
) -> None:
    publish(gcs.url, classifier_dir, "unpinned")
    client = make_client(**gcs_env(gcs.url, "unpinned", MODEL_ALLOW_UNPINNED="true"))
    assert client.post("/", json=ROW).status_code == 200


# Each failure, produced for real: 503 with a short reason, health 503, metadata 200.


def _delete(gcs: FakeGcs, proxy: Proxy, prefix: str, folder: Path) -> None:
    storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/model.onnx").delete()


def _corrupt_stored(gcs: FakeGcs, proxy: Proxy, prefix: str, folder: Path) -> None:
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/model.onnx").upload_from_string(
        bytes(data)
    )


def _grow_stored(gcs: FakeGcs, proxy: Proxy, prefix: str, folder: Path) -> None:
    data = (folder / "model.onnx").read_bytes() + b"\0" * (1 << 20)
    storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/model.onnx").upload_from_string(data)


def _replace_manifest(gcs: FakeGcs, proxy: Proxy, prefix: str, folder: Path) -> None:
    text = (folder / "manifest.json").read_text().replace('"name"', '"name" ', 1)
    storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/manifest.json").upload_from_string(text)


def _proxy_mode(mode: str, delay: float = 0.0) -> Callable[[FakeGcs, Proxy, str, Path], None]:
    def apply(gcs: FakeGcs, proxy: Proxy, prefix: str, folder: Path) -> None:
        proxy.set(mode, delay)

    return apply


FAILURES = {
    "missing object": (
        _delete,
        "model_unavailable",
        "gs://models/{p}/model.onnx not found",
        "NotFound",
    ),
    "permission denied": (
        _proxy_mode("deny"),
        "model_unavailable",
        "permission denied reading gs://models/{p}/manifest.json",
        "Forbidden",
    ),
    "too slow": (
        _proxy_mode("slow", 5.0),
        "model_unavailable",
        "storage timed out after 1 s reading gs://models/{p}/manifest.json",
        "RetryError",
    ),
    "corrupt in storage": (
        _corrupt_stored,
        "integrity_check_failed",
        "model.onnx sha256 is {actual}, but manifest.json pins {expected}",
        None,
    ),
    "larger than recorded": (
        _grow_stored,
        "integrity_check_failed",
        "gs://models/{p}/model.onnx holds more than the {size} bytes expected; not loaded",
        None,
    ),
    "corrupt in transit": (
        _proxy_mode("corrupt"),
        "integrity_check_failed",
        "download of gs://models/{p}/manifest.json was corrupt (checksum mismatch)",
        "DataCorruption",
    ),
    "interrupted download": (
        _proxy_mode("cut"),
        "model_unavailable",
        "download of gs://models/{p}/manifest.json was interrupted",
        "RetryError",
    ),
    "manifest replaced": (
        _replace_manifest,
        "integrity_check_failed",
        "manifest.json sha256 is {manifest}, but MODEL_SHA256 pins {pin}",
        None,
    ),
}


@pytest.mark.in_process
@pytest.mark.parametrize("case", FAILURES)
def test_storage_failure_is_a_clear_503_and_logged(
    case: str,
    make_client: Callable[..., Any],
    classifier_dir: Path,
    gcs: FakeGcs,
    proxy: Proxy,
    serving_logs: Callable[[], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    breakage, code, reason, detail = FAILURES[case]
    prefix = case.replace(" ", "-")
    publish(gcs.url, classifier_dir, prefix)
    breakage(gcs, proxy, prefix, classifier_dir)
    blob = storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/model.onnx")
    stored = blob.download_as_bytes() if blob.exists() else b""
    manifest = storage_client(gcs.url).bucket(BUCKET).blob(f"{prefix}/manifest.json")
    client = make_client(**gcs_env(proxy.url, prefix, MODEL_SHA256=pin(classifier_dir)))

    expected = reason.format(
        p=prefix,
        actual=sha256_hex(stored),
        expected=sha256_hex((classifier_dir / "model.onnx").read_bytes()),
        manifest=sha256_hex(manifest.download_as_bytes()),
        pin=pin(classifier_dir),
        size=(classifier_dir / "model.onnx").stat().st_size,
    )
    assert_unavailable(client, code, expected, serving_logs)

    failures = [line for line in serving_logs() if line["message"].startswith("model unavailable")]
    logged = [line for line in failures if line["reason"] == expected]
    assert logged, "no log line for the failure"
    assert logged[0]["severity"] == "ERROR"
    assert logged[0]["code"] == code
    # The storage library's own error, for the operator only; a hash mismatch says it all.
    assert (logged[0]["detail"] is None) == (detail is None)
    if detail is not None:
        assert f".{detail}: " in logged[0]["detail"]


@pytest.mark.in_process
def test_missing_bucket(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs, serving_logs: Logs
) -> None:
    env = gcs_env(gcs.url, "clf", MODEL_SHA256=pin(classifier_dir))
    env["MODEL_URI"] = "gs://no-such-bucket/clf/"
    client = make_client(**env)
    assert_unavailable(client, "model_unavailable", "bucket no-such-bucket not found", serving_logs)


def test_stopped_storage_is_not_retried_until_backoff_ends_then_recovers(
    make_client: Callable[..., Any], classifier_dir: Path, tmp_path: Path, serving_logs: Logs
) -> None:
    storage = FakeGcs(tmp_path / "gcs").start()
    try:
        requests.post(f"{storage.url}/storage/v1/b", json={"name": BUCKET}, timeout=10)
        publish(storage.url, classifier_dir, "clf")
        env = gcs_env(storage.url, "clf", MODEL_SHA256=pin(classifier_dir), MODEL_RETRY_SECONDS="3")
        client = make_client(**env)
        storage.stop()

        reason = "storage unreachable reading gs://models/clf/manifest.json"
        assert_unavailable(client, "model_unavailable", reason, serving_logs)
        storage.start()
        within_backoff = client.post("/", json=ROW, headers={"Function-Execution-Id": "gcs-2"})
        recovered_after = _seconds_until_ok(client, limit=15.0)
    finally:
        storage.stop()

    # Storage is back, but the window after the failure still answers without trying.
    assert within_backoff.status_code == 503
    assert "gs://" not in within_backoff.get_data(as_text=True)
    assert [line["reason"] for line in serving_logs() if line.get("request_id") == "gcs-2"] == [
        reason
    ]
    assert 1 <= int(within_backoff.headers["Retry-After"]) <= 3
    assert recovered_after < 4.0
    assert client.get("/health").status_code == 200


def _seconds_until_ok(client: Any, limit: float) -> float:
    """Poll predict every 0.1 s until it answers 200; seconds taken (fails after limit)."""
    started = time.monotonic()
    while client.post("/", json=ROW).status_code != 200:
        assert time.monotonic() - started < limit, f"no 200 within {limit} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_an_oversized_object_is_not_downloaded_past_the_expected_size(
    gcs: FakeGcs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """64 MiB stored where the manifest expects 4 KiB: the download stops near 4 KiB."""
    from serving.gcs import GcsStore

    storage_client(gcs.url).bucket(BUCKET).blob("huge/model.onnx").upload_from_string(
        os.urandom(64 << 20)
    )
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    store = GcsStore(BUCKET, "huge/", timeout=10)

    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError, match="holds more than the 4096 bytes expected"):
            store.read("model.onnx", 4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"held {peak} bytes at the peak"


def test_a_broken_bucket_is_not_hammered(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs, proxy: Proxy
) -> None:
    publish(gcs.url, classifier_dir, "hammer")
    proxy.set("deny")
    client = make_client(**gcs_env(proxy.url, "hammer", MODEL_SHA256=pin(classifier_dir)))

    statuses = [client.post("/", json=ROW).status_code for _ in range(20)]
    attempts_during_first_window = len(proxy.state.downloads())
    time.sleep(0.45)  # the first window (0.4 s) is over
    client.post("/", json=ROW)
    attempts_after_first_window = len(proxy.state.downloads())
    proxy.set("pass")
    time.sleep(0.85)  # the second window (0.8 s) is over
    final = client.post("/", json=ROW)

    assert statuses == [503] * 20
    assert attempts_during_first_window == 1
    assert attempts_after_first_window == 2
    assert final.status_code == 200


def test_concurrent_cold_requests_download_once(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs, proxy: Proxy
) -> None:
    publish(gcs.url, classifier_dir, "herd")
    proxy.set("slow", 0.3)  # every answer waits, so the requests overlap the download
    app = make_client(**gcs_env(proxy.url, "herd", MODEL_SHA256=pin(classifier_dir))).application
    statuses: list[int] = []

    def call() -> None:
        statuses.append(app.test_client().post("/", json=ROW).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * 8
    assert len(proxy.state.downloads()) == 2  # manifest.json and model.onnx, once each


# Generation pinning: MODEL_GENERATION pins manifest.json to one GCS object generation.


@pytest.mark.in_process
def test_generation_pin_keeps_the_pinned_manifest_when_the_object_is_rewritten(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs
) -> None:
    target = storage_client(gcs.url).bucket("versioned")
    target.versioning_enabled = True
    storage_client(gcs.url).create_bucket(target)
    generation = publish(gcs.url, classifier_dir, "clf", bucket="versioned")
    rewritten = (classifier_dir / "manifest.json").read_text().replace('"name"', '"name" ', 1)
    target.blob("clf/manifest.json").upload_from_string(rewritten)
    env = gcs_env(gcs.url, "clf", MODEL_SHA256=pin(classifier_dir))
    env["MODEL_URI"] = "gs://versioned/clf/"

    pinned = make_client(**env, MODEL_GENERATION=str(generation))
    unpinned = make_client(**env)

    assert pinned.post("/", json=ROW).status_code == 200
    assert unpinned.post("/", json=ROW).get_json()["code"] == "integrity_check_failed"


@pytest.mark.in_process
def test_generation_pin_refuses_a_generation_that_is_gone(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs, serving_logs: Logs
) -> None:
    generation = publish(gcs.url, classifier_dir, "gone")
    publish(gcs.url, classifier_dir, "gone")  # same bytes, new generation; no versioning
    env = gcs_env(gcs.url, "gone", MODEL_SHA256=pin(classifier_dir))
    client = make_client(**env, MODEL_GENERATION=str(generation))

    assert_unavailable(
        client,
        "model_unavailable",
        f"gs://models/gone/manifest.json generation {generation} not found (MODEL_GENERATION)",
        serving_logs,
    )


# Import hygiene and the real server.


def test_bundled_path_never_imports_google_cloud_storage(tmp_path: Path) -> None:
    """The bundled model never imports google.cloud.storage; the gs:// path does (control)."""
    assert _predict_in_fresh_process({}, tmp_path) == ["200", "False"]


def test_gcs_path_imports_google_cloud_storage(
    classifier_dir: Path, gcs: FakeGcs, tmp_path: Path
) -> None:
    publish(gcs.url, classifier_dir, "imports")
    env = gcs_env(gcs.url, "imports", MODEL_SHA256=pin(classifier_dir))
    assert _predict_in_fresh_process(env, tmp_path) == ["200", "True"]


def _predict_in_fresh_process(env: dict[str, str], cwd: Path) -> list[str]:
    """Status of one prediction through the real framework, and whether the storage library
    was imported, from a new Python process."""
    script = (
        "import sys, functions_framework\n"
        "app = functions_framework.create_app(target='predict', source=sys.argv[1])\n"
        "answer = app.test_client().post('/', json={'features': [0.0] * 30})\n"
        "print(answer.status_code, 'google.cloud.storage' in sys.modules)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "STORAGE_"))}
    clean.update(FUNCTION_TARGET="predict", FUNCTION_SIGNATURE_TYPE="http", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", script, str(REPO / "main.py")],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()[-2:]


def test_real_server_serves_from_gcs_then_refuses_a_replaced_model(
    classifier_dir: Path, regressor_dir: Path, gcs: FakeGcs
) -> None:
    publish(gcs.url, classifier_dir, "live")
    env = gcs_env(gcs.url, "live", MODEL_SHA256=pin(classifier_dir))
    first = start_server(env)
    try:
        before = requests.post(first.url, json=ROW, timeout=30)
        publish(gcs.url, regressor_dir, "live")  # someone rewrites the folder
        still = requests.post(first.url, json=ROW, timeout=30)
        cold = start_server(env)  # a new instance starts after the rewrite
        try:
            refused = requests.post(
                cold.url, json=ROW, headers={"Function-Execution-Id": "cold-1"}, timeout=30
            )
            health = requests.get(f"{cold.url}/health", timeout=30)
            metadata = requests.get(cold.url, timeout=30)
            cold_logs = cold.logs()
        finally:
            cold.stop()
    finally:
        first.stop()

    assert before.status_code == still.status_code == 200
    assert still.json() == before.json()  # the verified model stays in memory
    assert refused.status_code == 503
    reason = (
        f"manifest.json sha256 is {pin(regressor_dir)}, but MODEL_SHA256 pins {pin(classifier_dir)}"
    )
    assert "sha256" not in refused.text
    lines = [json.loads(line) for line in cold_logs.splitlines() if line.startswith("{")]
    assert [line["reason"] for line in lines if line.get("request_id") == "cold-1"] == [reason]
    assert health.status_code == 503
    assert metadata.status_code == 200
    assert metadata.json()["loaded"] is False
    assert "integrity_check_failed" in [line.get("code") for line in lines]


def test_real_server_refuses_to_start_with_an_unpinned_remote_model(gcs: FakeGcs) -> None:
    env = gcs_env(gcs.url, "live")
    server = start_server(env, wait=False)
    try:
        status = server.process.wait(timeout=60)
    finally:
        server.stop()
    assert status != 0
    assert "MODEL_SHA256 is not set" in server.logs()


def test_published_with_gcloud_storage_cp(
    make_client: Callable[..., Any], classifier_dir: Path, gcs: FakeGcs, tmp_path: Path
) -> None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud is not installed")
    config = tmp_path / "gcloud"
    env = {**os.environ, **offline_gcloud_env(config)}
    (config / "token").write_text("any-token")
    env |= {
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(config / "token"),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{gcs.url}/storage/v1/",
    }
    # docs/cloud-storage.md's command, as written there.
    subprocess.run(
        [gcloud, "storage", "cp", *map(str, sorted(classifier_dir.iterdir())), "gs://models/cli/"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    client = make_client(**gcs_env(gcs.url, "cli", MODEL_SHA256=pin(classifier_dir)))
    assert client.post("/", json=ROW).status_code == 200
