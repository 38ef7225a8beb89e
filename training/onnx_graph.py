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
