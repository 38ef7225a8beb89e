"""Exact ONNX for VotingClassifier and CalibratedClassifierCV: members parsed, then combined.

skl2onnx's VotingClassifier refuses the default `flatten_transform=True` (even to predict) and
scales each member by 1/n before summing; its CalibratedClassifierCV answers isotonic
calibration with the nearest threshold's value instead of interpolating. Here each member (a
Pipeline too) is parsed as skl2onnx parses any model, classifiers without ZipMap, and one
operator then combines the members' outputs as scikit-learn does, in its order:

- soft voting: (p1*w1 + p2*w2 + ...) / sum(w), or (p1 + p2 + ...) / n (`np.average`);
- hard voting: per class, the sum of the weights (or the count) of the members that chose it,
  first largest wins (`np.bincount` then `np.argmax`); a hard VotingClassifier has no
  predict_proba, and neither has its graph;
- calibration: each fold's decision values (or probabilities when the estimator has no
  decision_function) go through its calibrators: sigmoid `expit(-(a*t + b))`, isotonic
  `np.interp` over the thresholds (clipped first); two classes give [1 - p, p], more are
  normalised by their sum; the folds' probabilities are summed in order and divided by their
  count. Decision values come from the member converters' `raw_scores` option (the linear
  ones, and training/onnx_trees.py's boosting).

Temperature scaling raises NotImplementedError: the export is skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_graph import Graph

VOTING_ALIAS = "SklearnVotingClassifier"
CALIBRATED_ALIAS = "SklearnCalibratedClassifierCV"
STACK_ALIAS = "ProjectStackedPredictions"
LABELS_ALIAS = "ProjectStackedLabels"


def register() -> None:
    """Make skl2onnx parse and convert the meta-estimators with this module (idempotent)."""
    from skl2onnx import update_registered_converter, update_registered_parser
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import StackingClassifier, StackingRegressor, VotingClassifier

    update_registered_parser(StackingClassifier, parse_stacking)
    update_registered_parser(StackingRegressor, parse_stacking)
    register_converter(STACK_ALIAS, convert_stacked, overwrite=True)
    register_shape_calculator(STACK_ALIAS, _stacked_shape, overwrite=True)
    register_converter(LABELS_ALIAS, convert_stacked_labels, overwrite=True)
    register_shape_calculator(LABELS_ALIAS, _classifier_shapes, overwrite=True)

    for estimator, alias, parse, convert in (
        (VotingClassifier, VOTING_ALIAS, parse_voting, convert_voting),
        (CalibratedClassifierCV, CALIBRATED_ALIAS, parse_calibrated, convert_calibrated),
    ):
        update_registered_converter(
            estimator,
            alias,
            _classifier_shapes,
            convert,
            overwrite=True,
            options={"zipmap": [False]},
        )
        update_registered_parser(estimator, parse)


def _classifier_shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    classes = operator.raw_operator.classes_
    rows = operator.inputs[0].get_first_dimension()
    text = classes.dtype.kind in "OUS"
    operator.outputs[0].type = StringTensorType([rows]) if text else Int64TensorType([rows])
    if len(operator.outputs) > 1:
        operator.outputs[1].type = DoubleTensorType([rows, len(classes)])


def _member_outputs(
    scope: Any, member: Any, inputs: list[Any], raw_scores: bool = False
) -> list[Any]:
    """A classifier (or a Pipeline ending in one) parsed without ZipMap: [label, scores]."""
    from skl2onnx._parse import _parse_sklearn

    final = member.steps[-1][1] if hasattr(member, "steps") else member
    options = {"zipmap": False, **({"raw_scores": True} if raw_scores else {})}
    scope.add_options(id(final), options)
    return list(_parse_sklearn(scope, member, inputs))


def _declare(scope: Any, alias: str, model: Any, inputs: list[Any], with_proba: bool) -> list[Any]:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType

    operator = scope.declare_local_operator(alias, model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    if with_proba:
        operator.outputs.append(scope.declare_local_variable("probabilities", DoubleTensorType()))
    return list(operator.outputs)


def parse_voting(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Every member's labels (hard) or probabilities (soft), then the vote."""
    position = 0 if model.voting == "hard" else 1
    members = [_member_outputs(scope, member, inputs)[position] for member in model.estimators_]
    return _declare(scope, VOTING_ALIAS, model, members, with_proba=model.voting == "soft")


