"""Decide once what a body is: its media type, its byte budget, its one JSON decode, its format.

CSV by its media type; JSON by the one key that names its format. A route that takes only OIP
tensors reads its body as an OIP inference request: any media type, and the binary tensor data
extension's JSON part and bytes. Before any parsing, the body's byte budget: a body that must
hold more than MAX_ROWS rows is refused (422) while it is still bytes.

A JSON body is read once more, in C, before it is decoded: its skeleton (`skeleton`, the body
without numbers, commas and spaces) counts its brackets for the budget, and says whether the
body holds nothing but its format key, numbers, lists and objects (`Decoded.numbers_only`):
no text, null or boolean in any cell, which the validation step then need not look for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from serving import jsonio
from serving.errors import InvalidInput, InvalidJSON, TooManyRows, UnsupportedMediaType, echo
from serving.exchange import Request
from serving.protocols.oip_binary import HEADER, split_body
from serving.protocols.oip_tensor import BINARY_NEEDS_HEADER, is_tensor_list

CSV_TYPES = ("text/csv",)
# What a JSON number is spelled with, and the commas and spaces between values.
NUMBERS_AND_SPACES = b"0123456789.eE+-, \t\r\n"
JSON_TYPES = ("application/json",)
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
# The key that names each JSON format; a body must hold exactly one of them.
FORMAT_KEYS: tuple[BodyFormat, ...] = (
    "features",
    "instances",
    "inputs",
    "dataframe_split",
    "dataframe_records",
    "calls",
)
ACCEPTED_SHAPES = (
    '{"features": [...]} or {"instances": [...]} (this function, Vertex AI, KServe v1), '
    '{"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2), '
    '{"inputs": [[...], ...]} (KServe v1, MLflow), '
    '{"dataframe_split": {...}} or {"dataframe_records": [...]} (MLflow), '
    '{"calls": [[...], ...]} (BigQuery remote functions), or a text/csv body'
)


@dataclass(slots=True)
class Decoded:
    """A body whose format is known: `document` is its decoded JSON, or the CSV bytes;
    `binary` the OIP binary tensor data after the JSON part (a view of the body);
    `numbers_only` that every value but the format key is a number, a list or an object."""

    format: BodyFormat
    document: Any
    binary: memoryview | None = None
    numbers_only: bool = False


def detect(request: Request, formats: tuple[BodyFormat, ...], max_rows: int) -> Decoded:
    """The body's format, among the `formats` its route takes.

    415 for another media type, 422 for a body too large for MAX_ROWS rows, 400 for broken
    JSON or a JSON body that names no accepted format or several.
    """
    if formats == ("tensors",):
        return _inference_request(request, max_rows)
    if "csv" in formats and request.media_type in CSV_TYPES:
        check_budget(request.body, max_rows, csv=True)
        return Decoded("csv", request.body)
    if request.media_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {echo(request.media_type or '(none)')} is not accepted; "
            "send application/json (or text/csv to / and /invocations)"
        )
    bare = skeleton(request.body)
    check_budget(bare, max_rows)
    document = jsonio.decode(request.body)
    key = format_key(document, formats)
    if key == "inputs" and is_tensor_list(document["inputs"]):
        return Decoded("tensors", document)
    return Decoded(key, document, numbers_only=bare.translate(None, b"[]{}:") == skeleton(key))


def _inference_request(request: Request, max_rows: int) -> Decoded:
    """POST .../infer: JSON tensors, or a JSON part and binary tensor data after it."""
    header, binary = split_body(request.body, request.headers)
    try:
        check_budget(header, max_rows)
        document = jsonio.decode(header)
    except InvalidJSON:
        # Binary data sent without the header: say what is missing, not where JSON broke.
        if HEADER in request.headers or b'"binary_data_size"' not in request.body:
            raise
        raise InvalidInput(BINARY_NEEDS_HEADER) from None
    if binary and not (isinstance(document, dict) and "inputs" in document):
        raise InvalidInput(f"{HEADER} is set, but there are no inputs for the binary data")
    return Decoded("tensors", document, binary)


def skeleton(body: bytes | str) -> bytes:
    """A JSON body (or a key, quoted) without what spells its numbers, commas and spaces: its
    brackets, braces, colons and the rest of its strings and words, in the same order."""
    if isinstance(body, str):
        body = b'"' + body.encode() + b'"'
    return body.translate(None, NUMBERS_AND_SPACES)


def check_budget(body: bytes, max_rows: int, csv: bool = False) -> None:
    """Refuse a body that must hold more than MAX_ROWS rows, before parsing it (its skeleton
    holds the same brackets, and counts them sooner).

    Parsing builds Python objects for every row, and a few bytes a row (`[],` or a newline)
    would otherwise fill the instance's memory before the row count is known. Every JSON row
    needs at least one `[` or `{` (and each tensor or option a few more); every CSV row a line.
    """
    if csv:
        count, limit, what = body.count(b"\n"), max_rows + 1, "lines"
    else:
        count, limit, what = body.count(b"[") + body.count(b"{"), 2 * max_rows + 1024, "brackets"
    if count > limit:
        raise TooManyRows(
            f"the body has {count} {what}, more than {max_rows} rows can take; at most "
            f"{max_rows} rows per request (MAX_ROWS)"
        )


def format_key(document: Any, accepted: tuple[BodyFormat, ...] = FORMAT_KEYS) -> BodyFormat:
    """The one format key in the body; 400 naming the accepted shapes for none or several."""
    if not isinstance(document, dict):
        raise InvalidInput(f"body must be a JSON object; accepted shapes: {ACCEPTED_SHAPES}")
    present = [key for key in accepted if key in document and key in FORMAT_KEYS]
    if not present:
        raise InvalidInput(f"body matches no accepted format; accepted shapes: {ACCEPTED_SHAPES}")
    if len(present) > 1:
        raise InvalidInput(
            f"body matches more than one format ({', '.join(present)}); "
            f"send exactly one; accepted shapes: {ACCEPTED_SHAPES}"
        )
    return present[0]
