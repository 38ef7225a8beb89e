"""Open Inference Protocol v2 tensors: request inputs to a Batch, arrays to output tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.batch import Batch
from serving.errors import InvalidInput
from serving.validate import echo

INTEGER_TYPES = {
    f"{sign}INT{bits}": getattr(np, f"{sign.lower()}int{bits}")
    for sign in ("", "U")
    for bits in (8, 16, 32, 64)
}
FLOAT_TYPES = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}
DATATYPES = (*FLOAT_TYPES, *INTEGER_TYPES, "BOOL", "BYTES")
BINARY_NEEDS_HEADER = (
    "binary tensor data (binary_data_size) is read only by POST /v2/models/{name}/infer, "
    "after a JSON part whose length the Inference-Header-Content-Length header gives"
)


def is_tensor_list(inputs: Any) -> bool:
    """True when `inputs` looks like OIP v2 tensors rather than rows or columns."""
    return (
        isinstance(inputs, list)
        and bool(inputs)
        and all(isinstance(t, dict) and "datatype" in t and "data" in t for t in inputs)
    )


def batch_from_inputs(inputs: Any, feature_names: Sequence[str]) -> Batch:
    """One [N, n_features] tensor, or one [N] (or [N, 1]) tensor per feature named after it.

    BYTES tensors carry text: numbers may be spelled in them, and "" (or NA) is missing.
    """
    if not is_tensor_list(inputs):
        raise InvalidInput(
            '\'inputs\' must be a non-empty list of tensors {"name", "shape", "datatype", "data"}'
        )
    tensors = [_json_tensor_values(tensor) for tensor in inputs]
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
    columns = {name: values.reshape(-1) for name, values in tensors}
    return Batch(columns=columns, text=True)


def _json_tensor_values(tensor: dict[str, Any]) -> tuple[str, np.ndarray]:
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    parameters = tensor.get("parameters", {})
    if not isinstance(name, str):
        raise InvalidInput("every input needs a string 'name'")
    if not isinstance(parameters, dict):
        raise InvalidInput(f"input {echo(name)}: 'parameters' must be an object")
    if "binary_data_size" in parameters:
        raise InvalidInput(BINARY_NEEDS_HEADER)
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise InvalidInput(f"input {echo(name)}: 'shape' must be a list of non-negative integers")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"input {echo(name)}: datatype {echo(datatype)}; accepted: {', '.join(DATATYPES)}"
        )
    try:
        array = np.asarray(tensor["data"])
    except (ValueError, OverflowError):
        raise InvalidInput(f"input {echo(name)}: nested data is ragged") from None
    if array.size != math.prod(shape):
        raise InvalidInput(
            f"input {echo(name)}: shape {shape} holds {math.prod(shape)} values, "
            f"data has {array.size}"
        )
    return name, _typed(name, datatype, array).reshape(shape)


def _typed(name: str, datatype: str, array: np.ndarray) -> np.ndarray:
    """The data as its datatype says: numbers as float64, BOOL as 0/1, BYTES as text."""
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
            raise InvalidInput(f"input {echo(name)}: a value is out of range for {datatype}")
        return array.astype(np.float64)
    if datatype in FLOAT_TYPES and kind in "fiu":
        return array.astype(FLOAT_TYPES[datatype]).astype(np.float64)
    raise InvalidInput(f"input {echo(name)}: data does not match datatype {datatype}")


def output_tensor(name: str, values: np.ndarray) -> dict[str, Any]:
    """An OIP v2 output tensor (flat data) for an array of labels or numbers."""
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": datatype_of(values.dtype),
        "data": values.ravel().tolist(),
    }


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
