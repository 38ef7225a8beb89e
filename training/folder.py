"""Write a verified model folder: the artifacts, then the manifest.json that pins them."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import platform
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from serving.explain.artifact import EXPLANATIONS_NAME
from serving.manifest import FORMAT_VERSION, MANIFEST_NAME, sha256_hex
from serving.schema import Feature
from training.explanations import describe_explanations
from training.export import export_onnx, servable_rows, serving_manifest
from training.statistics import training_statistics

JOBLIB_NAME = "model.joblib"
ONNX_NAME = "model.onnx"


def created_at() -> str:
    """Now in UTC, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def example_row(frame: pd.DataFrame) -> dict[str, Any]:
    """One complete row of the data, as JSON values, for the model card and the docs."""
    row = frame.dropna().iloc[0] if not frame.dropna().empty else frame.iloc[0]
    return {
        str(k): (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
        for k, v in row.items()
    }


def write_model(
    out: Path, manifest: dict[str, Any], artifacts: dict[str, tuple[str, bytes]]
) -> None:
    """Write the artifacts ({name: (runtime, bytes)}), then the manifest that pins them.

    Each file goes through a temporary file and a rename, so a reader never sees half a file.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest["artifacts"] = {
        name: {"sha256": sha256_hex(data), "bytes": len(data), "runtime": runtime}
        for name, (runtime, data) in artifacts.items()
    }
    for stale in {JOBLIB_NAME, ONNX_NAME, EXPLANATIONS_NAME} - set(artifacts):
        (out / stale).unlink(missing_ok=True)
    files = {name: data for name, (_, data) in artifacts.items()}
    files[MANIFEST_NAME] = (json.dumps(manifest, indent=2) + "\n").encode()
    for name, data in files.items():
        temporary = out / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(out / name)


def statistics(
    model: Any,
    features: list[Feature],
    task: str,
    classes: list[Any] | None,
    on_dataframe: bool,
    seen: pd.DataFrame,
) -> dict[str, Any]:
    """Per feature and for the outputs, what the model saw (training/statistics.py)."""
    servable = servable_rows(seen, features)
    rows = servable if on_dataframe else servable.to_numpy(dtype=np.float64)
    outputs = model.predict(rows).tolist() if len(servable) else []
    schema = [f.to_json() for f in features]
    return training_statistics(seen, schema, outputs, task, classes)


def describe_model(
    model: Any,
    features: list[Feature],
    task: str,
    on_dataframe: bool,
    sample: pd.DataFrame,
    seen: pd.DataFrame,
    seen_rows: str = "the training rows",
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The manifest fields every model folder has, and its artifacts (ONNX where exact).

    `sample` rows check the ONNX export and the explanations; `seen` (the training rows, or
    the sample when packaging; `seen_rows` says which) are what the training statistics
    describe, for monitor.py's drift report, and a linear model's explanations' background.
    """
    classes = model.classes_.tolist() if task == "classification" else None
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    fields: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "task": task,
        "estimator": repr(model),
        "feature_names": [f.name for f in features],
        "n_features": len(features),
        "features": [f.to_json() for f in features],
        "fitted_on": "dataframe" if on_dataframe else "array",
        "classes": classes,
        "example": example_row(sample),
        "training_statistics": statistics(model, features, task, classes, on_dataframe, seen),
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
    artifacts = {JOBLIB_NAME: ("sklearn", buffer.getvalue())}
    manifest = serving_manifest(features, task, classes, on_dataframe)
    exported = export_onnx(model, servable_rows(sample, features), manifest)
    if exported is not None:
        artifacts[ONNX_NAME] = ("onnx", exported[0])
        fields["onnx_parity"] = exported[1]
    fields["explanations"], explained = describe_explanations(
        model,
        manifest,
        servable_rows(sample, features),
        servable_rows(seen, features),
        seen_rows,
        exported[0] if exported is not None else None,
    )
    if explained is not None:
        artifacts[EXPLANATIONS_NAME] = ("explanations", explained)
    return fields, artifacts
