"""The function's own GET routes: what is served (GET /, JSON or the card), /health, /version.

Also the pages' /docs and /assets (serving/docs.py, imported only when asked for).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.errors import ModelUnavailable
from serving.exchange import Reply, Request
from serving.html_page import VARY, prefers_html
from serving.loading import LoadedModel
from serving.slot import LazySlot


def metadata(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /: what is served; still answers (with the code and what to do) while the model cannot
    load. A browser (its Accept prefers text/html) gets the model card (serving/card.py)."""
    html = prefers_html(request.headers.get("Accept", ""))
    try:
        loaded = model.get()
    except ModelUnavailable as exc:
        return _unavailable(exc, request, html)
    if html:
        from serving import card

        manifest = loaded.manifest
        return card.card(model_summary(loaded), manifest.features, manifest.example)
    return Reply(200, model_summary(loaded), headers=VARY)


def _unavailable(exc: ModelUnavailable, request: Request, html: bool) -> Reply:
    """GET / while the model cannot load: its code and what to do; the reason goes to the log."""
    message = exc.client_message(request.request_id)
    if html:
        from serving import card

        reply = card.unavailable(message, exc.code)
    else:
        reply = Reply(200, {"loaded": False, "reason": message, "code": exc.code}, headers=VARY)
    return dataclasses.replace(reply, log=reply.log | {"reason": exc.message})


def health(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /health: 200 only when the model is loaded and verified (loading it now if needed)."""
    loaded = model.get()
    return Reply(200, {"status": "ok", "model_version": loaded.manifest.model_version})


def version(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """MLflow's GET /version, answered with the served model's version."""
    return Reply(200, {"version": model.get().manifest.model_version})


def docs_page(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /docs: interactive API docs (serving/docs.py, imported only when asked for)."""
    from serving import docs

    return docs.page()


def web_asset(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /assets/{name}: the card's and the docs' own files, served by the function."""
    from serving import docs

    return docs.asset(match["name"])


def model_summary(model: LoadedModel) -> dict[str, Any]:
    """The GET / answer for a loaded model: what is served, from where, and how it was made."""
    manifest = model.manifest
    return {
        "loaded": True,
        "name": manifest.name,
        "model_version": manifest.model_version,
        "task": manifest.task,
        "feature_names": list(manifest.feature_names),
        "n_features": manifest.n_features,
        "features": [feature.to_json() for feature in manifest.features],
        "fitted_on": "dataframe" if manifest.fitted_on_dataframe else "array",
        "example": manifest.example,
        "classes": list(manifest.classes) if manifest.classes is not None else None,
        "metrics": manifest.metrics,
        "created_at": manifest.created_at,
        "runtime": model.runtime.name,
        "source": model.source,
        "manifest_sha256": model.manifest_sha256,
        "artifacts": {name: artifact.to_json() for name, artifact in manifest.artifacts.items()},
        "libraries": {
            "trained_with": manifest.libraries,
            "serving": {"python": platform.python_version(), "numpy": np.__version__}
            | model.runtime.libraries,
        },
        "training_data": manifest.training_data,
        "explanations": manifest.explanation_status(),
        "warnings": list(model.runtime.warnings),
    }
