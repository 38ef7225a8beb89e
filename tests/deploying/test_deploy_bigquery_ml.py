"""deploy.sh --bigquery-ml: the real gcloud and bq CLIs against fake-gcs-server and the local fake
of BigQuery, which imports the model file from the bucket as BigQuery ML does.

The printed ML.PREDICT is then checked by running it: its inner SELECT (parsed as BigQuery SQL
with sqlglot, run by DuckDB) on a table of the model's features, gaps as NULL, and the
variant under ONNX Runtime 1.12.1 on the columns it selects, against the function's answers.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from deploying.model import sha256_of
from tests.support.deploy_helpers import (
    PROJECT,
    create_bucket,
    gcs_objects,
    needs_gcloud,
    run_deploy,
)
from tests.support.fake_google_apis import FakeGoogleApis
from tests.support.penguins_data import penguins
from training import bigquery_gate

VARIANT = "model.bigquery.onnx"


@pytest.fixture
def bigquery_ml_env(
    bq_env: dict[str, str], fake_apis: FakeGoogleApis, fake_gcs_url: str
) -> dict[str, str]:
    """bq and gcloud pointed at the fakes; the fake BigQuery imports from the fake bucket."""
    fake_apis.state.data.storage_url = fake_gcs_url
    create_bucket(fake_gcs_url, "models")
    return bq_env


def printed_select(stdout: str) -> str:
    """The ML.PREDICT statement deploy.sh printed."""
    found = re.search(r"^SELECT \*\nFROM ML\.PREDICT\(.*?\)\)$", stdout, re.MULTILINE | re.DOTALL)
    assert found is not None, stdout
    return found.group(0)


def selected_rows(select: str, table: pd.DataFrame) -> pd.DataFrame:
    """What the ML.PREDICT's inner SELECT hands the model: run by DuckDB on `table` (a missing
    value as SQL NULL), after sqlglot reads it as BigQuery SQL. BigQuery does not document what
    a NULL becomes in an ONNX input, so no selected value may be NULL."""
    import duckdb
    import sqlglot
    from sqlglot import exp

    statement = sqlglot.parse_one(select, read="bigquery")
    predict = statement.find(exp.Predict)
    assert predict is not None, select
    inner = predict.expression.this
    assert isinstance(inner, exp.Select)
    [source] = list(inner.find_all(exp.Table))
    assert source.name == "YOUR_TABLE"
    source.replace(exp.to_table("rows"))
    rows = table.copy()
    for name in rows.columns:
        if rows[name].dtype.kind == "f":
            rows[name] = rows[name].astype("Float64")  # NaN as NULL, as a BigQuery table holds it
    connection = duckdb.connect()
    connection.register("rows", rows)
    query = inner.sql(dialect="duckdb")
    aliases = [e.alias_or_name for e in inner.expressions]
    nulls = " OR ".join(f'"{alias}" IS NULL' for alias in aliases)
    counted = connection.execute(f"SELECT COUNT(*) FROM ({query}) WHERE {nulls}").fetchone()
    assert counted == (0,), f"the SELECT hands the model NULLs: {query}"
    return connection.execute(query).df()


def run_selected(folder: Path, selected: pd.DataFrame, python: Path) -> dict[str, np.ndarray]:
    """The variant under ONNX Runtime 1.12.1 on the selected columns, matched by name."""
    manifest = json.loads((folder / "manifest.json").read_text())
    dtypes = {"FLOAT64": np.float64, "INT64": np.int64, "STRING": str}
    feeds = {}
    for entry in manifest["bigquery_ml"]["inputs"]:
        values = selected[entry["column"]].to_numpy()
        feeds[entry["column"]] = values.astype(dtypes[entry["type"]]).reshape(-1, 1)
        if "null_column" in entry:
            flag = selected[entry["null_column"]].to_numpy()
            feeds[entry["null_column"]] = flag.astype(bool).reshape(-1, 1)
    assert list(selected.columns) == list(feeds)
    return bigquery_gate.run((folder / VARIANT).read_bytes(), feeds, python)


def assert_function_answers(outputs: dict[str, Any], model: Any, rows: Any) -> None:
    assert outputs["predicted_label"].tolist() == model.predict(rows).tolist()
    assert np.abs(outputs["probabilities"] - model.predict_proba(rows)).max() <= 1e-9


@needs_gcloud
def test_uploaded_penguins_model_becomes_a_bigquery_ml_model_whose_select_is_exact(
    serving_source: Path,
    penguins_dir: Path,
    bigquery_ml_env: dict[str, str],
    fake_apis: FakeGoogleApis,
    fake_gcs_url: str,
    ort_1_12: Path,
) -> None:
    result = run_deploy(
        "--project", PROJECT, "--source", str(serving_source), "--model-dir", str(penguins_dir),
        "--upload-model", "gs://models/penguins/v1/", "--bigquery-ml", "scoring.penguins",
        env=bigquery_ml_env, timeout=240,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    variant = (penguins_dir / VARIANT).read_bytes()
    objects = gcs_objects(fake_gcs_url, "models")
    assert objects[f"penguins/v1/{VARIANT}"] == variant
    assert objects["penguins/v1/manifest.json"] == (penguins_dir / "manifest.json").read_bytes()
    data = fake_apis.state.data
    assert data.models == {f"{PROJECT}.scoring.penguins": variant}
    assert data.queries == [
        f"CREATE OR REPLACE MODEL `{PROJECT}.scoring.penguins` OPTIONS (MODEL_TYPE = 'ONNX', "
        f'MODEL_PATH = "gs://models/penguins/v1/{VARIANT}")'
    ]
    assert not any(r.path.startswith("/cloudfunctions/") for r in fake_apis.requests)
    assert "predicted_label (STRING) and probabilities (ARRAY<FLOAT64>, one per class: " in (
        result.stdout
    )
    # The printed SELECT, run on every penguin (gaps as NULL), then the variant under 1.12.1.
    table = penguins(list(range(344)))
    selected = selected_rows(printed_select(result.stdout), table)
    outputs = run_selected(penguins_dir, selected, ort_1_12)
    assert_function_answers(outputs, joblib.load(penguins_dir / "model.joblib"), table)


@needs_gcloud
def test_gs_model_gets_its_variant_copied_beside_it_and_names_with_spaces_aliased(
    serving_source: Path,
    classifier_dir: Path,
    bigquery_ml_env: dict[str, str],
    fake_apis: FakeGoogleApis,
    fake_gcs_url: str,
    ort_1_12: Path,
) -> None:
    pin = sha256_of(str(classifier_dir / "manifest.json"))
    result = run_deploy(
        "--project", PROJECT, "--source", str(serving_source), "--model-dir", str(classifier_dir),
        "--model-uri", "gs://models/cancer/v3", "--model-sha256", pin,
        "--bigquery-ml", "scoring.cancer", "--bigquery-location", "US",
        env=bigquery_ml_env, timeout=240,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    variant = (classifier_dir / VARIANT).read_bytes()
    assert gcs_objects(fake_gcs_url, "models") == {f"cancer/v3/{VARIANT}": variant}
    assert fake_apis.state.data.models == {f"{PROJECT}.scoring.cancer": variant}
    [job] = fake_apis.state.data.jobs.values()
    assert job["jobReference"]["location"] == "US"
    select = printed_select(result.stdout)
    assert "CAST(`mean radius` AS FLOAT64) AS mean_radius," in select
    data_set = load_breast_cancer(as_frame=True)
    selected = selected_rows(select, data_set.data)
    outputs = run_selected(classifier_dir, selected, ort_1_12)
    model = joblib.load(classifier_dir / "model.joblib")
    assert_function_answers(outputs, model, data_set.data.to_numpy())


@needs_gcloud
def test_a_variant_that_did_not_pass_is_refused_before_anything_runs(
    serving_source: Path,
    penguins_dir: Path,
    bigquery_ml_env: dict[str, str],
    fake_apis: FakeGoogleApis,
    fake_gcs_url: str,
    tmp_path: Path,
) -> None:
    folder = Path(shutil.copytree(penguins_dir, tmp_path / "penguins"))
    manifest = json.loads((folder / "manifest.json").read_text())
    reason = "under ONNX Runtime 1.12.1 its labels differ from the function's on the sample rows"
    manifest["bigquery_ml"] = {"status": "failed", "reason": reason}
    (folder / "manifest.json").write_text(json.dumps(manifest))

    result = run_deploy(
        "--project", PROJECT, "--source", str(serving_source), "--model-dir", str(folder),
        "--upload-model", "gs://models/penguins/v2/", "--bigquery-ml", "scoring.penguins",
        env=bigquery_ml_env,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr == (
        f"deploy.sh: error: --bigquery-ml: the model's BigQuery variant did not pass (failed): "
        f"{reason}\n"
    )
    assert gcs_objects(fake_gcs_url, "models") == {}
    assert fake_apis.state.data.queries == []
