"""train.py's ONNX parity gate fed real mismatches: a graph that answers unlike the model it ships
with must be refused, whether its labels differ or its probabilities drift by 1e-6.

The mismatches are real: the graph is converted from one fitted model and compared with a copy
whose classes are swapped (same probabilities, other labels) or whose weights moved a little.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression

from serving.batch import Table
from serving.manifest import Manifest
from serving.schema import Feature
from training.export import (
    PARITY_TOLERANCE,
    add_decision_output,
    check_parity,
    distance,
    parity_holds,
    sample_table,
    serving_manifest,
)

pytestmark = pytest.mark.in_process

# The tolerance README.md promises, written here rather than read from the code under test.
PROMISED_TOLERANCE = 1e-9
FEATURES = [Feature(f"x{i}") for i in range(4)]


def fitted(kind: str) -> tuple[Any, Manifest, Table, bytes]:
    """A small fitted model, its serving manifest, the sample rows and its ONNX graph."""
    from skl2onnx import to_onnx

    data, labels = make_classification(n_samples=80, n_features=4, random_state=0)
    if kind == "classifier":
        model: Any = LogisticRegression().fit(data, labels)
        manifest = serving_manifest(FEATURES, "classification", [0, 1], on_dataframe=False)
        options: dict[Any, Any] = {id(model): {"zipmap": False}}
    else:
        model = LinearRegression().fit(data, data @ np.arange(1.0, 5.0))
        manifest = serving_manifest(FEATURES, "regression", None, on_dataframe=False)
        options = {}
    frame = pd.DataFrame(data, columns=[f.name for f in FEATURES])
    table = sample_table(frame, manifest)
    graph = to_onnx(model, data[:1], options=options, target_opset={"": 19})
    return model, manifest, table, graph.SerializeToString()


def test_the_gate_keeps_the_promised_tolerance() -> None:
    assert PARITY_TOLERANCE == PROMISED_TOLERANCE


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_faithful_graph_passes(kind: str) -> None:
    model, manifest, table, onnx_bytes = fitted(kind)
    parity = check_parity(model, onnx_bytes, manifest, table)
    assert parity["labels_equal"] is True
    assert 0 <= parity["max_abs_diff"] <= PROMISED_TOLERANCE
    assert parity["rows"] == 80
    assert parity["tolerance"] == PROMISED_TOLERANCE
    assert parity_holds(parity)


def test_swapped_labels_are_refused_though_probabilities_agree() -> None:
    model, manifest, table, onnx_bytes = fitted("classifier")
    swapped = copy.deepcopy(model)
    swapped.classes_ = model.classes_[::-1].copy()
    parity = check_parity(swapped, onnx_bytes, manifest, table)
    assert parity["labels_equal"] is False
    assert parity["max_abs_diff"] <= PROMISED_TOLERANCE
    assert not parity_holds(parity)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_drift_of_one_millionth_is_refused(kind: str) -> None:
    model, manifest, table, onnx_bytes = fitted(kind)
    moved = copy.deepcopy(model)
    moved.intercept_ = model.intercept_ + 1e-5
    parity = check_parity(moved, onnx_bytes, manifest, table)
    assert parity["labels_equal"] is True
    assert 1e-7 < parity["max_abs_diff"] < 1e-4
    assert not parity_holds(parity)


@pytest.mark.parametrize(
    ("labels_equal", "difference", "holds"),
    [
        (True, 0.0, True),
        (True, PROMISED_TOLERANCE, True),
        (True, PROMISED_TOLERANCE * 1.01, False),
        (True, 1e-6, False),
        (True, float("inf"), False),
        (False, 0.0, False),
    ],
)
def test_the_gate_at_its_boundary(labels_equal: bool, difference: float, holds: bool) -> None:
    parity = {"labels_equal": labels_equal, "max_abs_diff": difference}
    assert parity_holds(parity) is holds


def test_decision_values_are_compared_when_the_graph_gives_them() -> None:
    model, manifest, table, onnx_bytes = fitted("classifier")
    from onnx import load_model_from_string

    with_decision = add_decision_output(load_model_from_string(onnx_bytes), model)
    assert with_decision is not None
    faithful = check_parity(model, with_decision, manifest, table)
    assert 0 <= faithful["decision_function_max_abs_diff"] <= PROMISED_TOLERANCE
    moved = copy.deepcopy(model)
    moved.intercept_ = model.intercept_ + 1e-5
    drifted = check_parity(moved, with_decision, manifest, table)
    assert 1e-6 < drifted["decision_function_max_abs_diff"] < 1e-4


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.5], 0.5),
        ([[1.0, -3.0]], [[1.0, -1.0]], 2.0),
        ([1.0, 2.0], [1.0, 2.0, 3.0], float("inf")),
        ([], [], 0.0),
    ],
)
def test_distance_is_the_largest_absolute_difference(
    ours: list[Any], theirs: list[Any], expected: float
) -> None:
    assert distance(np.asarray(ours), np.asarray(theirs)) == expected


def test_an_edge_rows_distance_is_scaled_by_its_size_past_one() -> None:
    # At 1e19 a difference of 4096 (two steps of float64 there) is 4.1e-16 of the value; below
    # 1 nothing is scaled.
    assert distance(np.asarray([1e19 + 4096]), np.asarray([1e19]), scaled=True) == 4096 / 1e19
    assert distance(np.asarray([0.5]), np.asarray([0.25]), scaled=True) == 0.25
    assert distance(np.asarray([-4.0]), np.asarray([-2.0]), scaled=True) == 1.0


# --- the edge rows (issue 25): each alone, answered alike or refused by both ------------------


def integer_model(estimator: Any) -> tuple[Any, pd.DataFrame, Manifest]:
    """`estimator` after a MinMaxScaler, fitted on a DataFrame with an integer column."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.integers(18, 80, 120), "income": rng.normal(3, 1, 120)})
    model = make_pipeline(MinMaxScaler(), estimator).fit(frame, frame["income"] * 2.0)
    features = [Feature("age", "integer"), Feature("income")]
    return model, frame, serving_manifest(features, "regression", None, on_dataframe=True)


