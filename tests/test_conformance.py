"""docs/models.md's conformance table: every family fitted, packaged, served and equal to itself.

Runs bench/conformance.py's checks for every family (without the cold starts) once for the
module. One stage is swapped: train.py's proof that a fresh, deployed-only Python can unpickle
the model costs a new interpreter per model (about 3 s of CPU each, 26 times); here the
artifact is unpickled in this process instead. That proof has its own tests
(tests/test_packaging.py), and every model here is plain scikit-learn.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import joblib
import pytest

from bench import conformance, conformance_table
from bench.conformance_families import families
from bench.conformance_table import Result, comparable

TOLERANCE = 1e-9


def unpickles_here(
    artifact: bytes, code: object = None, *, runtime: str = "sklearn", extra: object = ()
) -> str | None:
    """The artifact loads in this process, with joblib or onnxruntime (None: no problem)."""
    if runtime == "onnx":
        import onnxruntime

        onnxruntime.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    else:
        joblib.load(io.BytesIO(artifact))
    return None


@pytest.fixture(scope="module")
def results() -> Iterator[list[Result]]:
    """Every family checked once: fitted, packaged by train.py --from-model, served."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.package.cloud_load_problem", unpickles_here)
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
        if result.runtime == "onnx":
            assert result.max_abs_diff is not None
            assert result.max_abs_diff <= TOLERANCE, result.family.name
            assert result.labels_equal, result.family.name
            assert result.skipped_because is None
        else:
            assert result.runtime == "sklearn"
            assert result.skipped_because, f"{result.family.name}: no reason printed"


def test_issue_families_each_have_a_row() -> None:
    names = {family.name for family in families()}
    for stem in ("DecisionTree", "RandomForest", "ExtraTrees", "GradientBoosting", "MLP"):
        assert {f"{stem}Classifier", f"{stem}Regressor"} <= names
    assert {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"} <= names
    assert {"KNeighborsClassifier", "KNeighborsRegressor", "SVC", "SVR", "GaussianNB"} <= names
    linear = {"LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet"}
    assert linear | {"SGDClassifier", "LinearSVC"} <= names


def test_check_ignores_timings_and_digits_but_not_verdicts() -> None:
    header = "| a | b | c | d | e | f | g |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    row = "| SVC | classification | iris | {runtime} | {parity} | {timing} | {why} |\n"
    base = header + row.format(runtime="onnx", parity="2.2e-16 / equal", timing="0.41", why="-")
    same = header + row.format(runtime="onnx", parity="1.1e-16 / equal", timing="-", why="-")
    over = header + row.format(runtime="onnx", parity="3.0e-07 / equal", timing="0.41", why="-")
    moved = header + row.format(runtime="sklearn", parity="-", timing="-", why="differ by 3e-07")
    moved_again = header + row.format(
        runtime="sklearn", parity="-", timing="-", why="differ by 1e-06"
    )
    assert comparable(base) == comparable(same)
    assert comparable(base) != comparable(over)
    assert comparable(base) != comparable(moved)
    assert comparable(moved) == comparable(moved_again)
