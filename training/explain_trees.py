"""The arrays path-dependent TreeSHAP needs, read from each tree family as it predicts.

Per tree: children, split feature and threshold, where a missing value goes, node values and
node cover (scikit-learn's `weighted_n_node_samples`, HistGradientBoosting's `count`, XGBoost's
`sum_hessian`, LightGBM's `internal_count`/`leaf_count`); per model: how the trees read a row
(float32 first, `<` or `<=`, missing values), the raw output the trees sum to, where it starts,
and which space it is in: class probabilities for single trees and forests, the margin
(log-odds per class, or the log of a log-link regressor's value) for boosting, the value for
other regressors. `raw_output` computes that output with the model itself, for the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.explain_columns import Unexplainable

FOREST_FAMILIES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
)
BOOSTING_FAMILIES = (
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)
BOOSTER_FAMILIES = ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor")
LIGHTGBM_FAMILIES = ("LGBMClassifier", "LGBMRegressor")


@dataclass
class TreeModel:
    """The trees' arrays for explanations.npz, and what their sums mean."""

    output: str  # "probability", "margin" or "value"
    raw_output: Callable[[Any], np.ndarray]
    base_offset: np.ndarray
    float32: bool = False
    strict_less: bool = False
    missing_values: tuple[float, ...] = ()
    tiny: float = 0.0
    zero_missing: tuple[int, ...] = ()
    # The library sums its leaves in float32 (XGBoost): its raw output is within that
    # rounding of their exact sum, which the contributions add up to.
    float32_sums: bool = False
    # The estimator's input column each column the trees split on reads (None: the same).
    input_columns: np.ndarray | None = None
    nodes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    per_tree: dict[str, list[float]] = field(default_factory=dict)
    categories: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)

    def add(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        missing_left: np.ndarray,
        cover: np.ndarray,
        value: np.ndarray,
        *,
        scale: float,
        target: int,
        members: dict[int, tuple[list[float], list[float]]] | None = None,
    ) -> None:
        """One tree; `value` is [nodes] or [nodes, width] (read at leaves); `members` maps a
        category node to the codes going left and right (any other code goes where a
        missing value goes)."""
        offset = sum(len(nodes) for nodes in self.nodes.get("left", []))
        for node, sides in (members or {}).items():
            self.categories[offset + node] = sides
        left, right, feature = (np.asarray(a, dtype=np.int64) for a in (left, right, feature))
        leaf = left < 0
        columns = {
            "left": np.where(leaf, -1, left),
            "right": np.where(leaf, -1, right),
            "feature": np.where(leaf, 0, feature),
            "threshold": np.where(leaf, 0.0, threshold),
            "missing_left": np.asarray(missing_left, dtype=bool),
            "cover": np.asarray(cover, dtype=np.float64),
            "value": np.asarray(value, dtype=np.float64).reshape(len(leaf), -1),
        }
        for name, array in columns.items():
            self.nodes.setdefault(name, []).append(array)
        self.per_tree.setdefault("scale", []).append(scale)
        self.per_tree.setdefault("target", []).append(target)

    def arrays(self, n_columns: int) -> dict[str, np.ndarray]:
        """The forest's part of explanations.npz."""
        sizes = [len(left) for left in self.nodes["left"]]
        zero_missing = np.zeros(n_columns, dtype=bool)
        zero_missing[list(self.zero_missing)] = True
        return {
            **self._category_arrays(sum(sizes)),
            "tree_starts": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "left": np.concatenate(self.nodes["left"]).astype(np.int64),
            "right": np.concatenate(self.nodes["right"]).astype(np.int64),
            "feature": np.concatenate(self.nodes["feature"]).astype(np.int64),
            "threshold": np.concatenate(self.nodes["threshold"]).astype(np.float64),
            "missing_left": np.concatenate(self.nodes["missing_left"]),
            "cover": np.concatenate(self.nodes["cover"]),
            "value": np.concatenate(self.nodes["value"]),
            "scale": np.asarray(self.per_tree["scale"], dtype=np.float64),
            "target": np.asarray(self.per_tree["target"], dtype=np.int64),
            "base_offset": np.asarray(self.base_offset, dtype=np.float64),
            "float32": np.array(self.float32),
            "strict_less": np.array(self.strict_less),
            "missing_values": np.asarray(self.missing_values, dtype=np.float64),
            "tiny": np.array(self.tiny),
            "zero_missing": zero_missing,
        }

    def _category_arrays(self, n_nodes: int) -> dict[str, np.ndarray]:
        """Per node its row of `category_table` (-1: not a category test); per row and code,
        1 goes left, 0 right, -1 where a missing value goes."""
        row = np.full(n_nodes, -1, dtype=np.int64)
        codes = [int(c) for left, right in self.categories.values() for c in (*left, *right)]
        table = np.full((len(self.categories), max(codes, default=-1) + 1), -1, dtype=np.int8)
        for index, (node, (left, right)) in enumerate(sorted(self.categories.items())):
            row[node] = index
            table[index, [int(c) for c in left]] = 1
            table[index, [int(c) for c in right]] = 0
        return {"category_row": row, "category_table": table}


