"""An exact ONNX converter for SplineTransformer (skl2onnx has none).

Inside the knots, scikit-learn evaluates each feature's B-spline basis with SciPy's de Boor
recursion (`_deBoor_D` in SciPy's `__fitpack.cc`): the interval `l` with t[l] <= x < t[l+1]
(the last one at x == t[n]), then for j = 1..k and i = 1..j, with a = t[l+i-j], b = t[l+i]:

    w = h[i-1] / (b - a);  h[i-1] = h[i-1] + w * (b - x);  h[i] = w * (x - a)

(h[i] = 0 where b == a). The k+1 values are the basis functions l-k..l; every other one is 0.
The graph repeats those operations, in that order, in float64, for every row at once.
Outside the knots, "constant" gives the basis at the nearest end (its first or last `degree`
columns) and "linear" extends them with the end's slope, both as scikit-learn writes them;
"continue" evaluates the end polynomial. "periodic" and "error" raise NotImplementedError (the
export is skipped), as does handle_missing other than "error" or sparse output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_graph import Graph


def register() -> None:
    """Make skl2onnx convert SplineTransformer with `convert_splines` (idempotent)."""
    from skl2onnx import update_registered_converter
    from sklearn.preprocessing import SplineTransformer

    update_registered_converter(
        SplineTransformer, "SklearnSplineTransformer", _shape, convert_splines, overwrite=True
    )


def _shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    width = int(operator.raw_operator.n_features_out_)
    operator.outputs[0].type = DoubleTensorType([rows, width])


def convert_splines(scope: Any, operator: Any, container: Any) -> None:
    """Every feature's basis functions side by side, less the last one without include_bias."""
    graph = Graph(scope, container)
    model = operator.raw_operator
    if model.extrapolation not in ("constant", "linear", "continue"):
        raise NotImplementedError(f"SplineTransformer(extrapolation={model.extrapolation!r})")
    if model.handle_missing != "error" or model.sparse_output:
        raise NotImplementedError("SplineTransformer(handle_missing or sparse_output)")
    columns = graph.columns(operator.inputs)
    if any(column.text for column in columns):
        raise NotImplementedError("SplineTransformer on text is not exported to ONNX")
    blocks = []
    degree = int(model.degree)
    for column, spline in zip(columns, model.bsplines_, strict=True):
        basis = _basis(graph, column.name, spline)
        if model.extrapolation != "continue":
            basis = _outside(graph, column.name, spline, basis, (model.extrapolation, degree))
        if model.extrapolation == "linear" and degree <= 1:
            degree += 1  # scikit-learn's transform raises it once, for the next features too
        if not model.include_bias:
            kept = np.arange(spline.c.shape[1] - 1, dtype=np.int64)
            basis = graph.output("Gather", [basis, graph.constant("kept", kept)], "kept", axis=1)
        blocks.append(basis)
    graph.node("Identity", [graph.concat(blocks, "splines")], [operator.outputs[0].full_name])


def _basis(graph: Graph, x: str, spline: Any) -> str:
    """The de Boor values placed in their columns: [rows, n_splines]."""
    t = np.asarray(spline.t, dtype=np.float64)
    k = int(spline.k)
    n = len(t) - k - 1
    interval = _interval(graph, x, t[k + 1 : n], k)
    knots = graph.constant("knots", t)
    zeros, ones = graph.filled(x, 0.0), graph.filled(x, 1.0)
    h = [ones]
    for j in range(1, k + 1):
        previous, h = h, [zeros] * (j + 1)
        for i in range(1, j + 1):
            b, a = _knot(graph, knots, interval, i), _knot(graph, knots, interval, i - j)
            same = graph.output("Equal", [b, a], "same_knot")
            w = graph.output("Div", [previous[i - 1], graph.output("Sub", [b, a], "span")], "w")
            to_b = graph.output("Mul", [w, graph.output("Sub", [b, x], "to_b")], "w_to_b")
            from_a = graph.output("Mul", [w, graph.output("Sub", [x, a], "from_a")], "w_from_a")
            left = graph.output("Add", [h[i - 1], to_b], "h")
            h[i - 1] = graph.output("Where", [same, h[i - 1], left], "h")
            h[i] = graph.output("Where", [same, zeros, from_a], "h")
    values = graph.concat([*h, zeros], "de_boor")  # a last zero column: the other splines
    n_splines = int(spline.c.shape[1])
    columns = graph.constant("columns", np.arange(n_splines, dtype=np.int64).reshape(1, -1) + k)
    slot = graph.output("Sub", [columns, interval], "slot")
    low = graph.constant("low", np.array(0, dtype=np.int64))
    high = graph.constant("high", np.array(k, dtype=np.int64))
    before = graph.output("Less", [slot, low], "before")
    after = graph.output("Greater", [slot, high], "after")
    outside = graph.output("Or", [before, after], "outside")
    zero_slot = graph.constant("zero_slot", np.array(k + 1, dtype=np.int64))
    slot = graph.output("Where", [outside, zero_slot, slot], "slot")
    return graph.output("GatherElements", [values, slot], "basis", axis=1)


