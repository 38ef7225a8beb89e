"""The OIP v2 tensor codec: each input, from JSON or binary data, becomes one typed array.

The arrays become a Batch; outputs become tensors again (JSON, or binary data). A tensor's name,
parameters, shape and datatype are checked here, once, then its values: decoded from JSON or
unpacked from the binary tensor data extension's bytes (oip_binary.py), counted against the
shape, and read as their datatype says (numbers as float64, BOOL as 0/1, BYTES as text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.batch import Batch
from serving.errors import InvalidInput, echo
from serving.protocols.oip_binary import HEADER, SIZE_KEY, pack, unpack

INTEGER_TYPES = {
    f"{sign}INT{bits}": getattr(np, f"{sign.lower()}int{bits}")
    for sign in ("", "U")
    for bits in (8, 16, 32, 64)
}
FLOAT_TYPES = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}
NUMBER_TYPES = {**FLOAT_TYPES, **INTEGER_TYPES}
DATATYPES = (*FLOAT_TYPES, *INTEGER_TYPES, "BOOL", "BYTES")
BINARY_NEEDS_HEADER = (
    "binary tensor data (binary_data_size) is read only by POST /v2/models/{name}/infer, "
    "after a JSON part whose length the Inference-Header-Content-Length header gives"
)
NOT_TENSORS = '\'inputs\' must be a non-empty list of tensors {"name", "shape", "datatype", "data"}'


def is_tensor_list(inputs: Any) -> bool:
    """True when `inputs` looks like OIP v2 tensors rather than rows or columns."""
    return (
        isinstance(inputs, list)
        and bool(inputs)
        and all(isinstance(t, dict) and "datatype" in t and "data" in t for t in inputs)
    )


def batch_from_inputs(
    inputs: Any, feature_names: Sequence[str], binary: bytes | memoryview | None
) -> Batch:
    """One [N, n_features] tensor, or one [N] (or [N, 1]) tensor per feature named after it.

    `binary` is the bytes after the JSON part where the binary extension is spoken (None
    elsewhere). BYTES tensors carry text: numbers may be spelled in them, and "" (or NA) is
    missing.
    """
    tensors = read_inputs(inputs, binary)
    names = [name for name, _ in tensors]
    if len(tensors) == 1 and names[0] not in feature_names:
        rows = tensors[0][1]
        if rows.ndim != 2 or rows.shape[1] != len(feature_names):
            raise InvalidInput(
                f"input {echo(names[0])} has shape {list(rows.shape)}; expected "
                f"[-1, {len(feature_names)}] (or one 1-D input per feature, named after it)"
            )
        return Batch(rows=rows, text=True)
    unknown = [name for name in names if name not in feature_names]
    if unknown or len(set(names)) != len(names):
        raise InvalidInput(
            f"input {echo((unknown or names)[0])} is unknown or repeated; send one input of "
            f"shape [-1, {len(feature_names)}], or one 1-D input per feature named after it"
        )
    if any(values.ndim not in (1, 2) or values.size != len(values) for _, values in tensors):
        raise InvalidInput("per-feature inputs must all have shape [N] (or [N, 1]) with one N")
    return Batch(columns={name: values.reshape(-1) for name, values in tensors}, text=True)


def read_inputs(inputs: Any, binary: bytes | memoryview | None) -> list[tuple[str, np.ndarray]]:
    """Each input's name and typed values in its shape; every binary byte must belong to
    exactly one input."""
    if not (isinstance(inputs, list) and all(_is_tensor(t, binary) for t in inputs)):
        raise InvalidInput(NOT_TENSORS)
    view = memoryview(binary) if binary is not None else None
    offset = 0
    tensors = []
    for tensor in inputs:
        name, values, size = _read(tensor, view, offset)
        tensors.append((name, values))
        offset += size
    if view is not None and offset != len(view):
        raise InvalidInput(
            f"the body has {len(view)} binary bytes after the JSON part, but the inputs' "
            f"{SIZE_KEY} add up to {offset}"
        )
    if not tensors:
        raise InvalidInput(NOT_TENSORS)
    return tensors


def _is_tensor(tensor: Any, binary: bytes | memoryview | None) -> bool:
    if not (isinstance(tensor, dict) and "datatype" in tensor):
        return False
    parameters = tensor.get("parameters")
    in_binary = binary is not None and isinstance(parameters, dict) and SIZE_KEY in parameters
    return "data" in tensor or in_binary


def _read(tensor: dict[str, Any], binary: memoryview | None, offset: int) -> tuple[str, Any, int]:
    """(name, values in shape, binary bytes used) of one input."""
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    parameters = tensor.get("parameters", {})
    if not isinstance(name, str):
        raise InvalidInput("every input needs a string 'name'")
    where = f"input {echo(name)}"
    if not isinstance(parameters, dict):
        raise InvalidInput(f"{where}: 'parameters' must be an object")
    if SIZE_KEY in parameters and binary is None:
        raise InvalidInput(BINARY_NEEDS_HEADER)
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise InvalidInput(f"{where}: 'shape' must be a list of non-negative integers")
    if datatype not in DATATYPES:
        raise InvalidInput(f"{where}: datatype {echo(datatype)}; accepted: {', '.join(DATATYPES)}")
    size = 0
    if SIZE_KEY in parameters:
        size = _binary_size(where, tensor, parameters[SIZE_KEY])
        chunk = (binary or memoryview(b""))[offset : offset + size]
        if len(chunk) < size:
            raise InvalidInput(
                f"{where}: {SIZE_KEY} is {size}, but only {len(chunk)} binary bytes "
                f"remain (is {HEADER} set to the JSON part's length?)"
            )
        values, source = (
            unpack(where, chunk, datatype, NUMBER_TYPES.get(datatype)),
            "the binary data",
        )
    else:
        try:
            values, source = np.asarray(tensor["data"]), "data"
        except (ValueError, OverflowError):
            raise InvalidInput(f"{where}: nested data is ragged") from None
    count = math.prod(shape)
    if values.size != count:
        raise InvalidInput(
            f"{where}: shape {shape} holds {count} values, {source} has {values.size}"
        )
    return name, _typed(where, datatype, values).reshape(shape), size


def _binary_size(where: str, tensor: dict[str, Any], size: Any) -> int:
    if type(size) is not int or size < 0:
        raise InvalidInput(f"{where}: {SIZE_KEY} must be a non-negative integer")
    if "data" in tensor:
        raise InvalidInput(f"{where}: give either 'data' or {SIZE_KEY}, not both")
    return size


def _typed(where: str, datatype: str, array: np.ndarray) -> np.ndarray:
    """The values as their datatype says: numbers as float64, BOOL as 0/1, BYTES as text."""
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(np.float64)
    if datatype == "BOOL" and kind == "b":
        return array.astype(np.float64)
    if datatype == "BYTES" and kind == "U":
        return array
    if datatype in INTEGER_TYPES and kind in "iu":
        info = np.iinfo(INTEGER_TYPES[datatype])
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"{where}: a value is out of range for {datatype}")
        return array.astype(np.float64)
    if datatype in FLOAT_TYPES and kind in "fiu":
        # No copy when the values already are float64 (binary FP64: a view of the body).
        return array.astype(FLOAT_TYPES[datatype], copy=False).astype(np.float64, copy=False)
    raise InvalidInput(f"{where}: data does not match datatype {datatype}")


def output_tensor(name: str, values: np.ndarray) -> dict[str, Any]:
    """An OIP v2 output tensor (flat data) for an array of labels or numbers."""
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": datatype_of(values.dtype),
        "data": values.ravel().tolist(),
    }


def binary_output(name: str, values: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """An output tensor without `data`, and its values' bytes in the extension's layout."""
    datatype = datatype_of(values.dtype)
    data = pack(values, datatype, NUMBER_TYPES.get(datatype))
    tensor = {
        "name": name,
        "shape": list(values.shape),
        "datatype": datatype,
        "parameters": {SIZE_KEY: len(data)},
    }
    return tensor, data


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The OIP datatype for a numpy dtype: labels keep their type, strings are BYTES."""
    kind = dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"
