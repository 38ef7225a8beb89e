"""`{"inputs": rows or {feature: [values]}}` bodies (KServe v1, MLflow) reshaped into a Batch."""

from __future__ import annotations

from typing import Any

from serving.batch import Ask, Batch
from serving.errors import InvalidInput
from serving.payload import read_method
from serving.validate import echo


def parse_inputs(body: dict[str, Any]) -> tuple[Batch, Ask]:
    """The rows (or feature columns) of an `inputs` body, and its optional options."""
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
