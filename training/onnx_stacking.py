"""An exact ONNX converter for StackingClassifier and StackingRegressor.

skl2onnx's takes only its members' probabilities for two classes (not decision values, which
`stack_method="auto"` picks for LinearSVC and the like) and looks members up by class, which
fails for a Pipeline. Here each member is parsed as any model (training/onnx_members.py), asked
for its decision values where the stack uses them, and the blocks are put side by side as
`StackingClassifier.transform` does before the final estimator, itself parsed as any model:
labels and two classes' decision values one column, two classes' probabilities the second
column, more classes all of theirs, then the input itself with `passthrough`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_graph import Graph, label_values
from training.onnx_members import classifier_shapes, declare_classifier, member_outputs

STACKED_ALIAS = "ProjectStackedPredictions"
LABELS_ALIAS = "ProjectStackedLabels"


def register() -> None:
    """Make skl2onnx parse both stacking estimators with this module (idempotent)."""
    from skl2onnx import update_registered_parser
    from skl2onnx.common._registration import register_converter, register_shape_calculator
    from sklearn.ensemble import StackingClassifier, StackingRegressor

    update_registered_parser(StackingClassifier, parse_stacking)
    update_registered_parser(StackingRegressor, parse_stacking)
    register_converter(STACKED_ALIAS, convert_stacked, overwrite=True)
    register_shape_calculator(STACKED_ALIAS, _stacked_shape, overwrite=True)
    register_converter(LABELS_ALIAS, convert_stacked_labels, overwrite=True)
    register_shape_calculator(LABELS_ALIAS, classifier_shapes, overwrite=True)


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
            outputs = member_outputs(scope, member, inputs, method == "decision_function")
            predictions.append(outputs[0] if method == "predict" else outputs[1])
        else:
            predictions.append(_parse_sklearn(scope, member, inputs)[0])
    stacked = scope.declare_local_operator(STACKED_ALIAS, model)
    stacked.inputs = predictions + (list(inputs) if model.passthrough else [])
    stacked.outputs.append(scope.declare_local_variable("stacked", DoubleTensorType()))
    if not classifier:
        return _parse_sklearn(scope, model.final_estimator_, stacked.outputs)
    final = member_outputs(scope, model.final_estimator_, list(stacked.outputs))
    return declare_classifier(scope, LABELS_ALIAS, model, final, with_proba=True)


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
            name = graph.column(name, 1)
        blocks.append(name)
    passed = operator.inputs[len(model.stack_method_) :]
    blocks.extend(c.name for c in graph.columns(passed))
    graph.node("Identity", [graph.concat(blocks, "stacked")], [operator.outputs[0].full_name])


def convert_stacked_labels(scope: Any, operator: Any, container: Any) -> None:
    """The final estimator's label (an index into the classes) as the class, its probabilities
    as they are."""
    graph = Graph(scope, container)
    classes = graph.constant("classes", label_values(operator.raw_operator.classes_))
    graph.node("Gather", [classes, operator.inputs[0].full_name], [operator.outputs[0].full_name])
    graph.node("Identity", [operator.inputs[1].full_name], [operator.outputs[1].full_name])
