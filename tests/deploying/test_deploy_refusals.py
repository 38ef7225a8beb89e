"""deploy.sh refuses bad input with one clear line before anything runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.deploy_helpers import (
    PROJECT,
    needs_gcloud,
    run_deploy,
    write_tree,
)

# ------------------------------------------------------------------------------------------
# Prerequisites and bad options: clear messages, nothing run
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env_extra", "remove", "message"),
    [
        pytest.param([], {}, [], "no project", id="no-project"),
        pytest.param(["--project", PROJECT], {}, ["main.py"], "main.py is missing", id="no-main"),
        pytest.param(
            ["--project", PROJECT],
            {},
            ["requirements.txt"],
            "requirements.txt is missing",
            id="no-requirements",
        ),
        pytest.param(
            ["--project", PROJECT],
            {},
            [".gcloudignore"],
            ".gcloudignore is missing",
            id="no-gcloudignore",
        ),
        pytest.param(
            ["--project", PROJECT],
            {},
            ["model/manifest.json"],
            "model missing",
            id="no-bundled-model",
        ),
        pytest.param(
            ["--project", PROJECT, "--upload-model", "gs://models/v1/"],
            {},
            ["model/manifest.json"],
            "model missing",
            id="nothing-to-upload",
        ),
        pytest.param(
            ["--project", PROJECT],
            {"MODEL_URI": "gs://models/v1/"},
            [],
            "MODEL_SHA256",
            id="remote-model-without-pin",
        ),
        pytest.param(
            ["--project", PROJECT, "--model-uri", "gs://m/v1/", "--model-sha256", "abc"],
            {},
            [],
            "64 hex characters",
            id="bad-pin",
        ),
        pytest.param(
            ["--project", PROJECT, "--upload-model", "s3://models/v1/"],
            {},
            [],
            "gs://BUCKET/PREFIX/",
            id="upload-not-gcs",
        ),
        pytest.param(
            ["--project", PROJECT, "--runtime", "python310"],
            {},
            [],
            "python311 python312",
            id="unsupported-runtime",
        ),
        pytest.param(
            ["--project", PROJECT, "--target", "appengine"],
            {},
            [],
            "'functions' or 'run'",
            id="bad-target",
        ),
        pytest.param(
            ["--project", PROJECT, "--concurrency", "8"],
            {},
            [],
            "needs --cpu 1 or more",
            id="concurrency-without-cpu",
        ),
        pytest.param(
            ["--project", PROJECT, "--concurrency", "8", "--cpu", "0.5"],
            {},
            [],
            "needs --cpu 1 or more",
            id="concurrency-with-small-cpu",
        ),
        pytest.param(
            ["--project", PROJECT, "--cpu", "lots"], {}, [], "--cpu must look like", id="bad-cpu"
        ),
        pytest.param(
            ["--project", PROJECT, "--min-instances", "5", "--max-instances", "2"],
            {},
            [],
            "is above --max-instances",
            id="min-above-max",
        ),
        pytest.param(
            ["--project", PROJECT, "--max-instances", "ten"],
            {},
            [],
            "whole number",
            id="max-not-a-number",
        ),
        pytest.param(
            ["--project", PROJECT, "--memory"], {}, [], "--memory needs a value", id="missing-value"
        ),
        pytest.param(
            ["--project", PROJECT, "--name", "my model"],
            {},
            [],
            "--name must be 1-63 lowercase letters",
            id="name-with-space",
        ),
        pytest.param(
            ["--project", PROJECT, "--name", "Iris"],
            {},
            [],
            "--name must be 1-63 lowercase letters",
            id="name-uppercase",
        ),
        pytest.param(
            ["--project", PROJECT, "--name", "-iris"],
            {},
            [],
            "starting with a letter",
            id="name-leading-dash",
        ),
        pytest.param(
            ["--project", PROJECT, "--name", "a" * 64],
            {},
            [],
            "--name must be 1-63",
            id="name-over-63",
        ),
        pytest.param(
            ["--project", PROJECT, "--memory", "100Mi"],
            {},
            [],
            "--memory must be from 128Mi to 32Gi, got '100Mi'",
            id="memory-below-128mi",
        ),
        pytest.param(
            ["--project", PROJECT, "--memory", "abc"],
            {},
            [],
            "unit k, M, G, Ki, Mi or Gi",
            id="memory-not-a-size",
        ),
        pytest.param(
            ["--project", PROJECT, "--memory", "64Gi"],
            {},
            [],
            "--memory must be from 128Mi to 32Gi, got '64Gi'",
            id="memory-above-32gi",
        ),
        pytest.param(
            ["--project", PROJECT, "--timeout", "abc"],
            {},
            [],
            "--timeout must be a duration such as 60s",
            id="timeout-not-a-duration",
        ),
        pytest.param(
            ["--project", PROJECT, "--timeout", "2h"],
            {},
            [],
            "--timeout must be from 1s to 3600s",
            id="timeout-over-an-hour",
        ),
        pytest.param(
            ["--project", PROJECT, "--cpu", "1", "--concurrency", "1001"],
            {},
            [],
            "--concurrency must be from 1 to 1000",
            id="concurrency-over-1000",
        ),
        pytest.param(
            ["--project", PROJECT, "--env", "MAX_ROWS=abc"],
            {},
            [],
            "--env: MAX_ROWS must be a positive integer, got 'abc'",
            id="setting-the-function-refuses",
        ),
        pytest.param(
            ["--project", PROJECT, "--env", "MODEL_RUNTIME=tensorflow"],
            {},
            [],
            "MODEL_RUNTIME must be one of auto, onnx, sklearn",
            id="setting-choice",
        ),
        pytest.param(
            ["--project", PROJECT, "--env", "A=x,y", "--env", "B=a@b"],
            {},
            [],
            "may hold ',' or '@' but not both",
            id="env-value-with-both-delimiters",
        ),
        pytest.param(
            ["--project", PROJECT, "--canary", "0"],
            {},
            [],
            "--canary must be a whole percentage from 1 to 99",
            id="canary-zero",
        ),
        pytest.param(
            ["--project", PROJECT, "--canary", "100"],
            {},
            [],
            "--canary must be a whole percentage from 1 to 99",
            id="canary-all",
        ),
        pytest.param(
            ["--project", PROJECT, "--canary", "10", "--name", "a" * 41],
            {},
            [],
            "--canary needs a name of at most 40 characters",
            id="canary-name-too-long-for-tag-url",
        ),
        pytest.param(
            ["--project", PROJECT, "--promote", "--rollback"],
            {},
            [],
            "choose one of --canary, --promote and --rollback",
            id="promote-and-rollback",
        ),
        pytest.param(
            ["--project", PROJECT, "--allow-unauthenticated"],
            {},
            [],
            "unknown argument",
            id="gcloud-flag-before-dashdash",
        ),
    ],
)
def test_refuses_with_a_clear_message(
    serving_source: Path,
    recording_gcloud: tuple[dict[str, str], Path],
    args: list[str],
    env_extra: dict[str, str],
    remove: list[str],
    message: str,
) -> None:
    env, log = recording_gcloud
    for relative in remove:
        (serving_source / relative).unlink()

    result = run_deploy(*args, "--source", str(serving_source), env={**env, **env_extra})

    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("deploy.sh: error:")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    assert all(call.startswith("config get-value") for call in calls), calls


def test_refuses_without_gcloud_on_path(
    serving_source: Path, gcloud_env: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin-without-gcloud"
    bin_dir.mkdir()
    for tool in ("bash", "sha256sum"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)

    result = run_deploy(
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        env={**gcloud_env, "PATH": str(bin_dir)},
    )

    assert result.returncode == 1
    assert "gcloud is not installed" in result.stderr


@needs_gcloud
def test_refuses_a_local_model_folder_that_gcloudignore_leaves_out(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    write_tree(serving_source, {"models/v2/manifest.json": "{}\n"})

    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--model-uri",
        "models/v2",
        env=gcloud_env,
    )

    assert result.returncode == 1
    assert result.stderr == (
        "deploy.sh: error: --model-uri models/v2 is not uploaded: .gcloudignore leaves out "
        "models/v2/manifest.json (use a folder it lets in, such as model/, or --upload-model)\n"
    )
    assert result.stdout == ""


@needs_gcloud
def test_accepts_a_local_model_folder_inside_the_upload(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    write_tree(serving_source, {"model/v2/manifest.json": "{}\n"})

    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--model-uri",
        "./model/v2/",
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
    assert "MODEL_URI=./model/v2/" in result.stdout


def test_the_limits_themselves_are_accepted(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--name",
        "a" * 63,
        "--memory",
        "128Mi",
        "--cpu",
        "8",
        "--concurrency",
        "1000",
        "--timeout",
        "3600",
        "--env",
        "MAX_ROWS=5",
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
