"""Decide once what a body is: CSV by its media type, else JSON whose keys name its format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from serving import jsonio
from serving.errors import InvalidInput, UnsupportedMediaType
from serving.exchange import Call
from serving.protocols.oip_tensors import is_tensor_list
from serving.validate import check_structure, echo

CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json",)
# The key that names each JSON format; a body must hold exactly one of them.
FORMAT_KEYS = ("features", "instances", "inputs", "dataframe_split", "dataframe_records", "calls")
ACCEPTED_SHAPES = (
    '{"features": [...]} or {"instances": [...]} (this function, Vertex AI, KServe v1), '
    '{"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2), '
    '{"inputs": [[...], ...]} (KServe v1, MLflow), '
    '{"dataframe_split": {...}} or {"dataframe_records": [...]} (MLflow), '
    '{"calls": [[...], ...]} (BigQuery remote functions), or a text/csv body'
)
# "inputs" holds OIP v2 tensors ("tensors") or rows and columns ("inputs").
BodyFormat = Literal[
    "csv",
    "features",
    "instances",
    "inputs",
    "tensors",
    "dataframe_split",
    "dataframe_records",
    "calls",
]


@dataclass(frozen=True)
class Body:
    """A body whose format is known: `value` is the decoded JSON object, or the CSV bytes."""

    format: BodyFormat
    value: Any


def detect(call: Call, keys: tuple[str, ...], max_rows: int, *, csv: bool) -> Body:
    """The body's format, among the JSON format `keys` (and CSV when `csv`) a route accepts.

    415 for another media type, 422 for a body too large for MAX_ROWS rows, 400 for broken
    JSON or a JSON body that names no accepted format or several.
    """
    if csv and call.content_type in CSV_TYPES:
        check_structure(call.body, max_rows, csv=True)
        return Body("csv", call.body)
    body = decode_json(call, max_rows)
    key = format_key(body, keys)
    if key == "inputs" and is_tensor_list(body["inputs"]):
        return Body("tensors", body)
    return Body(cast(BodyFormat, key), body)


def decode_json(call: Call, max_rows: int) -> Any:
    """The JSON body, or 415 naming the accepted media types (422 for far too many rows)."""
    if call.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {echo(call.content_type or '(none)')} is not accepted; "
            "send application/json (or text/csv to / and /invocations)"
        )
    check_structure(call.body, max_rows)
    return jsonio.decode(call.body)


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
