"""Open Inference Protocol v2 over REST (KServe v2, Triton, MLServer): its routes and answers.

Inputs and outputs are JSON tensors, or use the binary tensor data extension (oip_binary.py).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import numpy as np

from serving import jsonio
from serving.batch import METHODS, Method
from serving.errors import InvalidInput, InvalidJSON
from serving.exchange import Call, Host, Reply
from serving.loading import LoadedModel
from serving.prediction import score
from serving.protocols.model_name import check_name
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
    batch_from_inputs,
    datatype_of,
    output_tensor,
)
from serving.validate import check_structure, echo

INPUT_NAME = "input"
# model_name / model_version: KServe's own client sends them in the body (checked like the path).
INFER_FIELDS = ("id", "inputs", "outputs", "parameters", "model_name", "model_version")
SERVER_NAME = "sklearn-cloud-function"
EXTENSIONS = ("binary_tensor_data",)
_INPUT_DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


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


def model_metadata_route(host: Host, call: Call, match: dict[str, str]) -> Reply:
    model = host.model.get()
    check_name(model, match["name"], match.get("version"))
    return Reply(200, model_metadata(model))


def infer_route(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """POST .../infer: JSON tensors, or a JSON header and binary tensor data after it."""
    header, binary = split_body(call.body, call.headers)
    try:
        check_structure(header, host.settings.max_rows)
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
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {', '.join(INFER_FIELDS)}")
    _check_named_model(model, body)
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    if not isinstance(body.get("parameters", {}), dict):
        raise InvalidInput("'parameters' must be an object")
    names = _requested(body.get("outputs"), model)
    batch = batch_from_inputs(body.get("inputs"), model.manifest.feature_names)
    scored, results = score(model, batch, tuple(names), max_rows)
    as_binary = binary_outputs(body, list(names)) if binary_extension else set()
    outputs, binary = [], []
    for name in names:
        values = results[name]
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
    log = {"rows": scored.table.n_rows, "outputs": names}
    if binary:
        return binary_reply(answer, binary, log, scored)
    return Reply(200, answer, log, scored=scored)


def _check_named_model(model: LoadedModel, body: dict[str, Any]) -> None:
    """A body that names a model (KServe's client does) must name the served one."""
    name, version = body.get("model_name"), body.get("model_version")
    if name is None and version is None:
        return
    if not isinstance(name, str | None) or not isinstance(version, str | None):
        raise InvalidInput("'model_name' and 'model_version' must be strings")
    check_name(model, name if name is not None else model.manifest.name, version or None)


def _requested(outputs: Any, model: LoadedModel) -> list[Method]:
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
            raise InvalidInput(f"output {echo(name)} is not available; this model offers {offered}")
    return cast(list[Method], names) or ["predict"]


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    """Model metadata: the inputs, the outputs this runtime can give, and the classes.

    All-number models list one [-1, n_features] FP64 input (per-feature inputs work too);
    models with text or missing values list one input per feature, BYTES for text.
    """
    manifest = model.manifest
    plain = all(f.type == "number" and not f.nullable for f in manifest.features)
    if plain:
        inputs = [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, manifest.n_features]}]
    else:
        inputs = [
            {"name": f.name, "datatype": _INPUT_DATATYPES[f.type], "shape": [-1]}
            for f in manifest.features
        ]
    return {
        "name": manifest.name,
        "versions": [manifest.model_version],
        "platform": f"{model.runtime.name}_{manifest.task}",
        "inputs": inputs,
        "outputs": _outputs(model),
        "parameters": {
            "task": manifest.task,
            "classes": list(manifest.classes) if manifest.classes is not None else None,
            "feature_names": list(manifest.feature_names),
            "per_feature_inputs": "one input of shape [-1] per feature, named after it "
            "(FP64 for numbers, BYTES for text; an empty BYTES element is a missing value)",
        },
    }


def _outputs(model: LoadedModel) -> list[dict[str, Any]]:
    classes = model.manifest.classes
    if classes is None:
        return [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    outputs = [
        {"name": "predict", "datatype": datatype_of(np.asarray(classes).dtype), "shape": [-1]}
    ]
    if model.runtime.has_predict_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]})
    if model.runtime.has_decision_function:
        shape = [-1] if len(classes) == 2 else [-1, len(classes)]
        outputs.append({"name": "decision_function", "datatype": "FP64", "shape": shape})
    return outputs
