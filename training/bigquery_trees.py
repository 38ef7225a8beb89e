"""ai.onnx.ml opset 5 `TreeEnsemble` (float64 splits, leaves and sums) as ONNX Runtime 1.12
runs trees: ai.onnx.ml opset 3, where TreeEnsembleRegressor v3 compares in float64 when its
splits are a double tensor but answers float32 only (1.12.1 refuses a double output: "Type
(tensor(double)) of output arg (Y) of node () does not match expected type (tensor(float))").

- Each tree answers the number of the leaf it reaches (an integer, exact in float32 below
  2**24); the float64 leaf values are looked up by that number (Gather) and summed per target
  (ReduceSum) outside it. float32 leaves (XGBoost's) are added tree after tree in float32.
- A category-set split (HistGradientBoosting's categorical features) becomes a chain of
  BRANCH_EQ tests that lead to the same child.
- Trees that compare float32 inputs (scikit-learn's CART family: Cast(float) then Cast(double)
  in front) compare the float64 input with moved splits instead, since 1.12.1 removes that pair
  of Casts (a RandomForest's answers then differ by up to 3.2 on the diabetes data): the
  rounding is folded into each split, float32(x) <= s holding exactly when x <= `float32_split(s)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.bigquery_graph import ML_DOMAIN, NotConvertible, cast_to

BRANCH_LEQ = 0  # TreeEnsemble's nodes_modes
BRANCH_MEMBER = 6
# The opset-5 comparisons and their names in TreeEnsembleRegressor v3.
V3_MODES = {0: "BRANCH_LEQ", 1: "BRANCH_LT", 2: "BRANCH_GTE", 3: "BRANCH_GT", 4: "BRANCH_EQ"}
V3_MODES |= {5: "BRANCH_NEQ"}
MAX_LEAVES = 2**24  # leaf numbers stay exact in TreeEnsembleRegressor's float32 output


def lower_tree_ensembles(graph: Any) -> None:
    """Every opset-5 TreeEnsemble as a leaf-number TreeEnsembleRegressor v3 and float64 sums."""
    nodes = list(graph.graph.node)
    producers = {output: node for node in nodes for output in node.output}
    del graph.graph.node[:]
    for node in nodes:
        if node.domain == ML_DOMAIN and node.op_type == "TreeEnsemble":
            graph.graph.node.extend(_lowered(graph, node, _unrounded(node.input[0], producers)))
        else:
            graph.graph.node.append(node)


def _unrounded(name: str, producers: dict[str, Any]) -> str | None:
    """The value before Cast(float) then Cast(double) when `name` is made so, else None."""
    from onnx import TensorProto

    outer = producers.get(name)
    if outer is None or cast_to(outer) != TensorProto.DOUBLE:
        return None
    inner = producers.get(outer.input[0])
    if inner is None or cast_to(inner) != TensorProto.FLOAT:
        return None
    return str(inner.input[0])


def float32_split(split: np.ndarray) -> np.ndarray:
    """Per float64 split s, the float64 m with (float32(x) <= s) == (x <= m) for every float64 x.

    float32(x) <= s means float32(x) <= f, the largest float32 not above s; x rounds to f or
    below exactly when it is below the midpoint of f and the next float32 up (at the midpoint
    itself it rounds to whichever of the two is even). The midpoint has 25 significant bits,
    so it is exact in float64.
    """
    split = np.asarray(split, dtype=np.float64)
    if not np.all(np.abs(split) <= np.finfo(np.float32).max):
        raise NotConvertible("a tree split outside float32's range")
    low = split.astype(np.float32)
    low = np.where(low.astype(np.float64) > split, np.nextafter(low, np.float32(-np.inf)), low)
    with np.errstate(over="ignore"):
        high = np.nextafter(low, np.float32(np.inf)).astype(np.float64)
    high = np.where(np.isinf(high), 2.0**128, high)  # past the largest float32, x rounds to inf
    middle = (low.astype(np.float64) + high) / 2
    even = (low.view(np.uint32) & 1) == 0
    return np.where(even, middle, np.nextafter(middle, -np.inf))


@dataclass
class _Trees:
    """An opset-5 TreeEnsemble's attributes, by name."""

    attributes: dict[str, Any]

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.attributes[name])


def _attributes(node: Any) -> _Trees:
    from onnx import helper, numpy_helper

    found = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        found[attribute.name] = numpy_helper.to_array(value) if hasattr(value, "dims") else value
    return _Trees(found)


