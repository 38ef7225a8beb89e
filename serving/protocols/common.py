"""Pieces every format shares: the call and reply, the served model, and its predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from serving import jsonio
from serving.errors import InvalidInput, NotFound, UnsupportedMediaType
from serving.loading import LoadedModel
from serving.settings import Settings
from serving.slot import LazySlot


@dataclass(frozen=True)
class Reply:
    """A JSON answer, plus fields worth logging (sizes and shapes, never feature values).

    `raw`, when set, is sent instead of the encoded body, as `media_type` (the OIP binary
    extension's JSON part and tensor bytes); `body` then holds the JSON part, for the log.
    """

    status: int
    body: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    media_type: str = "application/json"


@dataclass(frozen=True)
class Call:
    """One request as the routes see it: no web framework types."""

    method: str
    path: str
    content_type: str
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class Host(Protocol):
    """What a route needs from the endpoint: its settings and the lazily loaded model."""

    settings: Settings
    model: LazySlot[LoadedModel]


JSON_TYPES = ("application/json",)


def decode_json(call: Call) -> Any:
    """The JSON body, or 415 naming the accepted media types."""
    if call.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {call.content_type or '(none)'} is not accepted; "
            "send application/json (or text/csv to / and /invocations)"
        )
    return jsonio.decode(call.body)


def check_name(model: LoadedModel, name: str, version: str | None = None) -> None:
    """404 naming the served model (and version) when a request names another."""
    served = model.manifest.name
    if name != served:
        raise NotFound(f"model {name!r} is not served here; this function serves {served!r}")
    if version is not None and version != model.manifest.model_version:
        raise NotFound(
            f"version {version!r} of {served!r} is not served here; "
            f"the served version is {model.manifest.model_version!r}"
        )


def compute(model: LoadedModel, rows: np.ndarray, method: str) -> np.ndarray:
    """The named estimator method's output for the rows."""
    if method == "predict":
        return model.runtime.predict(rows)
    if model.manifest.classes is None:
        what = "probabilities are" if method == "predict_proba" else "decision values are"
        raise InvalidInput(
            f"{what} only available for classifiers; this model's task is {model.manifest.task}"
        )
    if method == "predict_proba":
        return np.asarray(model.runtime.predict_proba(rows), dtype=np.float64)
    return model.runtime.decision_function(rows)


def predictions(
    model: LoadedModel,
    rows: np.ndarray,
    method: str = "predict",
    *,
    single: bool = False,
    probabilities: bool = False,
) -> Reply:
    """The `{"predictions": ...}` answer shared by the foundation, Vertex, KServe v1, MLflow
    and CSV: `method`'s output, the classes beside probabilities or decision values, and the
    foundation's `"probabilities": true` extra."""
    values = compute(model, rows, method).tolist()
    answer: dict[str, Any] = {"prediction": values[0]} if single else {"predictions": values}
    if probabilities:
        extra = compute(model, rows, "predict_proba").tolist()
        answer["probabilities"] = extra[0] if single else extra
    if probabilities or method != "predict":
        answer["classes"] = list(model.manifest.classes or ())
    answer["model_version"] = model.manifest.model_version
    return Reply(200, answer, {"rows": len(rows), "method": method})
