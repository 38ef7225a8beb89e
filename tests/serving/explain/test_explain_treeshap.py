"""serving/explain's TreeSHAP against the definition: Shapley values over every subset of the
columns, with the path-dependent expectation (Lundberg et al. 2020, Algorithm 1), brute force.

Small forests with features split on twice along a path, NaN routing, `<` against `<=`, a
float32 reading, XGBoost's missing value, LightGBM's zero-as-missing, a child that covers no
training row, one-leaf trees and trees adding to different outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.explain import treeshap
from serving.explain.treeshap import Forest, Reading, TreeExplainer
from tests.support.explain_cases import brute_force, decide

pytestmark = pytest.mark.in_process


def sklearn_forest(trees: list, width: int) -> Forest:
    """A scikit-learn forest's trees as a Forest (mean of the trees)."""
    parts = [tree.tree_ for tree in trees]
    return Forest(
        tree_starts=np.concatenate([[0], np.cumsum([t.node_count for t in parts])]),
        left=np.concatenate([t.children_left for t in parts]),
        right=np.concatenate([t.children_right for t in parts]),
        feature=np.concatenate([t.feature for t in parts]),
        threshold=np.concatenate([t.threshold for t in parts]),
        missing_left=np.concatenate([t.missing_go_to_left for t in parts]).astype(bool),
        cover=np.concatenate([t.weighted_n_node_samples for t in parts]),
        value=np.concatenate([t.value[:, 0, :width] for t in parts]),
        scale=np.full(len(parts), 1.0 / len(parts)),
        target=np.zeros(len(parts), dtype=np.int64),
    )


@pytest.fixture(scope="module")
def gappy_rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(300, 4))
    rows[rng.random(rows.shape) < 0.15] = np.nan
    return rows


@pytest.fixture(scope="module")
def fitted_forest(gappy_rows: np.ndarray) -> object:
    """Three classes, depth 7 over 4 columns: every path splits on some column twice or more."""
    from sklearn.ensemble import RandomForestClassifier

    filled = np.nan_to_num(gappy_rows)
    target = (filled[:, 0] + filled[:, 1] ** 2 > 0.5).astype(int) + (filled[:, 2] > 0)
    model = RandomForestClassifier(n_estimators=3, max_depth=7, random_state=0)
    return model.fit(gappy_rows, target)


@pytest.fixture(scope="module")
def deep_forest(fitted_forest: object) -> Forest:
    return sklearn_forest(fitted_forest.estimators_, 3)  # type: ignore[attr-defined]


