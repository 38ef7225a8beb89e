"""Pick the format of a JSON body by its keys (for the base URL) and answer it in its idiom."""

from __future__ import annotations

from typing import Any

from serving.batch import Ask, Batch
from serving.errors import InvalidInput
from serving.loading import LoadedModel
from serving.payload import parse_predict, read_method
from serving.protocols import bigquery, mlflow, oip_v2
from serving.protocols.common import Reply, predictions
from serving.protocols.oip_tensors import is_tensor_list
from serving.validate import echo

# The key that names each format; a body must hold exactly one of them.
FORMAT_KEYS = ("features", "instances", "inputs", "dataframe_split", "dataframe_records", "calls")
ACCEPTED_SHAPES = (
    '{"features": [...]} or {"instances": [...]} (this function, Vertex AI, KServe v1), '
    '{"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2), '
    '{"inputs": [[...], ...]} (KServe v1, MLflow), '
    '{"dataframe_split": {...}} or {"dataframe_records": [...]} (MLflow), '
    '{"calls": [[...], ...]} (BigQuery remote functions), or a text/csv body'
)


def format_key(body: Any, accepted: tuple[str, ...] = FORMAT_KEYS) -> str:
    """The one format key in the body; 400 naming the accepted shapes for none or several."""
    if not isinstance(body, dict):
        raise InvalidInput(f"body must be a JSON object; accepted shapes: {ACCEPTED_SHAPES}")
    present = [key for key in accepted if key in body]
    if not present:
        raise InvalidInput(f"body matches no accepted format; accepted shapes: {ACCEPTED_SHAPES}")
    if len(present) > 1:
        raise InvalidInput(
            f"body matches more than one format ({', '.join(present)}); "
            f"send exactly one; accepted shapes: {ACCEPTED_SHAPES}"
        )
    return present[0]


def answer(model: LoadedModel, body: dict[str, Any], key: str, max_rows: int) -> Reply:
    """Answer a JSON body whose format key was found, in that format's idiom."""
    if key == "inputs" and is_tensor_list(body["inputs"]):
        return oip_v2.infer(model, body, max_rows)
    if key == "calls":
        return bigquery.answer(model, body, max_rows)
    if key in ("features", "instances"):
        batch, ask = parse_predict(body)
    elif key == "inputs":
        batch, ask = parse_inputs(body)
    else:
        batch, ask = mlflow.parse_dataframe(body)
    return predictions(model, batch, ask, max_rows)


def parse_inputs(body: dict[str, Any]) -> tuple[Batch, Ask]:
    """`{"inputs": rows or {feature: [values]}}` (KServe v1, MLflow) with optional options."""
    unknown = sorted(set(body) - {"inputs", "parameters", "params"})
    if unknown:
        raise InvalidInput(
            f"unknown field {echo(unknown[0])}; accepted: inputs, parameters, params"
        )
    ask = Ask((read_method(body),))
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        return Batch(columns=inputs), ask
    if isinstance(inputs, list):
        return Batch(rows=inputs), ask
    raise InvalidInput("'inputs' must be a list of rows or an object of feature columns")
