"""Shared fixtures: small real models trained in temp folders, the app, a real server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import train  # noqa: E402
from tests.servers import Server, start_server  # noqa: E402

TrainModel = Callable[..., Path]


@pytest.fixture(scope="session")
def train_model(tmp_path_factory: pytest.TempPathFactory) -> TrainModel:
    """Train a model with train.py's arguments into a fresh temp folder; returns the folder."""

    def run(*args: str) -> Path:
        out = tmp_path_factory.mktemp("model")
        assert train.main([*args, "--out", str(out)]) == 0
        return out

    return run


@pytest.fixture(scope="session")
def classifier_dir(train_model: TrainModel) -> Path:
    """The default model: breast-cancer, StandardScaler + LogisticRegression."""
    return train_model()


@pytest.fixture(scope="session")
def regressor_dir(train_model: TrainModel) -> Path:
    """A regression model on the diabetes dataset."""
    return train_model("--dataset", "diabetes")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the function's environment for one test (restored afterwards)."""

    def apply(**values: str) -> None:
        for name in ("MODEL_URI", "MODEL_SHA256", "MAX_ROWS", "MAX_BODY_BYTES", "LOG_LEVEL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FUNCTION_TARGET", "predict")
        monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "http")

    return apply


@pytest.fixture
def make_client(app_env: Callable[..., None]) -> Callable[..., object]:
    """A Flask test client through the real functions-framework app, for a given environment."""
    import functions_framework

    def build(**env: str) -> object:
        app_env(**env)
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        return app.test_client()

    return build


@pytest.fixture
def client(make_client: Callable[..., object], classifier_dir: Path) -> object:
    """A test client serving the breast-cancer classifier."""
    return make_client(MODEL_URI=str(classifier_dir))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real functions-framework server serving a freshly trained classifier."""
    out = tmp_path_factory.mktemp("server-model")
    assert train.main(["--out", str(out)]) == 0
    running = start_server({"MODEL_URI": str(out)})
    yield running
    running.stop()
