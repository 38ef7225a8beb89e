"""manifest.json parsing: what the loader trusts once its hash is verified."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from serving.errors import IntegrityError
from serving.manifest import MANIFEST_NAME, Manifest, sha256_hex

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {
    "format": 1,
    "name": "tiny",
    "model_version": "v1",
    "task": "classification",
    "feature_names": ["a", "b"],
    "n_features": 2,
    "classes": ["no", "yes"],
    "artifacts": {
        "model.joblib": {"sha256": "0" * 64, "bytes": 10, "runtime": "sklearn"},
        "model.onnx": {"sha256": "1" * 64, "bytes": 20, "runtime": "onnx"},
    },
}


def encoded(raw: Any) -> bytes:
    return json.dumps(raw).encode()


def changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """GOOD with one field replaced (or removed when value is ...)."""
    raw = copy.deepcopy(GOOD)
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


def test_good_manifest_parses() -> None:
    manifest = Manifest.parse(encoded(GOOD))
    assert manifest.name == "tiny"
    assert manifest.model_version == "v1"
    assert manifest.task == "classification"
    assert manifest.feature_names == ("a", "b")
    assert manifest.n_features == 2
    assert manifest.classes == ("no", "yes")
    assert (manifest.created_at, manifest.example, manifest.libraries) == (None, None, None)
    onnx = manifest.artifact_for("onnx")
    assert onnx is not None
    assert (onnx.name, onnx.sha256, onnx.size) == ("model.onnx", "1" * 64, 20)
    assert manifest.artifact_for("tensorflow") is None


def test_regression_manifest_has_no_classes() -> None:
    raw = changed(("classes",), None) | {"task": "regression"}
    assert Manifest.parse(encoded(raw)).classes is None


def test_descriptive_fields_are_typed_and_shown_only_when_well_formed() -> None:
    described = GOOD | {
        "created_at": "2026-11-26T10:15:44Z",
        "example": {"a": 1, "b": 2},
        "metrics": {"accuracy": 0.9},
        "libraries": {"scikit-learn": "1.9.1"},
        "training_data": {"rows": 10},
    }
    manifest = Manifest.parse(encoded(described))
    assert manifest.created_at == "2026-11-26T10:15:44Z"
    assert manifest.example == {"a": 1, "b": 2}
    assert manifest.metrics == {"accuracy": 0.9}
    assert manifest.libraries == {"scikit-learn": "1.9.1"}
    assert manifest.training_data == {"rows": 10}
    odd = Manifest.parse(encoded(GOOD | {"created_at": 5, "example": [1, 2], "metrics": "high"}))
    assert (odd.created_at, odd.example, odd.metrics) == (None, None, None)


def test_bundled_manifest_parses_and_pins_its_artifacts() -> None:
    manifest = Manifest.parse((REPO / "model" / MANIFEST_NAME).read_bytes())
    assert manifest.n_features == 30
    assert manifest.artifacts
    for artifact in manifest.artifacts.values():
        data = (REPO / "model" / artifact.name).read_bytes()
        assert sha256_hex(data) == artifact.sha256
        assert len(data) == artifact.size


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "Expecting value"),
        (b"\xff", "malformed"),
        (b"[]", "malformed"),
        (b"null", "malformed"),
        (encoded(changed(("format",), ...)), "format must be one of"),
        (encoded(changed(("format",), 3)), "format must be one of (1, 2), got 3"),
        (encoded(changed(("task",), "clustering")), "task must be one of"),
        (encoded(changed(("task",), ...)), "task"),
        (encoded(changed(("name",), ...)), "name"),
        (encoded(changed(("model_version",), ...)), "model_version"),
        (encoded(changed(("feature_names",), ...)), "feature_names"),
        (encoded(changed(("feature_names",), [])), "feature_names must be non-empty"),
        (encoded(changed(("n_features",), 3)), "match n_features"),
        (encoded(changed(("n_features",), ...)), "n_features"),
        (encoded(changed(("feature_names",), 5)), "malformed"),
        (encoded(changed(("artifacts",), ...)), "artifacts"),
        (encoded(changed(("artifacts",), [])), "malformed"),
        (encoded(changed(("artifacts", "model.joblib", "sha256"), ...)), "sha256"),
        (encoded(changed(("artifacts", "model.joblib", "bytes"), "ten")), "malformed"),
        (encoded(changed(("artifacts", "model.joblib", "runtime"), ...)), "runtime"),
        (encoded(changed(("artifacts", "model.joblib"), "0" * 64)), "malformed"),
    ],
)
def test_malformed_manifest_is_an_integrity_error(data: bytes, reason: str) -> None:
    with pytest.raises(IntegrityError) as caught:
        Manifest.parse(data)
    assert caught.value.message.startswith(f"{MANIFEST_NAME} is malformed")
    assert reason in caught.value.message
    assert (caught.value.status, caught.value.code) == (503, "integrity_check_failed")


@pytest.mark.parametrize(
    "name", ["../model.joblib", "sub/model.joblib", "/etc/passwd", "..\\x", "..", ".", ""]
)
def test_artifact_names_must_be_plain_file_names(name: str) -> None:
    raw = copy.deepcopy(GOOD)
    raw["artifacts"] = {name: {"sha256": "0" * 64, "bytes": 1, "runtime": "sklearn"}}
    with pytest.raises(IntegrityError, match="must be a plain file name"):
        Manifest.parse(encoded(raw))


def test_sha256_hex() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
