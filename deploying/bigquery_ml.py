"""--bigquery-ml DATASET.MODEL: the model's BigQuery variant imported as a BigQuery ML model.

train.py writes the variant (model.bigquery.onnx, runtime tag "bigquery-ml") and records in the
manifest, under "bigquery_ml", whether it passed its gate under ONNX Runtime 1.12.1, with its
input columns and outputs. This copies the pinned file to Cloud Storage (with --upload-model's
folder, or into the gs:// folder of --model-uri), runs CREATE OR REPLACE MODEL ... OPTIONS
(MODEL_TYPE='ONNX', MODEL_PATH=...) with `bq query`, and prints an ML.PREDICT that scores a
table: each feature's column cast and aliased to the variant's input name, a missing number
given as NaN and a missing text flagged in a BOOL column of its own (what the function does
with them). No function is deployed: BigQuery runs the model itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from deploying import commands
from deploying.checks import BigQueryMl
from deploying.errors import DeployError
from deploying.model import Model, load_manifest, sha256_of
from deploying.remote_function import sql_string
from deploying.shell import Shell, say, tell
from serving.manifest import MANIFEST_NAME
from serving.storage import GCS_SCHEME

RUNTIME = "bigquery-ml"  # the variant's runtime tag in the manifest (training/bigquery_variant.py)
MAX_BYTES = 450 * 1024 * 1024  # BigQuery ML's limit for an imported ONNX model
NAN = "CAST('NaN' AS FLOAT64)"


@dataclass(frozen=True)
class Variant:
    """The checked variant: where it is, where BigQuery ML reads it, what it takes and gives."""

    local: str
    model_path: str  # gs://.../model.bigquery.onnx
    copy: bool  # copied on its own (an --upload-model upload carries it with the folder)
    inputs: tuple[dict[str, Any], ...]
    outputs: dict[str, str]
    classes: tuple[Any, ...] | None


def plan(model: Model, model_dir: str) -> Variant:
    """The variant of the model's local folder, refused in one line unless it passed its gate."""
    if model.upload is not None:
        folder, destination, copy = os.path.dirname(model.upload.manifest), model.uri, False
    elif model.uri.startswith(GCS_SCHEME):
        folder, destination, copy = model_dir, model.uri.removesuffix("/") + "/", True
    else:
        raise DeployError(
            "--bigquery-ml: BigQuery ML imports the model file from Cloud Storage: add "
            "--upload-model gs://BUCKET/PREFIX/, or give --model-uri gs://... with its local "
            "folder as --model-dir"
        )
    manifest_path = f"{folder}/{MANIFEST_NAME}"
    if not os.path.isfile(manifest_path):
        raise DeployError(f"--bigquery-ml: {manifest_path} not found (pass --model-dir)")
    if copy and model.sha256 and sha256_of(manifest_path) != model.sha256:
        raise DeployError(
            f"--bigquery-ml: {manifest_path} is not the manifest MODEL_SHA256 pins "
            f"({model.sha256}): pass the local folder of {model.uri} as --model-dir"
        )
    manifest = load_manifest(manifest_path)
    record = manifest.get("bigquery_ml")
    if not isinstance(record, dict):
        raise DeployError(
            f"--bigquery-ml: {manifest_path} has no BigQuery variant: package the model again "
            "with this train.py"
        )
    if record.get("status") != "passed":
        raise DeployError(
            f"--bigquery-ml: the model's BigQuery variant did not pass "
            f"({record.get('status')}): {record.get('reason')}"
        )
    name, local = _artifact(manifest, folder, manifest_path)
    return Variant(
        local=local,
        model_path=f"{destination}{name}",
        copy=copy,
        inputs=tuple(record["inputs"]),
        outputs=dict(record["outputs"]),
        classes=tuple(manifest["classes"]) if manifest.get("classes") else None,
    )