def _lowered(graph: Any, node: Any, unrounded: str | None) -> list[Any]:
    """The nodes that compute what `node` computes, in ai.onnx.ml opset 3 and opset 17;
    `unrounded` is its input before a float32 round trip, which the splits then take in."""
    from onnx import TensorProto, helper, numpy_helper

    trees = _attributes(node)
    if trees.attributes.get("aggregate_function", 1) != 1 or trees.attributes.get(
        "post_transform", 0
    ):
        raise NotConvertible("a TreeEnsemble that does not simply sum its trees")
    if np.any(~np.isin(trees["nodes_modes"], [*V3_MODES, BRANCH_MEMBER])):
        raise NotConvertible("trees with a split TreeEnsembleRegressor v3 does not have")
    weights = trees["leaf_weights"]
    weights = weights if weights.dtype == np.float32 else weights.astype(np.float64)
    if weights.size >= MAX_LEAVES:
        raise NotConvertible(f"more than {MAX_LEAVES} leaves: their numbers would not be exact")
    if unrounded is not None:
        if np.any(trees["nodes_modes"] != BRANCH_LEQ):
            raise NotConvertible("splits other than <= on float32-rounded inputs")
        trees.attributes["nodes_splits"] = float32_split(trees["nodes_splits"])
    v3 = _v3_attributes(trees)
    prefix = node.name or node.output[0]
    numbers, indices, values = (f"{prefix}_{s}" for s in ("leaf_numbers", "leaf_indices", "vals"))
    table = f"{prefix}_leaf_values"
    graph.graph.initializer.append(numpy_helper.from_array(weights, table))
    lowered = [
        helper.make_node(
            "TreeEnsembleRegressor", [unrounded or node.input[0]], [numbers], domain=ML_DOMAIN,
            name=f"{prefix}_v3", **v3,
        ),
        helper.make_node("Cast", [numbers], [indices], to=TensorProto.INT64),
        helper.make_node("Gather", [table, indices], [values]),
    ]  # fmt: skip
    targets = trees["leaf_targetids"][_root_leaves(trees)]
    n_targets = int(trees.attributes["n_targets"])
    sums = []
    for target in range(n_targets):
        total = node.output[0] if n_targets == 1 else f"{prefix}_sum_{target}"
        chosen = np.flatnonzero(targets == target)
        lowered += _sum_trees(graph, f"{prefix}_{target}", values, chosen, weights.dtype, total)
        sums.append(total)
    if n_targets > 1:
        lowered.append(helper.make_node("Concat", sums, [node.output[0]], axis=1))
    return lowered


def _sum_trees(
    graph: Any, prefix: str, values: str, chosen: np.ndarray, dtype: Any, total: str
) -> list[Any]:
    """The sum of the `chosen` columns of `values` (one per tree), as [rows, 1].

    float64 leaves are summed by ReduceSum (its order moves the sum by an ulp or so, well
    within the gate's tolerance). float32 leaves (XGBoost's) are added one tree after the
    other, as the library and the opset-5 graph add them: in float32 the order changes the
    answer by far more than the tolerance.
    """
    from onnx import helper, numpy_helper

    picked = numpy_helper.from_array(chosen.astype(np.int64), f"{prefix}_trees")
    axis = numpy_helper.from_array(np.array([1], dtype=np.int64), f"{prefix}_axis")
    graph.graph.initializer.extend([picked, axis])
    columns = f"{prefix}_columns"
    nodes = [helper.make_node("Gather", [values, picked.name], [columns], axis=1)]
    if dtype != np.float32:
        nodes.append(helper.make_node("ReduceSum", [columns, axis.name], [total], keepdims=1))
        return nodes
    sizes = numpy_helper.from_array(np.ones(len(chosen), dtype=np.int64), f"{prefix}_sizes")
    graph.graph.initializer.append(sizes)
    parts = [f"{prefix}_tree_{i}" for i in range(len(chosen))]
    nodes.append(helper.make_node("Split", [columns, sizes.name], parts, axis=1))
    running = parts[0]
    for index, part in enumerate(parts[1:], start=1):
        added = total if index == len(parts) - 1 else f"{prefix}_upto_{index}"
        nodes.append(helper.make_node("Add", [running, part], [added]))
        running = added
    if len(parts) == 1:
        nodes.append(helper.make_node("Identity", [running], [total]))
    return nodes


def _root_leaves(trees: _Trees) -> np.ndarray:
    """Per tree, one leaf it can reach (all of a tree's leaves add to the same target)."""
    leaves = []
    for root in trees["tree_roots"]:
        node = int(root)
        while True:
            if trees["nodes_trueleafs"][node]:
                leaves.append(int(trees["nodes_truenodeids"][node]))
                break
            node = int(trees["nodes_truenodeids"][node])
    return np.array(leaves, dtype=np.int64)


