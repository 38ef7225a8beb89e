"""ONNX Runtime 1.12 (BigQuery ML's) and the graphs this project exports: what it cannot run as
written, rewritten into what it runs with the same answers. Shared by the BigQuery form
(training/bigquery_form.py) and its tree rewrite (training/bigquery_trees.py).

- Reduce* nodes other than ReduceSum written with their axes as an input (opset 18's form,
  e.g. the boosters' softmax) take them as an attribute, as opset 17 has it.
- A Cast(float) then Cast(double) (the boosters' float32 softmax summed in float64) gets an
  Add(-0.0) between the two: ONNX Runtime 1.12.1 removes such a pair of Casts whatever the
  optimisation level (its RemoveDuplicateCastTransformer), and with it the rounding to float32.
- IsNaN, which ONNX Runtime 1.12.1 does not implement for float64 at opset 13 ("Could not find
  an implementation for IsNaN(13)"), as Not(Equal(x, x)): only NaN differs from itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IR_VERSION = 8
OPSET = 17
ML_OPSET = 3
ML_DOMAIN = "ai.onnx.ml"


class NotConvertible(Exception):
    """The graph has no BigQuery ML form; the message says which part and why."""


def lower_operators(graph: Any) -> None:
    """Every rewrite of this module, on `graph` (a ModelProto, changed in place)."""
    _lower_isnan(graph)
    _lower_reduce_axes(graph)
    _keep_float32_rounding(graph)


def rename(graph: Any, renamed: dict[str, str]) -> None:
    """Rename values wherever the graph names them, inside subgraphs (If, Loop) too."""
    for value in [*graph.graph.input, *graph.graph.output]:
        value.name = renamed.get(value.name, value.name)
    for node in all_nodes(graph.graph):
        node.input[:] = [renamed.get(n, n) for n in node.input]
        node.output[:] = [renamed.get(n, n) for n in node.output]


def all_nodes(graph: Any) -> list[Any]:
    """Every node of a GraphProto, those of its subgraphs included."""
    found = []
    for node in graph.node:
        found.append(node)
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for subgraph in subgraphs:
                found.extend(all_nodes(subgraph))
    return found


AXES_ATTRIBUTE_BEFORE_18 = {
    "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
}  # fmt: skip


def _keep_float32_rounding(graph: Any) -> None:
    """Cast(float) then Cast(double) with Add(-0.0) between: the same numbers, but not a pair
    of Casts that ONNX Runtime 1.12.1 removes (and with it the rounding to float32)."""
    from onnx import TensorProto, helper, numpy_helper

    producers = {output: node for node in graph.graph.node for output in node.output}
    zero = numpy_helper.from_array(np.array(-0.0, dtype=np.float32), "bigquery_negative_zero")
    nodes = []
    for node in graph.graph.node:
        source = producers.get(node.input[0]) if node.input else None
        if (
            cast_to(node) == TensorProto.DOUBLE
            and source is not None
            and cast_to(source) == TensorProto.FLOAT
        ):
            kept = f"bigquery_{node.input[0]}_kept"
            nodes.append(helper.make_node("Add", [node.input[0], zero.name], [kept]))
            node.input[0] = kept
        nodes.append(node)
    if len(nodes) > len(graph.graph.node):
        graph.graph.initializer.append(zero)
        del graph.graph.node[:]
        graph.graph.node.extend(nodes)


def cast_to(node: Any) -> int | None:
    """The `to` type of a Cast node, else None."""
    from onnx import helper

    if node.op_type != "Cast" or node.domain not in ("", "ai.onnx"):
        return None
    return next(
        (int(helper.get_attribute_value(a)) for a in node.attribute if a.name == "to"), None
    )


def _lower_reduce_axes(graph: Any) -> None:
    """Reduce*(x, axes) with constant axes as Reduce*(x) with the axes attribute."""
    from onnx import helper, numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    for node in graph.graph.node:
        if node.op_type not in AXES_ATTRIBUTE_BEFORE_18 or len(node.input) < 2:
            continue
        if node.input[1] not in constants:
            raise NotConvertible(f"{node.op_type} with axes computed in the graph")
        axes = [int(a) for a in np.ravel(constants[node.input[1]])]
        del node.input[1:]
        node.attribute.append(helper.make_attribute("axes", axes))


def _lower_isnan(graph: Any) -> None:
    """IsNaN(x) as Not(Equal(x, x))."""
    from onnx import helper

    nodes = list(graph.graph.node)
    del graph.graph.node[:]
    for index, node in enumerate(nodes):
        if node.op_type != "IsNaN" or node.domain not in ("", "ai.onnx"):
            graph.graph.node.append(node)
            continue
        equal = f"bigquery_self_equal_{index}"
        source = node.input[0]
        graph.graph.node.append(helper.make_node("Equal", [source, source], [equal]))
        graph.graph.node.append(helper.make_node("Not", [equal], [node.output[0]]))
