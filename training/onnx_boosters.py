"""Exact ONNX converters for XGBoost and LightGBM's scikit-learn estimators, for skl2onnx.

`register_converters(model, frame)` (export.py calls it before `to_onnx`) registers them for
XGBClassifier/XGBRegressor and LGBMClassifier/LGBMRegressor, bare or ending a Pipeline. The
trees come from the boosters' own dumps (training/booster_trees.py); the graph then computes
what the library computes, in its precision:

- XGBoost works in float32: the margins are summed by a float TreeEnsemble, and its links are
  repeated operation by operation (sigmoid 1 / (1 + expf(min(-x, 88.7))), softmax with a
  float64 sum, expf), glibc's expf rebuilt node by node (onnx_booster_links.py).
  Probabilities are [1 - p, p] for two classes and labels p > 0.5 or the first largest
  probability, as XGBClassifier decides. A booster fed a sparse matrix (a sparse
  ColumnTransformer output) treats its zeros as missing, and so does the graph.
- LightGBM works in float64: the float64 TreeEnsemble sums the leaves, then the objective's
  link (sigmoid with its scale, softmax, exp, the sign-square of `reg_sqrt`), averaged first
  for boosting="rf"; labels are the argmax of the probabilities, as LGBMClassifier decides.

Neither library is needed to serve the graph. What cannot be exact raises NotImplementedError
with the reason, and train.py prints it and keeps the scikit-learn runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training import onnx_booster_links as links
from training import onnx_trees
from training.booster_trees import LIGHTGBM_ZERO, Boosted, lightgbm_trees, xgboost_trees
from training.onnx_booster_links import DOUBLE, FLOAT, INT64, Nodes
from training.onnx_graph import label_values
from training.onnx_trees import _classifier_shapes, _regressor_shapes

_registered = False
# ids of the boosters in the model being exported that predict on a sparse matrix.
_sparse_fed: set[int] = set()


def register_converters(model: Any = None, frame: Any = None) -> None:
    """Make skl2onnx convert the boosters exactly (idempotent); note which read sparse rows."""
    global _registered
    _sparse_fed.clear()
    if model is not None and frame is not None and reads_sparse(model, frame):
        _sparse_fed.add(id(model.steps[-1][1]))
    if _registered:
        return
    from skl2onnx import update_registered_converter

    onnx_trees.register_exact_converters()  # also lifts the ai.onnx.ml opset ceiling to 5
    for estimator in booster_estimators():
        classifier = estimator.__name__.endswith("Classifier")
        update_registered_converter(
            estimator,
            f"Booster{estimator.__name__}",
            _classifier_shapes if classifier else _regressor_shapes,
            _convert_classifier if classifier else _convert_regressor,
            options=onnx_trees.CLASSIFIER_OPTIONS if classifier else None,
        )
    _registered = True


def booster_estimators() -> list[type]:
    """The booster classes of the libraries installed here (none when neither is)."""
    found: list[type] = []
    try:
        import xgboost

        found += [xgboost.XGBClassifier, xgboost.XGBRegressor]
        found += [xgboost.XGBRFClassifier, xgboost.XGBRFRegressor]
    except (ImportError, OSError):  # not installed, or its native library is missing
        pass
    try:
        import lightgbm

        found += [lightgbm.LGBMClassifier, lightgbm.LGBMRegressor]
    except (ImportError, OSError):  # not installed, or its native library is missing
        pass
    return found


def reads_sparse(model: Any, frame: Any) -> bool:
    """Whether a Pipeline hands its final step a sparse matrix (tried on the first row)."""
    from scipy import sparse  # type: ignore[import-untyped]

    if not hasattr(model, "steps") or len(model.steps) < 2:
        return False
    on_dataframe = hasattr(model, "feature_names_in_")
    row = frame.iloc[:1] if on_dataframe else frame.iloc[:1].to_numpy(dtype=np.float64)
    try:
        return bool(sparse.issparse(model[:-1].transform(row)))
    except Exception:
        return False


def _boosted(model: Any) -> Boosted:
    if _is_xgboost(model):
        return xgboost_trees(model, sparse_input=id(model) in _sparse_fed)
    return lightgbm_trees(model)


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    boosted = _boosted(model)
    single = boosted.ensemble.n_targets == 1
    if single and boosted.link not in ("sigmoid", "identity", "hinge"):
        raise NotImplementedError(f"a two-class booster with a {boosted.link} link")
    if not single and boosted.link not in ("softmax", "sigmoid"):
        raise NotImplementedError(f"a multi-class booster with a {boosted.link} link")
    graph = Nodes(scope, container)
    scores = _scores(graph, operator, boosted)
    if single:  # [1 - p, p], in the library's precision
        one = graph.scalar(1.0, np.float32 if _is_xgboost(model) else np.float64)
        scores = graph.apply("Concat", graph.apply("Sub", one, scores), scores, axis=1)
    graph.node("Cast", [scores], [operator.outputs[1].full_name], to=DOUBLE)
    if _is_xgboost(model) and single:  # XGBClassifier: class 1 where p > 0.5
        positive = graph.apply("Gather", scores, graph.scalar(1, np.int64), axis=1)
        above = graph.apply("Greater", positive, graph.scalar(0.5, np.float32))
        index = graph.cast(above, INT64)
    else:  # the first largest probability
        index = graph.apply("ArgMax", scores, axis=1, keepdims=0)
    classes = graph.constant("classes", label_values(model.classes_))
    graph.node("Gather", [classes, index], [operator.outputs[0].full_name])


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    boosted = _boosted(operator.raw_operator)
    if boosted.ensemble.n_targets != 1 or boosted.link in ("softmax", "hinge"):
        raise NotImplementedError(f"a regressor with a {boosted.link} link")
    graph = Nodes(scope, container)
    values = _scores(graph, operator, boosted)
    graph.node("Cast", [values], [operator.outputs[0].full_name], to=DOUBLE)


def _scores(graph: Nodes, operator: Any, boosted: Boosted) -> str:
    """The booster's answers before labels ([rows, targets]), in its own precision."""
    if _is_xgboost(operator.raw_operator):
        features = graph.cast(_features(graph, operator.inputs), FLOAT)
        for value in boosted.missing:  # XGBoost's missing values, as NaN
            hit = graph.apply("Equal", features, graph.scalar(value, np.float32))
            features = graph.apply("Where", hit, graph.scalar(np.nan, np.float32), features)
        margins = graph.trees(features, boosted.ensemble, np.float32)  # float32 sums
        return links.XGBOOST[boosted.link](graph, margins)
    raw = graph.trees(_lightgbm_features(graph, operator.inputs, boosted), boosted.ensemble)
    if boosted.average:  # boosting="rf": the mean over iterations
        raw = graph.apply("Div", raw, graph.scalar(boosted.average))
    if boosted.link == "sigmoid":
        return links.lightgbm_sigmoid(graph, raw, boosted.scale)
    if boosted.link == "softmax":
        return links.lightgbm_softmax(graph, raw)
    if boosted.link == "sqrt":
        return links.lightgbm_sign_square(graph, raw)
    return graph.apply("Exp", raw) if boosted.link == "exp" else raw


