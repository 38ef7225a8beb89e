"""The function's explanations equal shap's, for every tree family and linear models.

Each model is fitted on the penguins DataFrame (text, a category column, a name with spaces,
gaps; NaN reach HistGradientBoosting, XGBoost, LightGBM and the scikit-learn trees), packaged
for real, and explained through serving/explain on the rows the scikit-learn runtime hands the
final estimator. shap, run on the same rows and summed back to the input features, must agree
within 1e-9, and base value plus contributions must equal the model's own raw output on every
row. Where the folder has model.onnx, the ONNX runtime's rows must explain the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.runtimes.onnx_runtime import load as load_onnx
from tests.support.explain_cases import (
    LINEAR_FAMILIES,
    TASKS,
    TOLERANCE,
    TREE_FAMILIES,
    packaged,
    shap_values,
    worst,
)

pytestmark = pytest.mark.in_process

CASES = [(family, task) for family in TREE_FAMILIES + LINEAR_FAMILIES for task in TASKS]
OUTPUT = {
    "decision_tree": "probability",
    "random_forest": "probability",
    "extra_trees": "probability",
}


@pytest.mark.parametrize(("family", "task"), CASES)
def test_contributions_equal_shap_and_add_up_to_the_raw_output(family: str, task: str) -> None:
    case = packaged(family, task)
    assert case.entry["available"] is True, case.entry
    explainer = case.explainer
    rows = case.estimator_rows()

    ours = explainer.explain(rows)
    theirs, their_base = shap_values(case, rows)

    assert worst(ours, theirs) <= TOLERANCE
    if family != "xgboost":  # shap reads one base_score for every class of XGBoost 3
        assert worst(explainer.base_value, their_base) <= TOLERANCE
    sums = ours.sum(axis=1) + explainer.base_value
    expected = case.raw_output()
    tolerance = 1e-6 if family == "xgboost" else TOLERANCE  # XGBoost sums in float32
    assert worst(sums, expected) <= tolerance


@pytest.mark.parametrize(("family", "task"), CASES)
def test_output_space_is_named(family: str, task: str) -> None:
    entry = packaged(family, task).entry
    expected = "value" if task == "regression" else OUTPUT.get(family, "margin")
    assert entry["output"] == expected
    classes = packaged(family, task).model.classes_.tolist() if task != "regression" else None
    if expected == "probability" or task == "multiclass":
        assert entry["outputs"] == classes
    elif task == "binary":
        assert entry["outputs"] == [classes[-1]]  # the log-odds of the positive class
    else:
        assert entry["outputs"] is None


@pytest.mark.parametrize(("family", "task"), CASES)
def test_the_onnx_runtimes_rows_explain_like_shap(family: str, task: str) -> None:
    case = packaged(family, task)
    runtime = load_onnx(case.artifacts["model.onnx"][1], case.manifest)
    from_onnx = case.explainer.explain(runtime.estimator_input(case.table()))
    theirs, _ = shap_values(case, case.estimator_rows())

    assert worst(from_onnx, theirs) <= TOLERANCE
    sums = from_onnx.sum(axis=1) + case.explainer.base_value
    tolerance = 1e-6 if family == "xgboost" else TOLERANCE  # XGBoost sums in float32
    assert worst(sums, case.raw_output()) <= tolerance


def test_hist_gradient_boosting_routes_nan_as_shap_does() -> None:
    case = packaged("hist_gradient_boosting", "regression")
    rows = case.estimator_rows()
    gaps = np.isnan(rows).any(axis=1)
    assert gaps.sum() >= 10  # the NaN rows reach the trees

    ours = case.explainer.explain(rows[gaps])
    theirs, _ = shap_values(case, rows[gaps])

    assert worst(ours, theirs) <= TOLERANCE
