"""The shapes rows take on their way to the model: Batch (as a format read them), Table (checked).

Every request format's parser reads its body into a Batch; `serving.validate` checks the Batch
against the model's schema and gives a Table; the runtime predicts on the Table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from serving.cells import Reading

Method = Literal["predict", "predict_proba", "decision_function"]
# What a request may ask for, named after the estimator's methods (MLflow's `predict_method`).
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(slots=True)
class Batch:
    """Rows as a request format gave them, reshaped but not yet checked.

    Exactly one of `rows` (positional lists, or objects keyed by feature name) and `columns`
    ({feature name: values}) is set. `names` gives positional rows' column names when the format
    carries them (None: the model's order). `reading` says how the format's cells are read
    (serving/cells.py): "json" (JSON values), "bigquery" (JSON values, numbers may be spelled as
    text) or "text" (every cell is text: CSV, OIP BYTES in binary data); `column_readings`
    overrides it per column, where a format reads its columns differently (OIP inputs, some in
    JSON and some in binary data). `numbers_only`: the JSON body held no text, null or boolean
    anywhere (serving/protocols/detect.py), so no cell can be one.
    """

    rows: Sequence[Any] | np.ndarray | None = None
    columns: Mapping[str, Any] | None = None
    names: Sequence[Any] | None = None
    reading: Reading = "json"
    column_readings: Mapping[str, Reading] | None = None
    numbers_only: bool = False

    def reading_of(self, name: str) -> Reading:
        """How the cells of feature `name` are read."""
        if self.column_readings is not None:
            return self.column_readings.get(name, self.reading)
        return self.reading


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
