"""deploy.sh --prediction-log: the rate, the Cloud Logging sink and the dataset grant.

The real gcloud and bq CLIs run against the local fake of the Google APIs. The sink's filter is
also checked against the stdout line the function writes (monitoring.entries' reference),
turned into a LogEntry the way Cloud Logging does it for a Cloud Run service.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from monitoring.entries import prediction_log_entry
from tests.support.deploy_helpers import (
    DESTINATION,
    FILTER,
    PROJECT,
    SINK,
    Deploy,
    dry_run_commands,
    needs_gcloud,
    run_deploy,
)
from tests.support.fake_google_apis import FakeGoogleApis


def as_log_entry(line: dict[str, Any], service: str) -> dict[str, Any]:
    """What Cloud Logging stores for a JSON line on a Cloud Run service's stdout."""
    payload = {
        k: v for k, v in line.items() if k not in ("severity", "logging.googleapis.com/labels")
    }
    return {
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "severity": line.get("severity", "DEFAULT"),
        "labels": line.get("logging.googleapis.com/labels", {}),
        "jsonPayload": payload,
    }


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    """A filter of `field.path="value"` comparisons joined by AND, applied to one entry."""
    clauses = log_filter.split(" AND ")
    for clause in clauses:
        match = re.fullmatch(r'([\w.]+)="([^"]*)"', clause)
        assert match is not None, f"unexpected clause {clause!r}"
        value: Any = entry
        for part in match.group(1).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value != match.group(2):
            return False
    return True


@needs_gcloud
def test_an_existing_sink_is_updated_and_keeps_its_writer(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    writer = "serviceAccount:old-writer@gcp-sa-logging.iam.gserviceaccount.com"
    fake_apis.state.data.sinks[f"{PROJECT}/{SINK}"] = {
        "name": SINK,
        "destination": "bigquery.googleapis.com/projects/logs-project/datasets/old",
        "filter": 'severity>="ERROR"',
        "writerIdentity": writer,
    }

    result = deploy(
        "--project", PROJECT, "--source", str(serving_source),
        "--prediction-log", "logs-project.predictions", "--no-cpu-boost",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [function] = fake_apis.state.functions.values()
    assert function["serviceConfig"]["environmentVariables"]["PREDICTION_LOG_RATE"] == "0.1"
    assert not any(r.method == "POST" and r.path.endswith("/sinks") for r in fake_apis.requests)
    sink = fake_apis.state.data.sinks[f"{PROJECT}/{SINK}"]
    assert (sink["destination"], sink["filter"]) == (DESTINATION, FILTER)
    policy = fake_apis.state.data.dataset_policies["logs-project.predictions"]
    assert {"role": "roles/bigquery.dataEditor", "members": [writer]} in policy["bindings"]


def test_the_filter_selects_exactly_the_functions_prediction_entries() -> None:
    line = prediction_log_entry("v1", "req-1", [{"x": 1.0}], ["a"])
    request_log = {"severity": "INFO", "message": "request", "status": 200}

    assert matches(FILTER, as_log_entry(line, "sklearn-predict"))
    assert not matches(FILTER, as_log_entry(line, "another-service"))
    assert not matches(FILTER, as_log_entry(request_log, "sklearn-predict"))
    assert not matches(FILTER, as_log_entry({**line, "message": "other"}, "sklearn-predict"))
    unlabelled = {k: v for k, v in line.items() if k != "logging.googleapis.com/labels"}
    assert not matches(FILTER, as_log_entry(unlabelled, "sklearn-predict"))


def test_dry_run_prints_every_command(gcloud_env: dict[str, str], serving_source: Path) -> None:
    result = run_deploy(
        "--project", PROJECT, "--source", str(serving_source), "--dry-run",
        "--prediction-log", "logs-project.predictions", env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    commands = dry_run_commands(result.stdout)
    assert "PREDICTION_LOG_RATE=0.1" in commands[0][-2]
    assert commands[2:] == [
        ["gcloud", "logging", "sinks", "describe", SINK, f"--project={PROJECT}",
         "--format=value(name)"],
        ["gcloud", "logging", "sinks", "create", SINK, DESTINATION, f"--project={PROJECT}",
         f"--log-filter={FILTER}", "--use-partitioned-tables"],
        ["gcloud", "logging", "sinks", "describe", SINK, f"--project={PROJECT}",
         "--format=value(writerIdentity)"],
        ["bq", "add-iam-policy-binding", "--project_id=logs-project",
         "--member=SINK_WRITER_IDENTITY", "--role=roles/bigquery.dataEditor", "-d",
         "logs-project:predictions"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prediction-log", "logs-project.predictions", "--prediction-log-rate", "0"],
         "0 < R <= 1"),
        (["--prediction-log", "logs-project.predictions", "--prediction-log-rate", "1.5"],
         "0 < R <= 1"),
        (["--prediction-log", "logs-project.predictions", "--prediction-log-rate", "1e-2"],
         "0 < R <= 1"),
        (["--prediction-log-rate", "0.5"], "needs --prediction-log PROJECT.DATASET"),
        (["--prediction-log", "predictions"], "needs PROJECT.DATASET"),
        (["--prediction-log", "logs-project.predictions", "--env", "PREDICTION_LOG_RATE=1"],
         "use --prediction-log-rate"),
        (["--prediction-log", "logs-project.predictions", "--rollback"],
         "go with a plain deploy"),
    ],
)  # fmt: skip
def test_prediction_log_refusals_are_one_line(
    args: list[str], message: str, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy("--project", PROJECT, "--dry-run", *args, env=gcloud_env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("deploy.sh: error: ")
    assert message in result.stderr
