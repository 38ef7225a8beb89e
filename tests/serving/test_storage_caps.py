"""The size caps of both model stores, at the boundary and one past it, and read no further.

A local folder and a Cloud Storage folder (a real fake-gcs-server) must accept a file of exactly
the cap, refuse one byte more, and stop reading there: a file that never ends cannot hold the
loader.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from serving.errors import IntegrityError
from serving.storage import LocalStore
from tests.serving.test_gcs import storage_client
from tests.support.gcs_server import FakeGcs

pytestmark = pytest.mark.in_process

CAP = 4096
BUCKET = "models"


@pytest.mark.parametrize("size", [0, 1, CAP - 1, CAP])
def test_local_file_up_to_the_cap_is_read_whole(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "model.onnx").write_bytes(data)
    assert LocalStore(tmp_path, "local folder").read("model.onnx", CAP) == data


@pytest.mark.parametrize("size", [CAP + 1, CAP + 2, 3 * CAP])
def test_local_file_past_the_cap_is_refused(tmp_path: Path, size: int) -> None:
    (tmp_path / "model.onnx").write_bytes(os.urandom(size))
    with pytest.raises(IntegrityError, match=f"model.onnx holds more than the {CAP} bytes"):
        LocalStore(tmp_path, "local folder").read("model.onnx", CAP)


def test_local_read_stops_one_byte_past_the_cap(tmp_path: Path) -> None:
    """A pipe that sends cap + 1 bytes, then waits: only a capped read returns before the
    writer gives up waiting (a read of the whole file would wait for its end)."""
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    released = threading.Event()
    gave_up: list[bool] = []

    def write() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(b"x" * (CAP + 1))
            pipe.flush()
            gave_up.append(not released.wait(timeout=10))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(IntegrityError, match="holds more than"):
            LocalStore(tmp_path, "local folder").read("model.onnx", CAP)
    finally:
        released.set()
        writer.join(timeout=20)
    assert gave_up == [False], "the read waited for the end of the file instead of stopping"


@pytest.fixture(scope="module")
def sizes(gcs: FakeGcs) -> FakeGcs:
    """`gcs` holding objects of every size around the cap under gs://models/sizes/."""
    bucket = storage_client(gcs.url).bucket(BUCKET)
    for size in (0, CAP - 1, CAP, CAP + 1, CAP + 100):
        bucket.blob(f"sizes/{size}.bin").upload_from_string(b"y" * size)
    return gcs


@pytest.fixture
def gcs_store(sizes: FakeGcs, monkeypatch: pytest.MonkeyPatch) -> Any:
    from serving.gcs import GcsStore

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", sizes.url)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    return GcsStore(BUCKET, "sizes/", timeout=10)


@pytest.mark.parametrize("size", [0, CAP - 1, CAP])
def test_gcs_object_up_to_the_cap_is_read_whole(gcs_store: Any, size: int) -> None:
    assert gcs_store.read(f"{size}.bin", CAP) == b"y" * size


@pytest.mark.parametrize("size", [CAP + 1, CAP + 100])
def test_gcs_object_past_the_cap_is_refused_even_in_one_chunk(gcs_store: Any, size: int) -> None:
    """The whole object arrives in one chunk: the cap counts that chunk before taking it."""
    with pytest.raises(IntegrityError, match=f"{size}.bin holds more than the {CAP} bytes"):
        gcs_store.read(f"{size}.bin", CAP)
