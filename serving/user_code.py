"""The user's own modules shipped with the model (`train.py --code`): verified, then importable
only while the pickle is loaded.

They sit in the model folder under code/ and manifest.json pins each by sha256. Every file is
read (no more than its pinned size) and checked before any is importable; the checked bytes
are written to a fresh temporary folder (never imported from the model folder itself, which
could change after the check), put first on sys.path for the unpickling only, then taken off
and deleted. Modules the pickle imported stay loaded: the model's objects need them.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from serving.errors import IntegrityError
from serving.manifest import MANIFEST_NAME, CodeFile, sha256_hex
from serving.storage import ModelStore

CODE_FOLDER = "code"


def read_code(store: ModelStore, code: Mapping[str, CodeFile]) -> dict[str, bytes]:
    """Every code file's bytes, each only when its sha256 is the pinned one."""
    files = {}
    for path, pinned in code.items():
        name = f"{CODE_FOLDER}/{path}"
        data = store.read(name, pinned.size)
        actual = sha256_hex(data)
        if actual != pinned.sha256:
            raise IntegrityError(
                f"{name} sha256 is {actual}, but {MANIFEST_NAME} pins {pinned.sha256}"
            )
        files[path] = data
    return files


@contextmanager
def importable(files: Mapping[str, bytes]) -> Iterator[Path]:
    """The files (relative POSIX paths) importable for the duration of the block."""
    folder = Path(tempfile.mkdtemp(prefix="user-code-"))
    entry = str(folder)
    try:
        for path, data in files.items():
            target = folder.joinpath(*PurePosixPath(path).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        sys.path.insert(0, entry)
        yield folder
    finally:
        while entry in sys.path:
            sys.path.remove(entry)
        shutil.rmtree(folder, ignore_errors=True)
