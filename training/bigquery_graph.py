"""The BigQuery ML form of an exported graph: what ONNX Runtime 1.12 (BigQuery's) can load.

BigQuery ML imports an ONNX model whose IR version is at most 8, default opset at most 17 and
ai.onnx.ml opset at most 3, whose inputs are tensors matched to table columns by name and whose
outputs are tensors, each becoming a column of its own name. `bigquery_form` turns a graph built
at opset 17 into that form:

- one [rows, 1] input per feature, named by the remote function's rule for SQL names
  (deploying/remote_function.py `sql_names`); a graph that takes one matrix gets a Concat of
  those inputs in front;
- outputs `predicted_label` and `probabilities` for a classifier, `predicted_value` for a
  regressor, one value per row for labels and values;
- ai.onnx.ml opset 5 `TreeEnsemble` (float64 splits, leaves and sums) lowered to opset 3.
  TreeEnsembleRegressor v3 compares in float64 when its splits are a double tensor, but its
  output is float32 (ONNX Runtime 1.12.1 refuses a double output: "Type (tensor(double)) of
  output arg (Y) of node () does not match expected type (tensor(float))"), so float64 leaf
  values cannot come out of it. Each tree is made to answer the number of the leaf it reaches
  instead (an integer, exact in float32 below 2**24), and the float64 leaf values are looked up
  by that number (Gather) and summed per target (ReduceSum) outside it. A category-set split
  (HistGradientBoosting's categorical features) becomes a chain of BRANCH_EQ tests.
- Trees that compare float32 inputs (scikit-learn's CART family: Cast(float) then Cast(double)
  in front) compare the float64 input with moved splits instead. ONNX Runtime 1.12.1 removes
  that pair of Casts whatever the optimisation level (its RemoveDuplicateCastTransformer; a
  RandomForest's answers then differ by up to 3.2 on the diabetes data), so the rounding is
  folded into each split: float32(x) <= s holds exactly when x <= `float32_split(s)`.
- Reduce* nodes other than ReduceSum written with their axes as an input (opset 18's form,
  e.g. the boosters' softmax) take them as an attribute, as opset 17 has it.
- Any other Cast(float) then Cast(double) (the boosters' float32 softmax) gets an Add(-0.0)
  between the two, which keeps the rounding and is not a pair 1.12.1 removes.
- IsNaN, which ONNX Runtime 1.12.1 does not implement for float64 at opset 13 ("Could not find
  an implementation for IsNaN(13)"), as Not(Equal(x, x)): only NaN differs from itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploying.remote_function import sql_names
from serving.schema import Feature

IR_VERSION = 8
OPSET = 17
ML_OPSET = 3
ML_DOMAIN = "ai.onnx.ml"
LABEL = "predicted_label"
PROBABILITIES = "probabilities"
VALUE = "predicted_value"
BRANCH_LEQ = 0  # TreeEnsemble's nodes_modes
BRANCH_MEMBER = 6
# The opset-5 comparisons and their names in TreeEnsembleRegressor v3.
V3_MODES = {0: "BRANCH_LEQ", 1: "BRANCH_LT", 2: "BRANCH_GTE", 3: "BRANCH_GT", 4: "BRANCH_EQ"}
V3_MODES |= {5: "BRANCH_NEQ"}
MAX_LEAVES = 2**24  # leaf numbers stay exact in TreeEnsembleRegressor's float32 output
# Each feature type's ONNX tensor type and BigQuery column type.
INPUT_TYPES = {"tensor(double)": "FLOAT64", "tensor(float)": "FLOAT64", "tensor(int64)": "INT64"}
INPUT_TYPES |= {"tensor(int32)": "INT64", "tensor(string)": "STRING", "tensor(bool)": "BOOL"}


class NotConvertible(Exception):
    """The graph has no BigQuery ML form; the message says which part and why."""


@dataclass(frozen=True)
class Column:
    """One input of the BigQuery form: the feature it takes, its name and BigQuery type."""

    feature: str
    input: str
    tensor: str  # the graph input's type, e.g. tensor(double)
    sql_type: str
    nullable: bool
    null_flag: str | None = None  # text that may be missing: the BOOL input saying it is


def bigquery_form(graph: Any, features: Sequence[Feature], classifier: bool) -> list[Column]:
    """Rewrite `graph` (a ModelProto at opset 17, changed in place); the input columns."""
    from onnx import checker

    _lower_tree_ensembles(graph)
    _lower_isnan(graph)
    _lower_reduce_axes(graph)
    _keep_float32_rounding(graph)
    columns = _name_inputs(graph, features)
    _name_outputs(graph, classifier)
    _set_versions(graph)
    try:
        checker.check_model(graph, full_check=True)
    except Exception as exc:
        raise NotConvertible(f"not a valid opset-{OPSET} graph: {_first_line(exc)}") from None
    return columns


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _name_inputs(graph: Any, features: Sequence[Feature]) -> list[Column]:
    """One [rows, 1] input per feature, under its SQL name, in the features' order."""
    from onnx import TensorProto, helper

    names = [f.name for f in features]
    safe = sql_names(names)
    inputs = list(graph.graph.input)
    if len(inputs) == 1 and inputs[0].name not in names:
        matrix = inputs[0]
        if matrix.type.tensor_type.elem_type != TensorProto.DOUBLE:
            raise NotConvertible("the graph's one input is not float64")
        del graph.graph.input[:]
        for name in safe:
            graph.graph.input.append(
                helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None, 1])
            )
        concat = helper.make_node("Concat", safe, [matrix.name], axis=1, name="bigquery_columns")
        graph.graph.node.insert(0, concat)
    else:
        by_name = {i.name: i for i in inputs}
        missing = [n for n in names if n not in by_name]
        if missing or len(inputs) != len(names):
            raise NotConvertible(f"the graph's inputs are not one per feature ({missing[:1]})")
        renamed = dict(zip(names, safe, strict=True))
        _rename(graph, renamed)
        del graph.graph.input[:]
        graph.graph.input.extend(by_name[n] for n in names)
    columns = []
    for feature, graph_input in zip(features, graph.graph.input, strict=True):
        kind = _type_name(graph_input)
        if kind not in INPUT_TYPES:
            raise NotConvertible(f"input {feature.name!r} is a {kind}, which BigQuery cannot feed")
        sql_type = INPUT_TYPES[kind]
        columns.append(Column(feature.name, graph_input.name, kind, sql_type, feature.nullable))
    return _flag_missing_text(graph, columns)


