"""The OIP v2 binary tensor data extension: a JSON part, then raw tensor bytes.

In a request, the `Inference-Header-Content-Length` header gives the JSON part's length; each
input whose `parameters` hold `binary_data_size` takes that many bytes, in input order, from
what follows (little-endian numbers, one byte per BOOL, 4-byte length + bytes per BYTES
element). An answer is laid out the same way for the outputs asked for as binary data
(`"binary_data": true`, or `"binary_data_output": true` for all). tritonclient sends and asks
for binary data unless told `binary_data=False`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving import jsonio
from serving.errors import InvalidInput
from serving.exchange import Reply
from serving.prediction_log import Scored
from serving.protocols.oip_tensors import FLOAT_TYPES, INTEGER_TYPES, datatype_of

HEADER = "Inference-Header-Content-Length"
SIZE_KEY = "binary_data_size"
_NUMERIC = {**FLOAT_TYPES, **INTEGER_TYPES}


def split_body(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of an infer request; all JSON without the header."""
    declared = headers.get(HEADER)
    if declared is None:
        return body, b""
    if not (declared.isascii() and declared.isdigit()) or not 0 < int(declared) <= len(body):
        raise InvalidInput(
            f"{HEADER} must be the JSON part's length, between 1 and the body's "
            f"{len(body)} bytes; got {declared!r}"
        )
    return body[: int(declared)], body[int(declared) :]


def attach_binary_data(inputs: Any, binary: bytes) -> Any:
    """The inputs with each binary tensor's bytes decoded into its `data`, in order.

    Anything that is not a list of tensor objects is returned as it is, for the JSON
    validation to explain; every binary byte must belong to exactly one input.
    """
    if not isinstance(inputs, list):
        return inputs
    offset = 0
    attached = []
    for tensor in inputs:
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or SIZE_KEY not in parameters:
            attached.append(tensor)
            continue
        size = parameters[SIZE_KEY]
        name = tensor.get("name")
        if type(size) is not int or size < 0:
            raise InvalidInput(f"input {name!r}: {SIZE_KEY} must be a non-negative integer")
        if "data" in tensor:
            raise InvalidInput(f"input {name!r}: give either 'data' or {SIZE_KEY}, not both")
        chunk = binary[offset : offset + size]
        if len(chunk) < size:
            raise InvalidInput(
                f"input {name!r}: {SIZE_KEY} is {size}, but only {len(chunk)} binary bytes "
                f"remain (is {HEADER} set to the JSON part's length?)"
            )
        offset += size
        rest = {k: v for k, v in parameters.items() if k != SIZE_KEY}
        attached.append(
            {**tensor, "data": _binary_tensor_values(tensor, chunk), "parameters": rest}
        )
    if offset != len(binary):
        raise InvalidInput(
            f"the body has {len(binary)} binary bytes after the JSON part, but the inputs' "
            f"{SIZE_KEY} add up to {offset}"
        )
    return attached


def binary_outputs(body: dict[str, Any], names: list[str]) -> set[str]:
    """The outputs asked for as binary data: each output's own `binary_data` parameter, else
    the request's `binary_data_output`; 400 for a flag that is not a boolean."""
    default = _flag(body.get("parameters") or {}, "binary_data_output")
    chosen = dict.fromkeys(names, default)
    for output in body.get("outputs") or ():
        parameters = output.get("parameters", {})
        if not isinstance(parameters, dict):
            raise InvalidInput(f"output {output['name']!r}: 'parameters' must be an object")
        if "binary_data" in parameters:
            chosen[output["name"]] = _flag(parameters, "binary_data")
    return {name for name, binary in chosen.items() if binary}


def _flag(parameters: dict[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be true or false")
    return value


def binary_output(name: str, values: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """An output tensor without `data`, and its values' bytes in the extension's layout."""
    datatype = datatype_of(values.dtype)
    if datatype == "BYTES":
        data = _pack_strings(str(value) for value in values.ravel())
    elif datatype == "BOOL":
        data = values.astype(np.uint8).tobytes()
    else:
        data = values.astype(np.dtype(_NUMERIC[datatype]).newbyteorder("<")).tobytes()
    tensor = {
        "name": name,
        "shape": list(values.shape),
        "datatype": datatype,
        "parameters": {SIZE_KEY: len(data)},
    }
    return tensor, data


def binary_reply(
    answer: dict[str, Any], data: list[bytes], log: dict[str, Any], scored: Scored | None = None
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
        scored=scored,
    )


def _pack_strings(values: Any) -> bytes:
    encoded = [value.encode("utf-8") for value in values]
    return b"".join(struct.pack("<I", len(value)) + value for value in encoded)


def _binary_tensor_values(tensor: dict[str, Any], chunk: bytes) -> np.ndarray | list[str]:
    """One tensor's raw bytes as values its declared datatype and shape account for exactly."""
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise InvalidInput(f"input {name!r}: 'shape' must be a list of non-negative integers")
    count = math.prod(shape)
    if datatype == "BYTES":
        return _strings(name, chunk, count)
    if datatype == "BOOL":
        values = np.frombuffer(chunk, dtype=np.uint8)
        if values.max(initial=0) > 1:
            raise InvalidInput(f"input {name!r}: BOOL bytes must be 0 or 1")
        array = values.astype(np.bool_)
    elif datatype in _NUMERIC:
        dtype = np.dtype(_NUMERIC[datatype]).newbyteorder("<")
        if len(chunk) % dtype.itemsize:
            raise InvalidInput(
                f"input {name!r}: {len(chunk)} bytes is not a whole number of {datatype} values"
            )
        array = np.frombuffer(chunk, dtype=dtype)
    else:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} cannot be sent as binary data")
    if array.size != count:
        raise InvalidInput(
            f"input {name!r}: shape {shape} holds {count} values, the binary data has {array.size}"
        )
    return array


def _strings(name: Any, chunk: bytes, count: int) -> list[str]:
    """BYTES elements: each a 4-byte little-endian length, then that many UTF-8 bytes."""
    values: list[str] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise InvalidInput(f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = struct.unpack_from("<I", chunk, offset)
        element = chunk[offset + 4 : offset + 4 + length]
        if len(element) < length:
            raise InvalidInput(f"input {name!r}: BYTES data ends inside an element")
        try:
            values.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"input {name!r}: BYTES elements must be UTF-8 text") from None
        offset += 4 + length
    if len(values) != count:
        raise InvalidInput(
            f"input {name!r}: shape holds {count} values, the binary data has {len(values)}"
        )
    return values
