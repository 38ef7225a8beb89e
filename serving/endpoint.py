"""Routes and answers, free of any web framework: method, path, body in; status and JSON out.

The foundation's own routes (GET / metadata, GET /health) live here; every other format is in
serving/protocols/ and `Router` dispatches on the path first, then on the body's shape.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.errors import ModelUnavailable
from serving.loading import LoadedModel, load_model
from serving.protocols.common import Call, Reply
from serving.protocols.router import Router
from serving.settings import Settings
from serving.slot import LazySlot

__all__ = ["Endpoint", "Reply", "describe"]


class Endpoint:
    """The whole function: settings, the lazily loaded model and the routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: LazySlot[LoadedModel] = LazySlot(
            lambda: load_model(settings), retry_seconds=settings.model_retry_seconds
        )
        self.router = Router(settings, metadata=self.metadata, health=self.health)

    def handle(
        self,
        method: str,
        path: str,
        content_type: str,
        body: bytes,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer one request; raises the project's errors for anything that is not a 2xx."""
        call = Call(method, path.rstrip("/") or "/", content_type, body, query or {}, headers or {})
        return self.router.handle(self, call)

    def health(self, *_: Any) -> Reply:
        """200 only when the model is loaded and verified (loading it now if needed)."""
        model = self.model.get()
        return Reply(200, {"status": "ok", "model_version": model.manifest.model_version})

    def metadata(self, host: Any, call: Call, *_: Any) -> Reply:
        """What is served; still answers (with the reason) while the model cannot load.
        A browser (Accept: text/html first) gets the model card (serving/card.py) instead."""
        html = _wants_card(call)
        try:
            model = self.model.get()
        except ModelUnavailable as exc:
            if html:
                from serving import card

                return card.unavailable(exc.message, exc.code)
            return Reply(200, {"loaded": False, "reason": exc.message, "code": exc.code})
        if html:
            from serving import card

            return card.card(describe(model), model.manifest.raw)
        return Reply(200, describe(model))


def _wants_card(call: Call) -> bool:
    """Whether a browser asks (serving.card is imported only when the Accept names html)."""
    if "html" not in (call.headers.get("Accept") or call.headers.get("accept") or ""):
        return False
    from serving import card

    return card.wants_html(call.headers)


def describe(model: LoadedModel) -> dict[str, Any]:
    """The metadata answer for a loaded model."""
    raw = model.manifest.raw
    return {
        "loaded": True,
        "name": model.manifest.name,
        "model_version": model.manifest.model_version,
        "task": model.manifest.task,
        "feature_names": list(model.manifest.feature_names),
        "n_features": model.manifest.n_features,
        "features": [feature.to_json() for feature in model.manifest.features],
        "fitted_on": "dataframe" if model.manifest.fitted_on_dataframe else "array",
        "example": raw.get("example"),
        "classes": raw.get("classes"),
        "metrics": raw.get("metrics"),
        "created_at": raw.get("created_at"),
        "runtime": model.runtime.name,
        "source": model.source,
        "manifest_sha256": model.manifest_sha256,
        "artifacts": raw.get("artifacts"),
        "libraries": {
            "trained_with": raw.get("libraries"),
            "serving": {"python": platform.python_version(), "numpy": np.__version__}
            | model.runtime.libraries,
        },
        "training_data": raw.get("training_data"),
        "warnings": list(model.runtime.warnings),
    }