def _features(graph: Nodes, inputs: list[Any]) -> str:
    """The converter's inputs as one float64 [rows, features] tensor.

    A bare booster fitted on a DataFrame gets one input per column: joined in their order.
    """
    columns = [graph.cast(source.full_name, DOUBLE) for source in inputs]
    return graph.apply("Concat", *columns, axis=1) if len(columns) > 1 else columns[0]


def _lightgbm_features(graph: Nodes, inputs: list[Any], boosted: Boosted) -> str:
    """LightGBM's reading: |x| <= 1e-35 is 0, and 0 is missing in zero-as-missing columns."""
    features = _features(graph, inputs)
    size = graph.apply("Abs", features)
    is_zero = graph.apply("LessOrEqual", size, graph.scalar(LIGHTGBM_ZERO))
    zeroed = graph.apply("Where", is_zero, graph.scalar(0.0), features)
    if not boosted.zero_missing:
        return zeroed
    columns = np.zeros(boosted.n_features, dtype=bool)
    columns[list(boosted.zero_missing)] = True
    missing = graph.apply("And", is_zero, graph.constant("zero_missing", columns))
    return graph.apply("Where", missing, graph.scalar(np.nan), zeroed)


def _is_xgboost(model: Any) -> bool:
    return type(model).__module__.startswith("xgboost")
