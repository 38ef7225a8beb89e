"""Canary, promote and rollback through the real gcloud against the local fake of the APIs.

The canary's tag URL points at a real functions-framework server on 127.0.0.1: one serving
the bundled model (healthy) or one whose model cannot load (its /health answers 503).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.deploy_helpers import PROJECT, Deploy, needs_gcloud
from tests.support.fake_google_apis import FakeGoogleApis, RecordedRequest
from tests.support.servers import Server

NAME = "sklearn-predict"
FUNCTION = f"/cloudfunctions/v2/projects/{PROJECT}/locations/us-central1/functions/{NAME}"
SERVICE = f"/run/apis/serving.knative.dev/v1/namespaces/{PROJECT}/services/{NAME}"
BOOST = "run.googleapis.com/startup-cpu-boost"
TOKEN = {"DEPLOY_IDENTITY_TOKEN": "test-identity-token"}


@pytest.fixture(scope="module")
def broken_server(serve: Callable[..., Server], tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A model folder without a manifest: /health answers 503 with the reason."""
    return serve({"MODEL_URI": str(tmp_path_factory.mktemp("no-model"))})


def writes(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    """The calls that change something, source uploads and IAM left out."""
    return [
        r
        for r in requests
        if r.method in ("PATCH", "PUT", "POST")
        and not r.path.startswith("/upload/")
        and "IamPolicy" not in r.path
        and "generateUploadUrl" not in r.path
    ]


def percent_by_revision(traffic: list[dict[str, Any]]) -> dict[str, int]:
    """Traffic per revision name, entries without a share (tag-only) left out."""
    shares: dict[str, int] = {}
    for entry in traffic:
        if entry.get("percent"):
            shares[entry["revisionName"]] = shares.get(entry["revisionName"], 0) + entry["percent"]
    return shares


def tags(traffic: list[dict[str, Any]]) -> dict[str, str]:
    """Tag -> revision name."""
    return {entry["tag"]: entry["revisionName"] for entry in traffic if entry.get("tag")}


def seed_service(fake_apis: FakeGoogleApis) -> str:
    """A Cloud Run service with one revision serving everything, as a first deploy leaves it."""
    template = {"metadata": {"annotations": {BOOST: "True"}}, "spec": {"containers": []}}
    service = {"metadata": {"name": NAME}, "spec": {"template": template}}
    fake_apis.state.put_service(f"{PROJECT}/{NAME}", service)
    return fake_apis.state.revisions[f"{PROJECT}/{NAME}"][-1]


def service_traffic(fake_apis: FakeGoogleApis) -> list[dict[str, Any]]:
    return list(fake_apis.state.services[f"{PROJECT}/{NAME}"]["status"]["traffic"])


@needs_gcloud
def test_functions_canary_then_promote_then_rollback(
    serving_source: Path,
    deploy: Deploy,
    fake_apis: FakeGoogleApis,
    bundled_server: Server,
) -> None:
    source = ["--project", PROJECT, "--source", str(serving_source)]
    assert deploy(*source).returncode == 0
    [stable] = percent_by_revision(service_traffic(fake_apis))
    fake_apis.state.tag_urls["canary"] = bundled_server.url
    before = len(fake_apis.requests)

    canary = deploy(*source, "--canary", "10", extra_env=TOKEN)

    assert canary.returncode == 0, canary.stderr
    pin, patch, tag, split = writes(fake_apis.requests[before:])
    assert (pin.method, pin.path) == ("PUT", SERVICE)
    assert percent_by_revision(pin.json["spec"]["traffic"]) == {stable: 100}
    assert tags(pin.json["spec"]["traffic"]) == {"stable": stable}
    assert (patch.method, patch.path) == ("PATCH", FUNCTION)
    assert "allTrafficOnLatestRevision" not in patch.json["serviceConfig"]
    assert (tag.method, tag.path) == ("PUT", SERVICE)
    new_revision = tag.json["spec"]["template"]["metadata"]["name"]
    assert tag.json["spec"]["template"]["metadata"]["annotations"][BOOST] == "True"
    assert percent_by_revision(tag.json["spec"]["traffic"]) == {stable: 100}
    assert tags(tag.json["spec"]["traffic"]) == {"stable": stable, "canary": new_revision}
    assert (split.method, split.path) == ("PUT", SERVICE)
    assert percent_by_revision(split.json["spec"]["traffic"]) == {stable: 90, new_revision: 10}
    assert f"{bundled_server.url}/health" in canary.stderr
    assert f"The new revision alone: {bundled_server.url}" in canary.stdout
    assert "--rollback" in canary.stdout
    assert "model_version" in canary.stdout

    promote = deploy("--project", PROJECT, "--promote")

    assert promote.returncode == 0, promote.stderr
    assert percent_by_revision(service_traffic(fake_apis)) == {new_revision: 100}
    before = len(fake_apis.requests)

    rollback = deploy("--project", PROJECT, "--rollback")

    assert rollback.returncode == 0, rollback.stderr
    [put] = writes(fake_apis.requests[before:])
    assert percent_by_revision(put.json["spec"]["traffic"]) == {stable: 100}
    assert percent_by_revision(service_traffic(fake_apis)) == {stable: 100}


@needs_gcloud
def test_cloud_run_canary_that_fails_its_health_check_gets_no_traffic(
    serving_source: Path,
    deploy: Deploy,
    fake_apis: FakeGoogleApis,
    broken_server: Server,
) -> None:
    source = ["--target", "run", "--project", PROJECT, "--source", str(serving_source)]
    stable = seed_service(fake_apis)
    fake_apis.state.tag_urls["canary"] = broken_server.url
    before = len(fake_apis.requests)

    canary = deploy(*source, "--canary", "25", extra_env=TOKEN)

    assert canary.returncode == 1
    last_line = canary.stderr.splitlines()[-1]
    assert last_line.startswith(
        f"deploy.sh: error: canary health check failed: {broken_server.url}/health answered 503"
    )
    assert f"no traffic moved, {stable} still serves all requests" in last_line
    services = [r for r in writes(fake_apis.requests[before:]) if r.path.endswith(f"/{NAME}")]
    pin, new = services
    assert tags(pin.json["spec"]["traffic"]) == {"stable": stable}
    assert tags(new.json["spec"]["traffic"])["canary"] != stable
    assert "--cpu-boost" in canary.stderr
    assert percent_by_revision(service_traffic(fake_apis)) == {stable: 100}


@needs_gcloud
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--canary", "10"], "no Cloud Run service 'sklearn-predict' in us-central1"),
        (["--rollback"], "no Cloud Run service 'sklearn-predict' in us-central1"),
    ],
    ids=["canary-first", "rollback-first"],
)
def test_rollouts_need_a_service_to_roll_out_on(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis, args: list[str], message: str
) -> None:
    result = deploy("--project", PROJECT, "--source", str(serving_source), *args, extra_env=TOKEN)

    assert result.returncode == 1
    assert message in result.stderr
    assert writes(fake_apis.requests) == []


@needs_gcloud
def test_rollback_without_a_canary_has_nothing_to_go_back_to(
    deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    seed_service(fake_apis)

    result = deploy("--project", PROJECT, "--rollback")

    assert result.returncode == 1
    assert "no revision of sklearn-predict is tagged 'stable'" in result.stderr
    assert writes(fake_apis.requests) == []
