"""Fetch, verify and deserialise the model: nothing is deserialised before every hash matches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from serving.errors import IntegrityError, ModelUnavailable
from serving.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Artifact, Manifest, sha256_hex
from serving.runtimes import Runtime, RuntimeFactory
from serving.settings import BUNDLED_MODEL_DIR, Settings
from serving.slot import LazySlot
from serving.storage import ModelStore, open_store
from serving.user_code import importable, read_code

if TYPE_CHECKING:
    from serving.explain.artifact import Explainer

logger = logging.getLogger(__name__)


def _sklearn() -> RuntimeFactory:
    from serving.runtimes import sklearn_runtime

    return sklearn_runtime.load


def _onnx() -> RuntimeFactory:
    from serving.runtimes import onnx_runtime

    return onnx_runtime.load


# Each runtime's module is imported only when chosen: the ONNX path never imports scikit-learn.
RUNTIME_FACTORIES: dict[str, Callable[[], RuntimeFactory]] = {"sklearn": _sklearn, "onnx": _onnx}


@dataclass(frozen=True)
class LoadedModel:
    """A verified manifest and the runtime built from its artifact; the explainer is read
    (and verified) from the same store on the first explanation asked for, never before."""

    manifest: Manifest
    manifest_sha256: str
    runtime: Runtime
    source: str
    load_seconds: float
    explainer: LazySlot[Explainer] | None = None


def load_model(settings: Settings) -> LoadedModel:
    """Load the model that settings point at, or raise ModelUnavailable saying why."""
    started = time.perf_counter()
    store = open_store(
        settings.model_uri,
        BUNDLED_MODEL_DIR,
        timeout=settings.model_fetch_timeout_seconds,
        manifest_generation=settings.model_generation,
    )
    manifest_bytes = store.read(MANIFEST_NAME, MAX_MANIFEST_BYTES)
    manifest_sha256 = sha256_hex(manifest_bytes)
    if settings.model_sha256 and manifest_sha256 != settings.model_sha256:
        raise IntegrityError(
            f"{MANIFEST_NAME} sha256 is {manifest_sha256}, "
            f"but MODEL_SHA256 pins {settings.model_sha256}"
        )
    manifest = Manifest.parse(manifest_bytes)
    artifact = choose_artifact(manifest, settings.model_runtime)
    data = read_verified(store, artifact)
    factory = RUNTIME_FACTORIES[artifact.runtime]()
    if artifact.runtime == "sklearn" and manifest.code:
        # Unpickling may import the user's own modules: verified first, importable only now.
        with importable(read_code(store, manifest.code)):
            runtime = factory(data, manifest)
    else:
        runtime = factory(data, manifest)
    loaded = LoadedModel(
        manifest=manifest,
        manifest_sha256=manifest_sha256,
        runtime=runtime,
        source=store.description,
        load_seconds=time.perf_counter() - started,
        explainer=LazySlot(
            lambda: load_explainer(store, manifest), retry_seconds=settings.model_retry_seconds
        ),
    )
    for warning in runtime.warnings:
        logger.warning(warning)
    logger.info(
        "model loaded",
        extra={
            "fields": {
                "source": loaded.source,
                "manifest_sha256": manifest_sha256,
                "model_version": manifest.model_version,
                "runtime": runtime.name,
                "seconds": round(loaded.load_seconds, 4),
            }
        },
    )
    return loaded


def choose_artifact(manifest: Manifest, preference: str) -> Artifact:
    """The artifact to serve: ONNX when listed (or forced), scikit-learn otherwise."""
    order = ("onnx", "sklearn") if preference == "auto" else (preference,)
    for runtime in order:
        artifact = manifest.artifact_for(runtime)
        if artifact is not None:
            return artifact
    raise ModelUnavailable(
        f"{MANIFEST_NAME} lists no artifact for MODEL_RUNTIME={preference}; "
        f"it lists: {', '.join(sorted(a.runtime for a in manifest.artifacts.values()))}"
    )


def load_explainer(store: ModelStore, manifest: Manifest) -> Explainer:
    """The explainer from the manifest's explanations artifact, verified like the model."""
    artifact = manifest.artifact_for("explanations")
    if artifact is None:
        raise ModelUnavailable(f"{MANIFEST_NAME} lists no explanations artifact")
    from serving.explain.artifact import read_explainer  # only when explanations are asked for

    explainer = read_explainer(read_verified(store, artifact))
    if explainer.n_inputs != manifest.n_features:
        raise IntegrityError(
            f"{artifact.name} explains {explainer.n_inputs} features; the model has "
            f"{manifest.n_features}"
        )
    return explainer


def read_verified(store: ModelStore, artifact: Artifact) -> bytes:
    """Read one artifact and return its bytes only when their sha256 is the pinned one.

    No more than the manifest's size for it is read: a wrong or hostile object cannot make
    the instance hold more than that (nor run out of memory) before the hash refuses it.
    """
    data = store.read(artifact.name, artifact.size)
    actual = sha256_hex(data)
    if actual != artifact.sha256:
        raise IntegrityError(
            f"{artifact.name} sha256 is {actual}, but {MANIFEST_NAME} pins {artifact.sha256}"
        )
    return data
