"""Open Inference Protocol v2 (KServe v2, Triton, MLServer) over REST: JSON tensors, and the
binary tensor data extension for inputs and outputs."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from serving import jsonio
from serving.errors import InvalidInput, InvalidJSON
from serving.loading import LoadedModel
from serving.payload import METHODS
from serving.protocols.common import Call, Host, Reply, check_name, compute
from serving.protocols.oip_binary import (
    HEADER,
    attach_binary_data,
    binary_output,
    binary_outputs,
    binary_reply,
    split_body,
)
from serving.protocols.oip_tensors import (
    BINARY_NEEDS_HEADER,
    datatype_of,
    output_tensor,
    rows_from_inputs,
)

INPUT_NAME = "input"
INFER_FIELDS = ("id", "inputs", "outputs", "parameters")
SERVER_NAME = "sklearn-cloud-function"
EXTENSIONS = ("binary_tensor_data",)


def live(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """The process answers: always live."""
    return Reply(200, {"live": True})


def ready(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """Ready once the model is loaded (503 otherwise, from the slot)."""
    host.model.get()
    return Reply(200, {"ready": True})


def server_metadata(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """Server metadata: this function and the protocol extensions it speaks."""
    return Reply(200, {"name": SERVER_NAME, "version": "0.1.0", "extensions": EXTENSIONS})


def model_ready(host: Host, call: Call, match: dict[str, str]) -> Reply:
    model = host.model.get()
    check_name(model, match["name"], match.get("version"))
    return Reply(200, {"name": model.manifest.name, "ready": True})


def model_metadata(host: Host, call: Call, match: dict[str, str]) -> Reply:
    model = host.model.get()
    check_name(model, match["name"], match.get("version"))
    return Reply(200, describe(model))


def infer_route(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """POST .../infer: JSON tensors, or a JSON header and binary tensor data after it."""
    header, binary = split_body(call.body, call.headers)
    try:
        body = jsonio.decode(header)
    except InvalidJSON:
        # Binary data sent without the header: say what is missing, not where JSON broke.
        if HEADER in call.headers or b'"binary_data_size"' not in call.body:
            raise
        raise InvalidInput(BINARY_NEEDS_HEADER) from None
    if isinstance(body, dict) and "inputs" in body:
        body["inputs"] = attach_binary_data(body["inputs"], binary)
    elif binary:
        raise InvalidInput(f"{HEADER} is set, but there are no inputs for the binary data")
    model = host.model.get()
    check_name(model, match["name"], match.get("version"))
    return infer(model, body, host.settings.max_rows, binary_extension=True)


def infer(model: LoadedModel, body: Any, max_rows: int, *, binary_extension: bool = False) -> Reply:
    """Answer an inference request body with the requested outputs (default: predict).

    Outputs come back as binary data only where the extension is spoken, POST .../infer;
    the other routes that take this body (the base URL, KServe v1) answer JSON.
    """
    if not isinstance(body, dict):
        raise InvalidInput('an inference request is a JSON object with "inputs"')
    unknown = sorted(set(body) - set(INFER_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; accepted: {', '.join(INFER_FIELDS)}")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    if not isinstance(body.get("parameters", {}), dict):
        raise InvalidInput("'parameters' must be an object")
    names = _requested(body.get("outputs"), model)
    rows = rows_from_inputs(body.get("inputs"), model.manifest.feature_names, max_rows)
    as_binary = binary_outputs(body, names) if binary_extension else set()
    outputs, binary = [], []
    for name in names:
        values = np.asarray(compute(model, rows, name))
        if name in as_binary:
            tensor, data = binary_output(name, values)
            binary.append(data)
        else:
            tensor = output_tensor(name, values)
        outputs.append(tensor)
    answer = {
        "model_name": model.manifest.name,
        "model_version": model.manifest.model_version,
        "id": request_id if request_id is not None else str(uuid.uuid4()),
        "outputs": outputs,
    }
    log = {"rows": len(rows), "outputs": names}
    return binary_reply(answer, binary, log) if binary else Reply(200, answer, log)


def _requested(outputs: Any, model: LoadedModel) -> list[str]:
    if outputs is None:
        return ["predict"]
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...}")
    names = [o["name"] for o in outputs]
    for name in names:
        if name not in METHODS:
            offered = ", ".join(o["name"] for o in _outputs(model))
            raise InvalidInput(f"output {name!r} is not available; this model offers {offered}")
    return names or ["predict"]


def describe(model: LoadedModel) -> dict[str, Any]:
    """Model metadata: the real input, the outputs this runtime can give, and the classes."""
    manifest = model.manifest
    return {
        "name": manifest.name,
        "versions": [manifest.model_version],
        "platform": f"{model.runtime.name}_{manifest.task}",
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, manifest.n_features]}],
        "outputs": _outputs(model),
        "parameters": {
            "task": manifest.task,
            "classes": list(manifest.classes) if manifest.classes is not None else None,
            "feature_names": list(manifest.feature_names),
            "per_feature_inputs": "one FP64 input of shape [-1] per feature, named after it",
        },
    }


def _outputs(model: LoadedModel) -> list[dict[str, Any]]:
    classes = model.manifest.classes
    if classes is None:
        return [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    outputs = [
        {"name": "predict", "datatype": datatype_of(np.asarray(classes).dtype), "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]},
    ]
    if model.runtime.has_decision_function:
        shape = [-1] if len(classes) == 2 else [-1, len(classes)]
        outputs.append({"name": "decision_function", "datatype": "FP64", "shape": shape})
    return outputs
