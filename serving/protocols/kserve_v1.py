"""KServe v1 (TensorFlow Serving style): `/v1/models/{name}[:predict]`."""

from __future__ import annotations

from serving.protocols.common import Call, Host, Reply, check_name, decode_json
from serving.protocols.shapes import answer, format_key

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
    body = decode_json(call, host.settings.max_rows)
    key = format_key(body, ACCEPTED)
    model = host.model.get()
    check_name(model, match["name"])
    return answer(model, body, key, host.settings.max_rows)
