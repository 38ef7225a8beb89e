"""XGBoost and LightGBM pipelines fitted on a DataFrame, packaged by `train.py --from-model`:
served on ONNX by a real function whose Python cannot import either library; or, when the
booster does not convert, served by scikit-learn with its library pinned in the manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import pandas as pd
import pytest
import requests
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import train
from tests.support.deploy_helpers import (
    PROJECT,
    SERVING_FILES,
    dry_run_commands,
    flag_value,
    needs_gcloud,
    run_deploy,
    write_tree,
)
from tests.support.penguins_data import PENGUINS, TEXT, penguins, records
from tests.support.servers import REPO, Server, offline_gcloud_env, start_server
from training.isolation import cloud_load_problem

TOLERANCE = 1e-9
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
# Imported at start-up by every Python given this folder on PYTHONPATH: the boosters are gone.
BLOCKER = """
import importlib.abc, sys

class NoBoosters(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("xgboost", "lightgbm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoBoosters())
"""


def user_pipeline(numbers: list[str], booster: Any) -> Pipeline:
    """What a user writes: numbers scaled (NaN kept for the booster), text imputed and encoded."""
    text = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    prepare = ColumnTransformer([("numbers", StandardScaler(), numbers), ("text", text, TEXT)])
    return make_pipeline(prepare, booster)


def package(model: Any, folder: Path) -> Path:
    """joblib.dump, then `train.py --from-model` with the penguins CSV as its sample rows."""
    joblib.dump(model, folder / "user-model.joblib")
    out = folder / "model"
    args = ["--from-model", str(folder / "user-model.joblib"), "--data", str(PENGUINS)]
    assert train.main([*args, "--out", str(out)]) == 0
    return out


def table() -> pd.DataFrame:
    frame = pd.read_csv(PENGUINS)
    frame[TEXT] = frame[TEXT].astype(object)
    return frame


@pytest.fixture(scope="module")
def no_boosters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which `import xgboost` and `import lightgbm` fail, checked here."""
    folder = tmp_path_factory.mktemp("no-boosters")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = {"PYTHONPATH": str(folder)}
    for library in ("xgboost", "lightgbm"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {library}"],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"No module named '{library}'" in done.stderr
    return env


@pytest.fixture(scope="module")
def xgb_classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    frame = table()
    species = frame.pop("species").astype("category").cat.codes.to_numpy()
    model = user_pipeline(NUMBERS, xgboost.XGBClassifier(n_estimators=30, max_depth=3))
    model.fit(frame, species)
    return model, package(model, tmp_path_factory.mktemp("xgb"))


@pytest.fixture(scope="module")
def lgbm_regressor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    frame = table().dropna(subset=["body_mass_g"])
    mass = frame.pop("body_mass_g").to_numpy()
    numbers = [n for n in NUMBERS if n != "body_mass_g"]
    model = user_pipeline(numbers, lightgbm.LGBMRegressor(n_estimators=40, verbose=-1))
    model.fit(frame.drop(columns="species"), mass)
    return model, package(model, tmp_path_factory.mktemp("lgbm"))


@pytest.fixture(scope="module", params=["xgb_classifier", "lgbm_regressor"])
def served(
    request: pytest.FixtureRequest, no_boosters: dict[str, str]
) -> Iterator[tuple[Any, Path, Server]]:
    """Each booster's folder served by a real function in the environment without boosters."""
    model, folder = request.getfixturevalue(request.param)
    server = start_server(
        {"MODEL_URI": str(folder), **no_boosters},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )
    yield model, folder, server
    server.stop()


def test_served_on_onnx_without_either_library(served: tuple[Any, Path, Server]) -> None:
    model, folder, server = served
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "model.onnx" in manifest["artifacts"]
    assert "requirements" not in manifest
    assert requests.get(server.url, timeout=30).json()["runtime"] == "onnx"
    rows = penguins([*range(0, 344, 7), 3, 8, 9])  # complete rows and every kind of gap
    rows = rows[manifest["feature_names"]]
    body: dict[str, Any] = {"instances": records(rows)}
    classifier = hasattr(model, "classes_")
    if classifier:
        body["probabilities"] = True
    answer = requests.post(server.url, json=body, timeout=30).json()
    if classifier:
        assert answer["predictions"] == model.predict(rows).tolist()
        expected = model.predict_proba(rows)
        assert np.max(np.abs(np.asarray(answer["probabilities"]) - expected)) <= TOLERANCE
    else:
        assert np.max(np.abs(np.asarray(answer["predictions"]) - model.predict(rows))) <= TOLERANCE
    modules = requests.get(f"{server.url}/__test__/modules", timeout=30).json()
    loaded = {name.partition(".")[0] for name in modules}
    assert not loaded & {"xgboost", "lightgbm", "sklearn", "pandas"}


def test_the_cloud_load_check_loads_the_graph_without_the_boosters(
    xgb_classifier: tuple[Any, Path],
) -> None:
    _, folder = xgb_classifier
    assert cloud_load_problem((folder / "model.onnx").read_bytes(), runtime="onnx") is None
    problem = cloud_load_problem((folder / "model.joblib").read_bytes())
    assert problem is not None
    assert "needs the module 'xgboost'" in problem


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, str]:
    """A booster the converter refuses (LightGBM linear_tree), packaged; what train.py printed."""
    frame = table().dropna(subset=["body_mass_g"])
    mass = frame.pop("body_mass_g").to_numpy()
    numbers = [n for n in NUMBERS if n != "body_mass_g"]
    booster = lightgbm.LGBMRegressor(n_estimators=20, linear_tree=True, verbose=-1)
    model = user_pipeline(numbers, booster).fit(frame.drop(columns="species"), mass)
    folder = tmp_path_factory.mktemp("pinned")
    joblib.dump(model, folder / "user-model.joblib")
    args = ["--from-model", str(folder / "user-model.joblib"), "--data", str(PENGUINS)]
    done = subprocess.run(
        [sys.executable, "train.py", *args, "--out", str(folder / "model")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return model, folder / "model", done.stdout


def test_a_refused_booster_records_its_library_pin(pinned: tuple[Any, Path, str]) -> None:
    _, folder, printed = pinned
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"model.joblib"}
    assert manifest["requirements"] == [f"lightgbm=={lightgbm.__version__}"]
    assert "LightGBM linear_tree (linear models in the leaves)" in printed
    assert f"which needs lightgbm=={lightgbm.__version__} beside requirements.txt" in printed
    requirements = (REPO / "requirements.txt").read_text()
    assert "lightgbm" not in requirements
    assert "xgboost" not in requirements


def test_the_cloud_load_check_allows_exactly_the_pin(pinned: tuple[Any, Path, str]) -> None:
    _, folder, _ = pinned
    artifact = (folder / "model.joblib").read_bytes()
    assert cloud_load_problem(artifact, extra=[f"lightgbm=={lightgbm.__version__}"]) is None
    other = cloud_load_problem(artifact, extra=[f"xgboost=={xgboost.__version__}"])
    assert other is not None
    assert "needs the module 'lightgbm'" in other


def test_the_scikit_learn_runtime_serves_the_pinned_booster(
    pinned: tuple[Any, Path, str],
) -> None:
    model, folder, _ = pinned
    server = start_server({"MODEL_URI": str(folder)})
    try:
        assert requests.get(server.url, timeout=30).json()["runtime"] == "sklearn"
        rows = penguins(list(range(0, 344, 11))).drop(columns="body_mass_g")
        answer = requests.post(server.url, json={"instances": records(rows)}, timeout=30).json()
    finally:
        server.stop()
    assert np.max(np.abs(np.asarray(answer["predictions"]) - model.predict(rows))) <= TOLERANCE


@needs_gcloud
def test_the_pinned_booster_deploys_with_its_pin_added(
    pinned: tuple[Any, Path, str], tmp_path: Path
) -> None:
    """train.py's real folder of a refused booster, then deploy.sh --dry-run: the upload is a
    copy whose requirements.txt adds exactly the manifest's pin (the repo's is unchanged)."""
    _, folder, _ = pinned
    source = tmp_path / "function"
    write_tree(source, SERVING_FILES)
    shutil.copytree(folder, source / "model", dirs_exist_ok=True)
    shutil.copy(REPO / ".gcloudignore", source / ".gcloudignore")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    env |= offline_gcloud_env(tmp_path / "gcloud-config")

    done = run_deploy("--dry-run", "--project", PROJECT, "--source", str(source), env=env)

    assert done.returncode == 0, done.stderr
    pin = f"lightgbm=={lightgbm.__version__}"
    assert f"the model needs {pin}" in done.stderr
    assert flag_value(dry_run_commands(done.stdout)[0], "--source") == "STAGED_SOURCE"
    assert (source / "requirements.txt").read_text() == SERVING_FILES["requirements.txt"]
