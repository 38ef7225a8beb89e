"""`{"inputs": rows or {feature: [values]}}` bodies (KServe v1, MLflow) read into an Inference."""

from __future__ import annotations

from serving.batch import Batch
from serving.errors import InvalidInput, echo
from serving.exchange import Inference, Request
from serving.loading import LoadedModel
from serving.protocols.detect import Decoded
from serving.protocols.own_format import predictions, read_method


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """The rows (or feature columns) of an `inputs` body, and its optional options."""
    document = decoded.document
    unknown = sorted(set(document) - {"inputs", "parameters", "params"})
    if unknown:
        raise InvalidInput(
            f"unknown field {echo(unknown[0])}; accepted: inputs, parameters, params"
        )
    methods = (read_method(document),)
    inputs = document["inputs"]
    if isinstance(inputs, dict):
        return predictions(Batch(columns=inputs), methods)
    if isinstance(inputs, list):
        return predictions(Batch(rows=inputs, numbers_only=decoded.numbers_only), methods)
    raise InvalidInput("'inputs' must be a list of rows or an object of feature columns")
