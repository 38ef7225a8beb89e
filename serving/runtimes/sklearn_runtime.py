"""The scikit-learn runtime: unpickles model.joblib (only after its hash was verified)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from serving.batch import Method, Table
from serving.cells import integer_column
from serving.errors import NotFinite
from serving.manifest import Manifest
from serving.runtimes import Runtime
from serving.schema import Feature

NAME = "sklearn"
# What scikit-learn's finiteness check says when a value overflowed inside the pipeline.
_NOT_FINITE = ("infinity", "NaN", "too large")


class SklearnRuntime(Runtime):
    """Predicts with the original scikit-learn estimator, on a DataFrame when it was fitted on
    one (pandas is imported only then) and on the float64 matrix otherwise."""

    name = NAME

    def __init__(
        self, estimator: Any, warnings: tuple[str, ...], version: str, manifest: Manifest
    ) -> None:
        self.estimator = estimator
        self.warnings = warnings
        self.libraries = {"scikit-learn": version}
        self.manifest = manifest
        # A Pipeline exposes these only when its final step has them.
        self.has_decision_function = hasattr(estimator, "decision_function")
        self.has_predict_proba = hasattr(estimator, "predict_proba")

    def run(self, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
        rows = self.model_rows(table)
        results: dict[Method, np.ndarray] = {}
        for method in methods:
            try:
                results[method] = np.asarray(getattr(self.estimator, method)(rows))
            except ValueError as exc:
                # scikit-learn checks each step's input: inf there means a huge value overflowed.
                if any(word in str(exc) for word in _NOT_FINITE):
                    raise NotFinite() from None
                raise
        if "decision_function" in results:
            results["decision_function"] = results["decision_function"].astype(np.float64)
        return results

    def estimator_input(self, table: Table) -> np.ndarray:
        """The rows after the pipeline's transformers (dense float64), as the final step's
        trees or coefficients read them; the rows themselves for a bare estimator."""
        rows = self.model_rows(table)
        final = self.estimator
        if hasattr(final, "steps"):
            rows, final = final[:-1].transform(rows), final.steps[-1][1]
        # HistGradientBoosting encodes its categorical features itself, into the codes its
        # trees test (and moves them first): the columns it splits on.
        if getattr(final, "_preprocessor", None) is not None:
            rows = final._preprocessor.transform(rows)
        if hasattr(rows, "toarray"):  # a sparse matrix
            rows = rows.toarray()
        return np.asarray(rows, dtype=np.float64)

    def model_rows(self, table: Table) -> Any:
        """The rows as the model takes them: a DataFrame, or the float64 matrix."""
        if not self.manifest.fitted_on_dataframe:
            return table.matrix
        return model_frame(table.columns, self.manifest.features)


def model_frame(columns: Sequence[np.ndarray], features: Sequence[Feature]) -> Any:
    """Checked columns as the DataFrame the model was fitted on (pandas is imported only here).

    Text is object with NaN for a missing cell, as pandas reads it; a `category` feature is a
    pandas Categorical of the learned categories; integers are int64 (refusing what int64
    cannot hold) and booleans bool, unless a cell is missing (then float64 with NaN).
    """
    import pandas as pd  # only for models fitted on a DataFrame

    frame: dict[str, Any] = {}
    for feature, column in zip(features, columns, strict=True):
        if feature.is_text:
            if feature.dtype == "category":
                # A value outside the learned categories is missing, as in the user's own
                # Categorical (pandas refuses to build one holding other values).
                known = np.isin(column, list(feature.categories or ()))
                column = pd.Categorical(np.where(known, column, np.nan), feature.categories)
            else:
                column = np.where(column == None, np.nan, column)  # noqa: E711 (elementwise)
        elif feature.type == "integer":
            column = integer_column(column, feature.name)
        elif feature.type == "boolean" and not np.isnan(column).any():
            column = column.astype(np.bool_)
        frame[feature.name] = column
    return pd.DataFrame(frame)


def load(artifact: bytes, manifest: Manifest) -> SklearnRuntime:
    """Deserialise verified bytes; warn when the scikit-learn versions differ."""
    import joblib  # heavy: imported only when this runtime is chosen
    import sklearn

    trained_with = (manifest.libraries or {}).get("scikit-learn")
    warnings: tuple[str, ...] = ()
    if trained_with != sklearn.__version__:
        warnings = (
            f"model trained with scikit-learn {trained_with}, "
            f"serving with scikit-learn {sklearn.__version__}",
        )
    estimator = joblib.load(io.BytesIO(artifact))
    return SklearnRuntime(estimator, warnings, sklearn.__version__, manifest)
