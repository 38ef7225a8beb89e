"""The booster libraries a model holds, pinned as installed here.

A model that serves on ONNX needs none of them. One that stays on the scikit-learn runtime
lists them in its manifest's "requirements", which deploy adds to what the function installs.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

# Top-level module of each booster library, and the distribution that installs it.
BOOSTER_DISTRIBUTIONS = {"xgboost": "xgboost", "lightgbm": "lightgbm"}


def booster_requirements(model: Any) -> list[str]:
    """ "xgboost==3.2.0"-style pins for the booster libraries whose estimators the model holds."""
    modules = {type(part).__module__.partition(".")[0] for part in _estimators(model)}
    return [
        f"{distribution}=={metadata.version(distribution)}"
        for module, distribution in sorted(BOOSTER_DISTRIBUTIONS.items())
        if module in modules
    ]


def _estimators(model: Any) -> list[Any]:
    """The model and every estimator among its parameters (steps, transformers, nested)."""
    found = [model]
    if hasattr(model, "get_params"):
        found += [v for v in model.get_params(deep=True).values() if hasattr(v, "get_params")]
    return found
