"""Exact ONNX converters for KBinsDiscretizer and PolynomialFeatures.

skl2onnx's own mix float32 and float64 in one graph (onnxruntime refuses to load them for a
float64 input). These repeat scikit-learn's arithmetic in its order, in float64:

- KBinsDiscretizer: a value's bin is how many inner bin edges are <= it (scikit-learn's
  `searchsorted(edges[1:-1], x, side="right")`); "onehot" then goes through the encoder
  scikit-learn fitted on the bins, as a lookup table (training/onnx_encoders.py).
- PolynomialFeatures: each degree's columns are the previous degree's columns times one
  feature, block by block, as scikit-learn's dense `transform` builds them (so x1*x2*x3 is
  (x1*x2)*x3 in both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training import onnx_encoders
from training.onnx_graph import Column, Graph


def register() -> None:
    """Make skl2onnx convert KBinsDiscretizer and PolynomialFeatures exactly (idempotent)."""
    from skl2onnx import update_registered_converter
    from sklearn.preprocessing import KBinsDiscretizer, PolynomialFeatures

    update_registered_converter(
        KBinsDiscretizer, "SklearnKBinsDiscretiser", _bins_shape, convert_bins, overwrite=True
    )
    update_registered_converter(
        PolynomialFeatures,
        "SklearnPolynomialFeatures",
        _polynomial_shape,
        convert_polynomial,
        overwrite=True,
    )


def _double_output(operator: Any, width: int) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, width])


def _bins_shape(operator: Any) -> None:
    model = operator.raw_operator
    width = len(model.n_bins_) if model.encode == "ordinal" else int(sum(model.n_bins_))
    _double_output(operator, width)


def _polynomial_shape(operator: Any) -> None:
    _double_output(operator, int(operator.raw_operator.n_output_features_))


def _numbers(graph: Graph, inputs: list[Any], where: str) -> list[Column]:
    columns = graph.columns(inputs)
    if any(column.text for column in columns):
        raise NotImplementedError(f"{where} on text is not exported to ONNX")
    return columns


def convert_bins(scope: Any, operator: Any, container: Any) -> None:
    """Each value's bin (float64), one-hot encoded by the discretiser's own encoder if asked."""
    graph = Graph(scope, container)
    model = operator.raw_operator
    if model.dtype not in (None, np.float64):
        raise NotImplementedError(f"KBinsDiscretizer(dtype={model.dtype}) is not exported")
    bins = []
    for column, edges in zip(
        _numbers(graph, operator.inputs, "KBinsDiscretizer"), model.bin_edges_, strict=True
    ):
        inner = graph.constant("edges", np.asarray(edges[1:-1], dtype=np.float64))
        below = graph.output("LessOrEqual", [inner, column.name], "edge_below")
        bins.append(graph.reduce("ReduceSum", graph.as_double(below), axis=1))
    if model.encode != "ordinal":
        tables = onnx_encoders.lookups(model._encoder)
        bins = [
            onnx_encoders.encode(graph, Column(name, text=False), table)
            for name, table in zip(bins, tables, strict=True)
        ]
    graph.node("Identity", [graph.concat(bins)], [operator.outputs[0].full_name])


def convert_polynomial(scope: Any, operator: Any, container: Any) -> None:
    """scikit-learn's dense PolynomialFeatures.transform, block by block."""
    graph = Graph(scope, container)
    model = operator.raw_operator
    x = graph.concat([c.name for c in _numbers(graph, operator.inputs, "PolynomialFeatures")])
    n_features = int(model.n_features_in_)
    blocks = [graph.filled(graph.column(x, 0), 1.0)] if model.include_bias else []
    current = 1 if model.include_bias else 0
    if model._max_degree >= 1:
        blocks.append(x)
    index = [*range(current, current + n_features), current + n_features]
    current += n_features
    for _ in range(2, model._max_degree + 1):
        so_far = graph.concat(blocks, "so_far")
        new_index, end = [], index[-1]
        for feature in range(n_features):
            start = index[feature]
            new_index.append(current)
            if model.interaction_only:
                start += index[feature + 1] - index[feature]
            width = end - start
            if width <= 0:
                break
            previous = _columns(graph, so_far, start, end)
            factor = _columns(graph, x, feature, feature + 1)
            blocks.append(graph.output("Mul", [previous, factor], "product"))
            current += width
        new_index.append(current)
        index = new_index
    full = graph.concat(blocks, "polynomial")
    kept = int(model.n_output_features_)
    if model._min_degree > 1:
        total = current
        tail = _columns(graph, full, total - kept + int(model.include_bias), total)
        full = graph.concat(
            [graph.filled(graph.column(x, 0), 1.0), tail] if model.include_bias else [tail]
        )
    graph.node("Identity", [full], [operator.outputs[0].full_name])


def _columns(graph: Graph, matrix: str, start: int, end: int) -> str:
    """matrix[:, start:end]."""
    starts = graph.constant("start", np.array([start], dtype=np.int64))
    ends = graph.constant("end", np.array([end], dtype=np.int64))
    axes = graph.constant("axis", np.array([1], dtype=np.int64))
    return graph.output("Slice", [matrix, starts, ends, axes], "columns")
