"""scikit-learn's fitted trees as the flat arrays of ONNX `TreeEnsemble` (ai.onnx.ml opset 5).

Every tree becomes one single-target tree of the ensemble: interior nodes (feature, mode,
split, children, where NaN goes) and leaves (one float64 weight). Values are taken as
scikit-learn stores them, never rounded, so the graph compares and sums the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BRANCH_LEQ = 0
BRANCH_MEMBER = 6


@dataclass
class Ensemble:
    """The TreeEnsemble attributes, built tree by tree in the order the model sums them."""

    n_targets: int
    roots: list[int] = field(default_factory=list)
    features: list[int] = field(default_factory=list)
    modes: list[int] = field(default_factory=list)
    splits: list[float] = field(default_factory=list)
    true_ids: list[int] = field(default_factory=list)
    true_leafs: list[int] = field(default_factory=list)
    false_ids: list[int] = field(default_factory=list)
    false_leafs: list[int] = field(default_factory=list)
    missing_true: list[int] = field(default_factory=list)
    members: list[float] = field(default_factory=list)
    leaf_targets: list[int] = field(default_factory=list)
    leaf_weights: list[float] = field(default_factory=list)

    def add_constant(self, target: int, weight: float) -> None:
        """A tree whose every row lands in one leaf: the model's starting value comes first."""
        leaf = self._add_leaf(target, weight)
        self.roots.append(len(self.features))
        self._add_node(0, BRANCH_LEQ, 0.0, (leaf, True), (leaf, True), missing_true=False)

    def add_tree(self, tree: Tree, target: int, leaf_values: np.ndarray) -> None:
        """One tree whose leaf `i` (a node id of `tree`) adds `leaf_values[i]` to `target`."""
        interior = np.flatnonzero(~tree.is_leaf)
        node_index = {int(node): len(self.features) + k for k, node in enumerate(interior)}
        leaf_index = {
            int(node): self._add_leaf(target, float(leaf_values[node]))
            for node in np.flatnonzero(tree.is_leaf)
        }

        def child(node: int) -> tuple[int, bool]:
            return (leaf_index[node], True) if tree.is_leaf[node] else (node_index[node], False)

        if not interior.size:  # a stump of one leaf
            self.roots.append(len(self.features))
            leaf = child(0)
            self._add_node(0, BRANCH_LEQ, 0.0, leaf, leaf, missing_true=False)
            return
        self.roots.append(node_index[0])
        for node in interior:
            left, right = child(int(tree.left[node])), child(int(tree.right[node]))
            goes_left = bool(tree.missing_left[node])
            members = tree.members.get(int(node))
            if members is None:
                self._add_node(
                    int(tree.feature[node]), BRANCH_LEQ, float(tree.threshold[node]),
                    left, right, missing_true=goes_left,
                )  # fmt: skip
                continue
            left_set, right_set = members
            if goes_left:
                # NaN and unseen categories go left: test "in the right set" instead.
                self._add_node(
                    int(tree.feature[node]), BRANCH_MEMBER, float("nan"), right, left,
                    missing_true=False, members=right_set,
                )  # fmt: skip
            else:
                self._add_node(
                    int(tree.feature[node]), BRANCH_MEMBER, float("nan"), left, right,
                    missing_true=False, members=left_set,
                )  # fmt: skip

    def _add_leaf(self, target: int, weight: float) -> int:
        self.leaf_targets.append(target)
        self.leaf_weights.append(weight)
        return len(self.leaf_weights) - 1

    def _add_node(
        self,
        feature: int,
        mode: int,
        split: float,
        true: tuple[int, bool],
        false: tuple[int, bool],
        *,
        missing_true: bool,
        members: Sequence[float] = (),
    ) -> None:
        self.features.append(feature)
        self.modes.append(mode)
        self.splits.append(split)
        self.true_ids.append(true[0])
        self.true_leafs.append(int(true[1]))
        self.false_ids.append(false[0])
        self.false_leafs.append(int(false[1]))
        self.missing_true.append(int(missing_true))
        if mode == BRANCH_MEMBER:
            self.members.extend([*members, float("nan")])


@dataclass
class Tree:
    """One binary tree: per node id its children, test, and where a missing value goes.

    `members` maps a categorical node to (categories going left, categories going right),
    in the input's own values; any other value is treated as missing.
    """

    is_leaf: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    members: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)


def cart_tree(estimator: Any) -> Tree:
    """A DecisionTree* (alone, in a forest or a GradientBoosting stage) as a Tree."""
    tree = estimator.tree_
    if tree.n_outputs != 1:
        raise NotImplementedError("multi-output trees are not exported to ONNX")
    return Tree(
        is_leaf=tree.children_left == -1,
        left=tree.children_left,
        right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        missing_left=np.asarray(tree.missing_go_to_left, dtype=bool),
    )


def hist_tree(predictor: Any, known: dict[int, np.ndarray]) -> Tree:
    """One HistGradientBoosting predictor as a Tree over the estimator's internal columns.

    Those are the columns HistGradientBoosting predicts from: with categorical features, its
    ordinal-encoded categories first (as codes 0, 1, ...; unknown and missing as NaN), then the
    numbers. `known[j]` lists the codes training saw for categorical column j: any other code
    goes where a missing value goes, as scikit-learn sends it.
    """
    nodes = predictor.nodes
    tree = Tree(
        is_leaf=nodes["is_leaf"].astype(bool),
        left=nodes["left"].astype(np.int64),
        right=nodes["right"].astype(np.int64),
        feature=nodes["feature_idx"].astype(np.int64),
        threshold=nodes["num_threshold"],
        missing_left=nodes["missing_go_to_left"].astype(bool),
    )
    bitsets = predictor.raw_left_cat_bitsets
    for node in np.flatnonzero(nodes["is_categorical"] & ~tree.is_leaf):
        codes = [int(code) for code in known[int(nodes["feature_idx"][node])]]
        words = bitsets[int(nodes["bitset_idx"][node])]
        goes_left = {code: bool((int(words[code // 32]) >> (code % 32)) & 1) for code in codes}
        tree.members[int(node)] = (
            [float(code) for code in codes if goes_left[code]],
            [float(code) for code in codes if not goes_left[code]],
        )
    return tree


def hist_known_codes(estimator: Any) -> dict[int, np.ndarray]:
    """Per categorical internal column of a HistGradientBoosting model, the codes it saw."""
    mapper = estimator._bin_mapper
    categorical = np.flatnonzero(np.asarray(mapper.is_categorical_, dtype=bool))
    return {int(j): np.asarray(mapper.bin_thresholds_[j]) for j in categorical}
