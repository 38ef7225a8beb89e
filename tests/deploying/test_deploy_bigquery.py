"""deploy.sh --bigquery: the real gcloud and bq CLIs against the local fake of the Google APIs.

A mixed-type model (penguins: text, numbers, an integer, nulls) and the numeric bundled one.
The mixed model's SQL call is replayed against the real server: the parameter order and the
user_defined_context are what the function answers.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from deploying.remote_function import returns, sql_names
from tests.support.deploy_helpers import (
    PROJECT,
    REPO,
    Deploy,
    assert_sink_created_and_granted,
    dry_run_commands,
    knative_env,
    needs_gcloud,
    run_deploy,
)
from tests.support.fake_google_apis import PROJECT_NUMBER, FakeGoogleApis, RecordedRequest
from tests.support.servers import start_server

URL = f"https://sklearn-predict-{PROJECT_NUMBER}.us-central1.run.app"
CONNECTION = f"projects/{PROJECT}/locations/us-central1/connections/sklearn-predict"
PENGUIN_SQL = (
    f"CREATE OR REPLACE FUNCTION `{PROJECT}.scoring.species`(island STRING, "
    "bill_length_mm FLOAT64, bill_depth_mm FLOAT64, flipper_length_mm FLOAT64, "
    "body_mass_g FLOAT64, sex STRING, year INT64) RETURNS {returns} "
    f"REMOTE WITH CONNECTION `{PROJECT}.us-central1.sklearn-predict` "
    f'OPTIONS (endpoint = "{URL}", max_batching_rows = {{rows}}, '
    "user_defined_context = [{context}])"
)


def with_model(serving_source: Path, model_dir: Path) -> Path:
    shutil.copy(model_dir / "manifest.json", serving_source / "model" / "manifest.json")
    return serving_source


def invoker_members(requests_seen: list[RecordedRequest]) -> list[tuple[str, list[str]]]:
    """(role, members) of every binding set through Cloud Run's setIamPolicy."""
    return [
        (binding["role"], binding["members"])
        for request in requests_seen
        if request.path.endswith(":setIamPolicy") and request.path.startswith("/run/")
        for binding in request.json["policy"].get("bindings", [])
    ]


def connection_creates(requests_seen: list[RecordedRequest]) -> list[RecordedRequest]:
    return [
        r for r in requests_seen if r.method == "POST" and r.path.startswith("/bigqueryconnection/")
    ]


def replayed_call(sql: str, row: list[Any], server_url: str) -> Any:
    """POST what BigQuery sends for this SQL function: the row, the user_defined_context."""
    pairs = re.search(r"user_defined_context = \[(.*)\]\)$", sql)
    assert pairs is not None, sql
    context = dict(re.findall(r'\("([^"]*)", "([^"]*)"\)', pairs.group(1)))
    body = {"requestId": "r1", "caller": "c", "sessionUser": "u", "calls": [row]}
    if context:
        body["userDefinedContext"] = context
    return requests.post(server_url, json=body, timeout=30)


