"""The function as one object: its settings, the lazily loaded model, and its routes.

The function's own routes (GET / metadata, GET /health) are answered here; every other format
is in serving/protocols/, and `Router` dispatches on the path first, then on the body's format.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.errors import ModelUnavailable
from serving.exchange import Call, Host, Reply
from serving.loading import LoadedModel, load_model
from serving.protocols.router import Router
from serving.settings import Settings
from serving.slot import LazySlot

__all__ = ["Endpoint", "model_summary"]


class Endpoint:
    """The whole function: settings, the lazily loaded model and the routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: LazySlot[LoadedModel] = LazySlot(
            lambda: load_model(settings), retry_seconds=settings.model_retry_seconds
        )
        self.router = Router(settings, metadata=metadata, health=health)

    def answer(
        self,
        method: str,
        path: str,
        content_type: str,
        body: bytes,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer one request; raises the project's errors for anything that is not a 2xx.

        `headers` must read case-insensitively (the web framework's do), as HTTP says.
        """
        call = Call(method, path.rstrip("/") or "/", content_type, body, query or {}, headers or {})
        return self.router.dispatch(self, call)

    @property
    def model_version(self) -> str | None:
        """The loaded model's version, None before it loads (never loads it), for log lines."""
        model = self.model.value
        return model.manifest.model_version if model else None


def health(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /health: 200 only when the model is loaded and verified (loading it now if needed)."""
    model = host.model.get()
    return Reply(200, {"status": "ok", "model_version": model.manifest.model_version})


def metadata(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /: what is served; still answers (with the code and what to do) while the model cannot
    load. A browser (Accept: text/html first) gets the model card (serving/card.py)."""
    html = _wants_card(call)
    try:
        model = host.model.get()
    except ModelUnavailable as exc:
        return _unavailable(exc, call, html)
    if html:
        from serving import card

        manifest = model.manifest
        return card.card(model_summary(model), manifest.features, manifest.example)
    return Reply(200, model_summary(model))


def _unavailable(exc: ModelUnavailable, call: Call, html: bool) -> Reply:
    """GET / while the model cannot load: its code and what to do; the reason goes to the log."""
    message = exc.client_message(call.request_id)
    if html:
        from serving import card

        reply = card.unavailable(message, exc.code)
    else:
        reply = Reply(200, {"loaded": False, "reason": message, "code": exc.code})
    return dataclasses.replace(reply, log=reply.log | {"reason": exc.message})


def _wants_card(call: Call) -> bool:
    """Whether a browser asks (serving.card is imported only when the Accept names html)."""
    if "html" not in call.headers.get("Accept", ""):
        return False
    from serving import card

    return card.wants_html(call.headers)


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
