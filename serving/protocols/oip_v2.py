"""Open Inference Protocol v2 over REST (KServe v2, Triton, MLServer): its routes and answers.

Inputs and outputs are JSON tensors, or use the binary tensor data extension; the codec
(oip_tensor.py) reads both into one typed array per input. Besides the estimator's methods, an
`explanations` output gives each row's explanation as an FP64 tensor: [rows, features + 1]
(each feature's contribution, then the base value), or [rows, classes, features + 1] when the
model explains one output per class; its `parameters` say what the numbers are.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from serving.batch import METHODS, Method
from serving.errors import ECHO_CHARS, InvalidInput, echo
from serving.exchange import Inference, Reply, Request
from serving.loading import LoadedModel
from serving.prediction import Prediction
from serving.protocols.detect import Decoded
from serving.protocols.model_name import check_name
from serving.protocols.oip_binary import binary_outputs, binary_reply
from serving.protocols.oip_tensor import (
    batch_from_inputs,
    binary_output,
    datatype_of,
    output_tensor,
)
from serving.slot import LazySlot

INPUT_NAME = "input"
EXPLANATIONS = "explanations"
# model_name / model_version: KServe's own client sends them in the body (checked like the path).
INFER_FIELDS = ("id", "inputs", "outputs", "parameters", "model_name", "model_version")
SERVER_NAME = "sklearn-cloud-function"
EXTENSIONS = ("binary_tensor_data",)
# The longest request `id` answered back: it is a client's string (serving/errors.py's rule).
MAX_ID = ECHO_CHARS
_INPUT_DATATYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


def live(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """The process answers: always live."""
    return Reply(200, {"live": True})


def ready(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """Ready once the model is loaded (503 otherwise, from the slot)."""
    model.get()
    return Reply(200, {"ready": True})


def server_metadata(
    request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]
) -> Reply:
    """Server metadata: this function and the protocol extensions it speaks."""
    return Reply(200, {"name": SERVER_NAME, "version": "0.1.0", "extensions": EXTENSIONS})


def model_ready(request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]) -> Reply:
    """Ready once the named model is loaded."""
    loaded = model.get()
    check_name(loaded, match["name"], match.get("version"))
    return Reply(200, {"name": loaded.manifest.name, "ready": True})


def model_metadata_route(
    request: Request, match: Mapping[str, str], model: LazySlot[LoadedModel]
) -> Reply:
    """The named model's inputs, outputs and classes."""
    loaded = model.get()
    check_name(loaded, match["name"], match.get("version"))
    return Reply(200, model_metadata(loaded))


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """An inference request: its inputs as a Batch, the outputs it names as methods (default:
    predict), and an answer with one output tensor each.

    Outputs come back as binary data only where the extension is spoken (POST .../infer,
    where `decoded.binary` is set); the other routes that take this body (the base URL,
    KServe v1) answer JSON.
    """
    document = decoded.document
    if not isinstance(document, dict):
        raise InvalidInput('an inference request is a JSON object with "inputs"')
    unknown = sorted(set(document) - set(INFER_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {', '.join(INFER_FIELDS)}")
    _check_named_model(model, document)
    request_id = document.get("id")
    if request_id is not None and not (isinstance(request_id, str) and len(request_id) <= MAX_ID):
        raise InvalidInput(f"'id' must be a string of at most {MAX_ID} characters")
    if not isinstance(document.get("parameters", {}), dict):
        raise InvalidInput("'parameters' must be an object")
    names = _requested(document.get("outputs"), model)
    methods = cast(tuple[Method, ...], tuple(n for n in names if n != EXPLANATIONS)) or ("predict",)
    batch = batch_from_inputs(document.get("inputs"), model.manifest.feature_names, decoded.binary)
    as_binary = binary_outputs(document, names) if decoded.binary is not None else set()
    answer = functools.partial(_answer, names=names, as_binary=as_binary, request_id=request_id)
    return Inference(batch, methods, answer, explain=EXPLANATIONS in names)


def _answer(
    prediction: Prediction, names: tuple[str, ...], as_binary: set[str], request_id: str | None
) -> Reply:
    outputs, binary = [], []
    for name in names:
        values, parameters = _output(prediction, name)
        if name in as_binary:
            tensor, data = binary_output(name, values)
            binary.append(data)
        else:
            tensor = output_tensor(name, values)
        if parameters:
            tensor["parameters"] = {**tensor.get("parameters", {}), **parameters}
        outputs.append(tensor)
    manifest = prediction.manifest
    answer = {
        "model_name": manifest.name,
        "model_version": manifest.model_version,
        "id": request_id if request_id is not None else str(uuid.uuid4()),
        "outputs": outputs,
    }
    if binary:
        return binary_reply(answer, binary, prediction.log, prediction)
    return Reply(200, answer, prediction.log, prediction=prediction)


def _output(prediction: Prediction, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    """An output's values, and the parameters that say what they are (explanations only)."""
    if name != EXPLANATIONS:
        return prediction.outputs[cast(Method, name)], {}
    explanation = prediction.explanation
    assert explanation is not None, "explanations asked for are computed"
    contributions = np.moveaxis(explanation.contributions, 2, 1)  # [rows, outputs, features]
    base = np.broadcast_to(explanation.base_value[:, None], (*contributions.shape[:2], 1))
    values = np.concatenate([contributions, base], axis=2)
    if values.shape[1] == 1:
        values = values[:, 0]
    columns = [*explanation.features, "base_value"]
    return values, {**explanation.header(), "columns": columns}


def _check_named_model(model: LoadedModel, body: dict[str, Any]) -> None:
    """A body that names a model (KServe's client does) must name the served one."""
    name, version = body.get("model_name"), body.get("model_version")
    if name is None and version is None:
        return
    if not isinstance(name, str | None) or not isinstance(version, str | None):
        raise InvalidInput("'model_name' and 'model_version' must be strings")
    check_name(model, name if name is not None else model.manifest.name, version or None)


def _requested(outputs: Any, model: LoadedModel) -> tuple[str, ...]:
    """The outputs asked for, by name: estimator methods, and `explanations`."""
    if outputs is None:
        return ("predict",)
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...}")
    names = [o["name"] for o in outputs]
    for name in names:
        if name not in (*METHODS, EXPLANATIONS):
            offered = ", ".join(o["name"] for o in _outputs(model))
            raise InvalidInput(f"output {echo(name)} is not available; this model offers {offered}")
    return tuple(dict.fromkeys(names)) or ("predict",)


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
            "(FP64 for numbers, BYTES for text; a missing value is null in BYTES JSON data, "
            "an empty element in BYTES binary data)",
        },
    }


def _outputs(model: LoadedModel) -> list[dict[str, Any]]:
    classes = model.manifest.classes
    if classes is None:
        return [
            {"name": "predict", "datatype": "FP64", "shape": [-1]},
            *_explanations_output(model),
        ]
    outputs = [
        {"name": "predict", "datatype": datatype_of(np.asarray(classes).dtype), "shape": [-1]}
    ]
    offered = model.runtime.offered
    if "predict_proba" in offered:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]})
    if "decision_function" in offered:
        shape = [-1] if len(classes) == 2 else [-1, len(classes)]
        outputs.append({"name": "decision_function", "datatype": "FP64", "shape": shape})
    return outputs + _explanations_output(model)


def _explanations_output(model: LoadedModel) -> list[dict[str, Any]]:
    """The `explanations` output, where the model has explanations."""
    status = model.manifest.explanation_status()
    if not status["available"]:
        return []
    width = model.manifest.n_features + 1
    per_class = len(status["outputs"] or ())
    shape = [-1, per_class, width] if per_class > 1 else [-1, width]
    return [{"name": EXPLANATIONS, "datatype": "FP64", "shape": shape}]
