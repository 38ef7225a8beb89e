"""explanations.npz: the arrays an explainer is built from, read without pickle and checked.

Its bytes are verified against the manifest's sha256 before this module sees them; the shapes
and indices are still checked here, so that a wrong file is refused at load, never half-used.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Protocol

import numpy as np

from serving.errors import IntegrityError
from serving.explain.linear import LinearExplainer
from serving.explain.treeshap import Forest, Reading, TreeExplainer

EXPLANATIONS_NAME = "explanations.npz"
ARTIFACT_FORMAT = 1
TREE_METHOD = "tree_path_dependent"
LINEAR_METHOD = "linear"


class Explainer(Protocol):
    """Exact contributions of each input feature to the model's raw output."""

    base_value: np.ndarray
    n_inputs: int
    n_outputs: int

    def explain(self, matrix: np.ndarray) -> np.ndarray:
        """[rows, input features, outputs] for the estimator's input rows."""
        ...


def read_explainer(data: bytes) -> Explainer:
    """The explainer stored in explanations.npz's bytes; IntegrityError when malformed."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        return _build(arrays)
    except (ValueError, KeyError, IndexError, TypeError, OSError) as exc:
        raise IntegrityError(f"{EXPLANATIONS_NAME} is malformed: {exc}") from exc


def _build(arrays: Mapping[str, np.ndarray]) -> Explainer:
    if int(arrays["format"]) != ARTIFACT_FORMAT:
        raise ValueError(f"format {int(arrays['format'])} is not {ARTIFACT_FORMAT}")
    method = str(arrays["method"])
    columns = arrays["columns"].astype(np.int64)
    n_inputs = int(arrays["n_inputs"])
    if columns.ndim != 1 or (columns.size and not 0 <= columns.min() <= columns.max() < n_inputs):
        raise ValueError("columns must name input features")
    if method == LINEAR_METHOD:
        coef, intercept = arrays["coef"], arrays["intercept"]
        if coef.shape != (len(intercept), len(columns)) or arrays["mean"].shape != columns.shape:
            raise ValueError("coef, intercept and mean do not fit the columns")
        return LinearExplainer(coef, intercept, arrays["mean"], columns, n_inputs)
    if method != TREE_METHOD:
        raise ValueError(f"unknown method {method!r}")
    forest = Forest(
        tree_starts=arrays["tree_starts"].astype(np.int64),
        left=arrays["left"].astype(np.int64),
        right=arrays["right"].astype(np.int64),
        feature=arrays["feature"].astype(np.int64),
        threshold=arrays["threshold"].astype(np.float64),
        missing_left=arrays["missing_left"].astype(bool),
        cover=arrays["cover"].astype(np.float64),
        value=arrays["value"].astype(np.float64),
        scale=arrays["scale"].astype(np.float64),
        target=arrays["target"].astype(np.int64),
        category_row=arrays["category_row"].astype(np.int64),
        category_table=arrays["category_table"].astype(np.int8),
    )
    base = arrays["base_offset"].astype(np.float64)
    _check_forest(forest, len(columns), len(base))
    zero_missing = arrays["zero_missing"].astype(bool)
    reading = Reading(
        float32=bool(arrays["float32"]),
        strict_less=bool(arrays["strict_less"]),
        missing_values=tuple(float(v) for v in arrays["missing_values"]),
        tiny=float(arrays["tiny"]),
        zero_missing=zero_missing if zero_missing.any() else None,
    )
    return TreeExplainer(forest, reading, columns, n_inputs, base)


def _check_forest(forest: Forest, n_columns: int, n_outputs: int) -> None:
    """Every index in range and every tree a tree: children inside it, later than their node."""
    starts, nodes = forest.tree_starts, len(forest.left)
    n_trees = len(starts) - 1
    if n_trees < 1 or starts[0] != 0 or starts[-1] != nodes or (np.diff(starts) < 1).any():
        raise ValueError("tree_starts must cut the nodes into non-empty trees")
    per_node = (forest.right, forest.feature, forest.threshold, forest.missing_left, forest.cover)
    if any(len(a) != nodes for a in per_node) or forest.value.shape[:1] != (nodes,):
        raise ValueError("every node array must have one entry per node")
    if forest.value.ndim != 2 or forest.scale.shape != (n_trees,):
        raise ValueError("value must be [nodes, width] and scale one per tree")
    if (
        forest.target.shape != (n_trees,)
        or not ((forest.target >= 0) & (forest.target + forest.value.shape[1] <= n_outputs)).all()
    ):
        raise ValueError("target must place each tree's values among the outputs")
    size = np.repeat(np.diff(starts), np.diff(starts))
    own = np.arange(nodes) - np.repeat(starts[:-1], np.diff(starts))
    inner = forest.left >= 0
    for child in (forest.left, forest.right):
        if not ((child[inner] > own[inner]) & (child[inner] < size[inner])).all():
            raise ValueError("a child must be a later node of the same tree")
    if not ((forest.feature[inner] >= 0) & (forest.feature[inner] < n_columns)).all():
        raise ValueError("a split feature must be one of the columns")
    if not (forest.cover[inner] > 0).all():
        raise ValueError("an interior node must cover some training rows")
    rows, table = forest.category_row, forest.category_table
    if rows is None or table is None or rows.shape != (nodes,) or table.ndim != 2:
        raise ValueError("category_row must have one entry per node, category_table be 2-D")
    if not ((rows >= -1) & (rows < len(table))).all():
        raise ValueError("a category test must name a row of category_table")
