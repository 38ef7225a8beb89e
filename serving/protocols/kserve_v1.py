"""KServe v1 (TensorFlow Serving style): `/v1/models/{name}[:predict]`.

Its GET routes are here; `POST .../{name}:predict` takes `{"instances"}` (own_format.py) or
`{"inputs"}` (row_inputs.py, or OIP tensors).
"""

from __future__ import annotations

from collections.abc import Mapping

from serving.exchange import Reply, Request
from serving.loading import LoadedModel
from serving.protocols.detect import BodyFormat
from serving.protocols.model_name import check_name
from serving.slot import LazySlot

# The body formats POST /v1/models/{name}:predict takes.
FORMATS: tuple[BodyFormat, ...] = ("instances", "inputs")


def models(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /v1/models: the one served model."""
    return Reply(200, {"models": [model.get().manifest.name]})


def model_ready(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """GET /v1/models/{name}: ready once the model is loaded."""
    loaded = model.get()
    check_name(loaded, match["name"])
    return Reply(200, {"name": loaded.manifest.name, "ready": True})