def hand_tree(**changes: object) -> Forest:
    """One tree: root on column 0, left child on column 1 (its left leaf covers no row), right
    child on column 0 again; two outputs, the tree adding to the second."""
    arrays = {
        "tree_starts": np.array([0, 7]),
        "left": np.array([1, 3, 5, -1, -1, -1, -1]),
        "right": np.array([2, 4, 6, -1, -1, -1, -1]),
        "feature": np.array([0, 1, 0, 0, 0, 0, 0]),
        "threshold": np.array([0.5, 2.0, 1.5, 0, 0, 0, 0]),
        "missing_left": np.array([True, False, True, False, False, False, False]),
        "cover": np.array([10.0, 4.0, 6.0, 0.0, 4.0, 5.0, 1.0]),
        "value": np.array([[0.0], [0.0], [0.0], [7.0], [-1.0], [2.5], [10.0]]),
        "scale": np.array([1.0]),
        "target": np.array([1]),
    }
    return Forest(**{**arrays, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reading",
    [Reading(float32=True), Reading(strict_less=True), Reading()],
    ids=["float32-leq", "strict-less", "float64-leq"],
)
def test_forest_with_repeated_splits_and_nan_matches_the_definition(
    deep_forest: Forest, gappy_rows: np.ndarray, reading: Reading
) -> None:
    explainer = TreeExplainer(deep_forest, reading, np.arange(4), 4, np.zeros(3))

    ours = explainer.explain(gappy_rows[:12])

    for row, phi in zip(gappy_rows[:12], ours, strict=True):
        np.testing.assert_allclose(phi, brute_force(deep_forest, reading, row, 3), atol=1e-12)


def test_base_value_plus_contributions_is_the_forests_output(
    deep_forest: Forest, fitted_forest: object, gappy_rows: np.ndarray
) -> None:
    explainer = TreeExplainer(deep_forest, Reading(float32=True), np.arange(4), 4, np.zeros(3))

    sums = explainer.explain(gappy_rows).sum(axis=1) + explainer.base_value

    expected = fitted_forest.predict_proba(gappy_rows)  # type: ignore[attr-defined]
    np.testing.assert_allclose(sums, expected, atol=1e-12)


@pytest.mark.parametrize(
    "row",
    [[0.2, 5.0], [0.2, 1.0], [1.0, 0.0], [2.0, 0.0], [np.nan, 1.0], [np.nan, np.nan]],
)
def test_a_child_covering_no_rows_and_an_output_offset(row: list[float]) -> None:
    forest = hand_tree()
    explainer = TreeExplainer(forest, Reading(), np.arange(2), 2, np.array([0.25, 1.0]))
    x = np.array([row])

    phi = explainer.explain(x)[0]

    np.testing.assert_allclose(phi, brute_force(forest, Reading(), x[0], 2), atol=1e-12)
    assert (phi[:, 0] == 0).all()  # the tree adds to output 1 only
    expected = 1.0 + brute_force_prediction(forest, x[0])  # the offset, then the tree
    assert phi[:, 1].sum() + explainer.base_value[1] == pytest.approx(expected, abs=1e-12)
    assert explainer.base_value[0] == 0.25


def brute_force_prediction(forest: Forest, row: np.ndarray) -> float:
    node = 0
    while forest.left[node] >= 0:
        goes_left = decide(forest, Reading(), node, row[forest.feature[node]])
        node = forest.left[node] if goes_left else forest.right[node]
    return float(forest.value[node, 0])


@pytest.mark.parametrize(
    "row", [[0.0, 5.0], [1.0, 1.0], [2.0, 0.0], [3.0, 0.0], [7.0, 1.0], [np.nan, 1.0], [0.5, 2.0]]
)
def test_category_tests_send_known_codes_their_way_and_others_the_missing_way(
    row: list[float],
) -> None:
    """Column 0 holds codes: the root sends 0 and 2 left, 1 right, and the codes it never saw
    (3, 7, NaN, 0.5) the missing way (left); node 2 tests codes again (1 left, 0 right)."""
    forest = hand_tree(
        category_row=np.array([0, -1, 1, -1, -1, -1, -1]),
        category_table=np.array([[1, 0, 1, -1], [0, 1, -1, -1]], dtype=np.int8),
    )
    explainer = TreeExplainer(forest, Reading(), np.arange(2), 2, np.zeros(2))
    x = np.array([row])

    phi = explainer.explain(x)[0]

    np.testing.assert_allclose(phi, brute_force(forest, Reading(), x[0], 2), atol=1e-12)
    sums = phi[:, 1].sum() + explainer.base_value[1]
    assert sums == pytest.approx(brute_force_prediction(forest, x[0]), abs=1e-12)


def test_columns_of_one_input_feature_are_summed_into_it(
    deep_forest: Forest, gappy_rows: np.ndarray
) -> None:
    by_column = TreeExplainer(deep_forest, Reading(float32=True), np.arange(4), 4, np.zeros(3))
    grouped = TreeExplainer(
        deep_forest, Reading(float32=True), np.array([0, 1, 1, 0]), 2, np.zeros(3)
    )

    columns = by_column.explain(gappy_rows[:20])
    features = grouped.explain(gappy_rows[:20])

    np.testing.assert_allclose(features[:, 0], columns[:, 0] + columns[:, 3], atol=1e-15)
    np.testing.assert_allclose(features[:, 1], columns[:, 1] + columns[:, 2], atol=1e-15)


def test_one_leaf_trees_add_to_the_base_value_only() -> None:
    stump = Forest(
        tree_starts=np.array([0, 1, 8]),
        left=np.concatenate([[-1], hand_tree().left]),
        right=np.concatenate([[-1], hand_tree().right]),
        feature=np.concatenate([[0], hand_tree().feature]),
        threshold=np.concatenate([[0.0], hand_tree().threshold]),
        missing_left=np.concatenate([[False], hand_tree().missing_left]),
        cover=np.concatenate([[10.0], hand_tree().cover]),
        value=np.concatenate([[[3.0]], hand_tree().value]),
        scale=np.array([2.0, 1.0]),
        target=np.array([1, 1]),
    )
    with_stump = TreeExplainer(stump, Reading(), np.arange(2), 2, np.zeros(2))
    alone = TreeExplainer(hand_tree(), Reading(), np.arange(2), 2, np.zeros(2))
    rows = np.array([[0.2, 5.0], [3.0, np.nan]])

    assert with_stump.base_value[1] == pytest.approx(alone.base_value[1] + 6.0)
    np.testing.assert_array_equal(with_stump.explain(rows), alone.explain(rows))


def test_xgboost_missing_value_and_lightgbm_zero_reading() -> None:
    reading = Reading(missing_values=(-999.0,), tiny=1e-35, zero_missing=np.array([True, False]))
    rows = np.array([[-999.0, 1e-40], [1e-36, 0.0], [0.0, 2.0]])

    read = reading.apply(rows)

    np.testing.assert_array_equal(read, [[np.nan, 0.0], [np.nan, 0.0], [np.nan, 2.0]])
    forest = hand_tree()
    explainer = TreeExplainer(forest, reading, np.arange(2), 2, np.zeros(2))
    for row, phi in zip(rows, explainer.explain(rows), strict=True):
        np.testing.assert_allclose(phi, brute_force(forest, reading, row, 2), atol=1e-12)


def test_rows_explained_in_chunks_equal_rows_explained_alone(
    deep_forest: Forest, gappy_rows: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    explainer = TreeExplainer(deep_forest, Reading(float32=True), np.arange(4), 4, np.zeros(3))
    alone = np.concatenate([explainer.explain(gappy_rows[i : i + 1]) for i in range(50)])
    monkeypatch.setattr(treeshap, "CHUNK_ELEMENTS", 7_000)  # a few rows per chunk

    chunked = explainer.explain(gappy_rows[:50])

    np.testing.assert_allclose(chunked, alone, atol=1e-15)