def _interval(graph: Graph, x: str, inner: np.ndarray, k: int) -> str:
    """l = k + the inner knots t[k+1..n-1] at or below x: SciPy's interval, ends included."""
    from onnx import TensorProto

    knots = graph.constant("inner_knots", inner.reshape(1, -1))
    passed = graph.as_double(graph.output("LessOrEqual", [knots, x], "knot_passed"))
    count = graph.reduce("ReduceSum", passed, axis=1)
    count = graph.output("Cast", [count], "count", to=TensorProto.INT64)
    return graph.output("Add", [count, graph.constant("k", np.array(k, dtype=np.int64))], "l")


def _knot(graph: Graph, knots: str, interval: str, offset: int) -> str:
    at = graph.output("Add", [interval, graph.constant("offset", np.array(offset))], "at")
    return graph.output("Gather", [knots, at], "knot", axis=0)


def _outside(graph: Graph, x: str, spline: Any, basis: str, mode: tuple[str, int]) -> str:
    """Rows below the first knot or above the last: scikit-learn's constant or linear ends.

    `mode` is the extrapolation and the `degree` scikit-learn's loop has reached: with linear
    extrapolation of degree 1 it is 2 from the second feature on, which moves the ends.
    """
    extrapolation, k = mode
    t = np.asarray(spline.t, dtype=np.float64)
    xmin, xmax = t[k], t[-k - 1]
    n_splines = int(spline.c.shape[1])
    f_min, f_max = np.asarray(spline(xmin)), np.asarray(spline(xmax))
    ends = []
    for edge, values, first in ((xmin, f_min, True), (xmax, f_max, False)):
        if extrapolation == "constant":
            row = np.zeros(n_splines)
            ends_at = np.arange(k) if first else np.arange(n_splines - k, n_splines)
            row[ends_at] = values[ends_at]
            ends.append(_filled_row(graph, x, row))
            continue
        slopes = np.asarray(spline(edge, nu=1))
        count = k + 1 if k <= 1 else k  # scikit-learn's own count
        ends_at = np.arange(count) if first else n_splines - 1 - np.arange(count)
        level, slope = np.zeros(n_splines), np.zeros(n_splines)
        level[ends_at], slope[ends_at] = values[ends_at], slopes[ends_at]
        offset = graph.output("Sub", [x, graph.constant("edge", np.float64(edge))], "offset")
        rise = graph.output("Mul", [offset, graph.constant("slope", slope.reshape(1, -1))], "rise")
        ends.append(
            graph.output("Add", [graph.constant("level", level.reshape(1, -1)), rise], "line")
        )
    below = graph.output("Less", [x, graph.constant("xmin", np.float64(xmin))], "below")
    above = graph.output("Greater", [x, graph.constant("xmax", np.float64(xmax))], "above")
    inside = graph.output("Where", [above, ends[1], basis], "basis")
    return graph.output("Where", [below, ends[0], inside], "basis")


def _filled_row(graph: Graph, like: str, row: np.ndarray) -> str:
    """`row` for every row of `like`."""
    return graph.output(
        "Add", [graph.filled(like, 0.0), graph.constant("row", row.reshape(1, -1))], "row"
    )