def convert_voting(scope: Any, operator: Any, container: Any) -> None:
    graph = Graph(scope, container)
    model = operator.raw_operator
    members = [member.full_name for member in operator.inputs]
    weights = model._weights_not_none
    if model.voting == "soft":
        scores = _weighted_sum(graph, members, weights)
        divisor = float(np.sum(np.asarray(weights, dtype=np.float64))) if weights else len(members)
        average = graph.output("Div", [scores, graph.constant("count", np.float64(divisor))], "avg")
        graph.node("Identity", [average], [operator.outputs[1].full_name])
    else:
        classes = graph.constant("classes", np.arange(len(model.classes_)).reshape(1, -1))
        column = graph.constant("column", np.array([-1, 1], dtype=np.int64))
        votes = [
            graph.as_double(
                graph.output(
                    "Equal", [graph.output("Reshape", [m, column], "label"), classes], "vote"
                )
            )
            for m in members
        ]
        scores = _weighted_sum(graph, votes, weights)
    _label(graph, scores, model.classes_, operator.outputs[0].full_name)


def _weighted_sum(graph: Graph, terms: list[str], weights: list[float] | None) -> str:
    """(t1*w1 + t2*w2) + ...; without weights (t1 + t2) + ...: NumPy's order."""
    if weights:
        terms = [
            graph.output("Mul", [term, graph.constant("weight", np.float64(weight))], "weighted")
            for term, weight in zip(terms, weights, strict=True)
        ]
    return _sum_in_order(graph, terms)


