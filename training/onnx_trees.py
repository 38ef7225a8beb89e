"""Exact float64 ONNX converters for scikit-learn's tree models, registered into skl2onnx.

Call `register_exact_converters()` once, then `skl2onnx.to_onnx(model, X, options={id(final
estimator): {"zipmap": False}})` as usual (also for a Pipeline ending in one of them, with or
without a ColumnTransformer before it). Covered: DecisionTree, RandomForest, ExtraTrees,
GradientBoosting and HistGradientBoosting, classifiers and regressors (`exact_estimators()`).

Why own converters rather than rewriting skl2onnx's graph: skl2onnx 1.20 writes ai.onnx.ml
opset-1 TreeEnsembleClassifier/Regressor, whose thresholds and outputs are float32 (opset 3
gives double thresholds and weights but still float32 outputs), and its HistGradientBoosting
converter fails here. Opset 5 `TreeEnsemble` takes double splits and leaf weights, returns
double, routes NaN per node and tests category sets, and onnxruntime runs it. Each graph then
repeats what the estimator computes, in its order:

- DecisionTree/RandomForest/ExtraTrees/GradientBoosting compare float32 inputs: X goes through
  Cast(float) then Cast(double) before the trees; HistGradientBoosting compares in float64.
- Sums run tree by tree from 0, as scikit-learn accumulates: a forest sums its trees' class
  fractions (or values) and divides by the tree count; boosting starts from its initial
  prediction (a one-leaf tree placed first) and adds learning_rate * leaf (GradientBoosting,
  the product taken in float64 as scikit-learn does) or the leaf (HistGradientBoosting).
- Links as in the loss: sigmoid with p0 = 1 - p1, softmax, exp for log-link regressors.
  Labels come from the same values scikit-learn decides on (argmax; raw >= 0 for
  GradientBoosting, raw > 0 for HistGradientBoosting binary).
- Boosting classifiers also produce `raw_scores` ([-s, s] for two classes, as the linear
  converters do), so train.py's `add_decision_output` serves decision_function exactly.

Registering also lifts skl2onnx's ai.onnx.ml opset ceiling (3) to 5 and gives float64
SimpleImputer an exact converter (training/onnx_imputer.py). The trees' arrays come from
training/tree_arrays.py.

Limits: the gate is checked with one onnxruntime thread (the serving runtime's setting; with
several threads onnxruntime may split the tree sum and reorder it); classifiers need
`zipmap=False` (ZipMap rejects float64 probabilities when the session loads); multi-output
trees, GradientBoosting with a custom `init` estimator and HistGradientBoosting links other
than identity, log, logit and softmax raise NotImplementedError, so the export is skipped.
HistGradientBoosting's categorical features (numbers, or text from a pandas `category`
column) are encoded in the graph as the estimator encodes them (training/onnx_encoders.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training import onnx_encoders, onnx_imputer
from training.onnx_graph import Graph, label_values
from training.tree_arrays import Ensemble, cart_tree, hist_known_codes, hist_tree

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 5  # TreeEnsemble: double splits, leaf weights and output
RAW_SCORES = "raw_scores"
CLASSIFIER_OPTIONS: dict[str, list[Any]] = {
    "zipmap": [False, True, "columns"],
    "nocl": [False],
    "raw_scores": [False, True],  # boosting: decision values in place of probabilities
}

_registered = False


def register_exact_converters() -> None:
    """Make skl2onnx convert the tree families with this module's exact converters (idempotent)."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter

    for estimator, alias in exact_estimators().items():
        classifier = estimator.__name__.endswith("Classifier")
        update_registered_converter(
            estimator,
            alias,
            _classifier_shapes if classifier else _regressor_shapes,
            _convert_classifier if classifier else _convert_regressor,
            options=CLASSIFIER_OPTIONS if classifier else None,
        )
    _allow_ml_opset(ML_OPSET)
    onnx_imputer.register()
    _registered = True


