"""Prediction runtimes: each turns a verified artifact into predictions, behind one interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from serving.batch import Method, Table
from serving.manifest import Manifest


class Runtime(Protocol):
    """A loaded model that predicts on a checked Table of rows."""

    name: str
    warnings: tuple[str, ...]
    libraries: dict[str, str]
    has_decision_function: bool
    has_predict_proba: bool

    def run(self, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
        """Each method's output in one pass (labels or values for predict; probabilities with
        columns in the manifest's class order; decision values, 1-D for two classes). May add
        outputs it computed anyway, so that the caller can check them too."""
        ...

    def estimator_input(self, table: Table) -> np.ndarray:
        """The rows as the final estimator reads them (after the pipeline's transformers), as
        a float64 [rows, columns] array: what serving.explain explains."""
        ...


class RuntimeFactory(Protocol):
    """Builds a runtime from its verified artifact bytes."""

    def __call__(self, artifact: bytes, manifest: Manifest) -> Runtime: ...
