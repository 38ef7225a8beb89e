"""Where model files come from: a local folder (the bundled model/) or, later, a bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from serving.errors import ModelUnavailable


class ModelStore(Protocol):
    """Reads the files of one model folder."""

    description: str

    def read(self, name: str) -> bytes:
        """The whole file's bytes; ModelUnavailable when it cannot be read."""
        ...


class LocalStore:
    """A model folder on the local file system."""

    def __init__(self, folder: Path, description: str) -> None:
        self.folder = folder
        self.description = description

    def read(self, name: str) -> bytes:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            raise ModelUnavailable(f"{name} is missing from the model folder") from None
        except OSError as exc:
            raise ModelUnavailable(f"{name} could not be read ({exc.strerror})") from exc


def open_store(model_uri: str, bundled: Path) -> ModelStore:
    """The store for MODEL_URI: a local folder (the bundled one by default)."""
    folder = Path(model_uri)
    label = "bundled" if folder.resolve() == bundled.resolve() else "local folder"
    return LocalStore(folder, label)
