"""An exact float64 SimpleImputer converter for skl2onnx (numbers with NaN as missing).

skl2onnx 1.20 writes SimpleImputer as ai.onnx.ml `Imputer`, which onnxruntime runs on
float32 only, so a float64 pipeline with an imputer does not load. Here a number column's
NaN becomes the fitted statistic with Where(IsNaN(x), statistic, x): the same float64 values
scikit-learn writes. Text columns and other options keep skl2onnx's own converter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_registered = False


def register_exact_imputer() -> None:
    """Route float64 SimpleImputer conversions through `_convert` (idempotent)."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common._registration import get_converter, get_shape_calculator
    from sklearn.impute import SimpleImputer

    alias = "SklearnSimpleImputer"
    original = get_converter(alias)
    shapes = get_shape_calculator(alias)

    def convert(scope: Any, operator: Any, container: Any) -> None:
        if not _handles(operator):
            original(scope, operator, container)
            return
        _convert(scope, operator, container)

    update_registered_converter(SimpleImputer, alias, shapes, convert)
    _registered = True


def _handles(operator: Any) -> bool:
    from skl2onnx.common.data_types import DoubleTensorType

    model = operator.raw_operator
    missing = model.missing_values
    return (
        len(operator.inputs) == 1
        and isinstance(operator.inputs[0].type, DoubleTensorType)
        and isinstance(missing, float)
        and np.isnan(missing)
        and not model.add_indicator
        and not np.isnan(np.asarray(model.statistics_, dtype=np.float64)).any()
    )


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from onnx import numpy_helper

    source = operator.inputs[0].full_name
    statistics = np.asarray(operator.raw_operator.statistics_, dtype=np.float64)[np.newaxis, :]
    fill = scope.get_unique_variable_name("imputer_statistics")
    container.initializers.append(numpy_helper.from_array(statistics, fill))
    missing = scope.get_unique_variable_name("is_missing")
    container.add_node("IsNaN", [source], [missing], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where",
        [missing, fill, source],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )
