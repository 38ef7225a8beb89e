"""The ONNX runtime: serves model.onnx with onnxruntime, never importing scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.errors import InvalidInput, ModelUnavailable
from serving.manifest import Manifest

NAME = "onnx"
# The decision values output train.py adds where the converter computes them.
DECISION_OUTPUT = "decision_function"
NO_DECISION_VALUES = (
    "decision values are not available from the ONNX export of this model; "
    "serve it with MODEL_RUNTIME=sklearn to get them"
)


class OnnxRuntime:
    """Predicts with an onnxruntime session built from the verified model.onnx bytes."""

    name = NAME
    warnings: tuple[str, ...] = ()

    def __init__(self, session: Any, version: str) -> None:
        self.session = session
        self.libraries = {"onnxruntime": version}
        outputs = [output.name for output in session.get_outputs()]
        self._input = session.get_inputs()[0].name
        self._label = outputs[0]
        self._proba = outputs[1] if len(outputs) > 1 and outputs[1] != DECISION_OUTPUT else None
        self.has_decision_function = DECISION_OUTPUT in outputs

    def predict(self, rows: np.ndarray) -> np.ndarray:
        (labels,) = self.session.run([self._label], {self._input: rows})
        return np.asarray(labels).ravel()

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        if self._proba is None:
            raise ModelUnavailable("this ONNX model has no probability output")
        (probabilities,) = self.session.run([self._proba], {self._input: rows})
        return np.asarray(probabilities)

    def decision_function(self, rows: np.ndarray) -> np.ndarray:
        if not self.has_decision_function:
            raise InvalidInput(NO_DECISION_VALUES)
        (values,) = self.session.run([DECISION_OUTPUT], {self._input: rows})
        return np.asarray(values)


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
    return OnnxRuntime(session, ort.__version__)
