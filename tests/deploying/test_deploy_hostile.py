"""deploy.sh against hostile and careless options (issue 26, item 7): the SQL is typed from the
model the function will really serve, and each bad value is refused, in one line, before
anything runs."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from deploying.remote_function import sql_string
from tests.support.deploy_helpers import DEPLOY_SH, PROJECT, dry_run_commands, run_deploy

PENGUINS = {
    "format": 2,
    "task": "classification",
    "features": [
        {"name": "island", "type": "string"},
        {"name": "bill_length_mm", "type": "number"},
        {"name": "year", "type": "integer"},
    ],
    "classes": ["Adelie", "Chinstrap", "Gentoo"],
}
NUMERIC = {"format": 1, "task": "classification", "feature_names": ["a", "b"], "classes": [0, 1]}


def write_manifest(path: Path, manifest: dict[str, object]) -> str:
    """Write the manifest; its sha256, as a pin names it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(result_stderr: str, message: str) -> None:
    assert result_stderr.startswith("deploy.sh: error: "), result_stderr
    assert result_stderr.count("\n") == 1, result_stderr
    assert message in result_stderr


def bq_query(stdout: str) -> list[str]:
    [query] = [c for c in dry_run_commands(stdout) if c[:2] == ["bq", "query"]]
    return query


@pytest.fixture
def numeric_source(serving_source: Path) -> Path:
    """The serving source with a numeric bundled model of two features."""
    write_manifest(serving_source / "model" / "manifest.json", NUMERIC)
    return serving_source


def test_bigquery_refuses_to_type_the_sql_from_a_model_the_function_will_not_serve(
    numeric_source: Path, tmp_path: Path, gcloud_env: dict[str, str]
) -> None:
    pin = write_manifest(tmp_path / "penguins" / "manifest.json", PENGUINS)
    served = ["--env", "MODEL_URI=gs://other/m/", "--env", f"MODEL_SHA256={pin}"]

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(numeric_source),
        "--bigquery", "scoring.species", *served, env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    refused(
        result.stderr, "for --model-uri gs://other/m/ pass a local copy with --bigquery-manifest"
    )


def test_bigquery_types_the_sql_from_the_manifest_of_the_model_the_env_names(
    numeric_source: Path, tmp_path: Path, gcloud_env: dict[str, str]
) -> None:
    manifest = tmp_path / "penguins" / "manifest.json"
    pin = write_manifest(manifest, PENGUINS)
    served = ["--env", "MODEL_URI=gs://other/m/", "--env", f"MODEL_SHA256={pin}"]

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(numeric_source),
        "--bigquery", "scoring.species", *served, "--bigquery-manifest", str(manifest),
        env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    sql = bq_query(result.stdout)[-1]
    assert "(island STRING, bill_length_mm FLOAT64, year INT64) RETURNS STRING" in sql
    deploy = dry_run_commands(result.stdout)[0]
    assert (
        f"--set-env-vars=THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1,MODEL_URI=gs://other/m/,MODEL_SHA256={pin}"
        in deploy
    )


def test_env_model_uri_and_model_uri_naming_two_models_are_refused(
    numeric_source: Path, recording_gcloud: tuple[dict[str, str], Path]
) -> None:
    env, log = recording_gcloud

    result = run_deploy(
        "--project", PROJECT, "--source", str(numeric_source), "--model-uri", "gs://a/m/",
        "--allow-unpinned", "--env", "MODEL_URI=gs://b/m/", env=env,
    )  # fmt: skip

    assert result.returncode == 1
    refused(result.stderr, "--env MODEL_URI=gs://b/m/ and --model-uri gs://a/m/ name two models")
    assert not log.exists()


