"""The model folder's manifest.json: what train.py writes and the loader trusts once verified."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from serving.errors import IntegrityError
from serving.schema import Schema, parse_features

MANIFEST_NAME = "manifest.json"
# train.py writes a few KB; the cap bounds what a wrong object can make the loader hold.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Format 2 adds the typed "features" schema and "fitted_on"; format 1 (numbers only) still loads.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
TASKS = ("classification", "regression")
# Why a folder written before explanations existed has none.
NOT_EXPLAINED = "the model folder was written without explanations; package it again"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One file of the model folder, pinned by its sha256."""

    name: str
    sha256: str
    size: int
    runtime: str

    def to_json(self) -> dict[str, Any]:
        """The entry as manifest.json holds it."""
        return {"sha256": self.sha256, "bytes": self.size, "runtime": self.runtime}


@dataclass(frozen=True)
class CodeFile:
    """One file of the user's own code (`train.py --code`), under code/, pinned by its sha256."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest: every field the function reads, typed.

    The descriptive fields (when it was made, an example row, metrics, the libraries it was
    trained with, its training data) are None when absent or not a JSON object (a string for
    `created_at`); they are shown, never trusted.
    """

    name: str
    model_version: str
    task: str
    feature_names: tuple[str, ...]
    features: Schema
    classes: tuple[Any, ...] | None
    artifacts: dict[str, Artifact]
    fitted_on_dataframe: bool = False
    created_at: str | None = None
    example: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    libraries: dict[str, Any] | None = None
    training_data: dict[str, Any] | None = None
    code: dict[str, CodeFile] | None = None
    explanations: dict[str, Any] | None = None

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def explanation_status(self) -> dict[str, Any]:
        """Whether the model answers explanations: its method and output space, or why not."""
        entry = self.explanations or {}
        if entry.get("available") is not True:
            return {"available": False, "reason": str(entry.get("reason") or NOT_EXPLAINED)}
        return {
            "available": True,
            "method": entry.get("method"),
            "output": entry.get("output"),
            "outputs": entry.get("outputs"),
        }

    def artifact_for(self, runtime: str) -> Artifact | None:
        """The artifact a runtime reads, if the manifest lists one."""
        return next((a for a in self.artifacts.values() if a.runtime == runtime), None)

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse and check manifest.json's bytes; anything malformed is an IntegrityError."""
        try:
            raw = json.loads(data)
            return cls._from_dict(raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(f"{MANIFEST_NAME} is malformed: {exc}") from exc

    @classmethod
    def _from_dict(cls, raw: dict[str, Any]) -> Manifest:
        if raw.get("format") not in READABLE_FORMATS:
            raise ValueError(f"format must be one of {READABLE_FORMATS}, got {raw.get('format')!r}")
        if raw["task"] not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {raw['task']!r}")
        names = tuple(str(n) for n in raw["feature_names"])
        if not names or raw["n_features"] != len(names):
            raise ValueError("feature_names must be non-empty and match n_features")
        if len(set(names)) != len(names):
            raise ValueError("feature_names must not repeat a name")
        if raw.get("fitted_on", "array") not in ("array", "dataframe"):
            raise ValueError("fitted_on must be array or dataframe")
        classes = raw.get("classes")
        artifacts = {
            name: Artifact(name, str(entry["sha256"]), int(entry["bytes"]), str(entry["runtime"]))
            for name, entry in raw["artifacts"].items()
        }
        for name, artifact in artifacts.items():
            if "/" in name or "\\" in name or name in ("", ".", ".."):
                raise ValueError(f"artifact name {name!r} must be a plain file name")
            if artifact.size < 0:
                raise ValueError(f"artifact {name!r} has a negative size")
        return cls(
            name=str(raw["name"]),
            model_version=str(raw["model_version"]),
            task=raw["task"],
            feature_names=names,
            features=parse_features(raw.get("features"), names),
            classes=tuple(classes) if classes is not None else None,
            artifacts=artifacts,
            fitted_on_dataframe=raw.get("fitted_on") == "dataframe",
            created_at=raw["created_at"] if isinstance(raw.get("created_at"), str) else None,
            example=_object(raw, "example"),
            metrics=_object(raw, "metrics"),
            libraries=_object(raw, "libraries"),
            training_data=_object(raw, "training_data"),
            code=_code(raw.get("code")),
            explanations=_object(raw, "explanations"),
        )


def _code(raw: Any) -> dict[str, CodeFile] | None:
    """The "code" entries: relative paths inside code/ (no "..", no absolute path)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("code must be an object of {path: {sha256, bytes}}")
    code = {}
    for path, entry in raw.items():
        parts = str(path).split("/")
        if "\\" in path or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"code path {path!r} must be a relative path inside code/")
        code[str(path)] = CodeFile(str(entry["sha256"]), int(entry["bytes"]))
        if code[str(path)].size < 0:
            raise ValueError(f"code file {path!r} has a negative size")
    return code


def _object(raw: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = raw.get(key)
    return value if isinstance(value, dict) else None
