"""docs/models.md's conformance table: every family fitted, packaged, served and equal to itself.

Runs bench/conformance.py's checks for every row (without the cold starts) once for the module:
each family fitted on an array and on a DataFrame, and the transformers and meta-estimators.
One stage is swapped: train.py's proof that a fresh, deployed-only Python can unpickle the
model costs a new interpreter per model (about 3 s of CPU each, a hundred times); here the
artifact is unpickled in this process instead. That proof has its own tests
(tests/training/test_packaging.py), and every model here is plain scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import conformance, conformance_table
from bench.conformance_families import families
from bench.conformance_table import Result, comparable
from tests.support.load_here import loads_here

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def results() -> Iterator[list[Result]]:
    """Every family checked once: fitted, packaged by train.py --from-model, served."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.package.cloud_load_problem", loads_here)
        yield conformance.check_all(timed=False)


def test_models_page_table_is_what_the_script_finds_today(results: list[Result]) -> None:
    in_page = conformance_table.page_table(conformance_table.TABLE_PAGE.read_text())
    assert comparable(in_page) == comparable(conformance_table.render(results)), (
        "docs/models.md's conformance table is out of date: run python bench/conformance.py"
    )


def test_every_family_is_served_with_the_estimators_own_answers(results: list[Result]) -> None:
    differ = [r.family.name for r in results if not r.served_equal]
    assert not differ, f"served answers differ from the estimator's: {differ}"
    assert len(results) == len(families()) >= 24


def test_onnx_rows_passed_the_gate_and_the_others_say_why(results: list[Result]) -> None:
    for result in results:
        for outcome in result.outcomes:
            if outcome.runtime == "onnx":
                assert outcome.max_abs_diff is not None
                assert outcome.max_abs_diff <= TOLERANCE, result.family.name
                assert outcome.labels_equal, result.family.name
                assert outcome.skipped_because is None
            else:
                assert outcome.runtime == "sklearn"
                assert outcome.skipped_because, f"{result.family.name}: no reason printed"


def test_no_family_is_on_onnx_for_arrays_but_not_for_dataframes(results: list[Result]) -> None:
    behind = [
        r.family.name
        for r in results
        if r.array and r.array.runtime == "onnx" and r.dataframe.runtime != "onnx"
    ]
    assert behind == []


def test_issue_families_each_have_a_row() -> None:
    names = {family.name for family in families()}
    for stem in ("DecisionTree", "RandomForest", "ExtraTrees", "GradientBoosting", "MLP"):
        assert {f"{stem}Classifier", f"{stem}Regressor"} <= names
    assert {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"} <= names
    assert {"KNeighborsClassifier", "KNeighborsRegressor", "SVC", "SVR", "GaussianNB"} <= names
    linear = {"LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet"}
    assert linear | {"SGDClassifier", "LinearSVC"} <= names
    transformers = {"KBinsDiscretizer", "PolynomialFeatures", "SplineTransformer", "PCA"}
    transformers |= {"TruncatedSVD", "SelectKBest", "SelectPercentile", "VarianceThreshold"}
    transformers |= {"MinMaxScaler", "RobustScaler", "MaxAbsScaler", "Normalizer"}
    transformers |= {"TargetEncoder", "FunctionTransformer(np.log1p)", "VotingRegressor"}
    transformers |= {"VotingClassifier(soft)", "VotingClassifier(hard)", "StackingRegressor"}
    transformers |= {"CalibratedClassifierCV(sigmoid)", "CalibratedClassifierCV(isotonic)"}
    transformers |= {"BaggingClassifier", "BaggingRegressor", "StackingClassifier(decision values)"}
    assert transformers <= names
    assert any(name.startswith("OneHotEncoder(min_frequency") for name in names)
    assert any(name.startswith("OrdinalEncoder(unknown_value") for name in names)
    assert any(name.startswith("TransformedTargetRegressor") for name in names)
    assert any("from_dtype" in name for name in names)


def test_check_ignores_timings_and_digits_but_not_verdicts() -> None:
    header = "| a | b | c | d | e | f | g | h | i | j |\n" + "| --- " * 10 + "|\n"
    row = (
        "| SVC | classification | iris | {runtime} | {parity} | onnx | 1.0e-16 | {bigquery} "
        "| {timing} | {why} |\n"
    )
    exact = "exact (2.2e-16)"
    base = header + row.format(
        runtime="onnx", parity="2.2e-16 / equal", bigquery=exact, timing="0.41", why="-"
    )
    same = header + row.format(
        runtime="onnx", parity="1.1e-16 / equal", bigquery="exact (0.0e+00)", timing="-", why="-"
    )
    over = header + row.format(
        runtime="onnx", parity="3.0e-07 / equal", bigquery=exact, timing="0.41", why="-"
    )
    moved = header + row.format(
        runtime="sklearn", parity="-", bigquery=exact, timing="-", why="differ by 3e-07"
    )
    moved_again = header + row.format(
        runtime="sklearn", parity="-", bigquery=exact, timing="-", why="differ by 1e-06"
    )
    refused = header + row.format(
        runtime="onnx", parity="2.2e-16 / equal", bigquery="failed: x", timing="0.41", why="-"
    )
    assert comparable(base) == comparable(same)
    assert comparable(base) != comparable(over)
    assert comparable(base) != comparable(moved)
    assert comparable(moved) == comparable(moved_again)
    assert comparable(base) != comparable(refused)