def is_tree_model(estimator: Any) -> bool:
    """Whether the estimator is one of the tree families explained here."""
    families = FOREST_FAMILIES + BOOSTING_FAMILIES + BOOSTER_FAMILIES + LIGHTGBM_FAMILIES
    return type(estimator).__name__ in families


def tree_model(estimator: Any, sparse_input: bool = False) -> TreeModel:
    """The arrays of a fitted tree model; Unexplainable names what cannot be explained exactly.

    `sparse_input`: an XGBoost model fed a sparse matrix, whose zeros it reads as missing.
    """
    kind = type(estimator).__name__
    if kind in FOREST_FAMILIES:
        return _forest(estimator)
    if kind.startswith("HistGradientBoosting"):
        return _hist_boosting(estimator)
    if kind in BOOSTING_FAMILIES:
        return _gradient_boosting(estimator)
    if kind in BOOSTER_FAMILIES:
        return _xgboost(estimator, sparse_input)
    if kind in LIGHTGBM_FAMILIES:
        return _lightgbm(estimator)
    raise Unexplainable(f"{kind} is not a tree model")


def _forest(estimator: Any) -> TreeModel:
    """A single tree or a forest: the mean of its trees' class fractions (or values)."""
    members = getattr(estimator, "estimators_", [estimator])
    if estimator.n_outputs_ != 1:
        raise Unexplainable("multi-output trees are not explained")
    classifier = hasattr(estimator, "classes_")
    width = len(estimator.classes_) if classifier else 1
    model = TreeModel(
        output="probability" if classifier else "value",
        raw_output=estimator.predict_proba if classifier else _column(estimator.predict),
        base_offset=np.zeros(width),
        float32=True,  # scikit-learn's trees compare float32 inputs
    )
    for member in members:
        _add_sklearn_tree(model, member.tree_, member.tree_.value[:, 0, :], 1.0 / len(members), 0)
    return model


def _add_sklearn_tree(
    model: TreeModel, tree: Any, values: np.ndarray, scale: float, target: int
) -> None:
    """One fitted scikit-learn `tree_` (its arrays as they are), each leaf's values scaled."""
    model.add(
        tree.children_left,
        tree.children_right,
        tree.feature,
        tree.threshold,
        tree.missing_go_to_left,
        tree.weighted_n_node_samples,
        values,
        scale=scale,
        target=target,
    )


def _gradient_boosting(estimator: Any) -> TreeModel:
    """GradientBoosting: its initial raw prediction plus learning_rate * each stage's trees."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if not (
        estimator.init_ == "zero" or isinstance(estimator.init_, DummyClassifier | DummyRegressor)
    ):
        raise Unexplainable("GradientBoosting with a custom init estimator")
    width = estimator.estimators_.shape[1]
    row = np.zeros((1, estimator.n_features_in_), dtype=np.float32)
    start = np.ravel(np.asarray(estimator._raw_predict_init(row), dtype=np.float64))
    classifier = hasattr(estimator, "classes_")
    model = TreeModel(
        output="margin" if classifier else "value",
        raw_output=_column(estimator.decision_function if classifier else estimator.predict),
        base_offset=start,
        float32=True,
    )
    for stage in estimator.estimators_:
        for target, member in enumerate(stage):
            values = member.tree_.value[:, 0, 0]
            _add_sklearn_tree(model, member.tree_, values, float(estimator.learning_rate), target)
    assert len(start) == width
    return model


def _hist_boosting(estimator: Any) -> TreeModel:
    """HistGradientBoosting: its baseline plus every predictor's leaves, compared in float64.

    With categorical features its trees read its own preprocessing's columns: the categories'
    codes first (tested against the codes each split sends left), then the numbers.
    """
    from training.tree_arrays import hist_known_codes, hist_tree

    known = hist_known_codes(estimator) if estimator._preprocessor is not None else {}
    classifier = hasattr(estimator, "classes_")
    link = type(estimator._loss.link).__name__
    if classifier:
        output, raw = "margin", _column(estimator.decision_function)
    elif link == "IdentityLink":
        output, raw = "value", _column(estimator.predict)
    elif link == "LogLink":
        output, raw = "margin", _column(lambda rows: np.log(estimator.predict(rows)))
    else:
        raise Unexplainable(f"HistGradientBoosting with a {link}")
    width = int(estimator.n_trees_per_iteration_)
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64)
    model = TreeModel(
        output=output,
        raw_output=raw,
        base_offset=np.broadcast_to(np.ravel(baseline), (width,)),
        input_columns=_hist_input_columns(estimator),
    )
    for stage in estimator._predictors:
        for target, predictor in enumerate(stage):
            nodes = predictor.nodes
            model.add(
                np.where(nodes["is_leaf"], -1, nodes["left"].astype(np.int64)),
                nodes["right"],
                nodes["feature_idx"],
                nodes["num_threshold"],
                nodes["missing_go_to_left"].astype(bool),
                nodes["count"].astype(np.float64),
                nodes["value"],
                scale=1.0,
                target=target,
                members=hist_tree(predictor, known).members,
            )
    return model


def _hist_input_columns(estimator: Any) -> np.ndarray | None:
    """Which input column each of HistGradientBoosting's own columns reads (None: the same)."""
    preprocessor = estimator._preprocessor
    if preprocessor is None:
        return None
    categorical = np.asarray(estimator.is_categorical_, dtype=bool)
    columns = np.empty(len(categorical), dtype=np.int64)
    columns[preprocessor.output_indices_["encoder"]] = np.flatnonzero(categorical)
    columns[preprocessor.output_indices_["numerical"]] = np.flatnonzero(~categorical)
    return columns


