"""The BigQuery variant's own parity gate, run under ONNX Runtime 1.12.1 itself.

The variant gets the sample rows as BigQuery would hand them over after the printed SELECT
(a missing number as NaN, a missing text as ""), in the environment of training/bigquery_env.py
(through training/bigquery_entry.py, in a process of its own). Its answers are compared with
the function's own: labels equal on every row, probabilities and values within the tolerance.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.batch import Table
from training import bigquery_env
from training.bigquery_form import LABEL, PROBABILITIES, VALUE, Column
from training.export import distance

ENTRY = Path(__file__).with_name("bigquery_entry.py")
RUN_TIMEOUT_SECONDS = 300
_DTYPES = {
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class GateError(Exception):
    """ONNX Runtime 1.12.1 refused the variant, or did not run; the message says why."""


def feeds(columns: Sequence[Column], table: Table) -> dict[str, np.ndarray]:
    """Each input's [rows, 1] array, as BigQuery gives it after the printed SELECT: a missing
    number as NaN, a missing text as '' with its `_is_null` flag set."""
    found = {}
    for index, column in enumerate(columns):
        values = table.columns[index]
        if column.tensor == "tensor(string)":
            array = np.array(["" if v is None else str(v) for v in values], dtype=str)
        else:
            array = np.asarray(values).astype(_DTYPES[column.tensor])
        found[column.input] = array.reshape(-1, 1)
        if column.null_flag is not None:
            found[column.null_flag] = np.array([v is None for v in values]).reshape(-1, 1)
    return found


def run(onnx_bytes: bytes, inputs: dict[str, np.ndarray], python: Path) -> dict[str, np.ndarray]:
    """The variant's outputs from onnxruntime in `python`'s environment."""
    with tempfile.TemporaryDirectory(prefix="bigquery-gate-") as scratch:
        folder = Path(scratch)
        (folder / "model.onnx").write_bytes(onnx_bytes)
        np.savez(folder / "inputs.npz", **dict[str, Any](inputs))
        done = subprocess.run(
            [str(python), str(ENTRY), "model.onnx", "inputs.npz", "outputs.npz"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
            env={"ORT_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin"},
        )
        if done.returncode != 0:
            raise GateError(_last_error(done.stderr))
        with np.load(folder / "outputs.npz", allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}


def _last_error(stderr: str) -> str:
    """onnxruntime's own message: the last line of the traceback, without its class and code."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "the run failed without a message"
    if "[ONNXRuntimeError]" in last:
        last = last.rsplit(" : ", 1)[-1]  # past the exception class and the status code
    return last[:300]


def compare(
    outputs: dict[str, np.ndarray],
    expected: Mapping[Any, np.ndarray],
    answered: np.ndarray,
    tolerance: float,
    sample_rows: int,
) -> dict[str, Any]:
    """The gate's record: labels equal, and the largest difference of the other outputs, on
    the rows the function answers (`answered`, a mask over the variant's rows). The first
    `sample_rows` are the sample's; the answered rows after them are edge rows, compared as
    export's gate compares them (`distance(..., scaled=True)`)."""
    version = str(outputs.pop("__onnxruntime__", ""))
    outputs = {name: np.asarray(value)[answered] for name, value in outputs.items()}
    record: dict[str, Any] = {"onnxruntime": version}
    if VALUE in outputs:
        record["labels_equal"] = True
        record["max_abs_diff"] = _gap(outputs[VALUE], expected["predict"], sample_rows)
    else:
        ours = [_plain(v) for v in np.ravel(outputs[LABEL])]
        theirs = [_plain(v) for v in np.ravel(expected["predict"])]
        record["labels_equal"] = ours == theirs
        record["max_abs_diff"] = (
            _gap(outputs[PROBABILITIES], expected["predict_proba"], sample_rows)
            if PROBABILITIES in outputs and "predict_proba" in expected
            else 0.0
        )
    record["rows"] = len(np.ravel(expected["predict"]))
    if not answered.all():
        record["refused_by_the_function"] = int((~answered).sum())
    record["tolerance"] = tolerance
    record["passed"] = bool(record["labels_equal"]) and record["max_abs_diff"] <= tolerance
    return record


def _gap(ours: np.ndarray, theirs: np.ndarray, sample_rows: int) -> float:
    """The sample rows' largest difference, and the edge rows' scaled by their size past 1."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.size != theirs.size or len(ours) != len(theirs):
        return float("inf")
    ours, theirs = ours.reshape(theirs.shape), theirs
    return max(
        distance(ours[:sample_rows], theirs[:sample_rows]),
        distance(ours[sample_rows:], theirs[sample_rows:], scaled=True),
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def environment() -> Path | None:
    """ONNX Runtime 1.12.1's python, when its environment has been built."""
    return bigquery_env.python()
