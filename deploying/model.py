"""Which model the function will serve, checked before anything runs.

The bundled model/ of the upload, a folder inside the upload (--model-uri DIR), a gs:// folder
(--model-uri gs://..., pinned by the sha256 of its manifest.json), or a local folder that
--upload-model copies to Cloud Storage first (artifacts, then the manifest) and pins.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from deploying.errors import DeployError
from deploying.shell import Shell
from deploying.source import uploaded_files
from serving.manifest import MANIFEST_NAME as MANIFEST
from serving.settings import SHA256
from serving.storage import GCS_SCHEME


@dataclass(frozen=True)
class Upload:
    """--upload-model: the files to copy, in order, and where to."""

    artifacts: tuple[str, ...]
    manifest: str
    destination: str  # gs://BUCKET/PREFIX/


@dataclass(frozen=True)
class Model:
    """The model the function will serve."""

    uri: str  # MODEL_URI; empty for the bundled model/
    sha256: str  # MODEL_SHA256; empty when unpinned
    allow_unpinned: bool
    upload: Upload | None


def sha256_of(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def served_model(
    *,
    shell: Shell,
    source: str,
    uri: str,
    sha256: str,
    allow_unpinned: bool,
    upload_to: str,
    model_dir: str,
) -> Model:
    """The model, its pin and its upload; refused when the function could not serve it."""
    upload = None
    if upload_to:
        if not upload_to.startswith(GCS_SCHEME) or len(upload_to) == len(GCS_SCHEME):
            raise DeployError(f"--upload-model needs gs://BUCKET/PREFIX/, got '{upload_to}'")
        if uri and uri not in (upload_to, f"{upload_to}/"):
            raise DeployError(
                f"--upload-model sets MODEL_URI itself: drop --model-uri / MODEL_URI ({uri})"
            )
        manifest = f"{model_dir}/{MANIFEST}"
        if not os.path.isfile(manifest):
            raise DeployError(
                f"model missing: {manifest} not found (train first, or pass --model-dir)"
            )
        destination = upload_to.removesuffix("/") + "/"
        local_sha256 = sha256_of(manifest)
        if sha256 and sha256 != local_sha256:
            raise DeployError(f"MODEL_SHA256 ({sha256}) does not match {manifest} ({local_sha256})")
        upload = Upload(tuple(_artifacts(model_dir)), manifest, destination)
        uri, sha256 = destination, local_sha256
    elif not uri:
        if not os.path.isfile(os.path.join(source, "model", MANIFEST)):
            raise DeployError(
                f"model missing: {source}/model/{MANIFEST} not found (train first, or use "
                "--model-uri / --upload-model)"
            )
    elif not uri.startswith(GCS_SCHEME) and not uri.startswith("/"):
        _check_uploaded_folder(shell, source, uri)
    if uri.startswith(GCS_SCHEME) and not sha256 and not allow_unpinned:
        raise DeployError(
            f"remote model {uri} has no pin: set MODEL_SHA256 (or --model-sha256) to the sha256 "
            "of its manifest.json, use --upload-model, or pass --allow-unpinned"
        )
    if sha256 and not SHA256.fullmatch(sha256):
        raise DeployError(f"MODEL_SHA256 must be 64 hex characters (a sha256), got '{sha256}'")
    return Model(uri=uri, sha256=sha256, allow_unpinned=allow_unpinned, upload=upload)


def _check_uploaded_folder(shell: Shell, source: str, uri: str) -> None:
    """A folder inside the upload: the function reads it relative to the uploaded folder."""
    if not os.path.isfile(f"{source}/{uri}/{MANIFEST}"):
        raise DeployError(f"model missing: {source}/{uri}/{MANIFEST} not found")
    if not shell.has("gcloud"):
        return
    listed = uri.removeprefix("./").removesuffix("/") + f"/{MANIFEST}"
    if listed not in (uploaded_files(shell, source) or set()):
        raise DeployError(
            f"--model-uri {uri} is not uploaded: .gcloudignore leaves out {listed} (use a "
            "folder it lets in, such as model/, or --upload-model)"
        )


def _artifacts(model_dir: str) -> list[str]:
    """The model folder's files but the manifest, by name; a subfolder is refused (it is
    copied flat)."""
    artifacts = []
    for name in sorted(os.listdir(model_dir)):
        path = f"{model_dir}/{name}"
        if name.startswith("."):
            continue
        if os.path.isdir(path):
            raise DeployError(f"--upload-model copies a flat folder; {path} is a subfolder")
        if name != MANIFEST:
            artifacts.append(path)
    return artifacts
