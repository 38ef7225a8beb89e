"""The rows of docs/models.md's conformance table, each quick to fit, and how each is fitted.

Every row is fitted twice, as users fit it:
- on the dataset's NumPy array: Pipeline(StandardScaler, estimator), a transformer row's step
  first;
- on a DataFrame (`dataset_frame`): the dataset's columns (one renamed to hold a space and a
  dot), a text column `site`, and gaps in one numeric column; a ColumnTransformer imputes and
  scales the numbers (a transformer row's step after imputing) and one-hot encodes the text (a
  text encoder row's encoder instead), then the estimator.
A row marked `categories` is fitted on the DataFrame only, without a ColumnTransformer: its
text column is a pandas `category` column the estimator encodes itself. A row marked `arrays
= False` has no array variant (it encodes text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_COLUMN = "site"
SITES = ("north", "south", "east")
NUMERIC_GAPS = 10  # every 10th row misses a value in the frame's second column


@dataclass(frozen=True)
class Family:
    """One row: its name, task, dataset, the estimator, and a transformer under test if any."""

    name: str
    task: str
    dataset: str
    make: Callable[[], Any]
    step: Callable[[], Any] | None = None  # a numeric transformer, before scaling
    encoder: Callable[[], Any] | None = None  # the text column's encoder (default one-hot)
    arrays: bool = True
    categories: bool = False


def dataset_frame(name: str) -> tuple[Any, Any]:
    """The dataset as a user's DataFrame (see the module docstring) and its target."""
    import pandas as pd
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = loaded.data.copy()
    first, second = frame.columns[0], frame.columns[1]
    frame = frame.rename(columns={first: f"{first} no.1"})
    terciles = np.quantile(frame[second], [1 / 3, 2 / 3])
    sites = np.asarray(SITES, dtype=object)[np.searchsorted(terciles, frame[second])]
    frame[TEXT_COLUMN] = pd.Series(sites, index=frame.index, dtype=object)
    frame.loc[frame.index[::NUMERIC_GAPS], second] = np.nan
    return frame, loaded.target


def array_pipeline(family: Family) -> Any:
    """Pipeline([step], StandardScaler, estimator) for the dataset's array."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [("step", family.step())] if family.step else []
    return Pipeline([*steps, ("scale", StandardScaler()), ("model", family.make())])


def frame_pipeline(family: Family, frame: Any) -> Any:
    """ColumnTransformer(numbers: imputed, [step], scaled; text: encoded), then the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if family.categories:
        return Pipeline([("model", family.make())])
    numbers = [name for name in frame.columns if name != TEXT_COLUMN]
    step = [("step", family.step())] if family.step else []
    numeric = Pipeline([("impute", SimpleImputer()), *step, ("scale", StandardScaler())])
    encoder = family.encoder() if family.encoder else OneHotEncoder(handle_unknown="ignore")
    prepare = ColumnTransformer([("numbers", numeric, numbers), ("text", encoder, [TEXT_COLUMN])])
    return Pipeline([("prepare", prepare), ("model", family.make())])


def families() -> list[Family]:
    """Every row: the estimator families, then the transformers and meta-estimators, then the
    gradient-boosting libraries (`booster_families`)."""
    return [*estimator_families(), *step_families(), *booster_families()]


def booster_families() -> list[Family]:
    """XGBoost and LightGBM rows (bench/conformance_boosters.py): their libraries are needed
    to fit and package, never to serve."""
    from bench import conformance_boosters

    return conformance_boosters.booster_families()


