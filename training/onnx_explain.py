"""model.onnx's `estimator_input` output: the rows as the final estimator reads them.

Explanations (serving/explain) are computed on the columns the trees split on or the linear
model multiplies, after the pipeline's transformers. The graph computes that tensor anyway, so
exposing it gives the ONNX runtime those rows in the same session, without scikit-learn. It is
found by structure: the input of the graph's tree node, or of its last MatMul or Gemm (what
skl2onnx writes for a linear model's coefficients), and exposed as float64. Whether it is the
right tensor is proven afterwards, where the explanations are packaged (training/explanations.py):
their sums must equal the graph's own outputs on every sample row.
"""

from __future__ import annotations

from typing import Any

from serving.runtimes.onnx_runtime import ESTIMATOR_INPUT
from training.explain_trees import is_tree_model

TREE_NODES = ("TreeEnsemble", "TreeEnsembleClassifier", "TreeEnsembleRegressor")
LINEAR_NODES = ("MatMul", "Gemm")


def with_estimator_input(graph: Any, model: Any) -> Any:
    """The graph (an onnx ModelProto) with an `estimator_input` output where one is found for
    the model's final estimator; the graph unchanged otherwise."""
    from onnx import ModelProto, TensorProto, helper

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    kinds: tuple[str, ...] = ()
    if is_tree_model(final):
        kinds = TREE_NODES
    elif hasattr(final, "coef_"):
        kinds = LINEAR_NODES
    constants = {tensor.name for tensor in graph.graph.initializer}
    found = [
        node.input[0]
        for node in graph.graph.node
        if node.op_type in kinds and node.input and node.input[0] not in constants
    ]
    if not found:  # not a model explained, or a graph of another shape
        return graph
    extended = ModelProto()
    extended.CopyFrom(graph)
    extended.graph.node.append(
        helper.make_node("Cast", [found[-1]], [ESTIMATOR_INPUT], to=TensorProto.DOUBLE)
    )
    extended.graph.output.append(
        helper.make_tensor_value_info(ESTIMATOR_INPUT, TensorProto.DOUBLE, [None, None])
    )
    return extended
