"""XGBoost and LightGBM rows for docs/models.md's conformance table, each quick to fit.

Listed apart from bench/conformance_families.py so the table can add them in one line
(`families() + booster_families()`); each library is needed to fit and package, never to serve.
"""

from __future__ import annotations

from bench.conformance_families import Family


def booster_families() -> list[Family]:
    """XGBClassifier/XGBRegressor and LGBMClassifier/LGBMRegressor with their default objectives."""
    import lightgbm
    import xgboost

    c, r = "classification", "regression"
    return [
        Family("XGBClassifier", c, "wine", lambda: xgboost.XGBClassifier(n_estimators=20)),
        Family("XGBRegressor", r, "diabetes", lambda: xgboost.XGBRegressor(n_estimators=20)),
        Family(
            "LGBMClassifier",
            c,
            "iris",
            lambda: lightgbm.LGBMClassifier(n_estimators=20, verbose=-1),
        ),
        Family(
            "LGBMRegressor",
            r,
            "diabetes",
            lambda: lightgbm.LGBMRegressor(n_estimators=20, verbose=-1),
        ),
    ]
