"""The estimator families of docs/models.md's conformance table, each quick to fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    """One estimator family: its name, task, dataset and how to build a small one."""

    name: str
    task: str
    dataset: str
    make: Callable[[], Any]


def families() -> list[Family]:
    """Every family in the table, classifier and regressor where both exist; fitted small."""
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