def _flag_missing_text(graph: Any, columns: list[Column]) -> list[Column]:
    """Give each text input that may be missing a BOOL input `<name>_is_null`.

    The function feeds a missing text cell as MISSING_TEXT, which starts with a NUL character
    that a SQL query would have to spell with an escape; the query passes `col IS NULL`
    instead, and Where(flag, MISSING_TEXT, text) puts the marker back in the graph.
    """
    from onnx import TensorProto, helper, numpy_helper

    from serving.runtimes.onnx_runtime import MISSING_TEXT

    text = [c for c in columns if c.sql_type == "STRING" and c.nullable]
    if not text:
        return columns
    taken = [c.input for c in columns]
    flags = sql_names([*taken, *(f"{c.input} is null" for c in text)])[len(taken) :]
    marker = "bigquery_missing_text"
    graph.graph.initializer.append(
        numpy_helper.from_array(np.array(MISSING_TEXT, dtype=object), marker)
    )
    flagged = dict(zip((c.input for c in text), flags, strict=True))
    filled = {name: f"bigquery_{name}_filled" for name in flagged}
    for node in _all_nodes(graph.graph):
        node.input[:] = [filled.get(n, n) for n in node.input]
    for name, flag in flagged.items():
        graph.graph.input.append(helper.make_tensor_value_info(flag, TensorProto.BOOL, [None, 1]))
        where = helper.make_node("Where", [flag, marker, name], [filled[name]])
        graph.graph.node.insert(0, where)
    return [
        Column(c.feature, c.input, c.tensor, c.sql_type, c.nullable, flagged.get(c.input))
        for c in columns
    ]


