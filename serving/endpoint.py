"""Routes and answers, free of any web framework: method, path, body in; status and JSON out."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving import jsonio
from serving.errors import (
    InvalidInput,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    UnsupportedMediaType,
)
from serving.loading import LoadedModel, load_model
from serving.payload import parse_predict
from serving.settings import Settings
from serving.slot import LazySlot

ROUTES: dict[str, tuple[str, ...]] = {"/": ("GET", "HEAD", "POST"), "/health": ("GET", "HEAD")}
JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Reply:
    """A JSON answer, plus fields worth logging (sizes and shapes, never feature values)."""

    status: int
    body: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)


class Endpoint:
    """The whole function: settings plus the lazily loaded model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = LazySlot(lambda: load_model(settings))

    def handle(self, method: str, path: str, content_type: str, body: bytes) -> Reply:
        """Answer one request; raises the project's errors for anything that is not a 2xx."""
        path = path.rstrip("/") or "/"
        allowed = ROUTES.get(path)
        if allowed is None:
            raise NotFound(f"no route {path}; routes: {', '.join(ROUTES)}")
        if method not in allowed:
            raise MethodNotAllowed(method, allowed)
        if method == "POST":
            return self.predict(content_type, body)
        if path == "/health":
            return self.health()
        return self.metadata()

    def predict(self, content_type: str, body: bytes) -> Reply:
        """Predict for the rows in a JSON body."""
        if content_type not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type {content_type or '(none)'} is not accepted; send application/json"
            )
        payload = jsonio.decode(body)
        model = self.model.get()
        request = parse_predict(payload, model.manifest.feature_names, self.settings.max_rows)
        labels = model.runtime.predict(request.rows).tolist()
        answer: dict[str, Any] = (
            {"prediction": labels[0]} if request.single else {"predictions": labels}
        )
        if request.probabilities:
            answer.update(self._probabilities(model, request.rows, request.single))
        answer["model_version"] = model.manifest.model_version
        return Reply(200, answer, {"rows": len(request.rows)})

    def _probabilities(self, model: LoadedModel, rows: np.ndarray, single: bool) -> dict[str, Any]:
        if model.manifest.classes is None:
            raise InvalidInput(
                f"probabilities are only available for classifiers; "
                f"this model's task is {model.manifest.task}"
            )
        probabilities = model.runtime.predict_proba(rows).tolist()
        return {
            "probabilities": probabilities[0] if single else probabilities,
            "classes": list(model.manifest.classes),
        }

    def health(self) -> Reply:
        """200 only when the model is loaded and verified (loading it now if needed)."""
        model = self.model.get()
        return Reply(200, {"status": "ok", "model_version": model.manifest.model_version})

    def metadata(self) -> Reply:
        """What is served; still answers (with the reason) while the model cannot load."""
        try:
            model = self.model.get()
        except ModelUnavailable as exc:
            return Reply(200, {"loaded": False, "reason": exc.message, "code": exc.code})
        return Reply(200, describe(model))


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
