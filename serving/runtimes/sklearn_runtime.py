"""The scikit-learn runtime: unpickles model.joblib (only after its hash was verified)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from serving.batch import Method, Table
from serving.errors import InvalidInput, NotFinite
from serving.manifest import Manifest

NAME = "sklearn"
# What scikit-learn's finiteness check says when a value overflowed inside the pipeline.
_NOT_FINITE = ("infinity", "NaN", "too large")


class SklearnRuntime:
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
        if "predict_proba" in methods and not self.has_predict_proba:
            raise InvalidInput("this model has no predict_proba (class probabilities)")
        if "decision_function" in methods and not self.has_decision_function:
            raise InvalidInput("this model has no decision_function")
        rows = self._rows(table)
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
        """The rows after the pipeline's transformers (dense float64), as the final step reads
        them; the rows themselves for a bare estimator."""
        rows = self._rows(table)
        if hasattr(self.estimator, "steps"):
            rows = self.estimator[:-1].transform(rows)
        if hasattr(rows, "toarray"):  # a sparse matrix
            rows = rows.toarray()
        return np.asarray(rows, dtype=np.float64)

    def _rows(self, table: Table) -> Any:
        if not self.manifest.fitted_on_dataframe:
            return table.matrix
        import pandas as pd  # only for models fitted on a DataFrame

        frame = {}
        for feature, column in zip(self.manifest.features, table.columns, strict=True):
            if feature.is_text:
                column = np.where(column == None, np.nan, column)  # noqa: E711 (elementwise)
            elif feature.type == "integer" and not np.isnan(column).any():
                column = column.astype(np.int64)
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
