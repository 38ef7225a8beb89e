"""Where model files come from: a local folder (the bundled model/) or a gs:// bucket folder."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from serving.errors import ArtifactTooLarge, ModelUnavailable
from serving.manifest import MANIFEST_NAME

GCS_SCHEME = "gs://"


class ModelStore(Protocol):
    """Reads the files of one model folder."""

    description: str

    def read(self, name: str, max_bytes: int) -> bytes:
        """The whole file's bytes; ModelUnavailable when it cannot be read, IntegrityError
        when it holds more than `max_bytes` (read no further than that)."""
        ...


class LocalStore:
    """A model folder on the local file system."""

    def __init__(self, folder: Path, description: str) -> None:
        self.folder = folder
        self.description = description

    def read(self, name: str, max_bytes: int) -> bytes:
        try:
            with (self.folder / name).open("rb") as file:
                data = file.read(max_bytes + 1)
        except FileNotFoundError:
            raise ModelUnavailable(f"{name} is missing from the model folder") from None
        except OSError as exc:
            raise ModelUnavailable(f"{name} could not be read ({exc.strerror})") from exc
        if len(data) > max_bytes:
            raise ArtifactTooLarge.for_file(name, max_bytes)
        return data


def is_gcs_uri(model_uri: str) -> bool:
    """Whether MODEL_URI names a Cloud Storage folder."""
    return model_uri.startswith(GCS_SCHEME)


def parse_gcs_uri(model_uri: str) -> tuple[str, str]:
    """`gs://BUCKET/PREFIX/` as (bucket, prefix ending in "/" or empty); ValueError if malformed."""
    bucket, _, prefix = model_uri.removeprefix(GCS_SCHEME).partition("/")
    if not bucket or any(c in bucket for c in "#?*[] "):
        raise ValueError(f"{model_uri!r} must look like gs://BUCKET/PREFIX/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def open_store(
    model_uri: str,
    bundled: Path,
    *,
    timeout: float = 10.0,
    manifest_generation: int | None = None,
) -> ModelStore:
    """The store for MODEL_URI: a gs:// folder, or a local folder (the bundled one by default)."""
    if is_gcs_uri(model_uri):
        # Imported here only: the bundled and local paths never load google-cloud-storage.
        from serving.gcs import GcsStore

        bucket, prefix = parse_gcs_uri(model_uri)
        generations = {MANIFEST_NAME: manifest_generation} if manifest_generation else {}
        return GcsStore(bucket, prefix, timeout=timeout, generations=generations)
    folder = Path(model_uri)
    label = "bundled" if folder.resolve() == bundled.resolve() else "local folder"
    return LocalStore(folder, label)
