"""The graph's inputs: what skl2onnx is told the model takes, and their names in model.onnx.

A model whose features are all numbers is converted as if it had been fitted on the float64
array of its columns (in `feature_names_in_` order): one [rows, features] input, so every
converter that takes one input gets it whole, and nothing on the way narrows it to float32
(skl2onnx joins several inputs with ai.onnx.ml FeatureVectorizer, whose output is float32).
A ColumnTransformer that picks its columns by name reads them by position in that array.

A model with text features takes one [rows, 1] input per feature (text as strings, every
number as float64), as the function feeds them. skl2onnx sanitises those names ("mean radius"
becomes "mean_radius", and a second "mean_radius" gets a suffix), so the inputs are renamed
back to the exact feature names afterwards: ONNX allows any string as a name.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from serving.schema import Feature

MATRIX_INPUT = "X"


def input_types(features: Sequence[Feature]) -> list[tuple[str, Any]]:
    """skl2onnx's `initial_types`: one float64 matrix, or one input per feature if any is text."""
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    if not any(feature.is_text for feature in features):
        return [(MATRIX_INPUT, DoubleTensorType([None, len(features)]))]
    return [
        (f.name, StringTensorType([None, 1]) if f.is_text else DoubleTensorType([None, 1]))
        for f in features
    ]


def name_inputs(graph: Any, features: Sequence[Feature]) -> None:
    """Rename a per-feature graph's inputs to the exact feature names (in place)."""
    inputs = graph.graph.input
    if len(inputs) == 1 and inputs[0].name == MATRIX_INPUT:
        return
    if len(inputs) != len(features):
        raise NotImplementedError(
            f"the graph takes {len(inputs)} inputs for {len(features)} features"
        )
    renamed = {graph_input.name: f.name for graph_input, f in zip(inputs, features, strict=True)}
    taken = {name for node in _all_nodes(graph.graph) for name in node.output}
    taken |= {tensor.name for tensor in graph.graph.initializer}
    clashes = sorted(set(renamed.values()) & taken - set(renamed))
    if clashes:
        raise NotImplementedError(f"feature name {clashes[0]!r} is also a tensor of the graph")
    for graph_input in inputs:
        graph_input.name = renamed[graph_input.name]
    for node in _all_nodes(graph.graph):
        node.input[:] = [renamed.get(name, name) for name in node.input]


def _all_nodes(graph: Any) -> list[Any]:
    """Every node, those inside subgraphs (If, Loop, Scan) included."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                nodes.extend(_all_nodes(subgraph))
    return nodes


def register() -> None:
    """Make skl2onnx parse every ColumnTransformer with `parse_column_transformer`."""
    from skl2onnx import update_registered_parser
    from sklearn.compose import ColumnTransformer

    update_registered_parser(ColumnTransformer, parse_column_transformer)


def parse_column_transformer(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> Any:
    """skl2onnx's ColumnTransformer parser, given columns by position when it has one input.

    A ColumnTransformer fitted on a DataFrame names its columns; skl2onnx looks names up among
    the graph inputs, so with one matrix input each name becomes its position in
    `feature_names_in_` (scikit-learn's own resolution, `_transformer_to_input_indices`).
    """
    from skl2onnx._parse import _parse_sklearn_column_transformer

    if len(inputs) == 1 and hasattr(model, "feature_names_in_"):
        positions = model._transformer_to_input_indices
        model = copy.copy(model)
        model.transformers_ = [
            (name, step, [int(i) for i in positions[name]]) for name, step, _ in model.transformers_
        ]
    return _parse_sklearn_column_transformer(scope, model, inputs, custom_parsers=custom_parsers)
