"""Pick the format of a JSON body by its keys (for the base URL) and answer it."""

from __future__ import annotations

from typing import Any

from serving.errors import InvalidInput
from serving.loading import LoadedModel
from serving.payload import check_rows, columns_to_matrix, parse_predict, read_method, to_matrix
from serving.protocols import mlflow, oip_v2
from serving.protocols.common import Reply, predictions
from serving.protocols.oip_tensors import is_tensor_list

# The key that names each format; a body must hold exactly one of them.
FORMAT_KEYS = ("features", "instances", "inputs", "dataframe_split", "dataframe_records")
SHAPES = (
    '{"features": [...]} or {"instances": [...]} (this function, Vertex AI, KServe v1), '
    '{"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2), '
    '{"inputs": [[...], ...]} (KServe v1, MLflow), '
    '{"dataframe_split": {...}} or {"dataframe_records": [...]} (MLflow), '
    "or a text/csv body"
)


def format_key(body: Any, accepted: tuple[str, ...] = FORMAT_KEYS) -> str:
    """The one format key in the body; 400 naming the accepted shapes for none or several."""
    if not isinstance(body, dict):
        raise InvalidInput(f"body must be a JSON object; accepted shapes: {SHAPES}")
    present = [key for key in accepted if key in body]
    if not present:
        raise InvalidInput(f"body matches no accepted format; accepted shapes: {SHAPES}")
    if len(present) > 1:
        raise InvalidInput(
            f"body matches more than one format ({', '.join(present)}); "
            f"send exactly one; accepted shapes: {SHAPES}"
        )
    return present[0]


def answer(model: LoadedModel, body: Any, max_rows: int) -> Reply:
    """Answer any supported JSON body in its own format's idiom."""
    key = format_key(body)
    if key in ("features", "instances"):
        request = parse_predict(body, model.manifest.feature_names, max_rows)
        return predictions(
            model,
            request.rows,
            request.method,
            single=request.single,
            probabilities=request.probabilities,
        )
    if key == "inputs" and is_tensor_list(body["inputs"]):
        return oip_v2.infer(model, body, max_rows)
    if key == "inputs":
        return tensor_inputs(model, body, max_rows)
    return mlflow.dataframe(model, body, max_rows)


def tensor_inputs(model: LoadedModel, body: dict[str, Any], max_rows: int) -> Reply:
    """`{"inputs": rows or {feature: [values]}}` (KServe v1, MLflow) with optional options."""
    unknown = sorted(set(body) - {"inputs", "parameters", "params"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; accepted: inputs, parameters, params")
    method = read_method(body)
    inputs = body["inputs"]
    names = model.manifest.feature_names
    if isinstance(inputs, dict):
        rows = columns_to_matrix(inputs, names)
    elif isinstance(inputs, list):
        check_rows(len(inputs), max_rows)
        rows = to_matrix(inputs, names)
    else:
        raise InvalidInput("'inputs' must be a list of rows or an object of feature columns")
    check_rows(len(rows), max_rows)
    return predictions(model, rows, method)
