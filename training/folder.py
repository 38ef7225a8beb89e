"""Write a verified model folder: the artifacts, then the manifest.json that pins them."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from serving.explain.artifact import EXPLANATIONS_NAME
from serving.manifest import FORMAT_VERSION, MANIFEST_NAME, sha256_hex
from serving.schema import Feature
from serving.user_code import CODE_FOLDER
from training.bigquery_variant import RUNTIME as BIGQUERY_RUNTIME
from training.bigquery_variant import VARIANT_NAME, bigquery_variant
from training.data import DataError
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


def synthetic_example(frame: pd.DataFrame, features: list[Feature]) -> dict[str, Any]:
    """A made-up row for the model card, GET / and the docs, never a real one: per feature the
    median of the rows, rounded to the decimal places the column's values have (an integer
    when they have none, as in a column of whole numbers with gaps), or, for text and
    booleans, the most common value (ties: the first in sorted order)."""
    return {
        feature.name: _typical(frame[name], feature)
        for feature, name in zip(features, frame.columns, strict=True)
    }


def real_example(frame: pd.DataFrame, number: int) -> dict[str, Any]:
    """Row `number` of the data as train.py reads it (1 = the first row after the header),
    published as it is: train.py --example-row."""
    if not 1 <= number <= len(frame):
        raise DataError(f"--example-row {number}: the data has rows 1 to {len(frame)}")
    row = frame.iloc[number - 1]
    return {str(k): _json_value(v) for k, v in row.items()}


def _typical(column: pd.Series, feature: Feature) -> Any:
    present = column.dropna()
    if present.empty:
        return None
    if feature.type in ("number", "integer") and pd.api.types.is_numeric_dtype(present):
        median = float(np.median(present.to_numpy(dtype=np.float64)))
        whole = feature.type == "integer" or pd.api.types.is_integer_dtype(present)
        places = 0 if whole else _decimal_places(present)
        return round(median, places) if places else round(median)  # no decimals: an int
    counts = present.value_counts(sort=False)
    most = min(counts.items(), key=lambda item: (-item[1], str(item[0])))[0]  # ties: A to Z
    return _json_value(most)


def _decimal_places(values: pd.Series, sample: int = 10_000) -> int:
    """The most digits after the decimal point among the column's (first `sample`) values."""
    places = 0
    for value in values.iloc[:sample].to_numpy(dtype=np.float64):
        text = np.format_float_positional(value, trim="-")
        places = max(places, len(text.partition(".")[2]))
    return places


def _json_value(value: Any) -> Any:
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def write_model(
    out: Path,
    manifest: dict[str, Any],
    artifacts: dict[str, tuple[str, bytes]],
    code: Mapping[str, bytes] | None = None,
) -> None:
    """Write the artifacts ({name: (runtime, bytes)}) and the user's code ({code/path:
    bytes}, pinned by the manifest's "code"), then the manifest that pins them.

    Each file goes through a temporary file and a rename, so a reader never sees half a file.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest["artifacts"] = {
        name: {"sha256": sha256_hex(data), "bytes": len(data), "runtime": runtime}
        for name, (runtime, data) in artifacts.items()
    }
    for stale in {JOBLIB_NAME, ONNX_NAME, VARIANT_NAME, EXPLANATIONS_NAME} - set(artifacts):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / CODE_FOLDER, ignore_errors=True)
    files = {name: data for name, (_, data) in artifacts.items()} | dict(code or {})
    files[MANIFEST_NAME] = (json.dumps(manifest, indent=2) + "\n").encode()
    for name, data in files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        temporary.replace(target)


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
    example: dict[str, Any] | None = None,
    seen_rows: str = "the training rows",
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The manifest fields every model folder has, and its artifacts (ONNX where exact).

    `sample` rows check the ONNX export and the explanations; `seen` (the training rows, or
    the sample when packaging; `seen_rows` says which) are what the training statistics and
    the synthetic example describe, unless a real `example` row is given (train.py
    --example-row), and a linear model's explanations' background.
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
        "example": example if example is not None else synthetic_example(seen, features),
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
    variant, fields["bigquery_ml"] = bigquery_variant(
        model, servable_rows(sample, features), manifest
    )
    if variant is not None:
        artifacts[VARIANT_NAME] = (BIGQUERY_RUNTIME, variant)
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