def test_bigquery_dry_run_prints_the_select_of_the_docs(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    write_manifest(serving_source / "model" / "manifest.json", PENGUINS)

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(serving_source),
        "--bigquery", "scoring.species", env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert (
        f"SELECT *, `{PROJECT}.scoring.species`(island, bill_length_mm, year) AS prediction "
        f"FROM `{PROJECT}.scoring.YOUR_TABLE`"
    ) in result.stderr.splitlines()
    assert "SELECT" not in result.stdout.replace(bq_query(result.stdout)[-1], "")


@pytest.mark.parametrize(
    ("model_uri", "message"),
    [
        ("OUTSIDE", "is a local folder outside the upload"),
        ("INSIDE", "name the folder relative to --source (model)"),
        ("../outside", "is a local folder outside the upload"),
    ],
)
def test_a_local_model_folder_the_function_cannot_read_is_refused(
    numeric_source: Path, tmp_path: Path, model_uri: str, message: str, gcloud_env: dict[str, str]
) -> None:
    write_manifest(tmp_path / "outside" / "manifest.json", NUMERIC)
    where = {"OUTSIDE": str(tmp_path / "outside"), "INSIDE": str(numeric_source / "model")}
    bin_dir = tmp_path / "bin-without-gcloud"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash is not None
    (bin_dir / "bash").symlink_to(bash)

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(numeric_source),
        "--model-uri", where.get(model_uri, model_uri),
        env={**gcloud_env, "PATH": str(bin_dir)},
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("deploy.sh: warning: gcloud is not installed")
    assert message in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpu", "0"], "--cpu must be from 0.08 to 8 (Cloud Run's limits), got '0'"),
        (["--cpu", "0.05"], "--cpu must be from 0.08 to 8 (Cloud Run's limits), got '0.05'"),
        (["--cpu", "9"], "--cpu must be from 0.08 to 8 (Cloud Run's limits), got '9'"),
        (["--project", "My Project"], "--project must be a project ID"),
        (["--project", "-demo"], "--project must be a project ID"),
        (["--project", "demo-"], "--project must be a project ID"),
        (["--project", "demo_project"], "--project must be a project ID"),
        (["--project", "a" * 31], "--project must be a project ID"),
        (["--region", "us central1"], "--region must be a region such as us-central1"),
        (["--region", "us central1", "--bigquery", "s.f"], "--region must be a region"),
        (["--region", "US"], "--region must be a region such as us-central1"),
    ],
)
def test_bad_values_are_refused_before_anything_runs(
    numeric_source: Path,
    recording_gcloud: tuple[dict[str, str], Path],
    args: list[str],
    message: str,
) -> None:
    env, log = recording_gcloud

    result = run_deploy("--project", PROJECT, "--source", str(numeric_source), *args, env=env)

    assert result.returncode == 1
    refused(result.stderr, message)
    assert not log.exists()


@pytest.mark.parametrize("project", ["p", "demo-project", "example.com:demo-project", "a" * 30])
def test_project_ids_the_platform_allows_are_accepted(
    numeric_source: Path, gcloud_env: dict[str, str], project: str
) -> None:
    result = run_deploy(
        "--dry-run", "--project", project, "--source", str(numeric_source), env=gcloud_env
    )

    assert result.returncode == 0, result.stderr
    assert f"--project={project}" in dry_run_commands(result.stdout)[0]


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "bell\a", 'quote" and \\', "sep\u2028"])
def test_a_class_with_control_characters_stays_one_valid_sql_literal(
    serving_source: Path, gcloud_env: dict[str, str], name: str
) -> None:
    write_manifest(serving_source / "model" / "manifest.json", {**NUMERIC, "classes": [name, "z"]})

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(serving_source),
        "--bigquery", "s.f", "--bigquery-output", f"probability:{name}", env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    sql = bq_query(result.stdout)[-1]
    literal = sql_string(name)
    assert sql.endswith(
        f'user_defined_context = [("output", "probability"), ("class", {literal})])'
    )
    assert all(c.isprintable() for c in sql)
    assert shlex.split(sql_string_line := f"x {shlex.quote(sql)}")[1] == sql, sql_string_line


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("a\nb\rc\td", '"a\\nb\\rc\\td"'),
        ("bell\a\x00", '"bell\\u0007\\u0000"'),
        ("line\u2028sep\x85", '"line\\u2028sep\\u0085"'),
        ("é ü 中", '"é ü 中"'),
    ],
)
def test_sql_string_escapes_what_would_break_the_literal(value: str, literal: str) -> None:
    assert sql_string(value) == literal


def test_output_closed_early_ends_the_run_quietly(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    """`./deploy.sh --dry-run | head -1`: stopped by SIGPIPE as a shell script is, no traceback."""
    # More than a pipe holds, so that a write meets the closed end.
    notes = [word for n in range(4) for word in ("--env", f"NOTE{n}={'x' * 50_000}")]
    command = [str(DEPLOY_SH), "--dry-run", "--project", PROJECT, "--source", str(serving_source)]
    with subprocess.Popen(
        [*command, *notes], env=gcloud_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(6) == b"gcloud"
        process.stdout.close()
        errors = process.stderr.read()
        process.wait(timeout=60)

    assert process.returncode == -signal.SIGPIPE
    assert errors == b""