def _xgboost(estimator: Any, sparse_input: bool) -> TreeModel:
    """XGBoost: float32 inputs, `x < split`, its missing values, leaves summed onto its margins.

    XGBoost sums its float32 leaves in float32; the raw output explained is their exact sum
    (float64), which differs from XGBoost's own margin by that float32 rounding only.
    """
    from training.booster_trees import xgboost_trees

    boosted = _booster(lambda: xgboost_trees(estimator, sparse_input=sparse_input))
    model = TreeModel(
        output=_booster_output(estimator, boosted.link),
        raw_output=_column(lambda rows: estimator.predict(rows, output_margin=True)),
        base_offset=np.asarray(boosted.starts, dtype=np.float64),
        float32=True,
        strict_less=True,
        missing_values=tuple(value for value in boosted.missing if not np.isnan(value)),
        float32_sums=True,
    )
    _add_sources(model, boosted.trees, scale=1.0)
    return model


def _lightgbm(estimator: Any) -> TreeModel:
    """LightGBM: float64 inputs, `x <= threshold`, tiny values as 0 and zero-as-missing."""
    from training.booster_trees import LIGHTGBM_ZERO, lightgbm_trees

    boosted = _booster(lambda: lightgbm_trees(estimator))
    model = TreeModel(
        output=_booster_output(estimator, boosted.link),
        raw_output=_column(lambda rows: estimator.predict(rows, raw_score=True)),
        base_offset=np.asarray(boosted.starts, dtype=np.float64),
        tiny=LIGHTGBM_ZERO,
        zero_missing=boosted.zero_missing,
    )
    _add_sources(model, boosted.trees, scale=1.0 / boosted.average if boosted.average else 1.0)
    return model


def _booster(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except NotImplementedError as exc:
        raise Unexplainable(str(exc)) from None


def _booster_output(estimator: Any, link: str) -> str:
    if hasattr(estimator, "classes_") or link != "identity":
        return "margin"
    return "value"


def _add_sources(model: TreeModel, trees: list[Any], scale: float) -> None:
    for source in trees:
        tree = source.tree
        model.add(
            np.where(tree.is_leaf, -1, tree.left),
            tree.right,
            tree.feature,
            tree.threshold,
            tree.missing_left,
            source.cover,
            source.values,
            scale=scale,
            target=source.target,
        )


def _column(predict: Callable[[Any], Any]) -> Callable[[Any], np.ndarray]:
    """The model's raw output as [rows, outputs] (a 1-D answer becomes one column)."""

    def raw(rows: Any) -> np.ndarray:
        values = np.asarray(predict(rows), dtype=np.float64)
        return values.reshape(len(values), -1)

    return raw


def evaluate_trees(arrays: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The trees' raw output for the rows, summed exactly (float64), as [rows, outputs]."""
    from serving.explain.treeshap import Reading

    zero_missing = arrays["zero_missing"]
    reading = Reading(
        float32=bool(arrays["float32"]),
        strict_less=bool(arrays["strict_less"]),
        missing_values=tuple(arrays["missing_values"]),
        tiny=float(arrays["tiny"]),
        zero_missing=zero_missing if zero_missing.any() else None,
    )
    x = reading.apply(rows)
    starts, value = arrays["tree_starts"], arrays["value"]
    sums = np.tile(arrays["base_offset"], (len(x), 1))
    for tree in range(len(starts) - 1):
        node = np.full(len(x), starts[tree])
        while (arrays["left"][node] >= 0).any():
            inner = arrays["left"][node] >= 0
            here = x[np.arange(len(x)), arrays["feature"][node]]
            split = arrays["threshold"][node]
            with np.errstate(invalid="ignore"):
                below = here < split if reading.strict_less else here <= split
            left = np.where(np.isnan(here), arrays["missing_left"][node], below)
            child = np.where(left, arrays["left"][node], arrays["right"][node])
            node = np.where(inner, starts[tree] + child, node)
        target = arrays["target"][tree]
        sums[:, target : target + value.shape[1]] += arrays["scale"][tree] * value[node]
    return sums
