"""`train.py --code FILE|DIR`: the user's own modules a pickle needs, shipped with the model.

A FILE (a module, `user_features.py`) is shipped as code/user_features.py; a DIR (a package)
as code/DIR/..., its files in their folders. Each is listed in the manifest with its sha256,
and the function makes them importable only while it unpickles the model (serving/user_code.py).
A module named like one the function already has (the standard library's, an installed
library's, the function's own) is refused: it would never be the one imported.
"""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.manifest import sha256_hex
from serving.user_code import CODE_FOLDER
from training.data import DataError

# Never shipped from inside a DIR.
SKIPPED = ("__pycache__", ".git", ".DS_Store")
# The function's own top-level modules, and this tool's.
OWN_MODULES = ("main", "serving", "training", "train")


@dataclass(frozen=True)
class UserCode:
    """The files to ship under code/, by relative POSIX path, and their top-level modules."""

    files: dict[str, bytes]

    @property
    def modules(self) -> list[str]:
        """The top-level module names the files make importable."""
        return sorted({path.split("/")[0].removesuffix(".py") for path in self.files})

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's "code" object: {path inside code/: {sha256, bytes}}."""
        return {
            path: {"sha256": sha256_hex(data), "bytes": len(data)}
            for path, data in sorted(self.files.items())
        }

    def folder_files(self) -> dict[str, bytes]:
        """The files as the model folder holds them (code/...)."""
        return {f"{CODE_FOLDER}/{path}": data for path, data in self.files.items()}


def collect(paths: list[Path]) -> UserCode:
    """The --code files, checked: each exists, is a module or a package, and shadows nothing."""
    files: dict[str, bytes] = {}
    taken: set[str] = set()
    for path in paths:
        if path.is_file() and path.suffix == ".py":
            found = {path.name: path.read_bytes()}
        elif path.is_dir():
            found = {
                f"{path.name}/{file.relative_to(path).as_posix()}": file.read_bytes()
                for file in sorted(path.rglob("*"))
                if file.is_file() and not _skipped(file.relative_to(path))
            }
        else:
            raise DataError(f"--code {path}: not a .py file or a folder")
        top = path.stem if path.is_file() else path.name
        if not top.isidentifier():
            raise DataError(f"--code {path}: {top!r} is not a name Python can import")
        if top in taken:
            raise DataError(f"--code {path}: a module named {top!r} is given twice")
        if _existing(top):
            raise DataError(
                f"--code {path}: the function already has a module named {top!r} (the standard "
                "library's, an installed library's or its own); rename yours"
            )
        files.update(found)
        taken.add(top)
    return UserCode(files)


def _existing(name: str) -> bool:
    """Whether the function already imports something by this name."""
    installed = importlib.metadata.packages_distributions()
    return (
        name in sys.stdlib_module_names
        or name in sys.builtin_module_names
        or name in installed
        or name in OWN_MODULES
    )


def _skipped(relative: Path) -> bool:
    return any(part in SKIPPED for part in relative.parts) or relative.suffix in (".pyc", ".pyo")