@needs_gcloud
def test_mixed_model_gets_a_connection_the_invoker_role_and_a_typed_function(
    serving_source: Path, penguins_dir: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    source = with_model(serving_source, penguins_dir)

    result = deploy(
        "--project", PROJECT, "--source", str(source),
        "--bigquery", "scoring.species", "--bigquery-output", "probability:Gentoo",
        "--bigquery-batch-rows", "250", "--no-cpu-boost",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    data = fake_apis.state.data
    [create] = connection_creates(fake_apis.requests)
    assert create.query["connectionId"] == ["sklearn-predict"]
    assert create.json == {"cloudResource": {}}
    account = data.connections[CONNECTION]["cloudResource"]["serviceAccountId"]
    assert ("roles/run.invoker", [f"serviceAccount:{account}"]) in invoker_members(
        fake_apis.requests
    )
    sql = data.routines[f"{PROJECT}.scoring.species"]
    assert sql == PENGUIN_SQL.format(
        returns="FLOAT64", rows=250, context='("output", "probability"), ("class", "Gentoo")'
    )
    assert (
        f"SELECT *, `{PROJECT}.scoring.species`(island, bill_length_mm, bill_depth_mm, "
        f"flipper_length_mm, body_mass_g, sex, year) AS prediction "
        f"FROM `{PROJECT}.scoring.YOUR_TABLE`"
    ) in result.stdout.splitlines()
    # What BigQuery would then post for one row, in the parameters' order, NULL as null.
    server = start_server({"MODEL_URI": str(penguins_dir)})
    try:
        answer = replayed_call(sql, ["Biscoe", 48.6, 16.0, 230.0, 5800.0, None, "2009"], server.url)
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    [probability] = answer.json()["replies"]
    assert 0.5 < probability <= 1.0


@needs_gcloud
def test_numeric_model_on_cloud_run_reuses_a_connection_beside_a_new_prediction_log(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    source = with_model(serving_source, REPO / "model")
    existing = "bqcx-existing@gcp-sa-bigquery-condel.iam.gserviceaccount.com"
    fake_apis.state.data.connections[CONNECTION] = {
        "name": CONNECTION,
        "cloudResource": {"serviceAccountId": existing},
    }

    result = deploy(
        "--project", PROJECT, "--source", str(source), "--target", "run",
        "--bigquery", "scoring.cancer", "--bigquery-output", "probabilities",
        "--prediction-log", "logs-project.predictions", "--prediction-log-rate", "0.25",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [service] = fake_apis.state.services.values()
    assert knative_env(service)["PREDICTION_LOG_RATE"] == "0.25"
    assert_sink_created_and_granted(fake_apis, result.stdout)
    assert connection_creates(fake_apis.requests) == []
    assert "reusing the connection" in result.stderr
    assert ("roles/run.invoker", [f"serviceAccount:{existing}"]) in invoker_members(
        fake_apis.requests
    )
    sql = fake_apis.state.data.routines[f"{PROJECT}.scoring.cancer"]
    manifest = json.loads((REPO / "model" / "manifest.json").read_text())
    parameters = ", ".join(
        f"{name.replace(' ', '_')} FLOAT64" for name in manifest["feature_names"]
    )
    assert sql.startswith(f"CREATE OR REPLACE FUNCTION `{PROJECT}.scoring.cancer`({parameters}) ")
    assert ") RETURNS JSON REMOTE WITH CONNECTION" in sql
    assert f'OPTIONS (endpoint = "{URL}", ' in sql
    assert sql.endswith(
        'max_batching_rows = 500, user_defined_context = [("output", "probabilities")])'
    )
    assert "-- column mean_radius holds feature 'mean radius'" in result.stdout


@needs_gcloud
def test_dry_run_prints_every_command_and_the_sql(
    serving_source: Path, penguins_dir: Path, gcloud_env: dict[str, str]
) -> None:
    source = with_model(serving_source, penguins_dir)

    result = run_deploy(
        "--project", PROJECT, "--source", str(source), "--dry-run",
        "--bigquery", "scoring.species", "--bigquery-connection", "models",
        "--bigquery-location", "US", env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    commands = dry_run_commands(result.stdout)
    assert [c[:3] for c in commands] == [
        ["gcloud", "functions", "deploy"],
        ["gcloud", "run", "services"],
        ["gcloud", "functions", "describe"],
        ["bq", "show", "--connection"],
        ["bq", "mk", "--connection"],
        ["gcloud", "functions", "add-invoker-policy-binding"],
        ["bq", "query", f"--project_id={PROJECT}"],
    ]
    assert commands[3][-1] == f"{PROJECT}.US.models"
    assert commands[4] == [
        "bq", "mk", "--connection", "--connection_type=CLOUD_RESOURCE", "--location=US",
        f"--project_id={PROJECT}", "models",
    ]  # fmt: skip
    assert commands[5][-1] == "--member=serviceAccount:CONNECTION_SERVICE_ACCOUNT"
    assert commands[6][3:5] == ["--location=US", "--use_legacy_sql=false"]
    assert commands[6][5] == PENGUIN_SQL.format(
        returns="STRING", rows=500, context='("output", "label")'
    ).replace(URL, "FUNCTION_URL").replace("us-central1.sklearn-predict", "US.models")


def regression_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "regression.json"
    path.write_text(json.dumps({"task": "regression", "feature_names": ["a", "b"]}))
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bigquery", "scoring"], "--bigquery needs DATASET.FUNCTION"),
        (["--bigquery", "scoring.1f"], "--bigquery needs DATASET.FUNCTION"),
        (["--bigquery-output", "label"], "need --bigquery DATASET.FUNCTION"),
        (["--bigquery", "s.f", "--bigquery-output", "votes"], "must be label, probabilities"),
        (["--bigquery", "s.f", "--bigquery-output", "probability:9"], "no such class"),
        (["--bigquery", "s.f", "--bigquery-output", "probability"], "probability:CLASS"),
        (["--bigquery", "s.f", "--bigquery-output", "probabilities", "--bigquery-manifest",
          "REGRESSION"], "needs a classifier"),
        (["--bigquery", "s.f", "--bigquery-batch-rows", "0"], "--bigquery-batch-rows must be"),
        (["--bigquery", "s.f", "--env", "MAX_ROWS=100"], "above the function's MAX_ROWS (100)"),
        (["--bigquery", "s.f", "--model-uri", "gs://b/m/", "--allow-unpinned"],
         "pass a local copy with --bigquery-manifest"),
        (["--bigquery", "s.f", "--bigquery-manifest", "missing.json"], "manifest not found"),
        (["--bigquery", "s.f", "--promote"], "go with a plain deploy, not --promote"),
    ],
)  # fmt: skip
def test_bigquery_refusals_are_one_line(
    args: list[str], message: str, tmp_path: Path, gcloud_env: dict[str, str]
) -> None:
    args = [str(regression_manifest(tmp_path)) if a == "REGRESSION" else a for a in args]

    result = run_deploy("--project", PROJECT, "--dry-run", *args, env=gcloud_env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("deploy.sh: error: ")
    assert message in result.stderr


def test_parameter_names_are_sql_safe_unique_and_follow_the_documented_rule() -> None:
    names = ["mean radius", "Mean-Radius", "2nd", "select", "", "a__b", "ÿ x", "mean_radius"]

    assert sql_names(names) == [
        "mean_radius", "mean_radius_2", "f_2nd", "f_select", "f", "a__b", "x", "mean_radius_3",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("manifest", "kind", "expected"),
    [
        ({"classes": ["a", "b"]}, "label", "STRING"),
        ({"classes": [0, 1]}, "label", "INT64"),
        ({"classes": [0.5, 1.5]}, "label", "FLOAT64"),
        ({"classes": [False, True]}, "label", "BOOL"),
        ({"task": "regression"}, "label", "FLOAT64"),
        ({"classes": [0, 1]}, "probabilities", "JSON"),
        ({"classes": ["a", "b"]}, "probability", "FLOAT64"),
    ],
)
def test_returns_type_matches_what_the_function_replies(
    manifest: dict[str, Any], kind: str, expected: str
) -> None:
    assert returns(kind, manifest) == expected