def _allow_ml_opset(version: int) -> None:
    """Let skl2onnx write an ai.onnx.ml opset up to `version` in the model it assembles.

    skl2onnx 1.20 refuses any ai.onnx.ml opset above 3 when it assembles the model; its
    check reads `get_default_opset_for_domain`, used nowhere else, so raising that ceiling
    for ai.onnx.ml changes nothing for the other converters.
    """
    from skl2onnx.common import _topology

    default = _topology.get_default_opset_for_domain

    def with_ml_ceiling(domain: str) -> int | None:
        found = default(domain)
        if domain == ML_DOMAIN and found is not None:
            return max(int(found), version)
        return None if found is None else int(found)

    _topology.get_default_opset_for_domain = with_ml_ceiling


def exact_estimators() -> dict[type, str]:
    """The estimator classes this module converts, with skl2onnx's alias for each."""
    from sklearn import ensemble, tree

    classes = [
        tree.DecisionTreeClassifier,
        tree.DecisionTreeRegressor,
        ensemble.RandomForestClassifier,
        ensemble.RandomForestRegressor,
        ensemble.ExtraTreesClassifier,
        ensemble.ExtraTreesRegressor,
        ensemble.GradientBoostingClassifier,
        ensemble.GradientBoostingRegressor,
        ensemble.HistGradientBoostingClassifier,
        ensemble.HistGradientBoostingRegressor,
    ]
    return {cls: f"Sklearn{cls.__name__}" for cls in classes}


def _classifier_shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    classes = operator.raw_operator.classes_
    rows = operator.inputs[0].get_first_dimension()
    if np.issubdtype(classes.dtype, np.integer) or classes.dtype == np.bool_:
        operator.outputs[0].type = Int64TensorType([rows])
    elif classes.dtype.kind in "OUS":
        operator.outputs[0].type = StringTensorType([rows])
    else:
        raise NotImplementedError("class labels must be integers or strings for ONNX")
    operator.outputs[1].type = DoubleTensorType([rows, len(classes)])


def _regressor_shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    operator.outputs[0].type = DoubleTensorType([operator.inputs[0].get_first_dimension(), 1])


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    graph = _Graph(scope, container)
    features = _features(graph, operator.inputs, model)
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    classes = model.classes_
    if _is_boosting(model):
        raw = graph.trees(features, _boosting_ensemble(model))
        binary = raw_width(model) == 1
        scores = graph.name(RAW_SCORES)
        if binary:
            graph.node("Neg", [raw], [negated := graph.name("negated")])
            graph.node("Concat", [negated, raw], [scores], axis=1)
            graph.binary_label(raw, model, classes, label)
        else:
            graph.node("Identity", [raw], [scores])
            graph.argmax_label(raw, classes, label)
        if scope.get_options(model, {"raw_scores": False})["raw_scores"]:
            graph.node("Identity", [scores], [proba])  # decision values, as asked
        elif binary:
            graph.link_binary(raw, model, proba)
        else:
            graph.node("Softmax", [raw], [proba], axis=1)
        return
    scores = graph.trees(features, _forest_ensemble(model, len(classes)))
    graph.average(scores, model, proba)
    graph.argmax_label(proba, classes, label)


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    graph = _Graph(scope, container)
    features = _features(graph, operator.inputs, model)
    output = operator.outputs[0].full_name
    if not _is_boosting(model):
        graph.average(graph.trees(features, _forest_ensemble(model, 1)), model, output)
        return
    raw = graph.trees(features, _boosting_ensemble(model))
    link = type(model._loss.link).__name__ if hasattr(model, "_loss") else "IdentityLink"
    if _is_hist(model) and link == "LogLink":
        graph.node("Exp", [raw], [output])
    elif not _is_hist(model) or link == "IdentityLink":
        graph.node("Identity", [raw], [output])
    else:
        raise NotImplementedError(f"HistGradientBoosting link {link} is not exported to ONNX")


