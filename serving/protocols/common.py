"""Pieces every format shares: the call and reply, the served model, and the one predict step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from serving import jsonio, prediction
from serving.batch import Ask, Batch, Method
from serving.errors import NotFound, UnsupportedMediaType
from serving.loading import LoadedModel
from serving.prediction_log import Scored
from serving.settings import Settings
from serving.slot import LazySlot
from serving.validate import check_structure, echo, validate


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
    scored: Scored | None = None


@dataclass(frozen=True)
class Call:
    """One request as the routes see it: no web framework types.

    `headers` is case-insensitive when it comes from the web framework (werkzeug's Headers).
    """

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


def decode_json(call: Call, max_rows: int) -> Any:
    """The JSON body, or 415 naming the accepted media types (422 for far too many rows)."""
    if call.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {echo(call.content_type or '(none)')} is not accepted; "
            "send application/json (or text/csv to / and /invocations)"
        )
    check_structure(call.body, max_rows)
    return jsonio.decode(call.body)


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


def run(
    model: LoadedModel, batch: Batch, methods: tuple[Method, ...], max_rows: int
) -> tuple[Scored, dict[Method, np.ndarray]]:
    """Validate the batch against the model's schema, then predict: what was scored (for
    the log, when sampled), and the outputs."""
    table = validate(batch, model.manifest.features, max_rows)
    outputs = prediction.run(model, table, methods)
    return Scored(table, outputs.get("predict")), outputs


def predictions(model: LoadedModel, batch: Batch, ask: Ask, max_rows: int) -> Reply:
    """The `{"predictions": ...}` answer shared by this function's format, Vertex, KServe v1,
    MLflow and CSV: the first method's output, probabilities when also asked for, and the
    classes beside probabilities or decision values."""
    scored, outputs = run(model, batch, ask.methods, max_rows)
    method = ask.methods[0]
    values = outputs[method].tolist()
    answer: dict[str, Any] = {"prediction": values[0]} if ask.single else {"predictions": values}
    if len(ask.methods) > 1:
        extra = outputs[ask.methods[1]].tolist()
        answer["probabilities"] = extra[0] if ask.single else extra
    if ask.methods != ("predict",):
        answer["classes"] = list(model.manifest.classes or ())
    answer["model_version"] = model.manifest.model_version
    return Reply(200, answer, {"rows": scored.table.n_rows, "method": method}, scored=scored)
