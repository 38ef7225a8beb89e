"""The scikit-learn runtime: unpickles model.joblib (only after its hash was verified)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from serving.manifest import Manifest

NAME = "sklearn"


class SklearnRuntime:
    """Predicts with the original scikit-learn estimator."""

    name = NAME

    def __init__(self, estimator: Any, warnings: tuple[str, ...], version: str) -> None:
        self.estimator = estimator
        self.warnings = warnings
        self.libraries = {"scikit-learn": version}

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(rows))

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(rows))


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
