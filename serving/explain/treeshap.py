"""Path-dependent TreeSHAP (Lundberg, Erion and Lee 2020), vectorised over rows and leaves.

Algorithm 2 walks every root-to-leaf path keeping, for each feature split on along it, the
share of training rows that takes the path's side there (the "zero fraction" z, a product of
node-cover ratios) and whether the explained row takes it (the "one fraction" o, 0 or 1). Its
EXTEND and UNWIND steps then give each feature k of the path, from the leaf's value v,

    v * (o_k - z_k) * sum over subsets S of the path's other features of
        |S|! (d - |S| - 1)! / d!  *  prod_{j in S} o_j  *  prod_{j not in S, j != k} z_j

where d counts the path's features. The Shapley weight |S|! (d - |S| - 1)! / d! is the Beta
integral of u^|S| (1 - u)^(d - |S| - 1) over [0, 1], so the sum is the integral over [0, 1] of

    prod_{j != k} (z_j (1 - u) + o_j u),

a polynomial of degree d - 1 in u: Gauss-Legendre quadrature with ceil(d / 2) points integrates
it exactly. That is what this module computes, for every (row, leaf, path feature) at once: the
paths are laid out once, at load, as padded [path feature, leaf] arrays, and a row costs a few
array operations over them. The leaf's share of the base value is v * prod_j z_j.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

# Elements of the largest temporary array per chunk of rows ([row, path feature, point, leaf]):
# about 512 KB, which stays in a core's cache (larger chunks measured slower per row).
CHUNK_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class Forest:
    """Trees as stored: node arrays of all trees, end to end, and how each tree is read.

    Per node: `left`/`right` child (ids within its tree; -1 at a leaf), split `feature` (a
    column of the estimator's input), `threshold`, whether a missing value goes left, `cover`
    (the training rows, or their weight, that reached it) and `value` ([nodes, width]; read at
    leaves). Per tree: `scale` multiplies its leaves, `target` is the first output column its
    `width` values add to. `tree_starts[t]` is tree t's first node; one more entry ends the last.
    A category test (HistGradientBoosting) reads the code in its column: `category_row[node]`
    is its row of `category_table` (-1 for a threshold test), whose entry per code is 1 (left),
    0 (right) or -1 (where a missing value goes, as for a code training never saw).
    """

    tree_starts: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    scale: np.ndarray
    target: np.ndarray
    category_row: np.ndarray | None = None
    category_table: np.ndarray | None = None


@dataclass(frozen=True)
class Reading:
    """How the trees read a row: float32 first or not, `x < split` or `x <= split`, which input
    values count as missing, and LightGBM's |x| <= tiny -> 0 and zero-as-missing columns."""

    float32: bool = False
    strict_less: bool = False
    missing_values: tuple[float, ...] = ()
    tiny: float = 0.0
    zero_missing: np.ndarray | None = None

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """The rows as the trees compare them (float64; NaN where a value counts as missing)."""
        rows = np.array(matrix, dtype=np.float64)
        if self.float32:
            with np.errstate(over="ignore"):
                rows = rows.astype(np.float32).astype(np.float64)
        for value in self.missing_values:
            rows[rows == value] = np.nan
        if self.tiny:
            rows[np.abs(rows) <= self.tiny] = 0.0
        if self.zero_missing is not None:
            rows[(rows == 0.0) & self.zero_missing] = np.nan
        return rows


class TreeExplainer:
    """Exact path-dependent Shapley values of a tree ensemble's raw output.

    `columns[c]` is the input feature (0 .. n_inputs - 1) that estimator column c comes from:
    the contributions of columns from one feature are summed into it.
    """

    def __init__(
        self,
        forest: Forest,
        reading: Reading,
        columns: np.ndarray,
        n_inputs: int,
        base_offset: np.ndarray,
    ) -> None:
        self.reading = reading
        self.n_inputs = n_inputs
        self.n_outputs = len(base_offset)
        paths = _Paths(forest)
        interior = np.flatnonzero(forest.left >= 0)
        # Decisions are taken once per interior node; index len(interior) is "always follows".
        self._node_column = forest.feature[interior].astype(np.int64)
        self._node_threshold = forest.threshold[interior].astype(np.float64)
        self._node_missing_left = forest.missing_left[interior].astype(bool)
        rows = np.full(len(interior), -1, dtype=np.int64)
        table = np.zeros((0, 1), dtype=np.int8)
        if forest.category_row is not None and forest.category_table is not None:
            rows, table = forest.category_row[interior], forest.category_table
        self._category_nodes = np.flatnonzero(rows >= 0)  # positions among the interior nodes
        self._category_codes = table[rows[self._category_nodes]]
        position = np.full(len(forest.left) + 1, len(interior), dtype=np.int64)
        position[interior] = np.arange(len(interior))
        self._row_stride = (n_inputs + 1) * self.n_outputs
        # Leaves whose paths split on up to 2, 4, 8, ... features are explained apart, each
        # group padded to its own longest path (and integrated with as few points as it needs).
        depths = paths.slot_used.sum(axis=0)
        bounds = [0, 2]
        while bounds[-1] < depths.max(initial=0):
            bounds.append(2 * bounds[-1])
        # A group is cut into blocks of leaves whose arrays for one row stay within
        # CHUNK_ELEMENTS: large temporaries cost page faults on every request in a server's
        # worker threads (measured: 18 ms a row where the main thread took 6.5).
        self._groups = [
            _LeafGroup(forest, paths, position, block, columns, n_inputs, self.n_outputs)
            for low, high in itertools.pairwise(bounds)
            for chosen in [np.flatnonzero((depths > low) & (depths <= high))]
            for block in _blocks(chosen, high)
        ]
        self.base_value = np.array(base_offset, dtype=np.float64)
        # Each leaf weighs in by its share of the training rows; a one-leaf tree by all of them.
        leaves = np.concatenate([paths.leaves, paths.constants])
        reach = np.concatenate([paths.z.prod(axis=0), np.ones(len(paths.constants))])
        tree = np.searchsorted(forest.tree_starts, leaves, side="right") - 1
        weighted = forest.value[leaves] * (forest.scale[tree] * reach)[:, None]
        for w in range(weighted.shape[1]):
            self.base_value += np.bincount(
                forest.target[tree] + w, weights=weighted[:, w], minlength=self.n_outputs
            )

    def explain(self, matrix: np.ndarray) -> np.ndarray:
        """Contributions [rows, input features, outputs]; with base_value they sum to the
        trees' raw output for each row."""
        rows = self.reading.apply(matrix)
        result = np.zeros((len(rows), self.n_inputs, self.n_outputs))
        if not self._groups:
            return result
        chunk = max(1, CHUNK_ELEMENTS // max(group.elements for group in self._groups))
        for start in range(0, len(rows), chunk):
            result[start : start + chunk] = self._explain_chunk(rows[start : start + chunk])
        return result

    def _explain_chunk(self, rows: np.ndarray) -> np.ndarray:
        """Every interior node's decision for each row, then each group's shares."""
        n = len(rows)
        values = rows[:, self._node_column]
        with np.errstate(invalid="ignore"):
            below = (
                values < self._node_threshold
                if self.reading.strict_less
                else values <= self._node_threshold
            )
        goes_left = np.where(np.isnan(values), self._node_missing_left, below)
        if self._category_nodes.size:
            goes_left[:, self._category_nodes] = self._category_decisions(
                values[:, self._category_nodes]
            )
        decisions = np.concatenate([goes_left, np.ones((n, 1), dtype=bool)], axis=1)
        total = np.zeros(n * self._row_stride)
        for group in self._groups:
            group.add_shares(decisions, total, self._row_stride)
        return total.reshape(n, self.n_inputs + 1, self.n_outputs)[:, : self.n_inputs]

    def _category_decisions(self, codes: np.ndarray) -> np.ndarray:
        """[rows, category nodes]: whether each row's code goes left at each category test."""
        width = self._category_codes.shape[1]
        known = np.isfinite(codes) & (codes >= 0) & (codes < width) & (codes == np.floor(codes))
        index = np.where(known, codes, 0).astype(np.int64)
        way = self._category_codes[np.arange(len(self._category_nodes)), index]
        missing = self._node_missing_left[self._category_nodes]
        return np.where(known & (way >= 0), way == 1, missing)


class _LeafGroup:
    """Leaves explained together: their paths as [path feature, leaf] arrays, padded to the
    group's longest (a padded step always follows, a padded feature has z = 1: no effect)."""

    def __init__(
        self,
        forest: Forest,
        paths: _Paths,
        position: np.ndarray,
        chosen: np.ndarray,
        columns: np.ndarray,
        n_inputs: int,
        n_outputs: int,
    ) -> None:
        depth = int(paths.slot_used[:, chosen].sum(axis=0).max())
        # Contiguous copies: a fancy-indexed slice is strided, and slow to gather with.
        nodes = np.ascontiguousarray(paths.step_node[:, :depth][:, :, chosen])
        step_node = position[nodes].astype(np.int32)  # half the memory of int64 indices
        step_left = np.ascontiguousarray(paths.step_left[:, :depth][:, :, chosen])
        self._first_node, self._first_left = step_node[0], step_left[0]
        # Steps after the first are few: a feature split on twice or more along one path.
        self._later_steps = [
            (np.nonzero(used), step_node[e][used], step_left[e][used])
            for e in range(1, len(step_node))
            for used in [nodes[e] < len(forest.left)]
        ]
        self._z = np.ascontiguousarray(paths.z[:depth, chosen])
        self._points, self._weights = _gauss_legendre(depth)
        self._one_minus_points = (1.0 - self._points)[:, None]
        self._has_zero_cover = bool((self._z == 0).any())
        leaves = paths.leaves[chosen]
        tree = np.searchsorted(forest.tree_starts, leaves, side="right") - 1
        self._values = forest.value[leaves] * forest.scale[tree][:, None]
        feature = np.where(
            np.ascontiguousarray(paths.slot_used[:depth, chosen]),
            np.asarray(columns, dtype=np.int64)[paths.slot_column[:depth, chosen]],
            n_inputs,
        )
        # Where a (path feature, leaf) adds within a row's [input feature, output] block.
        self._slot_index = (feature * n_outputs + forest.target[tree]).astype(np.int32)
        self.elements = depth * len(self._points) * len(leaves)

    def add_shares(self, decisions: np.ndarray, total: np.ndarray, row_stride: int) -> None:
        """Add each row's contributions from these leaves into `total` ([row, input feature,
        output], flat). Arrays are [row, path feature, (point,) leaf]: leaves last."""
        n = len(decisions)
        # o: the row takes every split on path feature d the way to the leaf.
        follows = decisions[:, self._first_node] == self._first_left
        for (depth, leaf), nodes, left in self._later_steps:
            follows[:, depth, leaf] &= decisions[:, nodes] == left
        ones = follows.astype(np.float64)
        # z_j (1 - t) + o_j t at each quadrature point t: [row, path feature, point, leaf].
        factors = ones[:, :, None, :] * self._points[:, None]
        factors += self._z[:, None, :] * self._one_minus_points
        product = factors.prod(axis=1, keepdims=True)
        if self._has_zero_cover:
            others = np.divide(product, factors, out=np.zeros_like(factors), where=factors != 0)
        else:
            others = np.divide(product, factors, out=factors)
        integral = np.einsum("q,ndql->ndl", self._weights, others)
        shares = (ones - self._z) * integral
        index = self._slot_index + (row_stride * np.arange(n, dtype=np.int64))[:, None, None]
        for w in range(self._values.shape[1]):
            total += np.bincount(
                (index + w).ravel(),
                weights=(shares * self._values[:, w]).ravel(),
                minlength=total.size,
            )


class _Paths:
    """Every leaf's path, laid out as [path feature, leaf] arrays (padded to the longest).

    Per (path feature d, leaf): `z` (1 as padding), `slot_column` and `slot_used`; per step e of
    that feature on the path, `step_node` (a node id; len(nodes) as padding, which always
    follows) and `step_left` (the path goes left there). A tree of one leaf has no path: its
    leaf is in `constants`, which add to the base value only.
    """

    def __init__(self, forest: Forest) -> None:
        n_nodes = len(forest.left)
        interior = forest.left >= 0
        offsets = np.repeat(forest.tree_starts[:-1], np.diff(forest.tree_starts))
        parent = np.full(n_nodes, -1, dtype=np.int64)
        went_left = np.zeros(n_nodes, dtype=bool)
        inner = np.flatnonzero(interior)
        parent[forest.left[inner] + offsets[inner]] = inner
        parent[forest.right[inner] + offsets[inner]] = inner
        went_left[forest.left[inner] + offsets[inner]] = True
        leaves = np.flatnonzero(~interior & (parent >= 0))
        self.constants = np.flatnonzero(~interior & (parent < 0))
        steps, sides, below = [], [], []
        current = leaves
        while len(leaves):
            up = parent[current]
            if (up < 0).all():
                break
            steps.append(up)
            sides.append(went_left[current])
            below.append(current)
            current = np.where(up >= 0, up, current)
        node = np.array(steps, dtype=np.int64).reshape(-1, len(leaves))
        valid = node >= 0
        left = np.array(sides, dtype=bool).reshape(node.shape)
        child = np.array(below, dtype=np.int64).reshape(node.shape)
        safe = np.where(valid, node, 0)
        ratio = np.where(valid, forest.cover[child] / np.where(valid, forest.cover[safe], 1), 1.0)
        column = np.where(valid, forest.feature[safe], -1)
        slot, position = _slots(column, valid)
        depth = int(slot.max()) + 1 if slot.size and valid.any() else 0
        repeats = int(position.max()) + 1 if valid.any() else 0
        leaf_index = np.broadcast_to(np.arange(len(leaves)), node.shape)
        self.leaves = leaves
        self.z = np.ones((depth, len(leaves)))
        np.multiply.at(self.z, (slot[valid], leaf_index[valid]), ratio[valid])
        self.slot_column = np.zeros((depth, len(leaves)), dtype=np.int64)
        self.slot_column[slot[valid], leaf_index[valid]] = column[valid]
        self.slot_used = np.zeros((depth, len(leaves)), dtype=bool)
        self.slot_used[slot[valid], leaf_index[valid]] = True
        self.step_node = np.full((repeats, depth, len(leaves)), n_nodes, dtype=np.int64)
        self.step_left = np.ones((repeats, depth, len(leaves)), dtype=bool)
        where = (position[valid], slot[valid], leaf_index[valid])
        self.step_node[where] = node[valid]
        self.step_left[where] = left[valid]


def _slots(column: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per path step ([step, leaf]): the index of its feature among the path's distinct
    features (in order of first appearance), and how many earlier steps split on it."""
    steps = len(column)
    first = np.broadcast_to(np.arange(steps)[:, None], column.shape).copy()
    position = np.zeros(column.shape, dtype=np.int64)
    for later in range(steps):
        for earlier in range(later):
            same = valid[later] & valid[earlier] & (column[earlier] == column[later])
            first[later] = np.where(same & (first[later] == later), earlier, first[later])
            position[later] += same
    opens = valid & (first == np.arange(steps)[:, None])
    number = np.cumsum(opens, axis=0) - 1
    slot = np.take_along_axis(number, first, axis=0)
    return np.where(valid, slot, 0), position


def _blocks(leaves: np.ndarray, depth: int) -> list[np.ndarray]:
    """The leaves in blocks whose [path feature, point, leaf] arrays hold CHUNK_ELEMENTS."""
    points = max(1, math.ceil(depth / 2))
    size = max(1, CHUNK_ELEMENTS // (depth * points))
    return [leaves[start : start + size] for start in range(0, len(leaves), size)]


def _gauss_legendre(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights on [0, 1] that integrate polynomials of degree < depth exactly."""
    count = max(1, math.ceil(depth / 2))
    points, weights = np.polynomial.legendre.leggauss(count)
    return (points + 1.0) / 2.0, weights / 2.0
