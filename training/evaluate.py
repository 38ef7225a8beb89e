"""Held-out metrics of a fitted model, as the manifest records them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics


def evaluate(model: Any, task: str, x_test: Any, y_test: np.ndarray) -> dict[str, float]:
    """Held-out metrics, rounded."""
    predicted = model.predict(x_test)
    if task == "regression":
        scores = {
            "r2": metrics.r2_score(y_test, predicted),
            "mae": metrics.mean_absolute_error(y_test, predicted),
            "rmse": metrics.root_mean_squared_error(y_test, predicted),
        }
    else:
        scores = {
            "accuracy": metrics.accuracy_score(y_test, predicted),
            "f1_macro": metrics.f1_score(y_test, predicted, average="macro"),
        }
        if len(model.classes_) == 2 and len(np.unique(y_test)) == 2:
            scores["roc_auc"] = metrics.roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    return {k: round(float(v), 6) for k, v in scores.items()}
