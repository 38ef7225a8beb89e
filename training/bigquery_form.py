"""The BigQuery ML form of an exported graph: what BigQuery ML imports and ONNX Runtime 1.12 runs.

BigQuery ML imports an ONNX model whose IR version is at most 8, default opset at most 17 and
ai.onnx.ml opset at most 3, whose inputs are tensors matched to table columns by name and whose
outputs are tensors, each becoming a column of its own name. `bigquery_form` turns a graph built
at opset 17 into that form:

- one [rows, 1] input per feature, named by the remote function's rule for SQL names
  (deploying/remote_function.py `sql_names`), plus a BOOL `<name>_is_null` for text that may be
  missing; a graph that takes one matrix gets a Concat of those inputs in front;
- outputs `predicted_label` and `probabilities` for a classifier, `predicted_value` for a
  regressor, one value per row for labels and values;
- the trees (training/bigquery_trees.py) and other operators (training/bigquery_graph.py)
  rewritten into what 1.12.1 runs with the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploying.remote_function import sql_names
from serving.schema import Feature
from training.bigquery_graph import (
    IR_VERSION,
    ML_DOMAIN,
    ML_OPSET,
    OPSET,
    NotConvertible,
    all_nodes,
    lower_operators,
    rename,
)
from training.bigquery_trees import lower_tree_ensembles

LABEL = "predicted_label"
PROBABILITIES = "probabilities"
VALUE = "predicted_value"
# Each feature type's ONNX tensor type and BigQuery column type.
INPUT_TYPES = {"tensor(double)": "FLOAT64", "tensor(float)": "FLOAT64", "tensor(int64)": "INT64"}
INPUT_TYPES |= {"tensor(int32)": "INT64", "tensor(string)": "STRING", "tensor(bool)": "BOOL"}


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

    lower_tree_ensembles(graph)
    lower_operators(graph)
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
        rename(graph, renamed)
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
    for node in all_nodes(graph.graph):
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


def _name_outputs(graph: Any, classifier: bool) -> None:
    """The label (or value) as one value per row, and a classifier's probabilities."""
    from onnx import helper, numpy_helper

    # Values already named like an output of this form are renamed out of the way first.
    rename(graph, {name: f"bigquery_{name}_inner" for name in (LABEL, PROBABILITIES, VALUE)})
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
