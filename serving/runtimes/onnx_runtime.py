"""The ONNX runtime: serves model.onnx with onnxruntime, never importing scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.batch import Method, Table
from serving.cells import integer_column
from serving.errors import ModelUnavailable
from serving.manifest import Manifest
from serving.runtimes import Runtime

NAME = "onnx"
# The decision values output train.py adds where the converter computes them.
DECISION_OUTPUT = "decision_function"
# The rows as the final estimator reads them, which train.py exposes for explanations.
ESTIMATOR_INPUT = "estimator_input"
# A missing text cell as the graph sees it (a string tensor holds no null): not "", which is
# text a client may send and the model may know. training/onnx_imputer.py imputes it.
MISSING_TEXT = "\x00missing"
# How a feature's column is fed to a per-feature input of each ONNX type.
_INPUT_TYPES = {
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class OnnxRuntime(Runtime):
    """Predicts with an onnxruntime session built from the verified model.onnx bytes.

    The graph takes either one [rows, features] float64 input, or one [rows, 1] input per
    feature named after it (text as strings, a missing text cell as MISSING_TEXT).
    """

    name = NAME
    warnings: tuple[str, ...] = ()

    def __init__(self, session: Any, version: str, manifest: Manifest) -> None:
        self.session = session
        self.libraries = {"onnxruntime": version}
        outputs = [o.name for o in session.get_outputs() if o.name != ESTIMATOR_INPUT]
        self.has_estimator_input = len(outputs) < len(session.get_outputs())
        proba = outputs[1] if len(outputs) > 1 and outputs[1] != DECISION_OUTPUT else None
        self.has_decision_function = DECISION_OUTPUT in outputs
        self.has_predict_proba = proba is not None
        self._outputs: dict[Method, str | None] = {
            "predict": outputs[0],
            "predict_proba": proba,
            "decision_function": DECISION_OUTPUT if self.has_decision_function else None,
        }
        self._inputs = _input_plan(session.get_inputs(), manifest)
        self._matrix_input = session.get_inputs()[0].name

    def run(self, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
        # Probabilities come from the same pass as labels: fetched for the caller's checks.
        fetched: list[Method] = list(dict.fromkeys((*methods, "predict_proba")))
        fetched = [m for m in fetched if self._outputs[m] is not None]
        values = self.session.run([self._outputs[m] for m in fetched], self._feeds(table))
        results = dict(zip(fetched, (np.asarray(v) for v in values), strict=True))
        if "predict" in results:
            results["predict"] = results["predict"].ravel()
        return results

    def estimator_input(self, table: Table) -> np.ndarray:
        """The rows after the pipeline's transformers, as the graph computes them."""
        if not self.has_estimator_input:
            raise ModelUnavailable("model.onnx has no estimator_input output to explain with")
        (rows,) = self.session.run([ESTIMATOR_INPUT], self._feeds(table))
        return np.asarray(rows, dtype=np.float64)

    def _feeds(self, table: Table) -> dict[str, np.ndarray]:
        if self._inputs is None:
            assert table.matrix is not None, "a one-input graph serves all-number models"
            return {self._matrix_input: table.matrix}
        feeds = {}
        for name, index, dtype in self._inputs:
            column = table.columns[index]
            if dtype is object:
                column = np.where(column == None, MISSING_TEXT, column)  # noqa: E711 (elementwise)
            elif dtype is np.int64:
                column = integer_column(column, name)  # never wrap past int64
            feeds[name] = column.astype(dtype, copy=False).reshape(-1, 1)
        return feeds


def _input_plan(inputs: list[Any], manifest: Manifest) -> list[tuple[str, int, Any]] | None:
    """None for one matrix input; else (input name, feature index, dtype) per feature input."""
    names = list(manifest.feature_names)
    if len(inputs) == 1 and inputs[0].name not in names:
        return None
    plan = []
    for graph_input in inputs:
        if graph_input.name not in names or graph_input.type not in _INPUT_TYPES:
            raise ModelUnavailable(
                f"model.onnx input {graph_input.name!r} ({graph_input.type}) matches no feature"
            )
        plan.append(
            (graph_input.name, names.index(graph_input.name), _INPUT_TYPES[graph_input.type])
        )
    return plan


def session_options(ort: Any) -> Any:
    """One thread per inference: the framework already runs several requests at once."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def load(artifact: bytes, manifest: Manifest) -> OnnxRuntime:
    """Build an inference session from verified bytes."""
    import onnxruntime as ort  # imported only when this runtime is chosen

    session = ort.InferenceSession(
        artifact, sess_options=session_options(ort), providers=["CPUExecutionProvider"]
    )
    return OnnxRuntime(session, ort.__version__, manifest)