def raw_width(model: Any) -> int:
    """Columns of a boosting model's raw prediction (1 for regression and two classes)."""
    if _is_hist(model):
        return int(model.n_trees_per_iteration_)
    return int(model.estimators_.shape[1])


def _is_hist(model: Any) -> bool:
    return type(model).__name__.startswith("HistGradientBoosting")


def _is_boosting(model: Any) -> bool:
    return "GradientBoosting" in type(model).__name__


def _features(graph: _Graph, inputs: list[Any], model: Any) -> str:
    """The [rows, columns] float64 matrix the estimator predicts from.

    Trees, forests and GradientBoosting compare float32: the input goes through Cast(float)
    then Cast(double). HistGradientBoosting compares float64, after its own preprocessing when
    it has categorical features: their codes first (its OrdinalEncoder, as a lookup table from
    training/onnx_encoders.py, text included), then the numbers.
    """
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType

    if _is_hist(model) and model._preprocessor is not None:
        return _hist_preprocessed(graph, inputs, model)
    if len(inputs) == 1:
        matrix = str(inputs[0].full_name)
        if _is_hist(model) and not isinstance(inputs[0].type, DoubleTensorType):
            matrix = graph.as_double(matrix)
    else:
        matrix = graph.concat([column.name for column in graph.columns(inputs)])
    if _is_hist(model):
        return matrix
    as_float32 = graph.output("Cast", [matrix], "as_float32", to=TensorProto.FLOAT)
    return graph.as_double(as_float32)


def _hist_preprocessed(graph: _Graph, inputs: list[Any], model: Any) -> str:
    preprocessor = model._preprocessor
    if preprocessor.output_indices_["encoder"].start != 0:
        raise NotImplementedError("HistGradientBoosting's categories are not its first columns")
    columns = graph.columns(inputs)
    categorical = np.asarray(model.is_categorical_, dtype=bool)
    tables = onnx_encoders.lookups(preprocessor.named_transformers_["encoder"])
    codes = [
        onnx_encoders.encode(graph, columns[j], table)
        for j, table in zip(np.flatnonzero(categorical), tables, strict=True)
    ]
    numbers = [columns[j] for j in np.flatnonzero(~categorical)]
    if any(column.text for column in numbers):
        raise NotImplementedError("HistGradientBoosting got text in a numeric column")
    return graph.concat([*codes, *(column.name for column in numbers)])


def _forest_ensemble(model: Any, n_targets: int) -> Ensemble:
    """A tree or forest: per tree and class, the leaf's class fraction (or its value)."""
    estimators = getattr(model, "estimators_", [model])
    ensemble = Ensemble(n_targets)
    for estimator in estimators:
        tree = cart_tree(estimator)
        values = estimator.tree_.value[:, 0, :]
        for target in range(n_targets):
            ensemble.add_tree(tree, target, values[:, target])
    return ensemble


def _boosting_ensemble(model: Any) -> Ensemble:
    """The initial raw prediction, then every stage's trees in scikit-learn's order."""
    width = raw_width(model)
    ensemble = Ensemble(width)
    for target, start in enumerate(_initial_raw(model)):
        ensemble.add_constant(target, float(start))
    if _is_hist(model):
        known = hist_known_codes(model)
        for stage in model._predictors:
            for target, predictor in enumerate(stage):
                tree = hist_tree(predictor, known)
                ensemble.add_tree(tree, target, predictor.nodes["value"])
        return ensemble
    for stage in model.estimators_:
        for target, estimator in enumerate(stage):
            values = model.learning_rate * estimator.tree_.value[:, 0, 0]
            ensemble.add_tree(cart_tree(estimator), target, values)
    return ensemble


