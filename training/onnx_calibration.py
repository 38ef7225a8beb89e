"""An exact ONNX converter for CalibratedClassifierCV, sigmoid and isotonic.

skl2onnx's answers isotonic calibration with the nearest threshold's value instead of
interpolating, and asks members without the option for decision values. Here each fold's
estimator is parsed as any model (training/onnx_members.py) for its decision values (its
probabilities when it has no decision_function), then, as scikit-learn computes it: each
calibrator (sigmoid `expit(-(a*t + b))`; isotonic `np.interp` over its thresholds, clipped
first); two classes give [1 - p, p], more are divided by their sum (1/n where it is 0); values
just above 1 become 1; the folds' probabilities are summed in order and divided by their count.
Temperature scaling raises NotImplementedError: the export is skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_graph import Graph
from training.onnx_members import declare_classifier, member_outputs, register_meta_classifier

ALIAS = "SklearnCalibratedClassifierCV"


def register() -> None:
    """Make skl2onnx parse and convert CalibratedClassifierCV with this module (idempotent)."""
    from sklearn.calibration import CalibratedClassifierCV

    register_meta_classifier(CalibratedClassifierCV, ALIAS, convert_calibrated, parse_calibrated)


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
        scores.append(member_outputs(scope, estimator, inputs, raw_scores=decision)[1])
    return declare_classifier(scope, ALIAS, model, scores, with_proba=True)


def convert_calibrated(scope: Any, operator: Any, container: Any) -> None:
    graph = Graph(scope, container)
    model = operator.raw_operator
    folds = [
        _calibrated_proba(graph, calibrated, scores.full_name, model.classes_)
        for calibrated, scores in zip(model.calibrated_classifiers_, operator.inputs, strict=True)
    ]
    total = graph.sum_in_order(folds)
    count = graph.constant("folds", np.float64(len(folds)))
    mean = graph.output("Div", [total, count], "mean_proba")
    graph.node("Identity", [mean], [operator.outputs[1].full_name])
    graph.argmax_label(mean, model.classes_, operator.outputs[0].full_name)


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
        t = graph.column(scores, column)
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
    cells = [columns[k] if k in columns else graph.filled(some, 0.0) for k in range(n_classes)]
    denominator = graph.sum_in_order(cells)
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
        return graph.output("Add", [graph.filled(t, 0.0), graph.constant("y", fp[:1])], "constant")
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
