"""XGBoost and LightGBM models exported by train.py's converter (training/onnx_boosters.py):
every supported objective answers what the library answers, NaN and zeros go where the library
sends them, and what cannot be exact is refused with its reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tests.support.booster_cases import numbers, onnx_answers, onnx_export, targets
from training import onnx_boosters
from training.booster_trees import LIGHTGBM_ZERO, lightgbm_trees
from training.onnx_booster_links import ExpF

# Answers here are compared on rows the export's parity gate never saw.
TOLERANCE = 1e-9
XGB = {"n_estimators": 25, "max_depth": 4}
LGB = {"n_estimators": 25, "num_leaves": 15, "verbose": -1}

Make = Callable[[], Any]
# (case id, estimator, target kind); every XGBoost case is bit-exact, LightGBM within 1e-15.
OBJECTIVES: list[tuple[str, Make, str]] = [
    ("xgb binary:logistic", lambda: xgboost.XGBClassifier(**XGB), "binary"),
    ("xgb multi:softprob", lambda: xgboost.XGBClassifier(**XGB), "multiclass"),
    (
        "xgb binary:logitraw",
        lambda: xgboost.XGBClassifier(objective="binary:logitraw", **XGB),
        "binary",
    ),
    ("xgb binary:hinge", lambda: xgboost.XGBClassifier(objective="binary:hinge", **XGB), "binary"),
    ("xgb reg:squarederror", lambda: xgboost.XGBRegressor(**XGB), "value"),
    ("xgb reg:logistic", lambda: xgboost.XGBRegressor(objective="reg:logistic", **XGB), "unit"),
    ("xgb count:poisson", lambda: xgboost.XGBRegressor(objective="count:poisson", **XGB), "count"),
    ("xgb reg:gamma", lambda: xgboost.XGBRegressor(objective="reg:gamma", **XGB), "positive"),
    ("xgb reg:tweedie", lambda: xgboost.XGBRegressor(objective="reg:tweedie", **XGB), "count"),
    (
        "xgb reg:absoluteerror",
        lambda: xgboost.XGBRegressor(objective="reg:absoluteerror", **XGB),
        "value",
    ),
    (
        "xgb reg:pseudohubererror",
        lambda: xgboost.XGBRegressor(objective="reg:pseudohubererror", **XGB),
        "value",
    ),
    ("xgb random forest", lambda: xgboost.XGBRFClassifier(n_estimators=10), "binary"),
    (
        "xgb dart multi:softprob",
        lambda: xgboost.XGBClassifier(booster="dart", rate_drop=0.3, **XGB),
        "multiclass",
    ),
    (
        "xgb dart count:poisson",
        lambda: xgboost.XGBRegressor(
            booster="dart", rate_drop=0.3, objective="count:poisson", **XGB
        ),
        "count",
    ),
    ("lgb binary", lambda: lightgbm.LGBMClassifier(**LGB), "binary"),
    ("lgb multiclass", lambda: lightgbm.LGBMClassifier(**LGB), "multiclass"),
    (
        "lgb multiclassova",
        lambda: lightgbm.LGBMClassifier(objective="multiclassova", **LGB),
        "multiclass",
    ),
    ("lgb regression", lambda: lightgbm.LGBMRegressor(**LGB), "value"),
    ("lgb regression sqrt", lambda: lightgbm.LGBMRegressor(reg_sqrt=True, **LGB), "value"),
    ("lgb huber", lambda: lightgbm.LGBMRegressor(objective="huber", **LGB), "value"),
    ("lgb quantile", lambda: lightgbm.LGBMRegressor(objective="quantile", **LGB), "value"),
    ("lgb poisson", lambda: lightgbm.LGBMRegressor(objective="poisson", **LGB), "count"),
    ("lgb gamma", lambda: lightgbm.LGBMRegressor(objective="gamma", **LGB), "positive"),
    ("lgb tweedie", lambda: lightgbm.LGBMRegressor(objective="tweedie", **LGB), "count"),
    (
        "lgb cross_entropy",
        lambda: lightgbm.LGBMRegressor(objective="cross_entropy", **LGB),
        "unit",
    ),
    (
        "lgb random forest",
        lambda: lightgbm.LGBMRegressor(
            boosting_type="rf", bagging_freq=1, bagging_fraction=0.6, **LGB
        ),
        "value",
    ),
]


@pytest.fixture(scope="module")
def training_rows() -> pd.DataFrame:
    return numbers(seed=0)


@pytest.fixture(scope="module")
def unseen_rows() -> pd.DataFrame:
    """Rows the gate never saw, with more gaps, whole rows of NaN, zeros and tiny values."""
    frame = numbers(seed=7, rows=1500, gaps=0.25)
    frame.iloc[:5] = np.nan
    frame.iloc[5:10] = 0.0
    frame.iloc[10:15] = 1e-36
    return frame


def assert_same_answers(model: Any, graph: bytes, rows: pd.DataFrame, exact: bool) -> float:
    """The graph's labels equal the model's; its numbers within TOLERANCE (or bit for bit)."""
    outputs = onnx_answers(graph, rows)
    if hasattr(model, "classes_"):
        assert np.array_equal(outputs[0], model.predict(rows))
        ours, theirs = outputs[1], model.predict_proba(rows).astype(np.float64)
    else:
        ours, theirs = outputs[0].ravel(), model.predict(rows).astype(np.float64)
    difference = float(np.max(np.abs(ours - theirs)))
    assert difference == 0.0 if exact else difference <= TOLERANCE
    return difference


@pytest.mark.parametrize(("case", "make", "kind"), OBJECTIVES, ids=[c[0] for c in OBJECTIVES])
def test_each_objective_answers_as_the_library(
    case: str, make: Make, kind: str, training_rows: pd.DataFrame, unseen_rows: pd.DataFrame
) -> None:
    model = make().fit(training_rows, targets(training_rows, kind))
    graph, printed = onnx_export(model, training_rows)
    assert graph is not None, printed
    assert_same_answers(model, graph, unseen_rows, exact=case.startswith("xgb"))


def test_a_model_fitted_on_an_array(training_rows: pd.DataFrame) -> None:
    model = xgboost.XGBClassifier(**XGB)
    model.fit(training_rows.to_numpy(), targets(training_rows, "multiclass"))
    graph, printed = onnx_export(model, training_rows)
    assert graph is not None, printed
    assert_same_answers(model, graph, numbers(seed=3), exact=True)


def test_xgboost_early_stopping_uses_the_best_iteration(training_rows: pd.DataFrame) -> None:
    """XGBoost keeps the rounds after the best one and predicts without them; so does the graph.
    (LightGBM's scikit-learn API keeps only the rounds up to the best one.)"""
    model = xgboost.XGBClassifier(n_estimators=300, learning_rate=0.5, early_stopping_rounds=2)
    y = targets(training_rows, "binary")
    fit, check = training_rows.iloc[:400], training_rows.iloc[400:]
    model.fit(fit, y[:400], eval_set=[(check, y[400:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    graph, printed = onnx_export(model, training_rows)
    assert graph is not None, printed
    assert_same_answers(model, graph, numbers(seed=5), exact=True)


def test_xgboost_missing_value_other_than_nan(training_rows: pd.DataFrame) -> None:
    filled = training_rows.fillna(-1.0)
    model = xgboost.XGBRegressor(missing=-1.0, **XGB).fit(filled, targets(filled, "value"))
    graph, printed = onnx_export(model, filled)
    assert graph is not None, printed
    assert_same_answers(model, graph, numbers(seed=4).fillna(-1.0), exact=True)


def test_lightgbm_missing_types_none_zero_and_nan(unseen_rows: pd.DataFrame) -> None:
    """NaN in training (type NaN), none (None: NaN is read as 0), zero_as_missing (Zero)."""
    rows = numbers(seed=2)
    rows["age_years"] = rows["age_years"].fillna(0.0)  # no NaN seen: missing type None
    y = targets(rows, "value")
    for zero_as_missing in (False, True):
        model = lightgbm.LGBMRegressor(zero_as_missing=zero_as_missing, **LGB).fit(rows, y)
        kinds = _missing_types(model)
        assert kinds == ({"Zero"} if zero_as_missing else {"None", "NaN"}), kinds
        graph, printed = onnx_export(model, rows)
        assert graph is not None, printed
        assert_same_answers(model, graph, unseen_rows, exact=False)


def test_lightgbm_reads_nan_and_tiny_values_as_zero_where_it_does() -> None:
    """A column with zeros and no NaN: LightGBM splits it at -1e-35 (missing type None), reads
    NaN as 0 there (right, though its default is left), and reads -1e-35 itself as 0 too."""
    rng = np.random.default_rng(0)
    steps = rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0], 600)
    rows = pd.DataFrame({"balance_change": steps, "other": rng.normal(size=600)})
    y = (steps >= 0) * 3.0 + rows["other"].to_numpy() + rng.normal(0, 0.1, 600)
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(rows, y)
    split = model.booster_.dump_model()["tree_info"][0]["tree_structure"]
    assert (split["split_feature"], split["missing_type"], split["default_left"]) == (
        0,
        "None",
        True,
    )
    assert split["threshold"] == -LIGHTGBM_ZERO
    graph, printed = onnx_export(model, rows)
    assert graph is not None, printed
    edges = [np.nan, -LIGHTGBM_ZERO, -1e-36, 0.0, 1e-36, 1.0, -1.0]
    probe = pd.DataFrame({"balance_change": edges, "other": [0.5] * len(edges)})
    assert model.predict(probe)[0] == model.predict(probe)[3] != model.predict(probe)[6]
    assert_same_answers(model, graph, probe, exact=False)


def _missing_types(model: Any) -> set[str]:
    found = set()

    def visit(node: dict[str, Any]) -> None:
        if "missing_type" in node:
            found.add(node["missing_type"])
            visit(node["left_child"])
            visit(node["right_child"])

    for tree in model.booster_.dump_model()["tree_info"]:
        visit(tree["tree_structure"])
    return found


def test_xgboost_nan_goes_the_default_way_in_each_node(training_rows: pd.DataFrame) -> None:
    """Single NaN cells, one column at a time: both directions occur, and each is followed."""
    model = xgboost.XGBClassifier(**XGB).fit(training_rows, targets(training_rows, "binary"))
    trees = model.get_booster().trees_to_dataframe()
    splits = trees[trees["Feature"] != "Leaf"]
    assert {"yes", "no"} <= {
        "yes" if row.Missing == row.Yes else "no" for row in splits.itertuples()
    }, "the trees send missing values both ways"
    complete = numbers(seed=9, gaps=0.0).iloc[:50]
    for column in complete.columns:
        rows = complete.copy()
        rows[column] = np.nan
        graph, _ = onnx_export(model, training_rows)
        assert graph is not None
        assert_same_answers(model, graph, rows, exact=True)


def test_sparse_input_makes_zeros_missing_for_xgboost() -> None:
    """A sparse ColumnTransformer output: XGBoost reads its zeros as missing, so must the graph."""
    frame = numbers(seed=11).fillna(0.0)
    plans = np.random.default_rng(0).choice(["basic", "plus", "pro"], len(frame))
    frame["plan"] = pd.Series(plans, dtype=object)
    prepare = ColumnTransformer(
        [
            ("numbers", StandardScaler(with_mean=False), list(frame.columns[:-1])),
            ("plan", OneHotEncoder(), ["plan"]),
        ],
        sparse_threshold=1.0,
    )
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(prepare, xgboost.XGBClassifier(**XGB))
    model.fit(frame, targets(frame, "binary"))
    assert onnx_boosters.reads_sparse(model, frame)
    graph, printed = onnx_export(model, frame)
    assert graph is not None, printed
    rows = frame.copy()
    rows.iloc[::3, 0] = 0.0
    outputs = onnx_answers(graph, rows)
    assert np.array_equal(outputs[0], model.predict(rows))
    assert np.array_equal(outputs[1], model.predict_proba(rows).astype(np.float64))


REFUSED: list[tuple[str, Make, str]] = [
    (
        "xgb gblinear",
        lambda: xgboost.XGBRegressor(booster="gblinear", n_estimators=5),
        "XGBoost booster 'gblinear'",
    ),
    (
        "xgb multi:softmax",
        lambda: xgboost.XGBClassifier(objective="multi:softmax", **XGB),
        "XGBoost multi:softmax",
    ),
    (
        "lgb linear_tree",
        lambda: lightgbm.LGBMRegressor(linear_tree=True, **LGB),
        "LightGBM linear_tree",
    ),
]


@pytest.mark.parametrize(("case", "make", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_what_cannot_be_exact_is_refused_with_its_reason(
    case: str, make: Make, reason: str, training_rows: pd.DataFrame
) -> None:
    rows = training_rows.fillna(0.0)
    kind = "multiclass" if "softmax" in case else "value"
    model = make().fit(rows, targets(rows, kind))
    graph, printed = onnx_export(model, rows)
    assert graph is None
    assert printed.startswith("ONNX export skipped: this model does not convert")
    assert reason in printed
    assert len(printed.splitlines()) == 1


def test_categorical_splits_are_refused() -> None:
    rows = numbers(seed=12).fillna(0.0)
    rows["plan"] = pd.Categorical(np.random.default_rng(1).choice(["a", "b", "c"], len(rows)))
    y = targets(rows, "binary") ^ (rows["plan"] == "a").to_numpy()
    light = lightgbm.LGBMClassifier(min_data_per_group=5, cat_smooth=1, **LGB).fit(rows, y)
    with pytest.raises(NotImplementedError, match="LightGBM on pandas category columns"):
        lightgbm_trees(light)
    extreme = xgboost.XGBClassifier(enable_categorical=True, **XGB).fit(rows, y)
    from training.booster_trees import xgboost_trees

    with pytest.raises(NotImplementedError, match="XGBoost categorical features"):
        xgboost_trees(extreme)


def test_expf_is_glibcs_not_a_correctly_rounded_exp() -> None:
    """The inputs where glibc's expf and a correctly rounded exp differ: XGBoost's answers."""
    margins = np.array([1.2201339, 1.986071, 1.7691848, 1.3771755], dtype=np.float32)
    model = xgboost.XGBRegressor(objective="count:poisson", n_estimators=1, base_score=1.0)
    rows = pd.DataFrame({"x": np.linspace(0, 1, 50)})
    model.fit(rows, np.ones(50))
    correctly_rounded = np.exp(margins.astype(np.float64)).astype(np.float32)
    glibc = _glibc_expf(margins)
    assert np.all(glibc != correctly_rounded)
    spec = ExpF()
    assert spec.table()[16] == np.sqrt(2.0)
    assert np.array_equal(_numpy_expf(margins, spec), glibc)


def _glibc_expf(values: np.ndarray) -> np.ndarray:
    import ctypes

    libm = ctypes.CDLL("libm.so.6")
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return np.array([libm.expf(float(v)) for v in values], dtype=np.float32)


def _numpy_expf(values: np.ndarray, spec: ExpF) -> np.ndarray:
    """ExpF's steps in NumPy float64 (what the graph's nodes compute)."""
    scaled = np.maximum(values.astype(np.float64), spec.lowest) * spec.inv_ln2_n
    rounded = (scaled + spec.shift) - spec.shift
    rest, k = scaled - rounded, rounded.astype(np.int64)
    two_k = spec.table()[k & 31] * spec.powers()[(k - (k & 31)) // 32 - spec.lowest_power]
    c0, c1, c2 = spec.poly
    two_r = (c0 * rest + c1) * (rest * rest) + (c2 * rest + 1.0)
    return (two_r * two_k).astype(np.float32)


def test_conformance_rows_serve_on_onnx_equal_to_the_estimators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/conformance.py's own check, on the booster families it can add."""
    from bench import conformance
    from bench.conformance_boosters import booster_families

    # The cloud load check (a fresh interpreter per model) has its own tests: test_booster_serving.
    monkeypatch.setattr("training.package.cloud_load_problem", lambda *_, **__: None)
    for family in booster_families():
        result = conformance.check_family(family, tmp_path)
        for outcome in result.outcomes:  # fitted on an array and on a DataFrame
            assert (outcome.runtime, outcome.served_equal) == ("onnx", True), family.name
            assert outcome.labels_equal is not False, family.name
            assert outcome.max_abs_diff is not None
            assert outcome.max_abs_diff <= TOLERANCE