def _v3_attributes(trees: _Trees) -> dict[str, Any]:
    """TreeEnsembleRegressor v3 whose target t is tree t's leaf number (its index in the
    opset-5 leaf arrays), splits as float64 (float32 where the opset-5 splits are), NaN routed
    as the opset-5 node routes it."""
    from onnx import numpy_helper

    columns: dict[str, list[Any]] = {
        key: []
        for key in (
            "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "values",
            "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
            "target_treeids", "target_nodeids", "target_ids", "target_weights",
        )
    }  # fmt: skip
    members = member_sets(trees)
    for tree, root in enumerate(trees["tree_roots"]):
        _add_tree(columns, trees, tree, int(root), members)
    attributes = {
        "n_targets": len(trees["tree_roots"]),
        "aggregate_function": "SUM",
        "post_transform": "NONE",
        **{key: columns[key] for key in columns if key.startswith(("nodes_", "target_"))},
    }
    splits, weights = columns.pop("values"), attributes.pop("target_weights")
    if trees["nodes_splits"].dtype == np.float32:
        # float32 splits (XGBoost's) on a float32 input: compared in float32, as written.
        attributes["nodes_values"] = splits
        attributes["target_weights"] = weights
        return attributes
    attributes["nodes_values_as_tensor"] = numpy_helper.from_array(np.array(splits, np.float64))
    attributes["target_weights_as_tensor"] = numpy_helper.from_array(np.array(weights, np.float64))
    return attributes


def _add_tree(
    columns: dict[str, list[Any]], trees: _Trees, tree: int, root: int, members: dict[int, Any]
) -> None:
    """One tree's nodes, numbered from 0 depth first; a leaf's weight is its leaf number.

    A category-set split becomes a chain of BRANCH_EQ nodes, one per member, that all lead to
    the same true child (ONNX Runtime 1.12.1 follows a node reached from several parents); NaN
    equals no member, so it takes the false child, as the opset-5 node sends it.
    """
    true_ids, false_ids = trees["nodes_truenodeids"], trees["nodes_falsenodeids"]
    true_leaf, false_leaf = trees["nodes_trueleafs"], trees["nodes_falseleafs"]
    if true_leaf[root] and false_leaf[root] and true_ids[root] == false_ids[root]:
        _add_leaf(columns, tree, 0, int(true_ids[root]))  # a tree of one leaf
        return
    counter = [0]

    def number() -> int:
        counter[0] += 1
        return counter[0] - 1

    def branch(index: int, mode: str, value: float, missing_true: int) -> tuple[int, int]:
        """A node with its children left open: its number and its position in the columns."""
        at, own = len(columns["nodes_nodeids"]), number()
        for key, item in (
            ("nodes_treeids", tree), ("nodes_nodeids", own),
            ("nodes_featureids", int(trees["nodes_featureids"][index])), ("nodes_modes", mode),
            ("values", value), ("nodes_truenodeids", -1), ("nodes_falsenodeids", -1),
            ("nodes_missing_value_tracks_true", missing_true),
        ):  # fmt: skip
            columns[key].append(item)
        return own, at

    def visit(index: int, is_leaf: bool) -> int:
        if is_leaf:
            own = number()
            _add_leaf(columns, tree, own, index)
            return own
        if index in members:
            values = [float(v) for v in members[index]] or [-np.inf]
            mode = "BRANCH_EQ" if members[index].size else "BRANCH_LT"  # an empty set: never
            chain = [branch(index, mode, value, 0) for value in values]
        else:
            split = float(trees["nodes_splits"][index])
            missing = int(trees["nodes_missing_value_tracks_true"][index])
            mode = V3_MODES[int(trees["nodes_modes"][index])]
            chain = [branch(index, mode, split, missing)]
        true = visit(int(true_ids[index]), bool(true_leaf[index]))
        false = visit(int(false_ids[index]), bool(false_leaf[index]))
        for link, (_, at) in enumerate(chain):
            columns["nodes_truenodeids"][at] = true
            following = chain[link + 1][0] if link + 1 < len(chain) else false
            columns["nodes_falsenodeids"][at] = following
        return chain[0][0]

    visit(root, False)


def member_sets(trees: _Trees) -> dict[int, np.ndarray]:
    """Per category-set node, its members: opset 5 lists them node by node, each set ended by
    a NaN, in `membership_values`."""
    modes = trees["nodes_modes"]
    if not np.any(modes == BRANCH_MEMBER):
        return {}
    values = trees["membership_values"].astype(np.float64)
    ends = np.flatnonzero(np.isnan(values))
    starts = np.concatenate([[0], ends[:-1] + 1])
    nodes = np.flatnonzero(modes == BRANCH_MEMBER)
    if len(nodes) != len(ends):
        raise NotConvertible("the trees' category sets do not match their split nodes")
    return {
        int(node): values[start:end] for node, start, end in zip(nodes, starts, ends, strict=True)
    }


def _add_leaf(columns: dict[str, list[Any]], tree: int, number: int, leaf: int) -> None:
    for key, value in (
        ("nodes_treeids", tree), ("nodes_nodeids", number), ("nodes_featureids", 0),
        ("nodes_modes", "LEAF"), ("values", 0.0), ("nodes_truenodeids", 0),
        ("nodes_falsenodeids", 0), ("nodes_missing_value_tracks_true", 0),
        ("target_treeids", tree), ("target_nodeids", number), ("target_ids", tree),
        ("target_weights", float(leaf)),
    ):  # fmt: skip
        columns[key].append(value)
