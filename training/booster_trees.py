"""XGBoost and LightGBM models as ONNX `TreeEnsemble` arrays, read from the boosters' own dumps.

Each library is repeated as it predicts (checked in their sources and by the parity gate):

- XGBoost casts every input to float32, goes left when `x < split` (float32 splits), sends a
  missing value (NaN, the `missing` value, and in a sparse matrix every zero) the tree's default
  way, and sums float32 leaves onto its float32 starting margin, tree after tree (dart adds
  ((margin + leaf) - margin) * weight instead). The trees are kept in float32, so onnxruntime's
  float TreeEnsemble sums them in that order and precision.
- LightGBM reads float64 and goes left when `x <= threshold` (float64); before the trees it
  turns |x| <= 1e-35 into 0; a node whose missing type is None treats NaN as 0, Zero sends 0 and
  NaN the default way, NaN sends NaN the default way. Leaves are float64, summed from 0.

What cannot be repeated exactly is refused with NotImplementedError naming the feature.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.tree_arrays import Ensemble, Tree

BRANCH_LT = 1
# LightGBM's kZeroThreshold (a float constant): smaller magnitudes are read as 0.
LIGHTGBM_ZERO = float(np.float32(1e-35))


@dataclass
class SourceTree:
    """One tree as the ensemble sums it, with each node's cover (the training rows' hessian sum
    for XGBoost, their count for LightGBM): what TreeSHAP needs (training/explain_trees.py)."""

    tree: Tree
    target: int
    values: np.ndarray
    cover: np.ndarray


@dataclass
class Boosted:
    """A booster's trees and how it turns their sums into answers.

    `link` names the transform of the raw sums ("identity", "sigmoid", "exp", "softmax",
    "hinge", "sqrt"); `scale` multiplies the raw sum before a LightGBM sigmoid; `average`
    divides the sums by that many iterations first (LightGBM random forest); `missing` lists
    input values XGBoost treats as missing; `zero_missing` the columns where LightGBM does.
    `starts` are the margins the sums start from, per target; `trees` the trees one by one.
    """

    ensemble: Ensemble
    link: str
    n_features: int
    scale: float = 1.0
    average: int = 0
    missing: tuple[float, ...] = ()
    zero_missing: tuple[int, ...] = ()
    starts: tuple[float, ...] = ()
    trees: list[SourceTree] = field(default_factory=list)


XGBOOST_LINKS = {
    "reg:squarederror": "identity",
    "reg:squaredlogerror": "identity",
    "reg:pseudohubererror": "identity",
    "reg:absoluteerror": "identity",
    "reg:quantileerror": "identity",
    "binary:logitraw": "identity",
    "reg:logistic": "sigmoid",
    "binary:logistic": "sigmoid",
    "binary:hinge": "hinge",
    "count:poisson": "exp",
    "reg:gamma": "exp",
    "reg:tweedie": "exp",
    "multi:softprob": "softmax",
}

LIGHTGBM_LINKS = {
    "regression": "identity",
    "regression_l1": "identity",
    "huber": "identity",
    "fair": "identity",
    "quantile": "identity",
    "mape": "identity",
    "poisson": "exp",
    "gamma": "exp",
    "tweedie": "exp",
    "binary": "sigmoid",
    "cross_entropy": "sigmoid",
    "multiclass": "softmax",
    "multiclassova": "sigmoid",
}


def xgboost_trees(estimator: Any, sparse_input: bool = False) -> Boosted:
    """An XGBClassifier/XGBRegressor's trees (those its predict uses) and link."""
    booster = estimator.get_booster()
    learner = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"]
    gbm = learner["gradient_booster"]
    if gbm["name"] not in ("gbtree", "dart"):
        raise NotImplementedError(f"XGBoost booster {gbm['name']!r} (a linear model, not trees)")
    objective = learner["objective"]["name"]
    if objective == "multi:softmax":
        raise NotImplementedError(
            "XGBoost multi:softmax (its probabilities come from NumPy's float32 exp; "
            "multi:softprob converts)"
        )
    if objective not in XGBOOST_LINKS:
        raise NotImplementedError(f"XGBoost objective {objective!r} is not exported to ONNX")
    if "c" in learner.get("feature_types", []):
        raise NotImplementedError("XGBoost categorical features (enable_categorical)")
    model = _tree_model(gbm)
    params = learner["learner_model_param"]
    groups = max(int(params.get("num_class", "0")), 1)
    if int(params.get("num_target", "1")) > 1:
        raise NotImplementedError("XGBoost multi-output models are not exported to ONNX")
    bounds = model["iteration_indptr"]
    count = bounds[_xgboost_iterations(estimator, len(bounds))]
    ensemble = Ensemble(groups)
    margins = _xgboost_base_margins(booster, learner, groups)
    for group, margin in enumerate(margins):
        ensemble.add_constant(group, float(margin))
    weights = gbm.get("weight_drop")  # dart: each tree's output scaled by its weight
    trees = []
    for index in range(count):
        tree, values, cover = _xgboost_tree(model["trees"][index])
        group = int(model["tree_info"][index])
        if weights is not None:
            values = _dart_leaves(values, margins[group], weights[index])
        ensemble.add_tree(tree, group, values)
        trees.append(SourceTree(tree, group, values, cover))
    ensemble.modes = [BRANCH_LT] * len(ensemble.modes)  # no member tests: all numeric
    missing = float(estimator.missing if estimator.missing is not None else math.nan)
    marked = ((0.0,) if sparse_input else ()) + (() if math.isnan(missing) else (missing,))
    return Boosted(
        ensemble,
        XGBOOST_LINKS[objective],
        int(params["num_feature"]),
        missing=marked,
        starts=tuple(float(margin) for margin in margins),
        trees=trees,
    )


