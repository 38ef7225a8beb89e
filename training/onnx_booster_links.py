"""The boosters' links (raw tree sums to answers) as ONNX nodes, in each library's precision.

XGBoost transforms float32 margins in float32 with glibc's `expf`; a correctly rounded exp
differs from it in about 1 value of 2,000, so `expf` is rebuilt here step by step (`ExpF`).
LightGBM transforms float64 sums with float64 `exp`, which onnxruntime matches within 1e-15.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto

from training.onnx_trees import _Graph

FLOAT, DOUBLE, INT64 = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64


class Nodes(_Graph):
    """skl2onnx's graph under construction, one call per node; each returns its output."""

    def apply(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        output = self.name(op_type.lower())
        self.node(op_type, list(inputs), [output], **attributes)
        return output

    def cast(self, value: str, to: int) -> str:
        return self.apply("Cast", value, to=to)

    def scalar(self, value: float, dtype: type = np.float64) -> str:
        return self.constant("scalar", np.array(value, dtype=dtype))


@dataclass(frozen=True)
class ExpF:
    """glibc's float32 `expf` (since 2.27), which XGBoost calls for its links.

    exp(x) = 2^(k/32) * 2^(r/32): k is x * 32/ln2 rounded to an integer (by adding and
    subtracting 1.5 * 2^52) and r what remains; 2^(k/32) is a table entry 2^(i/32) times a
    power of two, 2^(r/32) a cubic in r; all in float64, then rounded once to float32. Inputs
    below `lowest` give 0, as in glibc.
    """

    inv_ln2_n: float = float.fromhex("0x1.71547652b82fep+0") * 32
    shift: float = float.fromhex("0x1.8p+52")
    poly: tuple[float, float, float] = (
        float.fromhex("0x1.c6af84b912394p-5") / 32**3,
        float.fromhex("0x1.ebfce50fac4f3p-3") / 32**2,
        float.fromhex("0x1.62e42ff0c52d6p-1") / 32,
    )
    lowest: float = -110.0
    lowest_power: int = -160

    def table(self) -> np.ndarray:
        """2^(i/32) for i = 0..31, each correctly rounded to float64."""
        context = decimal.Context(prec=60)
        return np.array(
            [float(context.power(2, decimal.Decimal(i) / 32)) for i in range(32)],
        )

    def powers(self) -> np.ndarray:
        """2^e for e from `lowest_power` to 130 (past float32's range), exact."""
        return np.ldexp(1.0, np.arange(self.lowest_power, 131))


def expf(graph: Nodes, value: str) -> str:
    """float32 exp of a float32 tensor, equal to glibc's `expf`."""
    spec = ExpF()
    wide = graph.cast(value, DOUBLE)
    bounded = graph.apply("Max", wide, graph.scalar(spec.lowest))
    scaled = graph.apply("Mul", bounded, graph.scalar(spec.inv_ln2_n))
    shift = graph.scalar(spec.shift)
    rounded = graph.apply("Sub", graph.apply("Add", scaled, shift), shift)
    rest = graph.apply("Sub", scaled, rounded)
    k = graph.cast(rounded, INT64)
    # k mod 32 in [0, 31] (Mod takes the divisor's sign): k & 31, in opset 17 too (BigQuery ML).
    index = graph.apply("Mod", k, graph.scalar(32, np.int64))
    power = graph.apply("Div", graph.apply("Sub", k, index), graph.scalar(32, np.int64))
    slot = graph.apply("Sub", power, graph.scalar(spec.lowest_power, np.int64))
    two_k = graph.apply(
        "Mul",
        graph.apply("Gather", graph.constant("exp2_table", spec.table()), index),
        graph.apply("Gather", graph.constant("exp2_powers", spec.powers()), slot),
    )
    c0, c1, c2 = (graph.scalar(c) for c in spec.poly)
    cubic = graph.apply("Add", graph.apply("Mul", c0, rest), c1)
    linear = graph.apply("Add", graph.apply("Mul", c2, rest), graph.scalar(1.0))
    squared = graph.apply("Mul", rest, rest)
    two_r = graph.apply("Add", graph.apply("Mul", cubic, squared), linear)
    return graph.cast(graph.apply("Mul", two_r, two_k), FLOAT)


def xgboost_sigmoid(graph: Nodes, margin: str) -> str:
    """common::Sigmoid: 1.0f / (expf(min(-x, 88.7f)) + 1.0f); its + 1e-16f changes no float."""
    bounded = graph.apply("Min", graph.apply("Neg", margin), graph.scalar(88.7, np.float32))
    one = graph.scalar(1.0, np.float32)
    return graph.apply("Div", one, graph.apply("Add", expf(graph, bounded), one))


def xgboost_softmax(graph: Nodes, margins: str) -> str:
    """common::Softmax: expf(x - max) in float32, summed in float64, each divided by the sum."""
    axis = graph.constant("axis", np.array([1], dtype=np.int64))
    top = graph.apply("ReduceMax", margins, axis)
    exps = expf(graph, graph.apply("Sub", margins, top))
    total = graph.apply("ReduceSum", graph.cast(exps, DOUBLE), axis)
    return graph.apply("Div", exps, graph.cast(total, FLOAT))


def xgboost_hinge(graph: Nodes, margin: str) -> str:
    """binary:hinge: 1 where the margin is above 0, else 0."""
    zero, one = graph.scalar(0.0, np.float32), graph.scalar(1.0, np.float32)
    return graph.apply("Where", graph.apply("Greater", margin, zero), one, zero)


def lightgbm_sigmoid(graph: Nodes, raw: str, scale: float) -> str:
    """1.0 / (1.0 + exp(-scale * x)) in float64 (binary, multiclassova, cross_entropy)."""
    exp = graph.apply("Exp", graph.apply("Mul", raw, graph.scalar(-scale)))
    one = graph.scalar(1.0)
    return graph.apply("Div", one, graph.apply("Add", one, exp))


def lightgbm_softmax(graph: Nodes, raw: str) -> str:
    """Common::Softmax in float64: exp(x - max), each divided by their sum."""
    axis = graph.constant("axis", np.array([1], dtype=np.int64))
    exps = graph.apply("Exp", graph.apply("Sub", raw, graph.apply("ReduceMax", raw, axis)))
    return graph.apply("Div", exps, graph.apply("ReduceSum", exps, axis))


def lightgbm_sign_square(graph: Nodes, raw: str) -> str:
    """reg_sqrt's ConvertOutput: Sign(x) * x * x."""
    return graph.apply("Mul", graph.apply("Mul", graph.apply("Sign", raw), raw), raw)


def identity(graph: Nodes, raw: str) -> str:
    return raw


Link = Callable[[Nodes, str], str]

XGBOOST: dict[str, Link] = {
    "identity": identity,
    "sigmoid": xgboost_sigmoid,
    "softmax": xgboost_softmax,
    "hinge": xgboost_hinge,
    "exp": expf,
}
