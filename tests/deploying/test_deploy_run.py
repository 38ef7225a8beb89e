"""Cloud Run deploys through the real gcloud against the local fakes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.deploy_helpers import (
    DEPLOY_SH,
    PROJECT,
    RUN_HOST,
    SERVING_FILES,
    gcs_objects,
    knative_env,
    needs_gcloud,
    only_request,
    run_deploy,
    sent_all_users,
    uploaded_names,
)
from tests.support.fake_google_apis import FakeGoogleApis


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
            "--no-cpu-boost",
            "--",
            "--quiet",
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
    assert knative_env(service) == {"THREADS": "4", "WORKERS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert template["metadata"]["annotations"]["run.googleapis.com/startup-cpu-boost"] == "True"
    assert sent_all_users(requests) is public
    assert "Deployed sklearn-predict: https://" in result.stdout
