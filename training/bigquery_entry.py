"""Run an ONNX model with the onnxruntime of the Python running this file, on saved inputs.

Run by training/bigquery_gate.py with ONNX Runtime 1.12.1's Python (3.10, NumPy 1): it imports
nothing of this project. `python bigquery_entry.py MODEL INPUTS.npz OUTPUTS.npz` reads one
array per graph input (text as unicode arrays, never pickles) and writes every output, plus the
onnxruntime version under "__onnxruntime__". It fails, with onnxruntime's own message on
stderr, when the model does not load or run.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import onnxruntime as ort

VERSION_KEY = "__onnxruntime__"


def main(model_path: str, inputs_path: str, outputs_path: str) -> None:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    with np.load(inputs_path, allow_pickle=False) as saved:
        feeds = {}
        for graph_input in session.get_inputs():
            values = saved[graph_input.name]
            feeds[graph_input.name] = values.astype(object) if values.dtype.kind == "U" else values
    names = [output.name for output in session.get_outputs()]
    results = session.run(names, feeds)
    arrays: dict[str, Any] = {}
    for name, value in zip(names, results, strict=True):
        array = np.asarray(value)
        arrays[name] = array.astype(str) if array.dtype == object else array
    arrays[VERSION_KEY] = np.array(ort.__version__)
    np.savez(outputs_path, **arrays)


if __name__ == "__main__":
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    main(*sys.argv[1:4])
