"""The folder deploy.sh uploads: checked, and what gcloud lets through its .gcloudignore."""

from __future__ import annotations

import os
from collections.abc import Mapping

from deploying.errors import DeployError
from deploying.shell import Shell

REQUIRED = ("main.py", "requirements.txt", ".gcloudignore")


def source_folder(source: str, environ: Mapping[str, str]) -> str:
    """The --source folder as an absolute path (symbolic links kept, as `cd DIR && pwd`
    gives it), refused when it lacks what a deploy needs."""
    if not os.path.isdir(source):
        raise DeployError(f"source folder not found: {source}")
    folder = os.path.normpath(os.path.join(working_folder(environ), source))
    for required in REQUIRED:
        if not os.path.isfile(os.path.join(folder, required)):
            raise DeployError(f"{required} is missing in {folder}")
    return folder


def working_folder(environ: Mapping[str, str]) -> str:
    """The current folder as the shell names it: $PWD when that is it, else the real path."""
    named = environ.get("PWD", "")
    try:
        if os.path.isabs(named) and os.path.samefile(named, "."):
            return named
    except OSError:
        pass
    return os.getcwd()


def uploaded_files(shell: Shell, folder: str) -> set[str] | None:
    """The files gcloud would upload from the folder (its .gcloudignore applied), relative
    to it; None when gcloud cannot say."""
    listed = shell.output(["gcloud", "meta", "list-files-for-upload", folder], quiet=True)
    return None if listed is None else set(listed.splitlines())