def estimator_families() -> list[Family]:
    """Every estimator family, classifier and regressor where both exist; fitted small."""
    from sklearn import ensemble, linear_model, naive_bayes, neighbors, neural_network, svm, tree

    c, r = "classification", "regression"
    return [
        Family("LogisticRegression", c, "breast_cancer", linear_model.LogisticRegression),
        Family("LinearRegression", r, "diabetes", linear_model.LinearRegression),
        Family("Ridge", r, "diabetes", linear_model.Ridge),
        Family("Lasso", r, "diabetes", linear_model.Lasso),
        Family("ElasticNet", r, "diabetes", linear_model.ElasticNet),
        Family("SGDClassifier", c, "wine", lambda: linear_model.SGDClassifier(random_state=0)),
        Family("Perceptron", c, "breast_cancer", lambda: linear_model.Perceptron(random_state=0)),
        Family("SGDRegressor", r, "diabetes", lambda: linear_model.SGDRegressor(random_state=0)),
        Family("LinearSVC", c, "breast_cancer", lambda: svm.LinearSVC(random_state=0)),
        Family("LinearSVR", r, "diabetes", lambda: svm.LinearSVR(random_state=0)),
        Family("SVC", c, "iris", lambda: svm.SVC(probability=True, random_state=0)),
        Family("SVR", r, "diabetes", svm.SVR),
        Family("KNeighborsClassifier", c, "iris", neighbors.KNeighborsClassifier),
        Family("KNeighborsRegressor", r, "diabetes", neighbors.KNeighborsRegressor),
        Family("GaussianNB", c, "wine", naive_bayes.GaussianNB),
        Family(
            "DecisionTreeClassifier",
            c,
            "breast_cancer",
            lambda: tree.DecisionTreeClassifier(random_state=0),
        ),
        Family(
            "DecisionTreeRegressor",
            r,
            "diabetes",
            lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0),
        ),
        Family(
            "RandomForestClassifier",
            c,
            "wine",
            lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "RandomForestRegressor",
            r,
            "diabetes",
            lambda: ensemble.RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0),
        ),
        Family(
            "ExtraTreesClassifier",
            c,
            "iris",
            lambda: ensemble.ExtraTreesClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "ExtraTreesRegressor",
            r,
            "diabetes",
            lambda: ensemble.ExtraTreesRegressor(n_estimators=20, max_depth=8, random_state=0),
        ),
        Family(
            "GradientBoostingClassifier",
            c,
            "iris",
            lambda: ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "GradientBoostingRegressor",
            r,
            "diabetes",
            lambda: ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0),
        ),
        Family(
            "HistGradientBoostingClassifier",
            c,
            "breast_cancer",
            lambda: ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=0),
        ),
        Family(
            "HistGradientBoostingRegressor",
            r,
            "diabetes",
            lambda: ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0),
        ),
        Family(
            "MLPClassifier",
            c,
            "iris",
            lambda: neural_network.MLPClassifier(
                hidden_layer_sizes=(16,), max_iter=300, random_state=0
            ),
        ),
        Family(
            "MLPRegressor",
            r,
            "diabetes",
            lambda: neural_network.MLPRegressor(
                hidden_layer_sizes=(16,), max_iter=300, random_state=0
            ),
        ),
    ]


