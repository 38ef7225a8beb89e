"""The OIP v2 binary tensor data extension: a JSON part, then raw tensor bytes.

Here are its framing and its byte layout for each datatype. In a request, the
`Inference-Header-Content-Length` header gives the JSON part's length; each input whose
`parameters` hold `binary_data_size` takes that many bytes, in input order, from what follows
(little-endian numbers, one byte per BOOL, 4-byte length + bytes per BYTES element). An answer
is laid out the same way for the outputs asked for as binary data (`"binary_data": true`, or
`"binary_data_output": true` for all). tritonclient sends and asks for binary data unless told
`binary_data=False`. The codec (oip_tensor.py) checks what the bytes hold against the tensor's
shape and datatype.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from serving import jsonio
from serving.errors import InvalidInput, echo
from serving.exchange import Reply
from serving.prediction import Prediction

HEADER = "Inference-Header-Content-Length"
SIZE_KEY = "binary_data_size"


def split_body(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, memoryview]:
    """(JSON part, binary part) of an infer request; all JSON without the header. The binary
    part is a view of the body: its tensors are read from it without a copy."""
    declared = headers.get(HEADER)
    if declared is None:
        return body, memoryview(b"")
    if not (declared.isascii() and declared.isdigit()) or not 0 < int(declared) <= len(body):
        raise InvalidInput(
            f"{HEADER} must be the JSON part's length, between 1 and the body's "
            f"{len(body)} bytes; got {echo(declared)}"
        )
    return body[: int(declared)], memoryview(body)[int(declared) :]


def unpack(where: str, chunk: memoryview, datatype: str, dtype: Any) -> np.ndarray:
    """One input's bytes as a flat array: `dtype`'s little-endian numbers, BOOL bytes as
    booleans, BYTES elements as text; `where` names the input in errors."""
    if datatype == "BYTES":
        return np.asarray(_strings(where, chunk))
    if datatype == "BOOL":
        values = np.frombuffer(chunk, dtype=np.uint8)
        if values.max(initial=0) > 1:
            raise InvalidInput(f"{where}: BOOL bytes must be 0 or 1")
        return values.astype(np.bool_)
    little = np.dtype(dtype).newbyteorder("<")
    if len(chunk) % little.itemsize:
        raise InvalidInput(
            f"{where}: {len(chunk)} bytes is not a whole number of {datatype} values"
        )
    values = np.frombuffer(chunk, dtype=little)
    # A view of the body where it is aligned; a copy where the JSON part's length shifts it.
    return values if values.flags.aligned else values.copy()


def pack(values: np.ndarray, datatype: str, dtype: Any) -> bytes:
    """An output's values in the extension's layout."""
    if datatype == "BYTES":
        encoded = [str(value).encode("utf-8") for value in values.ravel()]
        return b"".join(struct.pack("<I", len(value)) + value for value in encoded)
    if datatype == "BOOL":
        return values.astype(np.uint8).tobytes()
    return values.astype(np.dtype(dtype).newbyteorder("<")).tobytes()


def _strings(where: str, chunk: memoryview) -> list[str]:
    """BYTES elements: each a 4-byte little-endian length, then that many UTF-8 bytes."""
    values: list[str] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise InvalidInput(f"{where}: BYTES data ends inside an element's length")
        (length,) = struct.unpack_from("<I", chunk, offset)
        element = chunk[offset + 4 : offset + 4 + length]
        if len(element) < length:
            raise InvalidInput(f"{where}: BYTES data ends inside an element")
        try:
            values.append(str(element, "utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"{where}: BYTES elements must be UTF-8 text") from None
        offset += 4 + length
    return values


def binary_outputs(document: dict[str, Any], names: Iterable[str]) -> set[str]:
    """The outputs asked for as binary data: each output's own `binary_data` parameter, else
    the request's `binary_data_output`; 400 for a flag that is not a boolean."""
    default = _flag(document.get("parameters") or {}, "binary_data_output")
    chosen = dict.fromkeys(names, default)
    for output in document.get("outputs") or ():
        parameters = output.get("parameters", {})
        if not isinstance(parameters, dict):
            raise InvalidInput(f"output {echo(output['name'])}: 'parameters' must be an object")
        if "binary_data" in parameters:
            chosen[output["name"]] = _flag(parameters, "binary_data")
    return {name for name, binary in chosen.items() if binary}


def _flag(parameters: dict[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be true or false")
    return value


def binary_reply(
    answer: dict[str, Any],
    data: list[bytes],
    log: dict[str, Any],
    prediction: Prediction | None = None,
) -> Reply:
    """The answer's JSON part, then the binary outputs' bytes in output order."""
    header = jsonio.encode(answer)
    return Reply(
        200,
        answer,
        log,
        headers={HEADER: str(len(header))},
        raw=header + b"".join(data),
        media_type="application/octet-stream",
        prediction=prediction,
    )