def parse_stacking(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """The members' predictions side by side (StackingClassifier.transform), then the final
    estimator on them; a classifier's labels are its classes at the final estimator's index."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.base import is_classifier

    classifier = is_classifier(model)
    predictions = []
    for member, method in zip(model.estimators_, model.stack_method_, strict=True):
        if classifier:
            outputs = _member_outputs(scope, member, inputs, method == "decision_function")
            predictions.append(outputs[0] if method == "predict" else outputs[1])
        else:
            predictions.append(_parse_sklearn(scope, member, inputs)[0])
    stacked = scope.declare_local_operator(STACK_ALIAS, model)
    stacked.inputs = predictions + (list(inputs) if model.passthrough else [])
    stacked.outputs.append(scope.declare_local_variable("stacked", DoubleTensorType()))
    if not classifier:
        return _parse_sklearn(scope, model.final_estimator_, stacked.outputs)
    final = _member_outputs(scope, model.final_estimator_, list(stacked.outputs))
    return _declare(scope, LABELS_ALIAS, model, final, with_proba=True)


def _stacked_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, None])


def convert_stacked(scope: Any, operator: Any, container: Any) -> None:
    """StackingClassifier/Regressor._concatenate_predictions: one block per member (labels and
    decision values of two classes one column; probabilities of two classes the second
    column), then the input itself with passthrough."""
    from skl2onnx.common.data_types import DoubleTensorType

    graph = Graph(scope, container)
    model = operator.raw_operator
    two_classes = len(getattr(model, "classes_", [])) == 2
    blocks = []
    for variable, method in zip(operator.inputs, model.stack_method_, strict=False):
        name = variable.full_name
        if not isinstance(variable.type, DoubleTensorType):
            name = graph.as_double(name)
        if method == "predict":
            column = graph.constant("column", np.array([-1, 1], dtype=np.int64))
            name = graph.output("Reshape", [name, column], "predicted")
        elif two_classes:
            name = _column(graph, name, 1)
        blocks.append(name)
    passed = operator.inputs[len(model.stack_method_) :]
    blocks.extend(c.name for c in graph.columns(passed))
    graph.node("Identity", [graph.concat(blocks, "stacked")], [operator.outputs[0].full_name])


def convert_stacked_labels(scope: Any, operator: Any, container: Any) -> None:
    """The final estimator's label (an index into the classes) as the class, its probabilities
    as they are."""
    from training.onnx_trees import _label_values

    graph = Graph(scope, container)
    classes = graph.constant("classes", _label_values(operator.raw_operator.classes_))
    graph.node("Gather", [classes, operator.inputs[0].full_name], [operator.outputs[0].full_name])
    graph.node("Identity", [operator.inputs[1].full_name], [operator.outputs[1].full_name])


def parse_calibrated(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Each fold's decision values (or probabilities), then calibration and the mean."""
    if model.method not in ("sigmoid", "isotonic"):
        raise NotImplementedError(
            f"CalibratedClassifierCV(method={model.method!r}) is not exported"
        )
    scores = []
    for calibrated in model.calibrated_classifiers_:
        estimator = calibrated.estimator
        decision = hasattr(estimator, "decision_function")
        scores.append(_member_outputs(scope, estimator, inputs, raw_scores=decision)[1])
    return _declare(scope, CALIBRATED_ALIAS, model, scores, with_proba=True)


def convert_calibrated(scope: Any, operator: Any, container: Any) -> None:
    graph = Graph(scope, container)
    model = operator.raw_operator
    folds = [
        _calibrated_proba(graph, calibrated, scores.full_name, model.classes_)
        for calibrated, scores in zip(model.calibrated_classifiers_, operator.inputs, strict=True)
    ]
    total = _sum_in_order(graph, folds)
    count = graph.constant("folds", np.float64(len(folds)))
    mean = graph.output("Div", [total, count], "mean_proba")
    graph.node("Identity", [mean], [operator.outputs[1].full_name])
    _label(graph, mean, model.classes_, operator.outputs[0].full_name)


def _calibrated_proba(graph: Graph, calibrated: Any, scores: str, classes: np.ndarray) -> str:
    """One fold's _CalibratedClassifier.predict_proba."""
    n_classes = len(classes)
    estimator_classes = list(calibrated.estimator.classes_)
    positions = [int(np.flatnonzero(classes == c)[0]) for c in estimator_classes]
    binary = n_classes == 2
    columns = [1] if binary else list(range(len(estimator_classes)))
    calibrated_columns: dict[int, str] = {}
    for column, position, calibrator in zip(
        columns, positions, calibrated.calibrators, strict=False
    ):
        t = _column(graph, scores, column)
        if binary:
            position += 1
        calibrated_columns[position] = _calibrate(graph, calibrator, t)
    if binary:
        positive = calibrated_columns[1]
        one = graph.constant("one", np.float64(1.0))
        proba = graph.concat([graph.output("Sub", [one, positive], "negative"), positive], "proba")
    else:
        proba = _normalised(graph, calibrated_columns, n_classes)
    one = graph.constant("one", np.float64(1.0))
    above = graph.output("Less", [one, proba], "above_one")
    near_one = graph.constant("near_one", np.float64(1.0 + 1e-5))
    near = graph.output("LessOrEqual", [proba, near_one], "near_one")
    clipped = graph.output("And", [above, near], "clipped")
    return graph.output("Where", [clipped, one, proba], "proba")


def _normalised(graph: Graph, columns: dict[int, str], n_classes: int) -> str:
    """The classes' calibrated columns divided by their sum (1/n_classes where it is 0)."""
    some = next(iter(columns.values()))
    cells = [columns[k] if k in columns else _zeros_like(graph, some) for k in range(n_classes)]
    denominator = _sum_in_order(graph, cells)
    proba = graph.output("Div", [graph.concat(cells, "proba"), denominator], "normalised")
    zero = graph.constant("zero", np.float64(0.0))
    is_zero = graph.output("Equal", [denominator, zero], "is_zero")
    uniform = graph.constant("uniform", np.float64(1.0 / n_classes))
    return graph.output("Where", [is_zero, uniform, proba], "proba")


def _calibrate(graph: Graph, calibrator: Any, t: str) -> str:
    """The calibrator's predict on one column of scores."""
    if type(calibrator).__name__ == "_SigmoidCalibration":
        a = graph.constant("a", np.float64(calibrator.a_))
        b = graph.constant("b", np.float64(calibrator.b_))
        z = graph.output("Add", [graph.output("Mul", [a, t], "at"), b], "at_plus_b")
        return graph.output("Sigmoid", [graph.output("Neg", [z], "minus_z")], "sigmoid")
    return _isotonic(graph, calibrator, t)


def _isotonic(graph: Graph, calibrator: Any, t: str) -> str:
    """IsotonicRegression.predict: clip (out_of_bounds="clip"), then np.interp.

    np.interp finds j with xp[j] <= t < xp[j+1] and answers slope[j] * (t - xp[j]) + fp[j],
    fp[0] below xp[0] and fp[-1] from xp[-1] on; j is how many thresholds are <= t, less one.
    """
    from onnx import TensorProto

    xp = np.asarray(calibrator.X_thresholds_, dtype=np.float64)
    fp = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
    if calibrator.out_of_bounds == "clip":
        low = graph.constant("x_min", np.float64(calibrator.X_min_))
        high = graph.constant("x_max", np.float64(calibrator.X_max_))
        t = graph.output("Min", [graph.output("Max", [t, low], "above_min"), high], "clipped")
    elif calibrator.out_of_bounds != "nan":
        raise NotImplementedError(f"IsotonicRegression(out_of_bounds={calibrator.out_of_bounds!r})")
    if len(xp) == 1:
        return graph.output("Add", [_zeros_like(graph, t), graph.constant("y", fp[:1])], "constant")
    slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])
    thresholds = graph.constant("x_thresholds", xp.reshape(1, -1))
    at_or_below = graph.as_double(graph.output("LessOrEqual", [thresholds, t], "at_or_below"))
    count = graph.reduce("ReduceSum", at_or_below, axis=1)
    lowest = graph.constant("lowest", np.float64(1.0))
    highest = graph.constant("highest", np.float64(len(xp) - 1))
    interval = graph.output(
        "Sub", [graph.output("Clip", [count, lowest, highest], "count"), lowest], "j"
    )
    j = graph.output("Cast", [interval], "j", to=TensorProto.INT64)
    slope = graph.output("Gather", [graph.constant("slopes", slopes), j], "slope", axis=0)
    x_low = graph.output("Gather", [graph.constant("x_low", xp[:-1]), j], "x_low", axis=0)
    y_low = graph.output("Gather", [graph.constant("y_low", fp[:-1]), j], "y_low", axis=0)
    rise = graph.output("Mul", [slope, graph.output("Sub", [t, x_low], "offset")], "rise")
    value = graph.output("Add", [rise, y_low], "interpolated")
    below = graph.output("Less", [t, graph.constant("x_first", np.float64(xp[0]))], "below")
    value = graph.output("Where", [below, graph.constant("y_first", fp[0]), value], "value")
    at_end = graph.output("GreaterOrEqual", [t, graph.constant("x_last", xp[-1])], "at_end")
    value = graph.output("Where", [at_end, graph.constant("y_last", fp[-1]), value], "value")
    return graph.output("Where", [graph.output("IsNaN", [t], "is_nan"), t, value], "isotonic")


def _column(graph: Graph, matrix: str, index: int) -> str:
    position = graph.constant("column", np.array([index], dtype=np.int64))
    return graph.output("Gather", [matrix, position], "column", axis=1)


def _zeros_like(graph: Graph, column: str) -> str:
    from onnx import TensorProto, helper

    shape = graph.output("Shape", [column], "shape")
    zero = helper.make_tensor("zero", TensorProto.DOUBLE, [1], [0.0])
    return graph.output("ConstantOfShape", [shape], "zeros", value=zero)


def _sum_in_order(graph: Graph, terms: list[str]) -> str:
    """((t1 + t2) + t3) + ...: the order NumPy adds along a reduced outer axis."""
    total = terms[0]
    for term in terms[1:]:
        total = graph.output("Add", [total, term], "sum")
    return total


def _label(graph: Graph, scores: str, classes: np.ndarray, label: str) -> None:
    from training.onnx_trees import _label_values

    index = graph.output("ArgMax", [scores], "class_index", axis=1, keepdims=0)
    graph.node("Gather", [graph.constant("classes", _label_values(classes)), index], [label])
