"""This function's own JSON format: `{"features": ...}` or `{"instances": ...}`, and its answer.

Its options (`predict_method` in `parameters` or `params`) and its `{"predictions": ...}` answer
are shared by the Vertex AI, KServe v1, MLflow and CSV bodies; `"explain": true` (CSV:
`?explain=true`) adds each row's explanation. Parsers only reshape; serving/validate.py checks
the rows against the model's schema.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from serving.batch import METHODS, Batch, Method
from serving.errors import InvalidInput, echo
from serving.exchange import Inference, Reply, Request
from serving.loading import LoadedModel
from serving.prediction import Prediction
from serving.protocols.detect import Decoded

ACCEPTED_FIELDS = ("features", "instances", "probabilities", "explain", "parameters", "params")
OPTION_KEYS = ("parameters", "params")
ROW_SHAPES = (
    '{"features": [x1, ..., xn]} for one row, '
    '{"features": [[...], ...]} or {"instances": [[...], ...]} for several, '
    "rows may be objects keyed by feature name"
)


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """A `features` or `instances` body, answered `{"prediction(s)": ...}`."""
    batch, methods, single = read_rows(decoded.document, decoded.format, decoded.numbers_only)
    return predictions(batch, methods, single, read_flag(decoded.document, "explain"))


def read_rows(
    document: dict[str, Any], key: str, numbers_only: bool = False
) -> tuple[Batch, tuple[Method, ...], bool]:
    """The rows under `key`, the methods asked for, and whether one row was sent (then one is
    answered); InvalidInput says what is wrong. `numbers_only`: see Batch."""
    unknown = sorted(set(document) - set(ACCEPTED_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown field {echo(unknown[0])}; accepted fields: {', '.join(ACCEPTED_FIELDS)}"
        )
    method = read_method(document)
    probabilities = read_flag(document, "probabilities")
    data = document[key]
    single = key == "features" and _is_one_row(data)
    rows = [data] if single else data
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"'{key}' must be a non-empty list: {ROW_SHAPES}")
    methods: tuple[Method, ...] = (method, "predict_proba") if probabilities else (method,)
    return Batch(rows=rows, numbers_only=numbers_only), methods, single


def read_flag(document: dict[str, Any], key: str) -> bool:
    """An option that is true or false (false when absent)."""
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be true or false")
    return value


def predictions(
    batch: Batch, methods: tuple[Method, ...], single: bool = False, explain: bool = False
) -> Inference:
    """An Inference of these rows answered `{"predictions": ...}`; `single`: one row was sent,
    one is answered; `explain`: with each row's explanation."""
    reply = functools.partial(answer, methods=methods, single=single)
    return Inference(batch, methods, reply, explain)


def answer(prediction: Prediction, methods: tuple[Method, ...], single: bool) -> Reply:
    """The first method's output; probabilities when also asked for; the classes beside
    probabilities or decision values; the explanations when asked for (one object for one
    row, else their header and one object per row)."""
    method = methods[0]
    values = prediction.outputs[method].tolist()
    answer: dict[str, Any] = {"prediction": values[0]} if single else {"predictions": values}
    if len(methods) > 1:
        extra = prediction.outputs[methods[1]].tolist()
        answer["probabilities"] = extra[0] if single else extra
    if methods != ("predict",):
        answer["classes"] = list(prediction.manifest.classes or ())
    explanation = prediction.explanation
    if explanation is not None:
        rows = explanation.rows()
        if single:
            answer["explanation"] = {**explanation.header(), **rows[0]}
        else:
            answer["explanations"] = {**explanation.header(), "rows": rows}
    answer["model_version"] = prediction.manifest.model_version
    return Reply(200, answer, prediction.log, prediction=prediction)


def read_method(document: dict[str, Any]) -> Method:
    """The `predict_method` from `parameters` (Vertex, KServe) or `params` (MLflow)."""
    given = [key for key in OPTION_KEYS if key in document]
    if len(given) > 1:
        raise InvalidInput("give 'parameters' or 'params', not both")
    if not given:
        return "predict"
    options = document[given[0]]
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
