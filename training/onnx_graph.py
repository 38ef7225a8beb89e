"""A small helper for this project's skl2onnx converters: nodes and constants under unique names,
and an operator's inputs as one [rows, 1] tensor per column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Column:
    """One input column as a [rows, 1] tensor: its graph name, and whether it holds text."""

    name: str
    text: bool


class Graph:
    """Adds nodes and constants to skl2onnx's container under unique names."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def name(self, hint: str) -> str:
        return str(self.scope.get_unique_variable_name(hint))

    def node(self, op_type: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.container.add_node(
            op_type, inputs, outputs, name=self.scope.get_unique_operator_name(op_type), **attrs
        )

    def output(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """One node with one new output, whose name is returned."""
        self.node(op_type, inputs, [result := self.name(hint)], **attrs)
        return result

    def constant(self, hint: str, value: Any) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.container.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def reduce(self, op_type: str, name: str, axis: int) -> str:
        """A Reduce* node over one axis, kept: axes as an input from opset 18, else an attribute."""
        if self.container.target_opset >= 18:
            axes = self.constant("axes", np.array([axis], dtype=np.int64))
            return self.output(op_type, [name, axes], "reduced", keepdims=1)
        return self.output(op_type, [name], "reduced", axes=[axis], keepdims=1)

    def as_double(self, name: str) -> str:
        from onnx import TensorProto

        return self.output("Cast", [name], "as_double", to=TensorProto.DOUBLE)

    def concat(self, names: list[str], hint: str = "joined") -> str:
        """Columns side by side (axis 1); one name is returned as it is."""
        return names[0] if len(names) == 1 else self.output("Concat", names, hint, axis=1)

    def column(self, matrix: str, index: int) -> str:
        """matrix[:, index:index + 1]."""
        position = self.constant("column", np.array([index], dtype=np.int64))
        return self.output("Gather", [matrix, position], "column", axis=1)

    def filled(self, like: str, value: float) -> str:
        """A float64 tensor of `like`'s shape, every cell `value`."""
        from onnx import TensorProto, helper

        shape = self.output("Shape", [like], "shape")
        fill = helper.make_tensor("value", TensorProto.DOUBLE, [1], [value])
        return self.output("ConstantOfShape", [shape], "filled", value=fill)

    def sum_in_order(self, terms: list[str]) -> str:
        """((t1 + t2) + t3) + ...: the order NumPy adds a few terms in."""
        total = terms[0]
        for term in terms[1:]:
            total = self.output("Add", [total, term], "sum")
        return total

    def argmax_label(self, scores: str, classes: np.ndarray, label: str) -> None:
        """The class of each row's first largest score."""
        index = self.output("ArgMax", [scores], "class_index", axis=1, keepdims=0)
        self.node("Gather", [self.constant("classes", label_values(classes)), index], [label])

    def columns(self, inputs: list[Any]) -> list[Column]:
        """The operator's inputs, one [rows, 1] tensor per column, numbers as float64."""
        from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

        columns = []
        for variable in inputs:
            text = isinstance(variable.type, StringTensorType)
            name = variable.full_name
            if not text and not isinstance(variable.type, DoubleTensorType):
                name = self.as_double(name)
            width = variable.type.shape[1]
            if width == 1:
                columns.append(Column(name, text))
                continue
            if not isinstance(width, int):
                raise NotImplementedError("an input of unknown width")
            for index in range(width):
                position = self.constant("column", np.array([index], dtype=np.int64))
                columns.append(Column(self.output("Gather", [name, position], name, axis=1), text))
        return columns


def label_values(classes: np.ndarray) -> np.ndarray:
    """A classifier's classes as an ONNX constant holds them: text, or int64."""
    if classes.dtype.kind in "OUS":
        return np.array([str(value) for value in classes], dtype=object)
    return classes.astype(np.int64)
