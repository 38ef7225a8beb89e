"""What the deploy.sh tests share: paths, the serving files, running deploy.sh, reading requests."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_google_apis import FakeGoogleApis, RecordedRequest

REPO = Path(__file__).resolve().parents[2]
DEPLOY_SH = REPO / "deploy.sh"
GCLOUD = shutil.which("gcloud")
PROJECT = "demo-project"
RUN_HOST = "run.fake-apis.test"  # gcloud calls us-central1-run.fake-apis.test for Cloud Run

# deploy.sh run against the local fakes: the `deploy` fixture.
Deploy = Callable[..., "subprocess.CompletedProcess[str]"]

needs_gcloud = pytest.mark.skipif(
    GCLOUD is None, reason="the gcloud CLI (google-cloud-cli) is not installed"
)

# What a serving deploy must upload, and junk that must never be uploaded.
SERVING_FILES = {
    "main.py": "def predict(request):\n    return 'ok'\n",
    "requirements.txt": "functions-framework==3.10.2\n",
    "serving/__init__.py": "",
    "serving/app.py": "VALUE = 1\n",
    "serving/protocols/__init__.py": "",
    "model/manifest.json": '{"format": 1, "artifacts": ["model.joblib"]}\n',
    "model/model.joblib": "not really a model\n",
    "openapi.yaml": "openapi: 3.1.0\n",
}
NEVER_UPLOADED = [
    "tests/serving/test_http.py",
    "tests/conftest.py",
    "bench/bench_latency.py",
    ".venv/bin/python",
    ".git/HEAD",
    "serving/__pycache__/app.cpython-311.pyc",
    "__pycache__/main.cpython-311.pyc",
    ".pytest_cache/README.md",
    ".mypy_cache/x.json",
    ".ruff_cache/x",
    "requirements-dev.txt",
    ".env",
    "serving/.env",
    "README.md",
    "BENCHMARKS.md",
    "docs/deploying.md",
    "train.py",
    "deploy.sh",
    "Makefile",
    "pyproject.toml",
    ".ci/run",
]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def uploaded_names(archive: bytes) -> set[str]:
    """File names inside a source zip, without folder entries."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source_zip:
        return {name for name in source_zip.namelist() if not name.endswith("/")}


def run_deploy(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEPLOY_SH), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dry_run_commands(stdout: str) -> list[list[str]]:
    """--dry-run output back as argument lists, one per printed command."""
    return [shlex.split(line) for line in stdout.splitlines() if line.strip()]


def flag_value(command: list[str], flag: str) -> str:
    matches = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{flag}=")]
    assert len(matches) == 1, f"expected one {flag} in {command}"
    return matches[0]


def gcs_objects(fake_gcs_url: str, bucket: str) -> dict[str, bytes]:
    """Every object of a fake-gcs-server bucket, by name."""
    with urllib.request.urlopen(f"{fake_gcs_url}/storage/v1/b/{bucket}/o") as response:
        listing = json.load(response)
    objects = {}
    for item in listing.get("items", []):
        quoted = urllib.parse.quote(item["name"], safe="")
        with urllib.request.urlopen(
            f"{fake_gcs_url}/storage/v1/b/{bucket}/o/{quoted}?alt=media"
        ) as response:
            objects[item["name"]] = response.read()
    return objects


def create_bucket(fake_gcs_url: str, bucket: str) -> None:
    request = urllib.request.Request(
        f"{fake_gcs_url}/storage/v1/b?project={PROJECT}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request):
        pass


def only_request(requests: list[RecordedRequest], method: str, path_end: str) -> RecordedRequest:
    matches = [r for r in requests if r.method == method and r.path.endswith(path_end)]
    assert len(matches) == 1, [(r.method, r.path) for r in requests]
    return matches[0]


def sent_all_users(requests: list[RecordedRequest]) -> bool:
    return any(b"allUsers" in request.body for request in requests)


def knative_env(service: dict[str, Any]) -> dict[str, str]:
    container = service["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


# The prediction log's Cloud Logging sink, as deploy.sh --prediction-log creates it.
SINK = "sklearn-predict-predictions"
DESTINATION = "bigquery.googleapis.com/projects/logs-project/datasets/predictions"
TABLE = "logs-project.predictions.run_googleapis_com_stdout"
FILTER = (
    'resource.type="cloud_run_revision" AND resource.labels.service_name="sklearn-predict" '
    'AND labels.log="sklearn-predictions" AND jsonPayload.message="prediction"'
)


def assert_sink_created_and_granted(fake_apis: FakeGoogleApis, stdout: str) -> None:
    """A new sink with the exact filter, its writer allowed into the dataset, the table named.

    Run by tests/deploying/test_deploy_bigquery.py's Cloud Run deploy, which also asks for a
    prediction log: one full deploy covers both (each costs seconds of gcloud and bq).
    """
    assert any(r.method == "POST" and r.path.endswith("/sinks") for r in fake_apis.requests)
    sink = fake_apis.state.data.sinks[f"{PROJECT}/{SINK}"]
    assert sink["destination"] == DESTINATION
    assert sink["filter"] == FILTER
    assert sink["bigqueryOptions"] == {"usePartitionedTables": True}
    policy = fake_apis.state.data.dataset_policies["logs-project.predictions"]
    binding = {"role": "roles/bigquery.dataEditor", "members": [sink["writerIdentity"]]}
    assert binding in policy["bindings"]
    assert f"writes them into\n{TABLE} (partitioned" in stdout
    assert f"FROM `{TABLE}` WHERE DATE(timestamp)" in stdout
    assert f"python monitor.py --bigquery {TABLE} --model model" in stdout
