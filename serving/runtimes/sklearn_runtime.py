"""The scikit-learn runtime: unpickles model.joblib (only after its hash was verified)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from serving.errors import InvalidInput
from serving.manifest import Manifest

NAME = "sklearn"


class SklearnRuntime:
    """Predicts with the original scikit-learn estimator."""

    name = NAME

    def __init__(self, estimator: Any, warnings: tuple[str, ...], version: str) -> None:
        self.estimator = estimator
        self.warnings = warnings
        self.libraries = {"scikit-learn": version}
        # A Pipeline exposes these only when its final step has them.
        self.has_decision_function = hasattr(estimator, "decision_function")
        self.has_predict_proba = hasattr(estimator, "predict_proba")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self._call("predict", rows)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        if not self.has_predict_proba:
            raise InvalidInput("this model has no predict_proba (class probabilities)")
        return self._call("predict_proba", rows)

    def decision_function(self, rows: np.ndarray) -> np.ndarray:
        if not self.has_decision_function:
            raise InvalidInput("this model has no decision_function")
        return np.asarray(self._call("decision_function", rows), dtype=np.float64)

    def _call(self, method: str, rows: np.ndarray) -> np.ndarray:
        # The rows were already checked finite in bulk (payload.to_matrix): spare scikit-learn
        # its second check at every pipeline step. Its config is per thread, hence per call.
        from sklearn import config_context

        with config_context(assume_finite=True):
            return np.asarray(getattr(self.estimator, method)(rows))


def load(artifact: bytes, manifest: Manifest) -> SklearnRuntime:
    """Deserialise verified bytes; warn when the scikit-learn versions differ."""
    import joblib  # heavy: imported only when this runtime is chosen
    import sklearn

    trained_with = manifest.raw.get("libraries", {}).get("scikit-learn")
    warnings: tuple[str, ...] = ()
    if trained_with != sklearn.__version__:
        warnings = (
            f"model trained with scikit-learn {trained_with}, "
            f"serving with scikit-learn {sklearn.__version__}",
        )
    estimator = joblib.load(io.BytesIO(artifact))
    return SklearnRuntime(estimator, warnings, sklearn.__version__)
