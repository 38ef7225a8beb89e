"""Refuse with 404 a request that names a model (or version) other than the served one."""

from __future__ import annotations

from serving.errors import NotFound, echo
from serving.loading import LoadedModel


def check_name(model: LoadedModel, name: str, version: str | None = None) -> None:
    """404 naming the served model (and version) when a request names another."""
    served = model.manifest.name
    if name != served:
        raise NotFound(f"model {echo(name)} is not served here; this function serves {served!r}")
    if version is not None and version != model.manifest.model_version:
        raise NotFound(
            f"version {echo(version)} of {served!r} is not served here; "
            f"the served version is {model.manifest.model_version!r}"
        )
