"""The typed feature schema of a fitted model, found from its data and by asking the model.

Types come from the DataFrame's columns. Whether a feature may be missing, and whether a text
feature takes values outside those seen in training, is whatever the model does: each is
tried on a real row, and a model that raises on it refuses it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from serving.schema import Feature, FeatureType

UNSEEN = "\x00never-seen-in-training"
# Text features with more distinct values than this are listed without their categories.
MAX_CATEGORIES = 200


def column_type(values: pd.Series) -> FeatureType:
    """The schema type of a DataFrame column."""
    if values.dtype == bool:
        return "boolean"
    if pd.api.types.is_integer_dtype(values.dtype):
        return "integer"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "number"
    return "string"


def infer_features(model: Any, frame: pd.DataFrame, on_dataframe: bool) -> list[Feature]:
    """One Feature per column of `frame` (the model's input, in order), probed on its rows.

    A model fitted on a float matrix (`on_dataframe` false) gets numbers only, as its input is.
    """
    features = []
    example = _complete_row(frame)
    for name in frame.columns:
        kind = column_type(frame[name]) if on_dataframe else "number"
        missing = np.nan
        nullable = _accepts(model, example, name, missing, on_dataframe)
        categories, others = None, True
        if kind == "string":
            seen = sorted({str(v) for v in frame[name].dropna()})
            categories = tuple(seen) if len(seen) <= MAX_CATEGORIES else None
            others = _accepts(model, example, name, UNSEEN, on_dataframe)
        features.append(Feature(str(name), kind, nullable, categories, others))
    return features


def _complete_row(frame: pd.DataFrame) -> pd.DataFrame:
    complete = frame.dropna()
    if complete.empty:
        raise ValueError("the data has no row without a missing value to probe the model with")
    return complete.iloc[:1].copy()


def _accepts(model: Any, row: pd.DataFrame, name: Any, value: Any, on_dataframe: bool) -> bool:
    """Whether the model predicts (without raising) on the row with `name` set to `value`."""
    probe = row.copy()
    if probe[name].dtype != object:
        probe[name] = probe[name].astype(np.float64)
    probe[name] = [value]
    data = probe if on_dataframe else probe.to_numpy(dtype=np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(data)
    except Exception:
        return False
    return True