def _artifact(manifest: dict[str, Any], folder: str, where: str) -> tuple[str, str]:
    """The variant's file name and local path, checked against its pin and BigQuery's limit."""
    found = [
        (name, entry)
        for name, entry in (manifest.get("artifacts") or {}).items()
        if isinstance(entry, dict) and entry.get("runtime") == RUNTIME
    ]
    if len(found) != 1:
        raise DeployError(f"--bigquery-ml: {where} lists no BigQuery variant artifact")
    name, entry = found[0]
    local = f"{folder}/{name}"
    if not os.path.isfile(local):
        raise DeployError(f"--bigquery-ml: {local} not found")
    if sha256_of(local) != entry.get("sha256"):
        raise DeployError(f"--bigquery-ml: {local} is not the file {where} pins (sha256 differs)")
    if os.path.getsize(local) > MAX_BYTES:
        raise DeployError(f"--bigquery-ml: {local} is above BigQuery ML's 450 MB")
    return name, local


def create(shell: Shell, project: str, bigquery_ml: BigQueryMl, variant: Variant) -> None:
    """Copy the variant (unless the upload did), CREATE OR REPLACE MODEL, print the SELECT."""
    if variant.copy:
        destination = variant.model_path.rsplit("/", 1)[0] + "/"
        shell.run(commands.copy_to_gcs([variant.local], destination, project))
    model = f"{project}.{bigquery_ml.model}"
    sql = create_sql(model, variant.model_path)
    shell.run(commands.bigquery_query(project, bigquery_ml.location, sql), output_to_stderr=True)
    report = (
        f"\nBigQuery ML model {model}, imported from {variant.model_path}: score a table whose "
        f"columns are the model's features (NULL for a missing value) with\n\n"
        f"{select_sql(variant, model)}\n\n{returned(variant)}\n"
    )
    # A dry run's stdout holds only commands: the SELECT goes beside them, on stderr.
    (tell if shell.dry_run else say)(report)


def create_sql(model: str, model_path: str) -> str:
    return (
        f"CREATE OR REPLACE MODEL `{model}` "
        f"OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = {sql_string(model_path)})"
    )


def select_sql(variant: Variant, model: str) -> str:
    """ML.PREDICT over a table: each feature's column, as the variant's input takes it."""
    dataset = model.rsplit(".", 1)[0]
    columns = ",\n    ".join(_column(entry) for entry in variant.inputs)
    return (
        f"SELECT *\nFROM ML.PREDICT(MODEL `{model}`, (\n  SELECT\n    {columns}\n"
        f"  FROM `{dataset}.YOUR_TABLE`))"
    )


def _column(entry: dict[str, Any]) -> str:
    """One input: the table's column (named as the feature), cast and aliased to the input;
    text that may be missing also says whether it is, in its `null_column`."""
    source = quoted(str(entry["feature"]))
    column = source
    if entry["type"] == "FLOAT64":
        column = f"CAST({column} AS FLOAT64)"
        if entry["nullable"]:
            column = f"IFNULL({column}, {NAN})"
    elif entry["type"] == "STRING" and entry["nullable"]:
        column = f"IFNULL({column}, '')"
    selected = f"{column} AS {entry['column']}"
    if entry.get("null_column"):
        selected += f",\n    {source} IS NULL AS {entry['null_column']}"
    return selected


def quoted(name: str) -> str:
    """A column name as a GoogleSQL quoted identifier (any characters, backticks escaped)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def returned(variant: Variant) -> str:
    """Which output columns come back, and their types."""
    described = []
    for name, sql_type in variant.outputs.items():
        if name == "probabilities" and variant.classes is not None:
            order = ", ".join(str(c) for c in variant.classes)
            described.append(f"{name} ({sql_type}, one per class: {order})")
        else:
            described.append(f"{name} ({sql_type})")
    return (
        f"ML.PREDICT returns the inner SELECT's columns (add others to keep, e.g. an id) and "
        f"{' and '.join(described)}."
    )
