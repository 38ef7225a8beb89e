"""The shapes rows take on their way to the model: Batch (as a format read them), Table (checked).

Every request format's parser reads its body into a Batch; `serving.validate` checks the Batch
against the model's schema and gives a Table; the runtime predicts on the Table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

Method = Literal["predict", "predict_proba", "decision_function"]
# What a request may ask for, named after the estimator's methods (MLflow's `predict_method`).
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(slots=True)
class Batch:
    """Rows as a request format gave them, reshaped but not yet checked.

    Exactly one of `rows` (positional lists, or objects keyed by feature name) and `columns`
    ({feature name: values}) is set. `names` gives positional rows' column names when the format
    carries them (None: the model's order). `text` marks cells that may arrive as text (CSV,
    OIP BYTES): numbers are read from it, and the usual missing markers ("", "NA") mean missing.
    """

    rows: Sequence[Any] | np.ndarray | None = None
    columns: Mapping[str, Any] | None = None
    names: Sequence[Any] | None = None
    text: bool = False


class Table:
    """Rows checked against the schema: one array per feature, in the model's order.

    Numbers are float64 (NaN = missing), text an object array (None = missing). `matrix` is the
    float64 [rows, features] array when every feature is a number, as most models take it; the
    columns of such a table are views of it, made only when asked for.
    """

    def __init__(
        self, columns: tuple[np.ndarray, ...] | None, matrix: np.ndarray | None, n_rows: int
    ) -> None:
        self._columns = columns
        self.matrix = matrix
        self.n_rows = n_rows

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Table:
        return cls(None, matrix, len(matrix))

    @property
    def columns(self) -> tuple[np.ndarray, ...]:
        if self._columns is None:
            assert self.matrix is not None
            self._columns = tuple(self.matrix.T)
        return self._columns
