"""Which input feature each column the final estimator sees comes from, through a pipeline.

A transformer that turns each input column into one or more output columns of its own (scalers,
imputers, encoders, one-hot, splines, binning, selection) keeps every output column tied to one
input feature; its explanations are summed back into that feature. One that mixes columns (PCA,
PolynomialFeatures, Normalizer, an arbitrary function) has no such map: `Unexplainable` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Unexplainable(Exception):
    """The model has no exact explanation; the message is the one-line reason."""


# Transformers whose output column i is made from input column i alone.
ELEMENTWISE = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "PowerTransformer",
        "QuantileTransformer",
        "OrdinalEncoder",
        "Binarizer",
    }
)
# Transformers that turn each input column into a block of consecutive output columns.
PER_FEATURE_BLOCKS = frozenset(
    {"OneHotEncoder", "KBinsDiscretizer", "SplineTransformer", "TargetEncoder"}
)


def column_sources(model: Any, n_inputs: int) -> np.ndarray:
    """Per column of the final estimator's input, the model input feature it comes from."""
    inputs = np.arange(n_inputs)
    if not hasattr(model, "steps"):
        return inputs
    return sources(model[:-1], inputs)


def sources(transformer: Any, inputs: np.ndarray) -> np.ndarray:
    """Per output column of a fitted transformer, the feature of `inputs` (per input column)
    it comes from; Unexplainable when an output column mixes input columns."""
    if transformer is None or transformer == "passthrough":
        return inputs
    if isinstance(transformer, str) and transformer == "drop":
        return inputs[:0]
    kind = type(transformer).__name__
    if hasattr(transformer, "steps"):
        for _, step in transformer.steps:
            inputs = sources(step, inputs)
        return inputs
    if kind == "ColumnTransformer":
        return _column_transformer(transformer, inputs)
    if kind in ELEMENTWISE:
        return inputs
    if kind == "FunctionTransformer":
        return _function(transformer, inputs)
    if kind == "SimpleImputer":
        return _imputer(transformer, inputs)
    if kind == "MissingIndicator":
        return inputs[np.asarray(transformer.features_, dtype=np.int64)]
    if hasattr(transformer, "get_support"):  # SelectKBest, VarianceThreshold, ...
        return inputs[np.asarray(transformer.get_support(indices=True), dtype=np.int64)]
    if kind in PER_FEATURE_BLOCKS:
        return np.repeat(inputs, _block_widths(transformer, len(inputs)))
    raise Unexplainable(
        f"{kind} is not known to keep each output column to one input feature "
        "(PCA, PolynomialFeatures and the like mix them)"
    )


def _column_transformer(transformer: Any, inputs: np.ndarray) -> np.ndarray:
    width = sum(s.stop - s.start for s in transformer.output_indices_.values())
    out = np.full(width, -1, dtype=np.int64)
    for name, part, _ in transformer.transformers_:
        taken = inputs[np.asarray(transformer._transformer_to_input_indices[name], dtype=np.int64)]
        span = transformer.output_indices_[name]
        if span.stop > span.start:
            out[span] = sources(part, taken)
    if (out < 0).any():
        raise Unexplainable("a ColumnTransformer output column comes from no known input")
    return out


def _function(transformer: Any, inputs: np.ndarray) -> np.ndarray:
    function = transformer.func
    if function is None or isinstance(function, np.ufunc):
        return inputs
    name = getattr(function, "__name__", type(function).__name__)
    raise Unexplainable(f"FunctionTransformer({name}) may mix columns; only NumPy ufuncs are known")


def _imputer(imputer: Any, inputs: np.ndarray) -> np.ndarray:
    """Kept columns (an all-missing column is dropped unless kept), then its indicators."""
    statistics = np.asarray(imputer.statistics_)
    kept = np.ones(len(statistics), dtype=bool)
    if imputer.strategy != "constant" and not imputer.keep_empty_features:
        kept = ~np.array([_is_missing(value) for value in statistics], dtype=bool)
    out = inputs[kept]
    if imputer.add_indicator:
        out = np.concatenate([out, inputs[np.asarray(imputer.indicator_.features_, np.int64)]])
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and bool(np.isnan(value)))


def _block_widths(transformer: Any, n_inputs: int) -> np.ndarray:
    """How many output columns each input column becomes, in order."""
    kind = type(transformer).__name__
    if kind == "OneHotEncoder":
        return np.asarray(transformer._n_features_outs, dtype=np.int64)
    if kind == "KBinsDiscretizer":
        if transformer.encode == "ordinal":
            return np.ones(n_inputs, dtype=np.int64)
        return np.asarray(transformer.n_bins_, dtype=np.int64)
    if kind == "TargetEncoder":
        per_class = len(transformer.classes_) if transformer.target_type_ == "multiclass" else 1
        return np.full(n_inputs, per_class, dtype=np.int64)
    # SplineTransformer: the same number of splines for every column.
    return np.full(n_inputs, transformer.n_features_out_ // n_inputs, dtype=np.int64)
