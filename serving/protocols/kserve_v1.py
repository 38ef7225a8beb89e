"""KServe v1 (TensorFlow Serving style): `/v1/models/{name}[:predict]`."""

from __future__ import annotations

from serving.exchange import Call, Host, Reply
from serving.protocols import formats
from serving.protocols.detect import detect
from serving.protocols.model_name import check_name

ACCEPTED = ("instances", "inputs")


def models(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /v1/models: the one served model."""
    return Reply(200, {"models": [host.model.get().manifest.name]})


def model_ready(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /v1/models/{name}: ready once the model is loaded."""
    model = host.model.get()
    check_name(model, match["name"])
    return Reply(200, {"name": model.manifest.name, "ready": True})


def predict(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """POST /v1/models/{name}:predict with `{"instances"}` or `{"inputs"}`."""
    body = detect(call, ACCEPTED, host.settings.max_rows, csv=False)
    model = host.model.get()
    check_name(model, match["name"])
    return formats.answer(model, body, call.query, host.settings.max_rows)