def step_families() -> list[Family]:
    """The transformers and meta-estimators people put around those (issue 24, part 2)."""
    from sklearn import (
        calibration,
        compose,
        decomposition,
        ensemble,
        feature_selection,
        linear_model,
        preprocessing,
        svm,
        tree,
    )

    c, r = "classification", "regression"
    lr = linear_model.LogisticRegression
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("MinMaxScaler", preprocessing.MinMaxScaler),
        ("RobustScaler", preprocessing.RobustScaler),
        ("MaxAbsScaler", preprocessing.MaxAbsScaler),
        ("Normalizer", preprocessing.Normalizer),
        ("FunctionTransformer(np.log1p)", lambda: preprocessing.FunctionTransformer(np.log1p)),
        ("FunctionTransformer(np.sqrt)", lambda: preprocessing.FunctionTransformer(np.sqrt)),
        (
            "KBinsDiscretizer",
            lambda: preprocessing.KBinsDiscretizer(n_bins=4, encode="onehot-dense"),
        ),
        ("PolynomialFeatures", lambda: preprocessing.PolynomialFeatures(2)),
        ("SplineTransformer", lambda: preprocessing.SplineTransformer(n_knots=4)),
        ("PCA", lambda: decomposition.PCA(5, random_state=0)),
        ("TruncatedSVD", lambda: decomposition.TruncatedSVD(5, random_state=0)),
        ("SelectKBest", lambda: feature_selection.SelectKBest(k=5)),
        ("SelectPercentile", lambda: feature_selection.SelectPercentile(percentile=30)),
        ("VarianceThreshold", lambda: feature_selection.VarianceThreshold(0.01)),
    ]
    rows = [
        Family(name, c, "breast_cancer", lambda: lr(max_iter=1000), step=step)
        for name, step in steps
    ]
    encoders: list[tuple[str, Callable[[], Any]]] = [
        (
            "OneHotEncoder(min_frequency, infrequent)",
            lambda: preprocessing.OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=60
            ),
        ),
        (
            "OneHotEncoder(max_categories, drop)",
            lambda: preprocessing.OneHotEncoder(
                handle_unknown="infrequent_if_exist", max_categories=2, drop="first"
            ),
        ),
        (
            "OrdinalEncoder(unknown_value)",
            lambda: preprocessing.OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1
            ),
        ),
        ("TargetEncoder", preprocessing.TargetEncoder),
    ]
    rows += [
        Family(name, c, "breast_cancer", lambda: lr(max_iter=1000), encoder=encoder, arrays=False)
        for name, encoder in encoders
    ]
    members = [
        ("lr", lr(max_iter=1000)),
        ("tree", tree.DecisionTreeClassifier(max_depth=4, random_state=0)),
    ]
    regressors = [
        ("ridge", linear_model.Ridge()),
        ("tree", tree.DecisionTreeRegressor(max_depth=4, random_state=0)),
    ]
    rows += [
        Family(
            "HistGradientBoosting(categorical_features='from_dtype')",
            c,
            "wine",
            lambda: ensemble.HistGradientBoostingClassifier(
                categorical_features="from_dtype", max_iter=20, random_state=0
            ),
            arrays=False,
            categories=True,
        ),
        Family(
            "TransformedTargetRegressor(np.log1p)",
            r,
            "diabetes",
            lambda: compose.TransformedTargetRegressor(
                linear_model.Ridge(), func=np.log1p, inverse_func=np.expm1
            ),
        ),
        Family(
            "VotingClassifier(soft)",
            c,
            "wine",
            lambda: ensemble.VotingClassifier(members, voting="soft"),
        ),
        Family(
            "VotingClassifier(hard)",
            c,
            "wine",
            lambda: ensemble.VotingClassifier(members, voting="hard"),
        ),
        Family("VotingRegressor", r, "diabetes", lambda: ensemble.VotingRegressor(regressors)),
        Family(
            "StackingClassifier(decision values)",
            c,
            "wine",
            lambda: ensemble.StackingClassifier(
                [("svc", svm.LinearSVC(random_state=0)), *members[1:]], final_estimator=lr()
            ),
        ),
        Family("StackingRegressor", r, "diabetes", lambda: ensemble.StackingRegressor(regressors)),
        Family(
            "CalibratedClassifierCV(sigmoid)",
            c,
            "breast_cancer",
            lambda: calibration.CalibratedClassifierCV(lr(max_iter=1000), method="sigmoid"),
        ),
        Family(
            "CalibratedClassifierCV(isotonic)",
            c,
            "breast_cancer",
            lambda: calibration.CalibratedClassifierCV(
                ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0),
                method="isotonic",
            ),
        ),
        Family(
            "BaggingClassifier",
            c,
            "iris",
            lambda: ensemble.BaggingClassifier(n_estimators=5, random_state=0),
        ),
        Family(
            "BaggingRegressor",
            r,
            "diabetes",
            lambda: ensemble.BaggingRegressor(n_estimators=5, random_state=0),
        ),
    ]
    return rows
