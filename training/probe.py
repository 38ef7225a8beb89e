"""The typed feature schema of a fitted model, from its encoders, its sample data and by asking it.

A column an encoder of the model learned as text is text, with the categories it learned
(training/encoders.py); any other column has the type its sample cells have (training/data.py),
unless `train.py --column-type` said otherwise. Whether a feature may be missing, and whether a
text feature takes values outside its categories, is whatever the model does: each is tried on
a real row, built exactly as the scikit-learn runtime builds a request's rows (a missing text
cell is NaN in an object column, a missing category cell NaN in a Categorical, a missing
integer NaN in a float column), and a model that raises on it refuses it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from serving.cells import INT64_MAX, INT64_MIN, MISSING_MARKERS
from serving.runtimes.sklearn_runtime import model_frame
from serving.schema import Feature, FeatureType
from training.data import DataError
from training.encoders import Learned

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


def infer_features(
    model: Any,
    frame: pd.DataFrame,
    on_dataframe: bool,
    learned: Mapping[str, Learned] | None = None,
) -> list[Feature]:
    """One Feature per column of `frame` (the model's input, in order), probed on its rows.

    A model fitted on a float matrix (`on_dataframe` false) gets numbers only, as its input is.
    """
    learned = learned or {}
    typed = [
        _typed_feature(str(name), frame[name], learned.get(str(name)), on_dataframe)
        for name in frame.columns
    ]
    example = _checked_columns(_complete_row(frame), typed)
    features = []
    for index, feature in enumerate(typed):
        nullable = _accepts(model, example, typed, index, None, on_dataframe)
        others = not feature.is_text or _accepts(model, example, typed, index, UNSEEN, on_dataframe)
        if not others and feature.categories is None:
            # A model that refuses other values needs every one it takes listed, however many.
            known = learned.get(feature.name)
            every = known.categories if known is not None else frame[feature.name].dropna()
            feature = replace(feature, categories=tuple(sorted({str(v) for v in every})))
        features.append(replace(feature, nullable=nullable, other_categories=others))
    return features


def _typed_feature(
    name: str, values: pd.Series, learned: Learned | None, on_dataframe: bool
) -> Feature:
    kind = column_type(values) if on_dataframe else "number"
    if kind != "string":
        return Feature(name, kind)
    if learned is not None and learned.text:
        categories = tuple(str(c) for c in learned.categories)
        listed = categories if learned.category_dtype or len(categories) <= MAX_CATEGORIES else None
        markers = tuple(c for c in categories if c in MISSING_MARKERS)
        dtype = "category" if learned.category_dtype else None
        return Feature(name, kind, categories=listed, marker_categories=markers, dtype=dtype)
    seen = sorted({str(v) for v in values.dropna()})
    return Feature(name, kind, categories=tuple(seen) if len(seen) <= MAX_CATEGORIES else None)


def _complete_row(frame: pd.DataFrame) -> pd.DataFrame:
    complete = frame.dropna()
    if complete.empty:
        raise DataError("the data has no row without a missing value to probe the model with")
    return complete.iloc[:1]


def _checked_columns(row: pd.DataFrame, features: Sequence[Feature]) -> list[np.ndarray]:
    """One row as the validation step checks it: float64 numbers, text as an object array."""
    return [
        np.array([str(row[f.name].iloc[0])], dtype=object)
        if f.is_text
        else np.array([row[f.name].iloc[0]], dtype=np.float64)
        for f in features
    ]


def _accepts(
    model: Any,
    example: list[np.ndarray],
    features: Sequence[Feature],
    index: int,
    value: str | None,
    on_dataframe: bool,
) -> bool:
    """Whether the model predicts (without raising) on the example with one cell changed to
    `value` (None: missing), the row built as the scikit-learn runtime would build it."""
    columns = list(example)
    if features[index].is_text:
        columns[index] = np.array([value], dtype=object)
    else:
        columns[index] = np.array([np.nan])
    data = model_frame(columns, features) if on_dataframe else np.column_stack(columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(data)
    except Exception:
        return False
    return True


def with_edge_rows(
    columns: Mapping[str, list[Any]], features: Sequence[Feature]
) -> dict[str, list[Any]]:
    """The sample's columns with the rows the ONNX parity gate must also prove equal on
    (`edge_rows`), appended in order."""
    names = [f.name for f in features]
    edges = [row for _, row in edge_rows(columns, features)]
    return {name: list(columns[name]) + [row[i] for row in edges] for i, name in enumerate(names)}


def edge_rows(
    columns: Mapping[str, list[Any]], features: Sequence[Feature]
) -> list[tuple[str, tuple[Any, ...]]]:
    """The rows the ONNX parity gate must also prove equal on, each with what it tries.

    Each is the first complete sample row with one cell changed: a feature that may be missing
    set missing; a text feature set to "" and to a value never seen in training (where the
    model takes them); an integer feature set to the largest and the smallest int64.
    """
    names = [f.name for f in features]
    rows = list(zip(*(columns[name] for name in names), strict=True))
    if not rows:
        return []
    base = next((row for row in rows if None not in row), rows[0])
    edges: list[tuple[str, tuple[Any, ...]]] = []
    for index, feature in enumerate(features):
        values: list[tuple[str, Any]] = [("missing", None)] if feature.nullable else []
        if feature.is_text:
            known = feature.categories or ()
            tried = (('""', ""), ("a value never seen in training", UNSEEN))
            values += [(what, v) for what, v in tried if feature.other_categories or v in known]
        if feature.type == "integer":
            values += [("the largest int64", INT64_MAX), ("the smallest int64", INT64_MIN)]
        edges += [
            (f"{feature.name!r} is {what}", (*base[:index], value, *base[index + 1 :]))
            for what, value in values
        ]
    return edges
