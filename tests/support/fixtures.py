"""The real servers the tests share, one of each per test module (tests/conftest.py registers
this file): functions-framework serving the classifier or the bundled model, and
fake-gcs-server. A module that needs other settings overrides `server_settings`; one that needs
another model calls `serve` with its own environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.support.servers import Server, start_server

if TYPE_CHECKING:
    from tests.support.gcs_server import FakeGcs

# The bucket `gcs` holds from the start.
BUCKET = "models"


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[..., Server]]:
    """Start a real server with start_server's arguments; every one stops when the module ends."""
    started: list[Server] = []

    def start(env: Mapping[str, str] | None = None, **options: Any) -> Server:
        running = start_server(env, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """The function's settings for the module's `server` and `bundled_server` (none: defaults)."""
    return {}


@pytest.fixture(scope="module")
def server(
    serve: Callable[..., Server], classifier_dir: Path, server_settings: dict[str, str]
) -> Server:
    """A real functions-framework server serving the freshly trained classifier."""
    return serve({"MODEL_URI": str(classifier_dir), **server_settings})


@pytest.fixture(scope="module")
def bundled_server(serve: Callable[..., Server], server_settings: dict[str, str]) -> Server:
    """The function as shipped: the bundled model/ (MODEL_URI unset), as `make serve` runs it."""
    return serve(server_settings)


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGcs]:
    """fake-gcs-server (memory backend) holding the empty `models` bucket."""
    from tests.support.gcs_server import FakeGcs

    running = FakeGcs().start()
    try:
        requests.post(f"{running.url}/storage/v1/b", json={"name": BUCKET}, timeout=10)
        yield running
    finally:
        running.stop()
