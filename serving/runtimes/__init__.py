"""Prediction runtimes: each turns a verified artifact into predictions, behind one interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from serving.manifest import Manifest


class Runtime(Protocol):
    """A loaded model that predicts on a 2-D float64 array of rows."""

    name: str
    warnings: tuple[str, ...]
    libraries: dict[str, str]
    has_decision_function: bool

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Labels (classification) or values (regression), one per row."""
        ...

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per input row, columns in the manifest's class order."""
        ...

    def decision_function(self, rows: np.ndarray) -> np.ndarray:
        """Decision values (1-D for binary, a column per class otherwise); InvalidInput if none."""
        ...


class RuntimeFactory(Protocol):
    """Builds a runtime from its verified artifact bytes."""

    def __call__(self, artifact: bytes, manifest: Manifest) -> Runtime: ...
