"""The model slot (serving/slot.py): one build for concurrent first callers, a failed build
retried after a backoff that doubles up to a cap; then the same through the app and on a real
server hit by many first requests at once. Storage failures meeting the slot:
tests/serving/test_gcs.py.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from serving.errors import IntegrityError, ModelUnavailable
from serving.manifest import MANIFEST_NAME, sha256_hex
from serving.slot import MAX_RETRY_SECONDS, LazySlot
from tests.support.answers import assert_error
from tests.support.artifacts import flip_a_byte
from tests.support.fixture_types import Logs, MakeClient
from tests.support.raw_http import fire_together
from tests.support.servers import error_lines, start_server

pytestmark = pytest.mark.in_process

ROW = load_breast_cancer().data[0].tolist()
COLD_REQUESTS = 64


def test_slot_builds_once_for_concurrent_first_callers() -> None:
    calls: list[int] = []
    barrier = threading.Barrier(16)

    def build() -> int:
        calls.append(1)
        threading.Event().wait(0.05)  # widen the race window
        return 42

    slot: LazySlot[int] = LazySlot(build)
    results: list[int] = []

    def first_call() -> None:
        barrier.wait(timeout=10)
        results.append(slot.get())

    threads = [threading.Thread(target=first_call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [42] * 16
    assert len(calls) == 1


def test_slot_retries_after_a_failed_build() -> None:
    outcomes: list[Any] = [IntegrityError("bad hash"), RuntimeError("boom"), 7]
    now = [0.0]

    def build() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return int(outcome)

    slot: LazySlot[int] = LazySlot(build, retry_seconds=1.0, clock=lambda: now[0])
    with pytest.raises(IntegrityError, match="bad hash"):
        slot.get()
    assert slot.value is None
    now[0] += 100
    with pytest.raises(ModelUnavailable, match="failed to load; see the logs"):
        slot.get()
    now[0] += 1000
    assert slot.get() == 7
    assert slot.get() == 7
    assert outcomes == []


def test_backoff_doubles_up_to_the_cap_until_a_build_succeeds() -> None:
    now = [0.0]
    outcomes: list[Exception | None] = [ModelUnavailable("down")] * 9 + [None]
    builds: list[float] = []

    def build() -> str:
        builds.append(now[0])
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "model"

    slot: LazySlot[str] = LazySlot(build, retry_seconds=1.0, clock=lambda: now[0])
    while slot.value is None:
        with contextlib.suppress(ModelUnavailable):
            slot.get()
        now[0] += 0.5

    gaps = [later - earlier for earlier, later in itertools.pairwise(builds)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0] + [MAX_RETRY_SECONDS] * 3
    assert slot.get() == "model"


def test_failed_load_is_retried_by_a_later_request(
    make_client: MakeClient, model_copy: Path, serving_logs: Logs
) -> None:
    good = (model_copy / "model.onnx").read_bytes()
    flip_a_byte(model_copy / "model.onnx")
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


def test_a_cold_instance_hit_by_many_first_requests_loads_the_model_once(
    classifier_dir: Path,
) -> None:
    """64 first requests at the same moment on a fresh server: one load, 64 right answers."""
    estimator = joblib.load(classifier_dir / "model.joblib")
    rows = np.random.default_rng(7).normal(size=(COLD_REQUESTS, 30)) * 50 + 50
    expected = estimator.predict(rows).tolist()
    server = start_server({"MODEL_URI": str(classifier_dir)})
    try:
        results = fire_together(server.url, [{"features": row.tolist()} for row in rows])
        logs = server.logs()
        entries = server.json_logs()
    finally:
        server.stop()
    assert [status for status, _ in results] == [200] * COLD_REQUESTS
    assert [body["prediction"] for _, body in results] == expected
    loaded = [entry for entry in entries if entry["message"] == "model loaded"]
    assert len(loaded) == 1
    assert loaded[0]["manifest_sha256"] == sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    assert loaded[0]["source"] == "local folder"
    assert loaded[0]["seconds"] > 0
    assert len([entry for entry in entries if "httpRequest" in entry]) == COLD_REQUESTS
    assert error_lines(logs) == []


def test_each_failure_says_when_to_retry_and_logs_why(serving_logs: Logs) -> None:
    now = [0.0]
    failures: list[Exception] = [RuntimeError("disk\nfull"), ModelUnavailable("bucket gone")]

    def build() -> str:
        raise failures.pop(0)

    slot: LazySlot[str] = LazySlot(build, retry_seconds=2.5, clock=lambda: now[0])
    with pytest.raises(ModelUnavailable) as first:
        slot.get()
    assert first.value.headers == {"Retry-After": "3"}  # the 2.5 s window, rounded up
    now[0] += 2.0
    with pytest.raises(ModelUnavailable) as waiting:
        slot.get()  # within the window: the same error, no build, the time that is left
    assert waiting.value.message == "the model failed to load; see the logs"
    assert waiting.value.headers == {"Retry-After": "1"}
    now[0] += 0.6
    with pytest.raises(ModelUnavailable) as second:
        slot.get()
    assert second.value.headers == {"Retry-After": "5"}  # doubled
    assert failures == []

    lines = [line for line in serving_logs() if line["message"].startswith("model unavailable")]
    assert [line["severity"] for line in lines] == ["ERROR", "ERROR"]
    assert lines[0]["message"] == "model unavailable: the model failed to load; see the logs"
    assert lines[0]["detail"] == "builtins.RuntimeError: disk full"
    assert "Traceback" in lines[0]["exception"]  # an unexpected error keeps its trace
    assert (lines[0]["failures_in_a_row"], lines[0]["retry_in_seconds"]) == (1, 2.5)
    assert lines[1]["reason"] == "bucket gone"
    assert lines[1]["code"] == "model_unavailable"
    assert "exception" not in lines[1]  # an expected one does not
    assert (lines[1]["failures_in_a_row"], lines[1]["retry_in_seconds"]) == (2, 5.0)