def _tree_model(gbm: dict[str, Any]) -> dict[str, Any]:
    """The trees' part of a dumped gbtree or dart booster."""
    model: dict[str, Any] = gbm["model"] if gbm["name"] == "gbtree" else gbm["gbtree"]["model"]
    return model


def _dart_leaves(values: np.ndarray, margin: float, weight: float) -> np.ndarray:
    """What dart adds per tree: ((margin + leaf) - margin) * weight, each step in float32."""
    start, scale = np.float32(margin), np.float32(weight)
    return (((values.astype(np.float32) + start) - start) * scale).astype(np.float64)


def _xgboost_iterations(estimator: Any, bounds: int) -> int:
    """How many boosting rounds predict uses: up to the best one after early stopping."""
    try:
        return min(int(estimator.best_iteration) + 1, bounds - 1)
    except AttributeError:
        return bounds - 1


def _xgboost_tree(tree: dict[str, Any]) -> tuple[Tree, np.ndarray, np.ndarray]:
    if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
        raise NotImplementedError("XGBoost vector-leaf (multi_output_tree) trees")
    if any(int(kind) != 0 for kind in tree["split_type"]):
        raise NotImplementedError("XGBoost categorical splits")
    left = np.asarray(tree["left_children"], dtype=np.int64)
    # A leaf keeps its value where a split keeps its threshold; both are float32.
    values = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
    return (
        Tree(
            is_leaf=left == -1,
            left=left,
            right=np.asarray(tree["right_children"], dtype=np.int64),
            feature=np.asarray(tree["split_indices"], dtype=np.int64),
            threshold=values,
            missing_left=np.asarray(tree["default_left"], dtype=bool),
        ),
        values,
        # XGBoost keeps each node's hessian sum in float32, as it reads back from the dump.
        np.asarray(tree["sum_hessian"], dtype=np.float32).astype(np.float64),
    )


