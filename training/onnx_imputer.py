"""An ONNX converter for SimpleImputer that onnxruntime can run on float64 and text columns.

skl2onnx's own emits `ai.onnx.ml.Imputer`, which onnxruntime implements for float32 and int64
only (float64 pipelines fail to load), and refuses text columns whose missing value is NaN.
Both become `Where(missing, statistics_, X)`: IsNaN marks missing numbers; a missing text cell
reaches the graph as MISSING_TEXT (a string tensor holds no NaN), which Equal marks (opset 19).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from serving.runtimes.onnx_runtime import MISSING_TEXT

MIN_OPSET = 19  # Equal on strings


def register() -> None:
    """Make skl2onnx convert every SimpleImputer with `convert_imputer` (idempotent)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.shape_calculators.imputer import calculate_sklearn_imputer_output_shapes
    from sklearn.impute import SimpleImputer

    update_registered_converter(
        SimpleImputer,
        "SklearnSimpleImputer",
        calculate_sklearn_imputer_output_shapes,
        convert_imputer,
        overwrite=True,
    )


def convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Where(missing(X), statistics_, X) over the imputer's concatenated input columns."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables

    imputer = operator.raw_operator
    if getattr(imputer, "add_indicator", False) or getattr(imputer, "keep_empty_features", False):
        raise NotImplementedError("SimpleImputer(add_indicator or keep_empty_features)")
    if np.size(imputer.statistics_) != sum(v.type.shape[1] or 0 for v in operator.inputs):
        raise NotImplementedError("SimpleImputer dropped all-missing columns")
    source = concatenate_variables(scope, operator.inputs, container)
    text = isinstance(operator.inputs[0].type, StringTensorType)
    fill = scope.get_unique_variable_name("fill")
    missing = scope.get_unique_variable_name("missing")
    marker = imputer.missing_values
    if text:
        values = [str(v).encode() for v in imputer.statistics_]
        container.add_initializer(fill, TensorProto.STRING, [len(values)], values)
        blank = scope.get_unique_variable_name("blank")
        as_text = MISSING_TEXT if _is_nan(marker) else str(marker)
        container.add_initializer(blank, TensorProto.STRING, [], [as_text.encode()])
        container.add_node("Equal", [source, blank], [missing], op_version=MIN_OPSET)
    else:
        statistics = np.asarray(imputer.statistics_, dtype=np.float64)
        container.add_initializer(fill, TensorProto.DOUBLE, [statistics.size], statistics.tolist())
        if _is_nan(marker):
            container.add_node("IsNaN", [source], [missing], op_version=13)
        else:
            value = scope.get_unique_variable_name("marker")
            container.add_initializer(value, TensorProto.DOUBLE, [], [float(marker)])
            container.add_node("Equal", [source, value], [missing], op_version=13)
    container.add_node("Where", [missing, fill, source], [operator.outputs[0].full_name])


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
