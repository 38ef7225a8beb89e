"""Exact ONNX converters for OneHotEncoder, OrdinalEncoder and TargetEncoder, as lookup tables.

Each of these encoders maps every column on its own, value by value: a known category, a
missing value and a value never seen in training each give one fixed block of output. The
converter asks the fitted encoder itself for those blocks (its own `transform`, on one probe row
per value), so every option is exactly what scikit-learn does: min_frequency, max_categories and
infrequent categories, drop, handle_unknown, unknown_value, encoded_missing_value, the target
encoder's encodings. The graph only finds each cell's code and gathers its row:

- text: ai.onnx.ml LabelEncoder from the category to its code; a missing text cell reaches the
  graph as "" (serving/runtimes/onnx_runtime.py), so "" gets the row of NaN, the missing value
  the scikit-learn runtime feeds (an encoder that learned None as a category sees NaN as
  unknown, here too);
- numbers: Equal against the categories in float64 (as scikit-learn compares them), IsNaN for
  missing.

Why not skl2onnx's own: its OneHotEncoder fails on an unknown value when infrequent categories
exist (the sample rows never show it) and refuses `drop` with them; its OrdinalEncoder compares
numbers in float32; its TargetEncoder answers in float32.
HistGradientBoosting's own category encoder is an OrdinalEncoder: training/onnx_trees.py reuses
`encode` for it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.runtimes.onnx_runtime import MISSING_TEXT
from training.onnx_graph import Column, Graph

UNSEEN_TEXT = "\x00never seen in training"


@dataclass(frozen=True)
class Lookup:
    """One column's table: a row per known category, then the missing row, then the unknown."""

    categories: list[Any]
    table: np.ndarray

    @property
    def missing_code(self) -> int:
        return len(self.categories)

    @property
    def unknown_code(self) -> int:
        return len(self.categories) + 1


def register() -> None:
    """Make skl2onnx convert the three encoders with `convert_encoder` (idempotent)."""
    from skl2onnx import update_registered_converter
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    for encoder in (OneHotEncoder, OrdinalEncoder, TargetEncoder):
        update_registered_converter(
            encoder,
            f"Sklearn{encoder.__name__}",
            _encoder_shape,
            convert_encoder,
            overwrite=True,
        )


def output_widths(encoder: Any) -> list[int]:
    """How many output columns each input column becomes."""
    columns = len(encoder.categories_)
    if hasattr(encoder, "_compute_n_features_outs"):  # OneHotEncoder
        return [int(width) for width in encoder._compute_n_features_outs()]
    if getattr(encoder, "target_type_", None) == "multiclass":
        return [len(encoder.classes_)] * columns
    return [1] * columns


def _encoder_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    width = sum(output_widths(operator.raw_operator))
    operator.outputs[0].type = DoubleTensorType([rows, width])


def convert_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Every column's code, then its row of the encoder's table, side by side."""
    graph = Graph(scope, container)
    encoder = operator.raw_operator
    columns = graph.columns(operator.inputs)
    tables = lookups(encoder)
    if len(columns) != len(tables):
        raise NotImplementedError(f"{type(encoder).__name__} got {len(columns)} columns")
    encoded = [encode(graph, column, table) for column, table in zip(columns, tables, strict=True)]
    graph.node("Identity", [graph.concat(encoded)], [operator.outputs[0].full_name])


def encode(graph: Graph, column: Column, lookup: Lookup) -> str:
    """The column's rows of the table: [rows, width] float64."""
    find = text_codes if column.text else number_codes
    codes = find(graph, column, lookup)
    table = graph.constant("table", lookup.table)
    gathered = graph.output("Gather", [table, codes], "gathered", axis=0)
    shape = graph.constant("shape", np.array([-1, lookup.table.shape[1]], dtype=np.int64))
    return graph.output("Reshape", [gathered, shape], "encoded")


def text_codes(graph: Graph, column: Column, lookup: Lookup) -> str:
    """Each text cell's code: its category's, the missing one for a missing cell (the ONNX
    runtime feeds MISSING_TEXT; "" is a category like any other), else the unknown one."""
    keys = [*(str(category) for category in lookup.categories), MISSING_TEXT]
    values = [*range(len(lookup.categories)), lookup.missing_code]
    return graph.output(
        "LabelEncoder",
        [column.name],
        "codes",
        op_domain="ai.onnx.ml",
        op_version=2,
        keys_strings=keys,
        values_int64s=values,
        default_int64=lookup.unknown_code,
    )


def number_codes(graph: Graph, column: Column, lookup: Lookup) -> str:
    """Each number's code: the category it equals, the missing one for NaN, else the unknown."""
    missing = graph.constant("missing_code", np.array(lookup.missing_code, dtype=np.int64))
    unknown = graph.constant("unknown_code", np.array(lookup.unknown_code, dtype=np.int64))
    if lookup.categories:
        known = graph.constant("categories", np.array(lookup.categories, dtype=np.float64))
        equal = graph.output("Equal", [column.name, known], "is_category")
        positions = graph.constant("positions", np.arange(len(lookup.categories), dtype=np.int64))
        matched = graph.output("Where", [equal, positions, unknown], "matched")
        found = graph.reduce("ReduceMin", matched, axis=1)
    else:
        rows = graph.output("Shape", [column.name], "rows")
        found = graph.output("Expand", [unknown, rows], "found")
    is_missing = graph.output("IsNaN", [column.name], "is_missing")
    return graph.output("Where", [is_missing, missing, found], "codes")


def lookups(encoder: Any) -> list[Lookup]:
    """Every column's table, read from the encoder's own transform on probe rows."""
    known = [[c for c in categories if not _is_missing(c)] for categories in encoder.categories_]
    text = [np.asarray(categories).dtype.kind in "OUS" for categories in encoder.categories_]
    widths = output_widths(encoder)
    starts = np.cumsum([0, *widths])
    tables = []
    for j, categories in enumerate(known):
        unseen = UNSEEN_TEXT if text[j] else _unseen_number(categories)
        blocks = [
            _transform(encoder, known, text, j, values, width=widths[j], start=starts[j])
            for values in (categories, [np.nan], [unseen])
        ]
        tables.append(Lookup(categories=list(categories), table=np.vstack(blocks)))
    return tables


def _transform(
    encoder: Any, known: list[list[Any]], text: list[bool], j: int, values: list[Any], **block: int
) -> np.ndarray:
    """Column j's output block for each value, the other columns at a known category.

    A value the encoder refuses (missing or unknown with handle_unknown="error") gets zeros:
    the function refuses it before the model (the schema asks the model what it accepts).
    """
    width, start = block["width"], block["start"]
    if not values:
        return np.zeros((0, width))
    columns = {}
    for k, categories in enumerate(known):
        cells = values if k == j else [categories[0] if categories else np.nan] * len(values)
        columns[k] = np.array(cells, dtype=object if text[k] else np.float64)
    names = getattr(encoder, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        probe: Any = pd.DataFrame({name: columns[k] for k, name in enumerate(names)})
    else:
        probe = np.column_stack([columns[k] for k in range(len(known))])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown categories are what is asked about
            output = encoder.transform(probe)
    except ValueError:
        return np.zeros((len(values), width))
    output = output.toarray() if hasattr(output, "toarray") else np.asarray(output)
    return np.asarray(output[:, start : start + width], dtype=np.float64)


def _unseen_number(categories: list[Any]) -> float:
    return float(np.nextafter(max(categories), np.inf)) if categories else 0.0


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
