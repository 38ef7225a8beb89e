"""model.bigquery.onnx: the model as BigQuery ML imports it, kept only where it answers exactly.

A second target of the ONNX export: the same conversion at opset 17, put in BigQuery ML's form
(training/bigquery_form.py), then gated under ONNX Runtime 1.12.1 (training/bigquery_gate.py).
The manifest records the outcome under "bigquery_ml": "passed", "failed" or "not built" with
the one-line reason, or "not checked" when 1.12.1's environment is not there (the packaging
goes on; `make bigquery-check` builds the environment). Its artifact carries the runtime tag
"bigquery-ml", which no runtime of the function reads: it is never served by the function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from serving.batch import Method, Table
from serving.manifest import Manifest
from training import bigquery_gate
from training.bigquery_env import ONNXRUNTIME_VERSION
from training.bigquery_form import LABEL, PROBABILITIES, VALUE, Column, bigquery_form
from training.bigquery_graph import OPSET, NotConvertible
from training.export import (
    PARITY_TOLERANCE,
    answer_or_refusal,
    build_graph,
    each_row,
    edges,
    rows_of,
    sample_table,
    unseen_categories_expected,
)

VARIANT_NAME = "model.bigquery.onnx"
RUNTIME = "bigquery-ml"
# BigQuery ML's limit for an imported ONNX model file.
MAX_BYTES = 450 * 1024 * 1024
NOT_CHECKED = (
    f"ONNX Runtime {ONNXRUNTIME_VERSION}'s environment is not built here (`make bigquery-check` "
    "builds it, with a Python 3.10): package the model again after building it"
)


def bigquery_variant(
    model: Any, frame: pd.DataFrame, manifest: Manifest
) -> tuple[bytes | None, dict[str, Any]]:
    """The variant's bytes (None unless it passed or could not be checked) and its record."""
    table = sample_table(frame, manifest)
    classifier = manifest.classes is not None
    try:
        graph = _build_graph(model, frame, manifest)
        columns = bigquery_form(graph, manifest.features, classifier)
    except NotConvertible as exc:
        return _refused("not built", str(exc))
    except Exception as exc:
        return _refused("not built", f"it does not convert at opset {OPSET} ({_first_line(exc)})")
    data = bytes(graph.SerializeToString())
    if len(data) > MAX_BYTES:
        return _refused("not built", f"{len(data)} bytes, above BigQuery ML's 450 MB")
    record: dict[str, Any] = {
        "inputs": [_input_record(c) for c in columns],
        "outputs": _outputs(graph),
    }
    _print_names(columns)
    python = bigquery_gate.environment()
    if python is None:
        print(f"BigQuery ML variant not checked: {NOT_CHECKED}")
        return data, {"status": "not checked", "reason": NOT_CHECKED, **record}
    try:
        outputs = bigquery_gate.run(data, bigquery_gate.feeds(columns, table), python)
    except bigquery_gate.GateError as exc:
        return _refused("failed", f"ONNX Runtime {ONNXRUNTIME_VERSION} refused it: {exc}")
    n_edges = len(edges(frame, manifest))
    expected, answered = _expected(model, manifest, table, n_edges)
    sample_rows = table.n_rows - n_edges
    gate = bigquery_gate.compare(outputs, expected, answered, PARITY_TOLERANCE, sample_rows)
    if not gate.pop("passed"):
        difference = "labels differ" if not gate["labels_equal"] else "values differ"
        reason = (
            f"under ONNX Runtime {ONNXRUNTIME_VERSION} its {difference} from the function's "
            f"on the sample rows (max difference {gate['max_abs_diff']:.3g}, tolerance "
            f"{PARITY_TOLERANCE:g})"
        )
        return _refused("failed", reason, gate)
    print(f"BigQuery ML variant: {VARIANT_NAME} passed the ONNX Runtime {ONNXRUNTIME_VERSION} gate")
    return data, {"status": "passed", **record, "gate": gate}


def _input_record(column: Column) -> dict[str, Any]:
    record: dict[str, Any] = {"feature": column.feature, "column": column.input}
    record |= {"type": column.sql_type, "nullable": column.nullable}
    if column.null_flag is not None:
        record["null_column"] = column.null_flag
    return record


def _refused(
    status: str, reason: str, gate: dict[str, Any] | None = None
) -> tuple[None, dict[str, Any]]:
    print(f"BigQuery ML variant {status}: {reason}")
    record: dict[str, Any] = {"status": status, "reason": reason}
    if gate is not None:
        record["gate"] = gate
    return None, record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _print_names(columns: list[Column]) -> None:
    renamed = [f"{c.feature!r} -> {c.input}" for c in columns if c.feature != c.input]
    if renamed:
        print(f"BigQuery ML column names (the SQL rule of --bigquery): {', '.join(renamed)}")


def _outputs(graph: Any) -> dict[str, str]:
    """Each output column and its BigQuery type."""
    from onnx import TensorProto

    types = {TensorProto.INT64: "INT64", TensorProto.STRING: "STRING"}
    found = {}
    for output in graph.graph.output:
        sql_type = types.get(output.type.tensor_type.elem_type, "FLOAT64")
        found[output.name] = f"ARRAY<{sql_type}>" if output.name == PROBABILITIES else sql_type
    assert LABEL in found or VALUE in found
    return found


def _expected(
    model: Any, manifest: Manifest, table: Table, n_edges: int
) -> tuple[dict[Method, np.ndarray], np.ndarray]:
    """The function's own answers (its scikit-learn runtime) on the rows it answers, and which
    rows those are: the sample rows together, then each of export's edge rows alone, as the
    parity gate of model.onnx runs them (an edge row the function refuses is left out)."""
    import sklearn

    from serving.runtimes.sklearn_runtime import SklearnRuntime

    reference = SklearnRuntime(model, (), sklearn.__version__, manifest)
    methods: tuple[Method, ...] = ("predict",)
    if manifest.classes is not None and reference.has_predict_proba:
        methods += ("predict_proba",)
    sample = rows_of(table, 0, table.n_rows - n_edges)
    with unseen_categories_expected():
        answers = [reference.run(sample, methods)]
        answered = [True] * sample.n_rows
        for rows in each_row(table, sample.n_rows):
            answer = answer_or_refusal(reference, rows, methods)
            answered.append(answer is not None)
            if answer is not None:
                answers.append(answer)
    expected = {method: np.concatenate([a[method] for a in answers]) for method in methods}
    return expected, np.array(answered)


def _build_graph(model: Any, frame: pd.DataFrame, manifest: Manifest) -> Any:
    """The export's one conversion step (training/export.py), at opset 17."""
    return build_graph(model, manifest, frame, OPSET)