def export_quietly(model: Any, frame: pd.DataFrame, manifest: Manifest) -> tuple[Any, str]:
    """export_onnx's result and the line it printed."""
    import contextlib
    import io

    from training.export import export_onnx

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exported = export_onnx(model, frame, manifest)
    return exported, printed.getvalue()


def test_an_edge_row_answered_differently_keeps_the_model_off_onnx_and_says_which() -> None:
    from sklearn.neighbors import KNeighborsRegressor

    # At age = 2**63 - 1 every training row is equally far: the runtimes break the tie apart.
    model, frame, manifest = integer_model(KNeighborsRegressor(n_neighbors=3))
    exported, printed = export_quietly(model, frame, manifest)
    assert exported is None
    assert "answer differently when 'age' is the largest int64 (difference" in printed


def test_edge_rows_answered_alike_pass_and_are_counted() -> None:
    model, frame, manifest = integer_model(LinearRegression())
    exported, printed = export_quietly(model, frame, manifest)
    assert exported is not None, printed
    parity = exported[1]
    assert parity["edge_rows"]["tried"] == 2
    assert parity["edge_rows"]["refused_by_both"] == 0
    assert parity["edge_rows"]["max_scaled_diff"] <= PARITY_TOLERANCE
    assert parity["rows"] == len(frame) + 2
    assert parity_holds(parity)


def test_an_edge_row_both_runtimes_refuse_passes() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    # exp of the scaled 2**63 - 1 overflows in both runtimes: both refuse a request of that row.
    model, frame, manifest = integer_model(
        make_pipeline(FunctionTransformer(np.exp), LinearRegression())
    )
    exported, printed = export_quietly(model, frame, manifest)
    assert exported is not None, printed
    assert exported[1]["edge_rows"]["refused_by_both"] == 1
