"""What a fitted model's encoders learned about its input columns: text or numbers, which values.

A column that a OneHotEncoder, OrdinalEncoder or TargetEncoder learned as text (its
`categories_` hold strings) is text, however its cells look: zip codes '02134', cylinders '4'.
A HistGradientBoosting model with `categorical_features="from_dtype"` was fitted on pandas
`category` columns. The model is walked the way its data flows: through Pipelines, the columns
a ColumnTransformer hands each transformer, steps that keep their columns (an imputer) and the
usual meta-estimators. A column an encoder sees only after another step has changed it (say,
behind a custom transformer) is not found here; `train.py --column-type` says what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")
# Meta-estimators whose fitted inner estimators see the same columns they do.
_INNER = ("regressor_", "estimator_", "best_estimator_", "base_estimator_")


@dataclass(frozen=True)
class Learned:
    """One input column as an encoder learned it: text or numbers, and its categories."""

    text: bool
    categories: tuple[Any, ...]
    step: str
    category_dtype: bool = False

    def describe(self, name: str) -> str:
        """What the model does with the column, for a message."""
        kind = "text" if self.text else "numbers"
        shown = ", ".join(repr(c) if self.text else str(c) for c in self.categories[:4])
        more = ", ..." if len(self.categories) > 4 else ""
        return f"the model's {self.step} treats {name!r} as {kind} (categories {shown}{more})"


def learned_columns(model: Any, names: list[str]) -> dict[str, Learned]:
    """Each input column an encoder of the model learned, by name."""
    found: dict[str, Learned] = {}
    _walk(model, names, found, category_dtype=False)
    return found


def _walk(step: Any, columns: list[str], found: dict[str, Learned], category_dtype: bool) -> None:
    if isinstance(step, Pipeline):
        current: list[str] | None = columns
        for _, inner in step.steps:
            if current is None:
                return
            _walk(inner, current, found, category_dtype)
            current = _kept_columns(inner, current)
    elif isinstance(step, ColumnTransformer):
        indices = getattr(step, "_transformer_to_input_indices", {})
        for name, inner, _ in step.transformers_:
            if name in indices and not isinstance(inner, str):
                _walk(inner, [columns[i] for i in indices[name]], found, category_dtype)
    elif type(step).__name__ in ENCODERS and hasattr(step, "categories_"):
        for name, categories in zip(columns, step.categories_, strict=False):
            found.setdefault(name, _learned(categories, type(step).__name__, category_dtype))
    elif getattr(step, "_preprocessor", None) is not None:
        # HistGradientBoosting's own OrdinalEncoder for its categorical features.
        from_dtype = getattr(step, "categorical_features", None) == "from_dtype"
        _walk(step._preprocessor, columns, found, category_dtype=from_dtype)
    else:
        for attribute in _INNER:
            inner = getattr(step, attribute, None)
            if inner is not None:
                _walk(inner, columns, found, category_dtype)
        for inner in getattr(step, "named_estimators_", {}).values():
            if not isinstance(inner, str):
                _walk(inner, columns, found, category_dtype)


def _kept_columns(step: Any, columns: list[str]) -> list[str] | None:
    """The step's output columns when they are its input columns, one for one (an imputer);
    None when the step makes other columns, or cannot say."""
    try:
        out = [str(n) for n in step.get_feature_names_out(np.asarray(columns, dtype=object))]
    except Exception:
        return None
    return columns if out == columns else None


def _learned(categories: np.ndarray, step: str, category_dtype: bool) -> Learned:
    present = [c for c in categories.tolist() if not (c is None or _is_nan(c))]
    text = bool(present) and all(isinstance(c, str) for c in present)
    return Learned(text, tuple(present), step, category_dtype and text)


def _is_nan(value: Any) -> bool:
    return bool(pd.isna(value)) if not isinstance(value, str) else False
