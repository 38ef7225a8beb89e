"""Which model the function will serve, checked before anything runs.

The bundled model/ of the upload, a folder inside the upload (--model-uri DIR), a gs:// folder
(--model-uri gs://..., pinned by the sha256 of its manifest.json), or a local folder that
--upload-model copies to Cloud Storage first (artifacts, then the manifest) and pins.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    manifest: str  # its manifest.json on this machine; empty for a gs:// model


def named_by_env(uri: str, sha256: str, env: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
    """--env MODEL_URI=... and --env MODEL_SHA256=... name the served model just as
    --model-uri and --model-sha256 do: the model, its pin, and the other --env pairs."""
    named = {
        "MODEL_URI": ("--model-uri", uri, "models"),
        "MODEL_SHA256": ("--model-sha256", sha256, "pins"),
    }
    found = {}
    rest = []
    for pair in env:
        key, equals, value = pair.partition("=")
        value = value.strip().lower() if key == "MODEL_SHA256" else value.strip()
        if key not in named or not equals or not value:
            rest.append(pair)
            continue
        flag, given, what = named[key]
        if given and given != value:
            raise DeployError(f"--env {pair} and {flag} {given} name two {what}: give one")
        found[key] = value
    return found.get("MODEL_URI", uri), found.get("MODEL_SHA256", sha256), tuple(rest)


def load_manifest(path: str) -> dict[str, Any]:
    """A manifest.json on this machine, as a JSON object."""
    try:
        with open(path, "rb") as file:
            return parse_manifest(file.read(), path)
    except OSError as exc:
        raise DeployError(f"cannot read the model manifest {path}: {exc}") from None


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """A manifest.json's bytes as a JSON object; `where` names it in a refusal."""
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise DeployError(f"cannot read the model manifest {where}: {exc}") from None
    if not isinstance(manifest, dict):
        raise DeployError(f"{where} is not a model manifest (a JSON object)")
    return manifest


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
        manifest = f"{source}/model/{MANIFEST}"
        if not os.path.isfile(manifest):
            raise DeployError(
                f"model missing: {manifest} not found (train first, or use "
                "--model-uri / --upload-model)"
            )
    elif uri.startswith(GCS_SCHEME):
        manifest = ""
    else:
        _check_uploaded_folder(shell, source, uri)
        manifest = f"{source}/{uri.removesuffix('/')}/{MANIFEST}"
    if uri.startswith(GCS_SCHEME) and not sha256 and not allow_unpinned:
        raise DeployError(
            f"remote model {uri} has no pin: set MODEL_SHA256 (or --model-sha256) to the sha256 "
            "of its manifest.json, use --upload-model, or pass --allow-unpinned"
        )
    if sha256 and not SHA256.fullmatch(sha256):
        raise DeployError(f"MODEL_SHA256 must be 64 hex characters (a sha256), got '{sha256}'")
    return Model(uri, sha256, allow_unpinned, upload, manifest)


def _check_uploaded_folder(shell: Shell, source: str, uri: str) -> None:
    """A folder inside the upload: the function reads it relative to the uploaded folder, on
    its own machine, so a path of this machine or one leading out of the upload is refused."""
    inside = os.path.relpath(os.path.normpath(os.path.join(source, uri)), source)
    if Path(inside).parts[0] == "..":
        raise DeployError(
            f"--model-uri {uri} is a local folder outside the upload ({source}): the deployed "
            "function could not read it (use a folder inside --source such as model/, or "
            "--upload-model to copy it to Cloud Storage)"
        )
    if os.path.isabs(uri):
        raise DeployError(
            f"--model-uri {uri} is a path on this machine, where the function does not run: "
            f"name the folder relative to --source ({inside})"
        )
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
