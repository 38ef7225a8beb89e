"""Fixtures for the deploy.sh tests: a serving source, gcloud environments, the local fakes."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deploy_helpers import (
    DEPLOY_SH,
    NEVER_UPLOADED,
    REPO,
    RUN_HOST,
    SERVING_FILES,
    Deploy,
    write_tree,
)
from tests.support.fake_google_apis import FakeGoogleApis
from tests.support.servers import offline_gcloud_env


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
def fake_gcs_url() -> Iterator[str]:
    """Base URL of a fresh in-memory fake-gcs-server on 127.0.0.1."""
    gcs_server = pytest.importorskip("tests.support.gcs_server")
    fake = gcs_server.FakeGcs().start()
    try:
        yield fake.url
    finally:
        fake.stop()


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
def bq_env(deploy_env: dict[str, str], fake_apis: FakeGoogleApis) -> dict[str, str]:
    """deploy_env with `bq` pointed at the fake too: its ~/.bigqueryrc names the API root."""
    (Path(deploy_env["HOME"]) / ".bigqueryrc").write_text(f"--api={fake_apis.base_url}\n")
    return deploy_env


@pytest.fixture
def run_host_namespace(tmp_path: Path) -> list[str]:
    """A command prefix mapping us-central1-RUN_HOST to 127.0.0.1 in a private mount namespace.

    gcloud puts the region in front of the Cloud Run host, so the override needs a name
    that resolves; `unshare -m` bind-mounts a hosts file for the deploy process only.
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a full Cloud Run deploy needs root and unshare to map a host name")
    hosts = tmp_path / "hosts"
    regional = " ".join(f"{region}-{RUN_HOST}" for region in ("us-central1", "europe-west1"))
    hosts.write_text(f"127.0.0.1 localhost {RUN_HOST} {regional}\n")
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m with a bind mount is not allowed here: {probe.stderr!r}")
    return prefix


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


@pytest.fixture
def deploy(
    run_host_namespace: list[str], bq_env: dict[str, str], fake_apis: FakeGoogleApis
) -> Deploy:
    """Run deploy.sh with these arguments against the local fakes, Cloud Run host mapped.

    Every functions deploy also calls `gcloud run services update` (the CPU boost), and
    gcloud puts the region in front of the Cloud Run host: hence the namespace.
    """
    env = {**bq_env, **fake_apis.endpoint_overrides(run_host=RUN_HOST)}

    def run(
        *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*run_host_namespace, str(DEPLOY_SH), *args],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    return run
