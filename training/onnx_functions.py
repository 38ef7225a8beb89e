"""NumPy ufuncs in ONNX: FunctionTransformer(np.log1p, ...) and TransformedTargetRegressor.

skl2onnx converts a FunctionTransformer only when it is the identity, and has no converter for
TransformedTargetRegressor. Both apply an elementwise NumPy function, which ONNX has for
`log`, `exp`, `sqrt`, `square` and `abs`. ONNX has no `log1p` or `expm1`, and Log(1 + x) loses
x's last digits when x is small; they are computed with Kahan's formulas instead, as accurate
as NumPy's own (within a unit in the last place):

    log1p(x) = x                      where 1 + x == 1 (or x is inf),
               log(1 + x) * x / ((1 + x) - 1) elsewhere
    expm1(x) = x                      where exp(x) == 1,
               (exp(x) - 1) * x / log(exp(x)) elsewhere

(expm1 is -1 where exp(x) - 1 == -1 and inf where exp(x) is inf). Sqrt is correctly rounded in
both; Log and Exp may differ from NumPy's in the last place, far inside the parity tolerance.

TransformedTargetRegressor predicts `inverse(regressor.predict(X))`: the regressor is converted
as usual, then its output goes through the inverse, an ufunc above or a StandardScaler's
`x * scale_ + mean_`. Other functions and transformers raise NotImplementedError: the export is
skipped and scikit-learn serves the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from training.onnx_graph import Graph

TARGET_ALIAS = "SklearnTransformedTargetRegressor"


def _log1p(graph: Graph, x: str) -> str:
    one = graph.constant("one", np.array(1.0))
    u = graph.output("Add", [one, x], "one_plus_x")
    exact = graph.output("Equal", [u, one], "is_one")
    ratio = graph.output("Div", [x, graph.output("Sub", [u, one], "u_minus_one")], "ratio")
    kahan = graph.output("Mul", [graph.output("Log", [u], "log_u"), ratio], "log1p")
    infinite = graph.output("IsInf", [x], "is_inf", detect_negative=0)
    value = graph.output("Where", [infinite, x, kahan], "log1p")
    return graph.output("Where", [exact, x, value], "log1p")


def _expm1(graph: Graph, x: str) -> str:
    one = graph.constant("one", np.array(1.0))
    u = graph.output("Exp", [x], "exp")
    u_minus_one = graph.output("Sub", [u, one], "u_minus_one")
    ratio = graph.output("Div", [x, graph.output("Log", [u], "log_u")], "ratio")
    kahan = graph.output("Mul", [u_minus_one, ratio], "expm1")
    minus_one = graph.constant("minus_one", np.array(-1.0))
    infinite = graph.output("IsInf", [u], "is_inf", detect_negative=0)
    value = graph.output("Where", [infinite, u, kahan], "expm1")
    saturated = graph.output("Equal", [u_minus_one, minus_one], "is_minus_one")
    value = graph.output("Where", [saturated, minus_one, value], "expm1")
    return graph.output("Where", [graph.output("Equal", [u, one], "is_one"), x, value], "expm1")


UFUNCS: dict[Any, Callable[[Graph, str], str]] = {
    np.log: lambda graph, x: graph.output("Log", [x], "log"),
    np.exp: lambda graph, x: graph.output("Exp", [x], "exp"),
    np.sqrt: lambda graph, x: graph.output("Sqrt", [x], "sqrt"),
    np.square: lambda graph, x: graph.output("Mul", [x, x], "square"),
    np.abs: lambda graph, x: graph.output("Abs", [x], "abs"),
    np.log1p: _log1p,
    np.expm1: _expm1,
}


def apply_function(graph: Graph, function: Any, x: str, where: str) -> str:
    """function(x) elementwise; None is the identity."""
    if function is None:
        return x
    if function not in UFUNCS:
        name = getattr(function, "__name__", repr(function))
        raise NotImplementedError(f"{where}({name}) is not exported to ONNX")
    return UFUNCS[function](graph, x)


def register() -> None:
    """Make skl2onnx convert FunctionTransformer and TransformedTargetRegressor (idempotent)."""
    from skl2onnx import update_registered_converter, update_registered_parser
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import FunctionTransformer

    update_registered_converter(
        FunctionTransformer,
        "SklearnFunctionTransformer",
        _same_shape,
        convert_function_transformer,
        overwrite=True,
    )
    update_registered_converter(
        TransformedTargetRegressor,
        TARGET_ALIAS,
        _same_shape,
        convert_target_inverse,
        overwrite=True,
    )
    update_registered_parser(TransformedTargetRegressor, parse_target_regressor)


def _same_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    inputs = operator.inputs
    widths = [variable.type.shape[1] for variable in inputs]
    width = sum(widths) if all(isinstance(w, int) for w in widths) else None
    operator.outputs[0].type = DoubleTensorType([inputs[0].get_first_dimension(), width])


def convert_function_transformer(scope: Any, operator: Any, container: Any) -> None:
    """func(X) on the transformer's columns, side by side."""
    graph = Graph(scope, container)
    transformer = operator.raw_operator
    if transformer.kw_args:
        raise NotImplementedError("FunctionTransformer(kw_args) is not exported to ONNX")
    columns = graph.columns(operator.inputs)
    if any(column.text for column in columns):
        raise NotImplementedError("FunctionTransformer on text is not exported to ONNX")
    x = graph.concat([column.name for column in columns])
    result = apply_function(graph, transformer.func, x, "FunctionTransformer")
    graph.node("Identity", [result], [operator.outputs[0].full_name])


def parse_target_regressor(
    scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None
) -> Any:
    """The regressor as skl2onnx parses it, then the inverse of the target transform."""
    from skl2onnx._parse import _parse_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    predicted = _parse_sklearn(scope, model.regressor_, inputs, custom_parsers=custom_parsers)
    inverse = scope.declare_local_operator(TARGET_ALIAS, model)
    inverse.inputs = predicted[:1]
    inverse.outputs.append(scope.declare_local_variable("variable", DoubleTensorType()))
    return inverse.outputs


def convert_target_inverse(scope: Any, operator: Any, container: Any) -> None:
    """inverse_func(prediction), or the StandardScaler's inverse_transform."""
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    graph = Graph(scope, container)
    transformer = operator.raw_operator.transformer_
    predicted = graph.columns(operator.inputs)[0].name
    if isinstance(transformer, FunctionTransformer):
        if transformer.inv_kw_args:
            raise NotImplementedError("TransformedTargetRegressor(inv_kw_args) is not exported")
        result = apply_function(
            graph, transformer.inverse_func, predicted, "TransformedTargetRegressor"
        )
    elif isinstance(transformer, StandardScaler):
        result = predicted
        if transformer.with_std:
            scale = graph.constant("scale", np.asarray(transformer.scale_, dtype=np.float64))
            result = graph.output("Mul", [result, scale], "scaled")
        if transformer.with_mean:
            mean = graph.constant("mean", np.asarray(transformer.mean_, dtype=np.float64))
            result = graph.output("Add", [result, mean], "centred")
    else:
        name = type(transformer).__name__
        raise NotImplementedError(f"TransformedTargetRegressor({name}) is not exported to ONNX")
    graph.node("Identity", [result], [operator.outputs[0].full_name])
