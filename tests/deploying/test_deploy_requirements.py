"""A model that needs a library beyond requirements.txt (its manifest's "requirements", written
when a booster did not pass the ONNX gate) deploys with exactly that pin added to the uploaded
requirements.txt; the source's own requirements.txt never changes.

Dry runs in-process of the real deploy.sh; full deploys through the real gcloud against the
local fakes, reading the requirements.txt inside the uploaded source zip.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.deploy_helpers import (
    PROJECT,
    SERVING_FILES,
    Deploy,
    create_bucket,
    dry_run_commands,
    flag_value,
    gcs_objects,
    needs_gcloud,
    only_request,
    run_deploy,
    uploaded_names,
    write_tree,
)
from tests.support.fake_google_apis import FakeGoogleApis

PIN = "xgboost==2.1.4"
REQUIREMENTS = SERVING_FILES["requirements.txt"]


def booster_manifest(requirements: object = (PIN,)) -> str:
    """A hand-written manifest of a model the scikit-learn runtime serves with xgboost."""
    return json.dumps(
        {
            "format": 2,
            "task": "classification",
            "features": [{"name": "mean radius", "type": "number"}],
            "classes": [0, 1],
            "requirements": list(requirements) if isinstance(requirements, tuple) else requirements,
        }
    )


def zipped_requirements(archive: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(archive)) as source_zip:
        return source_zip.read("requirements.txt").decode()


def test_dry_run_deploys_a_copy_whose_requirements_add_the_pin(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    (serving_source / "model" / "manifest.json").write_text(booster_manifest())

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(serving_source), env=gcloud_env
    )

    assert result.returncode == 0, result.stderr
    deploy, _boost = dry_run_commands(result.stdout)
    assert flag_value(deploy, "--source") == "STAGED_SOURCE"
    assert result.stderr == (
        f'deploy.sh: the model needs {PIN} (its manifest\'s "requirements"): the uploaded '
        f"requirements.txt adds it; {serving_source} is not changed, the upload is a copy of "
        "it: STAGED_SOURCE\n"
    )
    assert (serving_source / "requirements.txt").read_text() == REQUIREMENTS


def test_dry_run_of_an_uploaded_model_takes_the_pins_of_its_folder(
    serving_source: Path, gcloud_env: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path / "booster", {"manifest.json": booster_manifest(), "model.joblib": "x"})

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(serving_source),
        "--model-dir", str(tmp_path / "booster"), "--upload-model", "gs://models/booster/v1",
        env=gcloud_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    _artifacts, _manifest, deploy, _boost = dry_run_commands(result.stdout)
    assert flag_value(deploy, "--source") == "STAGED_SOURCE"
    assert f"the model needs {PIN}" in result.stderr


def test_a_pin_requirements_txt_already_has_deploys_the_source_itself(
    serving_source: Path, gcloud_env: dict[str, str]
) -> None:
    (serving_source / "model" / "manifest.json").write_text(booster_manifest())
    (serving_source / "requirements.txt").write_text(f"{REQUIREMENTS}XGBoost==2.1.4\n".lower())

    result = run_deploy(
        "--dry-run", "--project", PROJECT, "--source", str(serving_source), env=gcloud_env
    )

    assert result.returncode == 0, result.stderr
    assert flag_value(dry_run_commands(result.stdout)[0], "--source") == str(serving_source)
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("requirements_txt", "listed", "message"),
    [
        (
            f"{REQUIREMENTS}xgboost==2.0.0\n",
            (PIN,),
            f"requirements.txt has xgboost==2.0.0 but the model was packaged with {PIN}",
        ),
        (REQUIREMENTS, ("xgboost>=2",), 'lists "requirements" deploy.sh cannot add'),
        (REQUIREMENTS, ("--index-url=http://x/ xgboost",), "cannot add"),
        (REQUIREMENTS, (f"{PIN}\n--index-url http://x/",), "cannot add"),
        (REQUIREMENTS, "xgboost==2.1.4", "cannot add"),
    ],
)
def test_pins_that_cannot_be_added_are_refused_before_anything_runs(
    serving_source: Path,
    recording_gcloud: tuple[dict[str, str], Path],
    requirements_txt: str,
    listed: object,
    message: str,
) -> None:
    env, log = recording_gcloud
    (serving_source / "model" / "manifest.json").write_text(booster_manifest(listed))
    (serving_source / "requirements.txt").write_text(requirements_txt)

    result = run_deploy("--project", PROJECT, "--source", str(serving_source), env=env)

    assert result.returncode == 1
    assert result.stderr.startswith("deploy.sh: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert not log.exists()


@needs_gcloud
def test_functions_deploy_uploads_requirements_with_the_pin_added(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis
) -> None:
    (serving_source / "model" / "manifest.json").write_text(booster_manifest())

    result = deploy("--project", PROJECT, "--source", str(serving_source))

    assert result.returncode == 0, result.stderr
    [archive] = fake_apis.state.uploads.values()
    assert zipped_requirements(archive) == f"{REQUIREMENTS}{PIN}\n"
    assert uploaded_names(archive) == set(SERVING_FILES)
    assert (serving_source / "requirements.txt").read_text() == REQUIREMENTS
    assert f"the model needs {PIN}" in result.stderr
    create = only_request(fake_apis.requests, "POST", "/locations/us-central1/functions")
    assert create.json["buildConfig"]["runtime"] == "python312"


def put_object(fake_gcs_url: str, bucket: str, name: str, data: bytes) -> None:
    query = urllib.parse.urlencode({"uploadType": "media", "name": name})
    request = urllib.request.Request(
        f"{fake_gcs_url}/upload/storage/v1/b/{bucket}/o?{query}", data=data, method="POST"
    )
    with urllib.request.urlopen(request):
        pass


@needs_gcloud
def test_cloud_run_deploy_of_a_gcs_model_reads_its_pinned_manifest_for_the_pin(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis, fake_gcs_url: str
) -> None:
    manifest = booster_manifest().encode()
    create_bucket(fake_gcs_url, "models")
    put_object(fake_gcs_url, "models", "booster/v1/manifest.json", manifest)
    pin = hashlib.sha256(manifest).hexdigest()

    result = deploy(
        "--project", PROJECT, "--source", str(serving_source), "--target", "run",
        "--model-uri", "gs://models/booster/v1/", "--model-sha256", pin,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "+ gcloud storage cat gs://models/booster/v1/manifest.json" in result.stderr
    submit = only_request(fake_apis.requests, "POST", "/builds:submit")
    source = submit.json["storageSource"]
    archive = gcs_objects(fake_gcs_url, source["bucket"])[source["object"]]
    assert zipped_requirements(archive) == f"{REQUIREMENTS}{PIN}\n"
    assert uploaded_names(archive) == set(SERVING_FILES)


@needs_gcloud
def test_a_gcs_manifest_that_is_not_the_pinned_one_is_refused(
    serving_source: Path, deploy: Deploy, fake_apis: FakeGoogleApis, fake_gcs_url: str
) -> None:
    create_bucket(fake_gcs_url, "models")
    put_object(fake_gcs_url, "models", "booster/v1/manifest.json", booster_manifest().encode())

    result = deploy(
        "--project", PROJECT, "--source", str(serving_source),
        "--model-uri", "gs://models/booster/v1/", "--model-sha256", "0" * 64,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        "deploy.sh: error: gs://models/booster/v1/manifest.json is not the pinned manifest"
    )
    assert fake_apis.state.uploads == {}
