"""The libraries the served model needs beyond requirements.txt, and an upload that has them.

A model folder lists them in its manifest, `"requirements": ["xgboost==X.Y.Z", ...]`, when
the scikit-learn runtime needs them to unpickle the model (a booster that did not pass the
ONNX gate). deploy.sh then uploads a copy of the upload set whose requirements.txt has exactly
those lines added; the source folder and its requirements.txt are never changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from deploying.errors import DeployError
from deploying.model import Model, load_manifest, parse_manifest
from deploying.shell import PROGRAM, Shell, tell, warn
from deploying.source import uploaded_files
from serving.manifest import MANIFEST_NAME

REQUIREMENTS = "requirements.txt"
STAGED_SOURCE = "STAGED_SOURCE"  # a dry run's name for the copy a real run uploads
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def needed(shell: Shell, model: Model) -> tuple[str, ...]:
    """The served model's "requirements": from its manifest on this machine, or for a gs://
    model (in a real run) from the bucket, checked against the pin."""
    if model.manifest:
        return _listed(load_manifest(model.manifest), model.manifest)
    return () if shell.dry_run else _remote_needs(shell, model)


def unread_in_dry_run(model: Model) -> None:
    """Say what a dry run of a gs:// model leaves out (it reads nothing remote)."""
    tell(
        f"{PROGRAM}: a real run reads {_remote(model)} first: the libraries it lists under "
        f'"requirements" are added to the uploaded {REQUIREMENTS}\n'
    )


def _remote(model: Model) -> str:
    return f"{model.uri.removesuffix('/')}/{MANIFEST_NAME}"


def _remote_needs(shell: Shell, model: Model) -> tuple[str, ...]:
    where = _remote(model)
    read = ["gcloud", "storage", "cat", where]
    shell.trace(read)
    found = shell.read(read)
    if found is None:
        warn(f'cannot read {where}: libraries its "requirements" may list are not added')
        return ()
    found_sha256 = hashlib.sha256(found).hexdigest()
    if model.sha256 and found_sha256 != model.sha256:
        raise DeployError(
            f"{where} is not the pinned manifest: its sha256 is {found_sha256}, MODEL_SHA256 "
            f"pins {model.sha256}"
        )
    return _listed(parse_manifest(found, where), where)


def _listed(manifest: dict[str, Any], where: str) -> tuple[str, ...]:
    listed = manifest.get("requirements", [])
    if not isinstance(listed, list) or not all(
        isinstance(line, str) and _PIN.fullmatch(line) for line in listed
    ):
        raise DeployError(
            f'{where} lists "requirements" deploy.sh cannot add: {listed!r} (expected a list of '
            "NAME==VERSION)"
        )
    return tuple(listed)


def added_lines(source: str, needs: Sequence[str]) -> tuple[str, ...]:
    """The lines requirements.txt lacks; refused when it pins one of the libraries otherwise."""
    with open(os.path.join(source, REQUIREMENTS)) as file:
        lines = [line.strip() for line in file]
    pinned = {}
    for line in lines:
        name = _NAME.match(line)
        if name and not line.startswith("-"):
            pinned[_normal(name[1])] = line
    added = []
    for need in needs:
        have = pinned.get(_normal(need.split("==")[0]))
        if have is None:
            added.append(need)
        elif have != need:
            raise DeployError(
                f"{REQUIREMENTS} has {have} but the model was packaged with {need} (its "
                f'manifest\'s "requirements"): make them agree, or package the model again'
            )
    return tuple(added)


def _normal(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _say_added(source: str, added: Sequence[str], upload: str) -> None:
    lines = ", ".join(added)
    tell(
        f'{PROGRAM}: the model needs {lines} (its manifest\'s "requirements"): the '
        f"uploaded {REQUIREMENTS} adds {'it' if len(added) == 1 else 'them'}; {source} is "
        f"not changed, the upload is a copy of it: {upload}\n"
    )


@contextmanager
def upload_folder(shell: Shell, source: str, added: Sequence[str]) -> Iterator[str]:
    """The folder to upload: the source itself, or with lines to add, a copy of what gcloud
    would upload from it (.gcloudignore applied) whose requirements.txt has them."""
    if not added:
        yield source
        return
    if shell.dry_run:
        _say_added(source, added, STAGED_SOURCE)
        yield STAGED_SOURCE
        return
    with tempfile.TemporaryDirectory(prefix="deploy-source-") as scratch:
        copy = os.path.join(scratch, os.path.basename(source))
        _copy_upload(shell, source, copy)
        requirements = os.path.join(copy, REQUIREMENTS)
        with open(requirements) as file:
            text = file.read()
        with open(requirements, "w") as file:
            file.write(_with_lines(text, added))
        _say_added(source, added, copy)
        yield copy


def _with_lines(text: str, added: Sequence[str]) -> str:
    """requirements.txt's text with the lines added at its end."""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "".join(f"{line}\n" for line in added)


def _copy_upload(shell: Shell, source: str, copy: str) -> None:
    """The files gcloud would upload from `source`, and its .gcloudignore, under `copy`."""
    files = uploaded_files(shell, source)
    if files is None:
        raise DeployError(f"gcloud cannot list the files it would upload from {source}")
    for relative in sorted(files | {".gcloudignore"}):
        target = os.path.join(copy, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(source, relative), target)
