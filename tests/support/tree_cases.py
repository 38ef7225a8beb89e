"""Small tree models on scikit-learn's and palmerpenguins' real data, and their ONNX parity.

Shared by tests/training/test_onnx_trees.py and tests/support/plain_skl2onnx_entry.py (the same
models through skl2onnx's own converters, in a process where the exact ones are not registered).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import datasets, ensemble, tree
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@cache
def dataset(name: str) -> tuple[Any, Any]:
    """Features and target of a shipped data set (penguins: the DataFrame, text kept)."""
    if name == "penguins":
        import palmerpenguins

        frame = pd.read_csv(Path(palmerpenguins.__file__).parent / "data" / "penguins.csv")
        frame["sex"] = frame["sex"].fillna("unknown")  # text cells: ONNX strings carry no NaN
        return frame[["island", "sex", *NUMBERS]], frame["species"]
    if name == "penguins_mass":
        frame, species = dataset("penguins")
        known = frame["body_mass_g"].notna()
        features = frame.assign(species=species)[known].drop(columns="body_mass_g")
        return features, frame["body_mass_g"][known]
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name]
    return loader(return_X_y=True)


def _one_hot_pipeline(model: Any, text: list[str], numbers: list[str], scaler: Any) -> Pipeline:
    steps = make_pipeline(SimpleImputer(strategy="median"), scaler)
    prep = ColumnTransformer(
        [("text", OneHotEncoder(handle_unknown="ignore"), text), ("numbers", steps, numbers)]
    )
    return Pipeline([("prep", prep), ("model", model)])


def _ordinal_pipeline(model: Any, text: list[str], numbers: list[str]) -> Pipeline:
    prep = ColumnTransformer(
        [("text", OrdinalEncoder(), text), ("numbers", "passthrough", numbers)]
    )
    return Pipeline([("prep", prep), ("model", model)])


E = ensemble
GBC = ensemble.GradientBoostingClassifier
HGBC = ensemble.HistGradientBoostingClassifier
# id -> (data set, is a classifier, unfitted model)
CASES: dict[str, tuple[str, bool, Callable[[], Any]]] = {
    "tree-binary": ("breast_cancer", True, lambda: tree.DecisionTreeClassifier(random_state=0)),
    "tree-multiclass": ("wine", True, lambda: tree.DecisionTreeClassifier(random_state=0)),
    "tree-regressor": ("diabetes", False, lambda: tree.DecisionTreeRegressor(random_state=0)),
    "forest-binary-100": (
        "breast_cancer", True, lambda: E.RandomForestClassifier(100, random_state=0),
    ),
    "forest-multiclass": ("iris", True, lambda: E.RandomForestClassifier(20, random_state=0)),
    "forest-regressor": ("diabetes", False, lambda: E.RandomForestRegressor(20, random_state=0)),
    "extra-binary": ("breast_cancer", True, lambda: E.ExtraTreesClassifier(20, random_state=0)),
    "extra-multiclass": ("wine", True, lambda: E.ExtraTreesClassifier(20, random_state=0)),
    "extra-regressor": ("diabetes", False, lambda: E.ExtraTreesRegressor(20, random_state=0)),
    "boosting-binary": (
        "breast_cancer", True, lambda: GBC(n_estimators=20, random_state=0),
    ),
    "boosting-multiclass": (
        "iris", True, lambda: GBC(n_estimators=20, random_state=0),
    ),
    "boosting-regressor": (
        "diabetes", False, lambda: E.GradientBoostingRegressor(n_estimators=30, random_state=0),
    ),
    "hist-binary": (
        "breast_cancer", True, lambda: HGBC(max_iter=20, random_state=0),
    ),
    "hist-multiclass": (
        "wine", True, lambda: HGBC(max_iter=20, random_state=0),
    ),
    "hist-regressor": (
        "diabetes", False, lambda: E.HistGradientBoostingRegressor(max_iter=30, random_state=0),
    ),
    "hist-poisson-regressor": (
        "diabetes",
        False,
        lambda: E.HistGradientBoostingRegressor(loss="poisson", max_iter=30, random_state=0),
    ),
    "penguins-onehot-forest": (
        "penguins",
        True,
        lambda: _one_hot_pipeline(
            E.RandomForestClassifier(30, random_state=0), ["island", "sex"], NUMBERS,
            StandardScaler(),
        ),
    ),
    "penguins-ordinal-hist-categorical-nan": (
        "penguins",
        True,
        lambda: _ordinal_pipeline(
            E.HistGradientBoostingClassifier(
                max_iter=20, categorical_features=[0, 1], random_state=0
            ),
            ["island", "sex"], NUMBERS,
        ),
    ),
    "penguins-onehot-boosting-regressor": (
        "penguins_mass",
        False,
        lambda: _one_hot_pipeline(
            E.GradientBoostingRegressor(n_estimators=30, random_state=0),
            ["island", "sex", "species"], NUMBERS[:3], MinMaxScaler(),
        ),
    ),
    "penguins-ordinal-hist-regressor": (
        "penguins_mass",
        False,
        lambda: _ordinal_pipeline(
            E.HistGradientBoostingRegressor(
                max_iter=20, categorical_features=[0, 1, 2], random_state=0
            ),
            ["island", "sex", "species"], NUMBERS[:3],
        ),
    ),
}  # fmt: skip


@cache
def fitted(case: str) -> Any:
    name, _, make = CASES[case]
    features, target = dataset(name)
    return make().fit(features, target)


def onnx_parity(case: str) -> tuple[bool, float]:
    """(labels identical, max abs difference of probabilities or values) through onnxruntime.

    Converts with whatever converters skl2onnx has registered in this process.
    """
    import onnxruntime as ort
    from skl2onnx import to_onnx

    name, classifier, _ = CASES[case]
    model = fitted(case)
    features, _ = dataset(name)
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    options = {id(final): {"zipmap": False}} if classifier else {}
    graph = to_onnx(model, features[:1], options=options)
    settings = ort.SessionOptions()
    settings.intra_op_num_threads = 1
    settings.inter_op_num_threads = 1
    session = ort.InferenceSession(
        graph.SerializeToString(), settings, providers=["CPUExecutionProvider"]
    )
    outputs = session.run(None, _feeds(session, features))
    if not classifier:
        return True, float(np.max(np.abs(np.ravel(outputs[0]) - model.predict(features))))
    labels_equal = bool(np.array_equal(np.ravel(outputs[0]), model.predict(features)))
    return labels_equal, float(np.max(np.abs(outputs[1] - model.predict_proba(features))))


def _feeds(session: Any, features: Any) -> dict[str, np.ndarray]:
    if not isinstance(features, pd.DataFrame):
        return {session.get_inputs()[0].name: np.asarray(features, dtype=np.float64)}
    feeds = {}
    for spec in session.get_inputs():
        column = features[spec.name].to_numpy()
        text = spec.type == "tensor(string)"
        feeds[spec.name] = (column.astype(object) if text else column).reshape(-1, 1)
    return feeds
