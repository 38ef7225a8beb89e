"""Meta-estimators' members in skl2onnx: each parsed as any model, then one combining operator.

skl2onnx's own meta-estimator converters look each member up by its class, which fails for a
Pipeline member, and give classifiers a ZipMap. Here a member (a Pipeline too) is parsed as
skl2onnx parses any model, without ZipMap (and asked for its decision values where the
meta-estimator uses them), and the meta-estimator's operator takes the members' outputs.
"""

from __future__ import annotations

from typing import Any


def register_meta_classifier(estimator: type, alias: str, convert: Any, parse: Any) -> None:
    """Register a meta-classifier's parser and its combining operator's converter."""
    from skl2onnx import update_registered_converter, update_registered_parser

    update_registered_converter(
        estimator, alias, classifier_shapes, convert, overwrite=True, options={"zipmap": [False]}
    )
    update_registered_parser(estimator, parse)


def member_outputs(
    scope: Any, member: Any, inputs: list[Any], raw_scores: bool = False
) -> list[Any]:
    """A classifier (or a Pipeline ending in one) parsed without ZipMap: [label, scores].

    The scores are probabilities, or decision values with `raw_scores` (the linear converters'
    option, and training/onnx_trees.py's boosting).
    """
    from skl2onnx._parse import _parse_sklearn

    final = member.steps[-1][1] if hasattr(member, "steps") else member
    options = {"zipmap": False, **({"raw_scores": True} if raw_scores else {})}
    scope.add_options(id(final), options)
    return list(_parse_sklearn(scope, member, inputs))


def declare_classifier(
    scope: Any, alias: str, model: Any, inputs: list[Any], with_proba: bool
) -> list[Any]:
    """The combining operator: its label output, and its probabilities if it has them."""
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType

    operator = scope.declare_local_operator(alias, model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    if with_proba:
        operator.outputs.append(scope.declare_local_variable("probabilities", DoubleTensorType()))
    return list(operator.outputs)


def classifier_shapes(operator: Any) -> None:
    """Labels as the classes are (text or int64), probabilities float64 [rows, classes]."""
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    classes = operator.raw_operator.classes_
    rows = operator.inputs[0].get_first_dimension()
    text = classes.dtype.kind in "OUS"
    operator.outputs[0].type = StringTensorType([rows]) if text else Int64TensorType([rows])
    if len(operator.outputs) > 1:
        operator.outputs[1].type = DoubleTensorType([rows, len(classes)])
