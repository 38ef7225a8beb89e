"""This function's own JSON format: `{"features": ...}` or `{"instances": ...}`, plus options.

Parsers here only reshape; serving.validate checks the rows against the model's schema.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from serving.batch import METHODS, Ask, Batch, Method
from serving.errors import InvalidInput
from serving.validate import echo

ACCEPTED_FIELDS = ("features", "instances", "probabilities", "parameters", "params")
OPTION_KEYS = ("parameters", "params")
PAYLOAD_SHAPES = (
    '{"features": [x1, ..., xn]} for one row, '
    '{"features": [[...], ...]} or {"instances": [[...], ...]} for several, '
    "rows may be objects keyed by feature name"
)


def parse_predict(body: dict[str, Any], key: Literal["features", "instances"]) -> tuple[Batch, Ask]:
    """The rows of a predict body whose format key is `key`, and what it asks for;
    InvalidInput says what is wrong."""
    unknown = sorted(set(body) - set(ACCEPTED_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown field {echo(unknown[0])}; accepted fields: {', '.join(ACCEPTED_FIELDS)}"
        )
    method = read_method(body)
    probabilities = body.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise InvalidInput("'probabilities' must be true or false")
    data = body[key]
    single = key == "features" and _is_one_row(data)
    rows = [data] if single else data
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"'{key}' must be a non-empty list: {PAYLOAD_SHAPES}")
    methods: tuple[Method, ...] = (method, "predict_proba") if probabilities else (method,)
    return Batch(rows=rows), Ask(methods, single)


def read_method(body: dict[str, Any]) -> Method:
    """The `predict_method` from `parameters` (Vertex, KServe) or `params` (MLflow)."""
    given = [key for key in OPTION_KEYS if key in body]
    if len(given) > 1:
        raise InvalidInput("give 'parameters' or 'params', not both")
    if not given:
        return "predict"
    options = body[given[0]]
    if options is None:
        return "predict"
    if not isinstance(options, dict):
        raise InvalidInput(
            f'\'{given[0]}\' must be an object such as {{"predict_method": "predict"}}'
        )
    unknown = sorted(set(options) - {"predict_method"})
    if unknown:
        raise InvalidInput(f"unknown parameter {echo(unknown[0])}; accepted: predict_method")
    return check_method(options.get("predict_method", "predict"))


def check_method(method: Any) -> Method:
    """A predict method name, or InvalidInput listing the accepted ones."""
    if method not in METHODS:
        raise InvalidInput(
            f"predict_method must be one of {', '.join(METHODS)}, got {echo(method)}"
        )
    return cast(Method, method)


def _is_one_row(data: Any) -> bool:
    return isinstance(data, dict) or (
        isinstance(data, list) and bool(data) and not isinstance(data[0], list | dict)
    )
