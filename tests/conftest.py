"""Shared fixtures: small real models trained in temp folders, the app, logs (the real servers
they share: tests/support/fixtures.py)."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# onnxruntime uploads usage telemetry to mobile.events.data.microsoft.com after a few seconds:
# off for this process and every server or script it starts (they inherit the environment).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import train  # noqa: E402
from serving.logs import CloudLoggingFormatter  # noqa: E402
from tests.support.fixture_types import TrainModel  # noqa: E402
from tests.support.penguins_data import TRAIN_ARGS  # noqa: E402
from tests.support.servers import SETTINGS_VARIABLES  # noqa: E402

# The shared real servers: server, bundled_server, serve (a factory), gcs.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def bigquery_python() -> Path | None:
    """ONNX Runtime 1.12.1's Python (BigQuery ML's version; training/bigquery_env.py), built
    once before any model is trained, so that every model's BigQuery variant is gated. Without a
    Python 3.10 to build it with, None (its tests skip saying so), except in CI, which has one."""
    from training import bigquery_env

    try:
        return bigquery_env.build()
    except bigquery_env.EnvironmentMissing:
        if os.environ.get("CI"):
            raise
        return None


@pytest.fixture
def ort_1_12(bigquery_python: Path | None) -> Path:
    """ONNX Runtime 1.12.1's Python, or a skip saying why there is none."""
    if bigquery_python is None:
        pytest.skip("no Python 3.10 to build ONNX Runtime 1.12.1's environment with")
    return bigquery_python


@pytest.fixture(scope="session")
def train_model(tmp_path_factory: pytest.TempPathFactory) -> TrainModel:
    """Train a model with train.py's arguments into a fresh temp folder; returns the folder."""

    def run(*args: str) -> Path:
        out = tmp_path_factory.mktemp("model")
        assert train.main([*args, "--out", str(out)]) == 0
        return out

    return run


def trained_once(variable: str) -> Path | None:
    """A folder bench/mutation.py trained once for its many short pytest sessions, if given."""
    folder = os.environ.get(variable)
    return Path(folder) if folder else None


@pytest.fixture(scope="session")
def classifier_dir(train_model: TrainModel) -> Path:
    """The default model (train.py with no arguments): breast-cancer, StandardScaler + LR."""
    return trained_once("TEST_CLASSIFIER_DIR") or train_model()


@pytest.fixture(scope="session")
def regressor_dir(train_model: TrainModel) -> Path:
    """A regression model on the diabetes dataset."""
    return trained_once("TEST_REGRESSOR_DIR") or train_model("--dataset", "diabetes")


@pytest.fixture(scope="session")
def penguins_dir(train_model: TrainModel) -> Path:
    """train.py on the palmerpenguins CSV: island and sex text, year integer, gaps (NA cells)."""
    return train_model(*TRAIN_ARGS)


@pytest.fixture(scope="session")
def digits_dir(train_model: TrainModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The "digits" model of tests/support/fuzz_targets.py: feature names that look like numbers
    (0 to 4), a text feature, gaps."""
    from tests.support.fuzz_targets import digits_csv, digits_train_args

    data = digits_csv(tmp_path_factory.mktemp("digits") / "digits.csv")
    return train_model(*digits_train_args(data))


@pytest.fixture
def model_copy(classifier_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the classifier folder that a test may break."""
    return Path(shutil.copytree(classifier_dir, tmp_path / "model-copy"))


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the function's environment for one test (restored afterwards)."""

    def apply(**values: str) -> None:
        for name in SETTINGS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FUNCTION_TARGET", "predict")
        monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")

    return apply


@pytest.fixture
def make_client(app_env: Callable[..., None]) -> Callable[..., Any]:
    """A Flask test client through the real functions-framework app, for a given environment."""
    import functions_framework

    def build(**env: str) -> Any:
        app_env(**env)
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        return app.test_client()

    return build


@pytest.fixture
def client(make_client: Callable[..., Any], classifier_dir: Path) -> Any:
    """A test client serving the breast-cancer classifier."""
    return make_client(MODEL_URI=str(classifier_dir))


@pytest.fixture
def serving_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The `serving` loggers' JSON lines during one test, parsed (each line must be JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter())
    logger = logging.getLogger("serving")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(previous)
