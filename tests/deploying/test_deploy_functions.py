""".gcloudignore and real Cloud Functions deploys through gcloud against the local fakes."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
from pathlib import Path

from tests.support.deploy_helpers import (
    GCLOUD,
    PROJECT,
    REPO,
    SERVING_FILES,
    Deploy,
    create_bucket,
    gcs_objects,
    needs_gcloud,
    only_request,
    sent_all_users,
    uploaded_names,
    write_tree,
)
from tests.support.fake_google_apis import PROJECT_NUMBER, FakeGoogleApis, RecordedRequest

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
# Real deploys through gcloud against the local fakes
# ------------------------------------------------------------------------------------------


@needs_gcloud
def test_functions_deploy_creates_a_private_function_with_the_defaults(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    result = deploy("--project", PROJECT, "--source", str(serving_source))

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
    assert service["environmentVariables"] == {
        "THREADS": "1",
        "WORKERS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
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
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    account = f"predictor@{PROJECT}.iam.gserviceaccount.com"

    result = deploy(
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
        "OPENBLAS_NUM_THREADS": "1",
        "MODEL_RUNTIME": "sklearn",
    }
    set_policy = only_request(requests, "POST", ":setIamPolicy")
    bindings = set_policy.json["policy"]["bindings"]
    assert {"members": ["allUsers"], "role": "roles/run.invoker"} in bindings
    assert "warning: --public" in result.stderr


@needs_gcloud
def test_redeploy_patches_the_function_and_a_private_deploy_revokes_public_access(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    source = ["--project", PROJECT, "--source", str(serving_source)]
    first = deploy(*source, "--public")
    assert first.returncode == 0, first.stderr
    assert "allUsers" in json.dumps(fake_apis.state.iam_policies)

    second = deploy(*source, "--memory", "1Gi")

    assert second.returncode == 0, second.stderr
    patch = only_request(fake_apis.requests, "PATCH", "/functions/sklearn-predict")
    assert "service_config.available_memory" in patch.query["updateMask"][0].split(",")
    assert patch.json["serviceConfig"]["availableMemory"] == "1Gi"
    assert fake_apis.state.iam_policies
    assert "allUsers" not in json.dumps(fake_apis.state.iam_policies)


@needs_gcloud
def test_upload_model_copies_the_folder_to_gcs_and_deploys_it_pinned(
    serving_source: Path,
    deploy: Deploy,
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

    result = deploy(
        "--project",
        PROJECT,
        "--source",
        str(serving_source),
        "--model-dir",
        str(model_dir),
        "--upload-model",
        "gs://models/iris/v2/",
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


BOOST = "run.googleapis.com/startup-cpu-boost"


def serving_revision(fake_apis: FakeGoogleApis, name: str = "sklearn-predict") -> str:
    """The revision of the function's Cloud Run service that has all the traffic."""
    service = fake_apis.state.services[f"{PROJECT}/{name}"]
    [serving] = [entry for entry in service["status"]["traffic"] if entry.get("percent") == 100]
    return str(serving["revisionName"])


def writes(requests: list[RecordedRequest]) -> list[tuple[str, str]]:
    """The API calls that change something (method, path), source uploads left out."""
    return [
        (r.method, r.path)
        for r in requests
        if r.method in ("PATCH", "PUT") and not r.path.startswith("/upload/")
    ]


@needs_gcloud
def test_cpu_boost_is_set_again_after_every_functions_deploy(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    source = ["--project", PROJECT, "--source", str(serving_source)]
    first = deploy(*source)
    assert first.returncode == 0, first.stderr
    templates = fake_apis.state.revision_templates
    assert templates[serving_revision(fake_apis)]["metadata"]["annotations"][BOOST] == "True"
    before = len(fake_apis.requests)

    second = deploy(*source, "--memory", "1Gi")

    assert second.returncode == 0, second.stderr
    function = "/cloudfunctions/v2/projects/demo-project/locations/us-central1/functions"
    service = "/run/apis/serving.knative.dev/v1/namespaces/demo-project/services"
    later = fake_apis.requests[before:]
    assert writes(later) == [
        ("PATCH", f"{function}/sklearn-predict"),
        ("PUT", f"{service}/sklearn-predict"),
    ]
    patch, put = [r for r in later if r.method in ("PATCH", "PUT") and "/upload/" not in r.path]
    assert patch.json["serviceConfig"]["allTrafficOnLatestRevision"] is True
    assert put.json["spec"]["template"]["metadata"]["annotations"][BOOST] == "True"
    # The functions deploy wrote its revision without the boost; the one serving has it.
    revisions = fake_apis.state.revisions[f"{PROJECT}/sklearn-predict"]
    assert len(revisions) == 4
    assert BOOST not in templates[revisions[2]]["metadata"]["annotations"]
    assert serving_revision(fake_apis) == revisions[3]
    assert templates[revisions[3]]["metadata"]["annotations"][BOOST] == "True"
    assert templates[revisions[3]]["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "1Gi"
    }