def _xgboost_base_margins(booster: Any, learner: dict[str, Any], groups: int) -> np.ndarray:
    """The float32 margin each group starts from, as XGBoost itself computes it.

    XGBoost derives it from `base_score` through the objective (a logit or log in float32);
    rather than repeat that, the same model with every leaf set to 0 is asked for its margin.
    """
    import xgboost

    learner = copy.deepcopy(learner)
    for tree in _tree_model(learner["gradient_booster"])["trees"]:
        leaves = [child == -1 for child in tree["left_children"]]
        tree["split_conditions"] = [
            0.0 if leaf else split
            for leaf, split in zip(leaves, tree["split_conditions"], strict=True)
        ]
        tree["base_weights"] = [0.0] * len(tree["base_weights"])
    zeroed = xgboost.Booster(model_file=bytearray(json.dumps({"learner": learner}).encode()))
    row = np.full((1, booster.num_features()), np.nan, dtype=np.float32)
    margins = zeroed.predict(xgboost.DMatrix(row), output_margin=True, validate_features=False)
    return np.asarray(margins, dtype=np.float32).reshape(-1)[:groups]


def lightgbm_trees(estimator: Any) -> Boosted:
    """An LGBMClassifier/LGBMRegressor's trees (those its predict uses) and link."""
    booster = estimator.booster_
    if booster.params.get("linear_tree"):
        raise NotImplementedError("LightGBM linear_tree (linear models in the leaves)")
    dump = booster.dump_model()
    if dump.get("pandas_categorical"):
        raise NotImplementedError("LightGBM on pandas category columns (categorical splits)")
    name, *options = str(dump.get("objective", "custom")).split()
    if name not in LIGHTGBM_LINKS:
        raise NotImplementedError(f"LightGBM objective {name!r} is not exported to ONNX")
    settings = dict(option.split(":", 1) for option in options if ":" in option)
    link = "sqrt" if "sqrt" in options else LIGHTGBM_LINKS[name]
    per_iteration = int(dump["num_tree_per_iteration"])
    ensemble = Ensemble(per_iteration)
    zero_missing: set[int] = set()
    trees = []
    for index, info in enumerate(dump["tree_info"]):
        tree, values, cover = _lightgbm_tree(info["tree_structure"], zero_missing)
        ensemble.add_tree(tree, index % per_iteration, values)
        trees.append(SourceTree(tree, index % per_iteration, values, cover))
    iterations = len(dump["tree_info"]) // per_iteration
    return Boosted(
        ensemble,
        link,
        int(dump["max_feature_idx"]) + 1,
        scale=float(settings.get("sigmoid", 1.0)),
        average=iterations if dump.get("average_output") else 0,
        zero_missing=tuple(sorted(zero_missing)),
        starts=(0.0,) * per_iteration,
        trees=trees,
    )


def _lightgbm_tree(
    root: dict[str, Any], zero_missing: set[int]
) -> tuple[Tree, np.ndarray, np.ndarray]:
    """One dumped tree as arrays; node ids in depth-first order from the root (0)."""
    nodes: list[dict[str, Any]] = []
    children: list[tuple[int, int]] = []

    def visit(node: dict[str, Any]) -> int:
        index = len(nodes)
        nodes.append(node)
        children.append((-1, -1))
        if "leaf_value" not in node:
            children[index] = (visit(node["left_child"]), visit(node["right_child"]))
        return index

    visit(root)
    is_leaf = np.array(["leaf_value" in node for node in nodes])
    feature = np.zeros(len(nodes), dtype=np.int64)
    threshold = np.zeros(len(nodes))
    missing_left = np.zeros(len(nodes), dtype=bool)
    values = np.zeros(len(nodes))
    # A one-leaf tree's leaf has no count; it adds to every row alike, so its cover is moot.
    cover = np.array(
        [float(node.get("internal_count", node.get("leaf_count", 0))) for node in nodes]
    )
    for index, node in enumerate(nodes):
        if is_leaf[index]:
            values[index] = float(node["leaf_value"])
            continue
        if node["decision_type"] != "<=":
            raise NotImplementedError("LightGBM categorical splits")
        feature[index] = int(node["split_feature"])
        threshold[index] = float(node["threshold"])
        kind = node["missing_type"]
        if kind == "None":  # NaN is read as 0
            missing_left[index] = threshold[index] >= 0.0
        else:
            missing_left[index] = bool(node["default_left"])
            if kind == "Zero":
                zero_missing.add(int(feature[index]))
    left, right = (np.array(side, dtype=np.int64) for side in zip(*children, strict=True))
    return Tree(is_leaf, left, right, feature, threshold, missing_left), values, cover
