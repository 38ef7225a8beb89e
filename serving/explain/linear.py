"""Exact Shapley values of a linear model's raw output: coef * (x - background mean)."""

from __future__ import annotations

import numpy as np


class LinearExplainer:
    """`coef` is [outputs, columns], `mean` each column's mean over the background rows;
    `columns[c]` is the input feature that column c comes from (summed into it)."""

    def __init__(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        mean: np.ndarray,
        columns: np.ndarray,
        n_inputs: int,
    ) -> None:
        self.n_inputs = n_inputs
        self.n_outputs = len(intercept)
        self._coef = np.asarray(coef, dtype=np.float64)
        self._mean = np.asarray(mean, dtype=np.float64)
        self._to_inputs = np.zeros((len(columns), n_inputs))
        self._to_inputs[np.arange(len(columns)), columns] = 1.0
        self.base_value = np.asarray(intercept, dtype=np.float64) + self._coef @ self._mean

    def explain(self, matrix: np.ndarray) -> np.ndarray:
        """Contributions [rows, input features, outputs]; with base_value they sum to
        coef @ x + intercept for each row."""
        centred = np.asarray(matrix, dtype=np.float64) - self._mean
        per_column = centred[:, :, None] * self._coef.T[None, :, :]
        contributions: np.ndarray = np.einsum("nck,cf->nfk", per_column, self._to_inputs)
        return contributions
