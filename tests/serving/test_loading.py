"""Verify-then-deserialise: nothing is unpickled before every hash matches; the runtimes.

The same refusals through the app and a real server: tests/serving/test_integrity.py.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn

from serving.batch import Table
from serving.errors import IntegrityError, ModelUnavailable
from serving.loading import choose_artifact, load_model
from serving.manifest import MANIFEST_NAME, Manifest, sha256_hex
from serving.settings import Settings
from tests.support.artifacts import edit_manifest, evil_artifact, flip_a_byte, pin
from tests.support.fixture_types import Logs

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]


def settings_for(folder: Path, **values: Any) -> Settings:
    return Settings(model_uri=str(folder), **values)


def dataset_rows() -> np.ndarray:
    from sklearn.datasets import load_breast_cancer

    return np.asarray(load_breast_cancer().data, dtype=np.float64)


@pytest.mark.parametrize(
    ("preference", "runtime"), [("auto", "onnx"), ("onnx", "onnx"), ("sklearn", "sklearn")]
)
def test_loads_the_chosen_runtime(classifier_dir: Path, preference: str, runtime: str) -> None:
    loaded = load_model(settings_for(classifier_dir, model_runtime=preference))
    assert loaded.runtime.name == runtime
    assert loaded.manifest_sha256 == sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    assert loaded.source == "local folder"
    assert loaded.load_seconds > 0
    rows = dataset_rows()
    expected = joblib.load(classifier_dir / "model.joblib")
    labels = loaded.runtime.run(Table.from_matrix(rows), ("predict",))["predict"]
    assert labels.tolist() == expected.predict(rows).tolist()


def test_bundled_model_is_labelled_bundled() -> None:
    loaded = load_model(Settings())
    assert loaded.source == "bundled"
    assert (
        loaded.manifest.model_version
        == json.loads((REPO / "model" / MANIFEST_NAME).read_bytes())["model_version"]
    )


def test_model_loaded_line_has_source_hash_and_seconds(
    classifier_dir: Path, serving_logs: Logs
) -> None:
    loaded = load_model(settings_for(classifier_dir))
    lines = [line for line in serving_logs() if line["message"] == "model loaded"]
    assert len(lines) == 1
    line = lines[0]
    assert line["severity"] == "INFO"
    assert line["source"] == "local folder"
    assert line["manifest_sha256"] == loaded.manifest_sha256
    assert line["model_version"] == loaded.manifest.model_version
    assert line["runtime"] == "onnx"
    assert isinstance(line["seconds"], float)
    assert line["seconds"] >= 0


def test_auto_falls_back_to_sklearn_when_no_onnx_is_listed(model_copy: Path) -> None:
    edit_manifest(model_copy, lambda raw: raw["artifacts"].pop("model.onnx"))
    assert load_model(settings_for(model_copy)).runtime.name == "sklearn"
    with pytest.raises(ModelUnavailable, match="lists no artifact for MODEL_RUNTIME=onnx"):
        load_model(settings_for(model_copy, model_runtime="onnx"))


def test_choose_artifact_order(classifier_dir: Path) -> None:
    manifest = Manifest.parse((classifier_dir / MANIFEST_NAME).read_bytes())
    assert choose_artifact(manifest, "auto").name == "model.onnx"
    assert choose_artifact(manifest, "sklearn").name == "model.joblib"
    assert choose_artifact(manifest, "onnx").name == "model.onnx"


def test_an_artifact_with_a_matching_hash_is_deserialised(model_copy: Path, tmp_path: Path) -> None:
    """The control for the tests below: this artifact really runs code when unpickled."""
    marker = tmp_path / "unpickled"
    (model_copy / "model.joblib").write_bytes(evil_artifact(marker))
    pin(model_copy, "model.joblib")
    load_model(settings_for(model_copy, model_runtime="sklearn"))
    assert marker.exists()


def test_artifact_hash_mismatch_deserialises_nothing(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    pinned = json.loads((model_copy / MANIFEST_NAME).read_bytes())["artifacts"]["model.joblib"]
    evil = evil_artifact(marker)
    (model_copy / "model.joblib").write_bytes(evil)
    with pytest.raises(IntegrityError) as caught:
        load_model(settings_for(model_copy, model_runtime="sklearn"))
    assert not marker.exists()
    assert caught.value.message == (
        f"model.joblib sha256 is {sha256_hex(evil)}, but manifest.json pins {pinned['sha256']}"
    )


def test_manifest_pin_mismatch_deserialises_nothing(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    original = sha256_hex((model_copy / MANIFEST_NAME).read_bytes())
    (model_copy / "model.joblib").write_bytes(evil_artifact(marker))
    edited = pin(model_copy, "model.joblib")  # a consistent folder, but not the pinned one
    with pytest.raises(IntegrityError) as caught:
        load_model(settings_for(model_copy, model_runtime="sklearn", model_sha256=original))
    assert not marker.exists()
    assert caught.value.message == (
        f"manifest.json sha256 is {edited}, but MODEL_SHA256 pins {original}"
    )


def test_matching_model_sha256_loads(classifier_dir: Path) -> None:
    pinned = sha256_hex((classifier_dir / MANIFEST_NAME).read_bytes())
    loaded = load_model(settings_for(classifier_dir, model_sha256=pinned))
    assert loaded.manifest_sha256 == pinned


def test_corrupted_onnx_artifact_is_refused(model_copy: Path) -> None:
    flip_a_byte(model_copy / "model.onnx")
    with pytest.raises(IntegrityError, match=r"^model\.onnx sha256 is [0-9a-f]{64}, but"):
        load_model(settings_for(model_copy))


@pytest.mark.parametrize("name", ["model.joblib", MANIFEST_NAME])
def test_missing_file_is_unavailable(model_copy: Path, name: str) -> None:
    (model_copy / name).unlink()
    with pytest.raises(ModelUnavailable, match=f"{name} is missing"):
        load_model(settings_for(model_copy, model_runtime="sklearn"))


def test_sklearn_version_mismatch_is_a_warning(model_copy: Path, serving_logs: Logs) -> None:
    edit_manifest(model_copy, lambda raw: raw["libraries"].update({"scikit-learn": "0.24.2"}))
    loaded = load_model(settings_for(model_copy, model_runtime="sklearn"))
    expected = (
        f"model trained with scikit-learn 0.24.2, serving with scikit-learn {sklearn.__version__}"
    )
    assert loaded.runtime.warnings == (expected,)
    assert {"severity": "WARNING", "message": expected}.items() <= serving_logs()[0].items()


def test_same_sklearn_version_has_no_warning(classifier_dir: Path) -> None:
    loaded = load_model(settings_for(classifier_dir, model_runtime="sklearn"))
    assert loaded.runtime.warnings == ()


def test_onnx_runtime_never_imports_sklearn(classifier_dir: Path) -> None:
    script = (
        "import sys\n"
        "from serving.loading import load_model\n"
        "from serving.settings import Settings\n"
        f"model = load_model(Settings(model_uri={str(classifier_dir)!r}))\n"
        "assert model.runtime.name == 'onnx', model.runtime.name\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'joblib')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a source file imports (anywhere in the file)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_model_libraries_stay_behind_the_runtime_interface() -> None:
    """Only serving/runtimes/ touches the model libraries; only serving/http.py touches Flask."""
    for path in sorted((REPO / "serving").rglob("*.py")):
        modules = imported_modules(path)
        where = path.relative_to(REPO).as_posix()
        if not where.startswith("serving/runtimes/"):
            assert not modules & {"sklearn", "joblib", "onnxruntime", "pickle"}, where
        if where != "serving/http.py":
            assert not modules & {"flask", "werkzeug", "functions_framework"}, where
