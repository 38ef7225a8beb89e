"""Prediction runtimes: each turns a verified artifact into predictions, behind one interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from serving.batch import METHODS, Method, Table
from serving.errors import InvalidInput
from serving.manifest import Manifest

# What each estimator method gives, for the one message that refuses a method.
GIVES = {
    "predict": "labels or values",
    "predict_proba": "class probabilities",
    "decision_function": "decision values",
}
WHOLE_ESTIMATOR = "MODEL_RUNTIME=sklearn serves every method the estimator has"


class Runtime(Protocol):
    """A loaded model that predicts on a checked Table of rows.

    Runtimes subclass it, so that `offers` is the one check of what a request may ask for.
    """

    name: str
    warnings: tuple[str, ...]
    libraries: dict[str, str]
    has_decision_function: bool
    has_predict_proba: bool

    def run(self, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
        """Each method's output in one pass (labels or values for predict; probabilities with
        columns in the manifest's class order; decision values, 1-D for two classes). Only
        methods it `offers`; may add outputs it computed anyway, so that the caller can check
        them too."""
        ...

    @property
    def offered(self) -> tuple[Method, ...]:
        """The estimator methods this runtime can run for its model."""
        has = {
            "predict": True,
            "predict_proba": self.has_predict_proba,
            "decision_function": self.has_decision_function,
        }
        return tuple(method for method in METHODS if has[method])

    def offers(self, methods: Sequence[Method]) -> None:
        """Refuse (400) a method this model cannot answer, naming what it offers, and where the
        estimator's own methods are (an export may leave some out)."""
        for method in methods:
            if method != "predict" and method not in self.offered:
                elsewhere = "" if self.name == "sklearn" else f"; {WHOLE_ESTIMATOR}"
                raise InvalidInput(
                    f"{method} ({GIVES[method]}) is not available: this model offers "
                    f"{', '.join(self.offered)} on the {self.name} runtime{elsewhere}"
                )

    def estimator_input(self, table: Table) -> np.ndarray:
        """The rows as the final estimator reads them (after the pipeline's transformers), as
        a float64 [rows, columns] array: what serving.explain explains."""
        ...


class RuntimeFactory(Protocol):
    """Builds a runtime from its verified artifact bytes."""

    def __call__(self, artifact: bytes, manifest: Manifest) -> Runtime: ...