def _type_name(value: Any) -> str:
    from onnx import helper

    element = value.type.tensor_type.elem_type
    return f"tensor({helper.tensor_dtype_to_string(element).removeprefix('TensorProto.').lower()})"


def _rename(graph: Any, renamed: dict[str, str]) -> None:
    """Rename values wherever the graph names them, inside subgraphs (If, Loop) too."""
    for value in [*graph.graph.input, *graph.graph.output]:
        value.name = renamed.get(value.name, value.name)
    for node in _all_nodes(graph.graph):
        node.input[:] = [renamed.get(n, n) for n in node.input]
        node.output[:] = [renamed.get(n, n) for n in node.output]


def _all_nodes(graph: Any) -> list[Any]:
    """Every node of a GraphProto, those of its subgraphs included."""
    found = []
    for node in graph.node:
        found.append(node)
        for attribute in node.attribute:
            subgraphs = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for subgraph in subgraphs:
                found.extend(_all_nodes(subgraph))
    return found


def _name_outputs(graph: Any, classifier: bool) -> None:
    """The label (or value) as one value per row, and a classifier's probabilities."""
    from onnx import helper, numpy_helper

    # Values already named like an output of this form are renamed out of the way first.
    _rename(graph, {name: f"bigquery_{name}_inner" for name in (LABEL, PROBABILITIES, VALUE)})
    outputs = list(graph.graph.output)
    wanted = [LABEL, PROBABILITIES] if classifier else [VALUE]
    if classifier and len(outputs) < 2:
        wanted = [LABEL]  # a classifier without probabilities answers labels only
    del graph.graph.output[:]
    flat = numpy_helper.from_array(np.array([-1], dtype=np.int64), "bigquery_one_per_row")
    graph.graph.initializer.append(flat)
    for name, source in zip(wanted, outputs, strict=False):
        elem = source.type.tensor_type.elem_type
        if name == PROBABILITIES:
            graph.graph.node.append(helper.make_node("Identity", [source.name], [name]))
            graph.graph.output.append(helper.make_tensor_value_info(name, elem, [None, None]))
        else:
            graph.graph.node.append(helper.make_node("Reshape", [source.name, flat.name], [name]))
            graph.graph.output.append(helper.make_tensor_value_info(name, elem, [None]))


def _set_versions(graph: Any) -> None:
    from onnx import defs, helper

    ml_ops = {node.op_type for node in graph.graph.node if node.domain == ML_DOMAIN}
    for op in sorted(ml_ops):
        try:
            defs.get_schema(op, ML_OPSET, ML_DOMAIN)
        except Exception:
            raise NotConvertible(f"{ML_DOMAIN}.{op} does not exist at opset {ML_OPSET}") from None
    imports = [helper.make_opsetid("", OPSET)]
    if ml_ops:
        imports.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
    for opset in graph.opset_import:
        if opset.domain not in ("", ML_DOMAIN):
            raise NotConvertible(f"the graph uses the operator domain {opset.domain!r}")
        if opset.domain == "" and opset.version > OPSET:
            raise NotConvertible(f"the graph was built at opset {opset.version}, not {OPSET}")
    del graph.opset_import[:]
    graph.opset_import.extend(imports)
    graph.ir_version = IR_VERSION


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
            _cast_to(node) == TensorProto.DOUBLE
            and source is not None
            and _cast_to(source) == TensorProto.FLOAT
        ):
            kept = f"bigquery_{node.input[0]}_kept"
            nodes.append(helper.make_node("Add", [node.input[0], zero.name], [kept]))
            node.input[0] = kept
        nodes.append(node)
    if len(nodes) > len(graph.graph.node):
        graph.graph.initializer.append(zero)
        del graph.graph.node[:]
        graph.graph.node.extend(nodes)


def _cast_to(node: Any) -> int | None:
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


def _lower_tree_ensembles(graph: Any) -> None:
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
    if outer is None or _cast_to(outer) != TensorProto.DOUBLE:
        return None
    inner = producers.get(outer.input[0])
    if inner is None or _cast_to(inner) != TensorProto.FLOAT:
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