def _initial_raw(model: Any) -> np.ndarray:
    width = raw_width(model)
    if _is_hist(model):
        baseline = np.asarray(model._baseline_prediction, dtype=np.float64)
        return np.broadcast_to(np.ravel(baseline), (width,))
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if not (model.init_ == "zero" or isinstance(model.init_, DummyClassifier | DummyRegressor)):
        raise NotImplementedError("GradientBoosting with a custom init estimator")
    row = np.zeros((1, model.n_features_in_), dtype=np.float32)
    return np.ravel(np.asarray(model._raw_predict_init(row), dtype=np.float64))


class _Graph(Graph):
    """The graph helper, with the trees, their average, links and labels."""

    def trees(self, features: str, ensemble: Ensemble, dtype: type = np.float64) -> str:
        from onnx import numpy_helper

        output = self.name("tree_sums")
        self.container.add_node(
            "TreeEnsemble",
            [features],
            [output],
            op_domain=ML_DOMAIN,
            op_version=ML_OPSET,
            name=self.scope.get_unique_operator_name("TreeEnsemble"),
            aggregate_function=1,  # SUM, tree by tree
            post_transform=0,
            n_targets=ensemble.n_targets,
            tree_roots=ensemble.roots,
            nodes_featureids=ensemble.features,
            nodes_modes=numpy_helper.from_array(np.array(ensemble.modes, dtype=np.uint8)),
            nodes_splits=numpy_helper.from_array(np.array(ensemble.splits, dtype=dtype)),
            nodes_truenodeids=ensemble.true_ids,
            nodes_trueleafs=ensemble.true_leafs,
            nodes_falsenodeids=ensemble.false_ids,
            nodes_falseleafs=ensemble.false_leafs,
            nodes_missing_value_tracks_true=ensemble.missing_true,
            leaf_targetids=ensemble.leaf_targets,
            leaf_weights=numpy_helper.from_array(np.array(ensemble.leaf_weights, dtype=dtype)),
            **_membership(ensemble),
        )
        return output

    def average(self, sums: str, model: Any, output: str) -> None:
        """A forest's mean over its trees (sum, then one division); a single tree as is."""
        count = len(getattr(model, "estimators_", [model]))
        if not hasattr(model, "estimators_"):
            self.node("Identity", [sums], [output])
            return
        self.node("Div", [sums, self.constant("tree_count", np.array(count, np.float64))], [output])

    def link_binary(self, raw: str, model: Any, proba: str) -> None:
        link = type(model._loss.link).__name__
        if link == "LogitLink":
            self.node("Sigmoid", [raw], [positive := self.name("positive")])
        elif type(model._loss).__name__ == "ExponentialLoss":
            twice = self.name("twice_raw")
            self.node("Add", [raw, raw], [twice])
            self.node("Sigmoid", [twice], [positive := self.name("positive")])
        else:
            raise NotImplementedError(f"binary link {link} is not exported to ONNX")
        one = self.constant("one", np.array(1.0, np.float64))
        self.node("Sub", [one, positive], [negative := self.name("negative")])
        self.node("Concat", [negative, positive], [proba], axis=1)

    def binary_label(self, raw: str, model: Any, classes: np.ndarray, label: str) -> None:
        zero = self.constant("zero", np.array(0.0, np.float64))
        if _is_hist(model):
            self.node("Greater", [raw, zero], [positive := self.name("is_positive")])
        else:
            self.node("GreaterOrEqual", [raw, zero], [positive := self.name("is_positive")])
        from onnx import TensorProto

        self.node("Cast", [positive], [index := self.name("class_index")], to=TensorProto.INT64)
        self.node(
            "Squeeze", [index, self.constant("axis", np.array([1]))], [flat := self.name("flat")]
        )
        self.node("Gather", [self.constant("classes", label_values(classes)), flat], [label])


def _membership(ensemble: Ensemble) -> dict[str, Any]:
    if not ensemble.members:
        return {}
    from onnx import numpy_helper

    values = np.array(ensemble.members, dtype=np.float64)
    return {"membership_values": numpy_helper.from_array(values)}
