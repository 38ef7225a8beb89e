"""Pipelines written the way users write them, on data no test uses elsewhere.

Each function is one user's training script: it loads a table (a statsmodels dataset shipped
inside the statsmodels package, or generated data with realistic names, gaps and categories),
turns codes into the words a user's CSV would hold, fits a pipeline and returns
(the frame it was fitted on, the target column's name and values, the fitted pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import (
    calibration,
    compose,
    decomposition,
    ensemble,
    impute,
    linear_model,
    neighbors,
    neural_network,
    preprocessing,
    svm,
)
from sklearn.pipeline import make_pipeline

Fitted = tuple[pd.DataFrame, str, Any, Any]


def _statsmodels(name: str) -> pd.DataFrame:
    from statsmodels import datasets

    return getattr(datasets, name).load_pandas().data.copy()


def _gaps(frame: pd.DataFrame, column: str, every: int, seed: int = 0) -> None:
    """Blank out about one cell in `every` of a column (a survey's non-answers)."""
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(len(frame)) < 1 / every, column] = np.nan


def _text(values: pd.Series, words: dict[float, str]) -> pd.Series:
    return pd.Series([words.get(v, np.nan) for v in values], index=values.index, dtype=object)


def affairs_logistic() -> Fitted:
    """fair: did the respondent have an affair? Occupation and religiousness as words."""
    frame = _statsmodels("fair")
    target = (frame.pop("affairs") > 0).astype(int)
    jobs = {1: "student", 2: "farming", 3: "white collar", 4: "teacher", 5: "manager", 6: "pro"}
    frame["occupation"] = _text(frame["occupation"], jobs)
    frame["religious"] = _text(
        frame["religious"], {1: "not", 2: "mildly", 3: "fairly", 4: "strongly"}
    )
    frame = frame.drop(columns=["occupation_husb"])
    _gaps(frame, "educ", 40)
    numbers = ["rate_marriage", "age", "yrs_married", "children", "educ"]
    model = make_pipeline(
        compose.ColumnTransformer(
            [
                (
                    "num",
                    make_pipeline(
                        impute.SimpleImputer(strategy="median"), preprocessing.StandardScaler()
                    ),
                    numbers,
                ),
                (
                    "cat",
                    preprocessing.OneHotEncoder(handle_unknown="ignore"),
                    ["occupation", "religious"],
                ),
            ]
        ),
        linear_model.LogisticRegression(max_iter=1000),
    )
    return frame, "had_affair", target, model.fit(frame, target)


def affairs_amount_log_target() -> Fitted:
    """fair: how much time in affairs, boosting on a log1p target."""
    frame = _statsmodels("fair")
    target = frame.pop("affairs")
    model = compose.TransformedTargetRegressor(
        ensemble.HistGradientBoostingRegressor(max_iter=60, random_state=0),
        func=np.log1p,
        inverse_func=np.expm1,
    )
    return frame, "affairs", target, model.fit(frame, target)


def vote_category_boosting() -> Fitted:
    """anes96: Clinton or Dole, party and education as pandas categories for HGB."""
    frame = _statsmodels("anes96")
    target = frame.pop("vote").astype(int)
    party = {
        0: "strong dem",
        1: "weak dem",
        2: "lean dem",
        3: "independent",
        4: "lean rep",
        5: "weak rep",
        6: "strong rep",
    }
    frame["party"] = _text(frame.pop("PID"), party).astype("category")
    school = {
        1: "grade school",
        2: "some high school",
        3: "high school",
        4: "some college",
        5: "associate",
        6: "bachelor",
        7: "graduate",
    }
    frame["education"] = _text(frame.pop("educ"), school).astype("category")
    frame = frame.drop(columns=["logpopul"])
    _gaps(frame, "income", 25)
    model = ensemble.HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=50, random_state=0
    )
    return frame, "vote", target, model.fit(frame, target)


def vote_forest_ordinal() -> Fitted:
    """anes96: a random forest over ordinal-encoded words, unknown words allowed."""
    frame = _statsmodels("anes96")
    target = np.where(frame.pop("vote") > 0, "Dole", "Clinton")
    frame["TV news days"] = frame.pop("TVnews")
    frame["party"] = _text(
        frame.pop("PID"), {0: "D", 1: "D", 2: "D", 3: "I", 4: "R", 5: "R", 6: "R"}
    )
    model = make_pipeline(
        compose.make_column_transformer(
            (
                preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["party"],
            ),
            remainder="passthrough",
        ),
        ensemble.RandomForestClassifier(n_estimators=60, min_samples_leaf=3, random_state=0),
    )
    return frame, "vote", target, model.fit(frame, target)


def school_pass_rate_polynomial() -> Fitted:
    """star98: share of students above the national median, quadratic ridge."""
    frame = _statsmodels("star98")
    above, below = frame.pop("NABOVE"), frame.pop("NBELOW")
    rate = above / (above + below)
    model = make_pipeline(
        preprocessing.StandardScaler(),
        preprocessing.PolynomialFeatures(2),
        linear_model.Ridge(alpha=10.0),
    )
    return frame, "pass_rate", rate, model.fit(frame, rate)


def doctor_visits_poisson() -> Fitted:
    """randhie: number of doctor visits, Poisson loss boosting."""
    frame = _statsmodels("randhie").sample(4000, random_state=0)
    target = frame.pop("mdvis")
    model = ensemble.HistGradientBoostingRegressor(loss="poisson", max_iter=60, random_state=0)
    return frame, "mdvis", target, model.fit(frame, target)


def firm_investment_boosting() -> Fitted:
    """grunfeld: a firm's investment from its value and capital, firm names one-hot encoded."""
    frame = _statsmodels("grunfeld")
    frame["firm"] = frame["firm"].astype(object)
    target = frame.pop("invest")
    model = make_pipeline(
        compose.make_column_transformer(
            (
                preprocessing.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=25),
                ["firm"],
            ),
            remainder="passthrough",
        ),
        ensemble.GradientBoostingRegressor(n_estimators=80, random_state=0),
    )
    return frame, "invest", target, model.fit(frame, target)


def travel_mode_calibrated() -> Fitted:
    """modechoice: was this travel mode chosen? A calibrated linear SVM."""
    frame = _statsmodels("modechoice").drop(columns=["individual"])
    target = frame.pop("choice").astype(int)
    frame["mode"] = _text(frame["mode"], {1: "air", 2: "train", 3: "bus", 4: "car"})
    model = make_pipeline(
        compose.make_column_transformer(
            (preprocessing.OneHotEncoder(), ["mode"]),
            remainder=preprocessing.StandardScaler(),
        ),
        calibration.CalibratedClassifierCV(svm.LinearSVC(), method="sigmoid"),
    )
    return frame, "choice", target, model.fit(frame, target)


def state_crime_pca() -> Fitted:
    """statecrime: violent crime rate from social indicators, through PCA."""
    frame = _statsmodels("statecrime").reset_index(drop=True)
    target = frame.pop("violent")
    model = make_pipeline(
        preprocessing.StandardScaler(),
        decomposition.PCA(n_components=4),
        linear_model.LinearRegression(),
    )
    return frame, "violent", target, model.fit(frame, target)


def unemployment_splines() -> Fitted:
    """macrodata: unemployment from the quarter's economy, splines of inflation."""
    frame = _statsmodels("macrodata").drop(columns=["year", "quarter"])
    target = frame.pop("unemp")
    model = make_pipeline(
        compose.make_column_transformer(
            (preprocessing.SplineTransformer(n_knots=5), ["infl", "realint"]),
            remainder=preprocessing.StandardScaler(),
        ),
        linear_model.Ridge(alpha=1.0),
    )
    return frame, "unemp", target, model.fit(frame, target)


def card_spending_knn() -> Fitted:
    """ccard: average credit card spending, nearest neighbours."""
    frame = _statsmodels("ccard")
    target = frame.pop("AVGEXP")
    model = make_pipeline(
        preprocessing.MinMaxScaler(), neighbors.KNeighborsRegressor(n_neighbors=5)
    )
    return frame, "AVGEXP", target, model.fit(frame, target)


def fertility_neural_net() -> Fitted:
    """fertility: a country's 2010 fertility rate from earlier years, with gaps."""
    frame = _statsmodels("fertility")
    frame = frame[frame["2010"].notna()]
    target = frame["2010"].to_numpy()
    frame = frame[[str(year) for year in range(1990, 2006)]]
    model = make_pipeline(
        impute.SimpleImputer(strategy="median"),
        preprocessing.StandardScaler(),
        neural_network.MLPRegressor(hidden_layer_sizes=(32,), max_iter=2000, random_state=0),
    )
    return frame, "fertility 2010", target, model.fit(frame, target)


def _loan_applications(rows: int = 1500, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "annual income ($)": rng.lognormal(10.8, 0.5, rows).round(-2),
            "loan amount ($)": rng.lognormal(9.5, 0.7, rows).round(-2),
            "employment length (years)": rng.integers(0, 30, rows).astype(float),
            "home ownership": rng.choice(
                ["RENT", "MORTGAGE", "OWN", "OTHER"], rows, p=[0.45, 0.4, 0.14, 0.01]
            ).astype(object),
            "purpose": rng.choice(
                ["debt consolidation", "credit card", "home improvement", "car", "wedding"], rows
            ).astype(object),
            "credit score": rng.normal(690, 45, rows).round(),
        }
    )
    risk = (
        frame["loan amount ($)"] / frame["annual income ($)"] * 4
        - (frame["credit score"] - 690) / 40
    )
    defaulted = (risk + rng.normal(0, 0.8, rows) > 1.0).astype(int)
    _gaps(frame, "employment length (years)", 12, seed)
    frame.loc[rng.random(rows) < 0.03, "home ownership"] = np.nan
    return frame, defaulted.to_numpy()


def loan_default_stacking() -> Fitted:
    """Generated loan applications: a stacked logistic regression and forest."""
    frame, target = _loan_applications()
    numbers = ["annual income ($)", "loan amount ($)", "employment length (years)", "credit score"]
    prepare = compose.ColumnTransformer(
        [
            ("num", make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler()), numbers),
            (
                "cat",
                make_pipeline(
                    impute.SimpleImputer(strategy="most_frequent"),
                    preprocessing.OneHotEncoder(handle_unknown="ignore"),
                ),
                ["home ownership", "purpose"],
            ),
        ]
    )
    model = make_pipeline(
        prepare,
        ensemble.StackingClassifier(
            [
                ("lr", linear_model.LogisticRegression(max_iter=1000)),
                ("rf", ensemble.RandomForestClassifier(n_estimators=40, random_state=0)),
            ],
            final_estimator=linear_model.LogisticRegression(),
        ),
    )
    return frame, "defaulted", target, model.fit(frame, target)


def _telco_customers(rows: int = 2000, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one year", "two year"], rows, p=[0.55, 0.25, 0.2])
    frame = pd.DataFrame(
        {
            "tenure (months)": rng.integers(0, 72, rows).astype(float),
            "monthly charges": rng.uniform(18, 120, rows).round(2),
            "contract": contract.astype(object),
            "internet service": rng.choice(["DSL", "Fiber optic", "No"], rows).astype(object),
            "payment method": rng.choice(
                ["electronic check", "mailed check", "bank transfer", "credit card"], rows
            ).astype(object),
            "support calls": rng.poisson(1.5, rows).astype(float),
        }
    )
    score = (
        (contract == "month-to-month") * 1.2
        - frame["tenure (months)"] / 30
        + frame["support calls"] * 0.4
    )
    churned = np.where(score + rng.normal(0, 0.7, rows) > 0.6, "yes", "no")
    _gaps(frame, "monthly charges", 30, seed)
    return frame, churned


def churn_soft_voting() -> Fitted:
    """Generated telco customers: soft voting of a linear model and boosting."""
    frame, target = _telco_customers()
    numbers = ["tenure (months)", "monthly charges", "support calls"]
    words = ["contract", "internet service", "payment method"]
    prepare = compose.make_column_transformer(
        (
            make_pipeline(impute.SimpleImputer(strategy="median"), preprocessing.StandardScaler()),
            numbers,
        ),
        (preprocessing.OneHotEncoder(handle_unknown="ignore", sparse_output=False), words),
    )
    model = make_pipeline(
        prepare,
        ensemble.VotingClassifier(
            [
                ("lr", linear_model.LogisticRegression(max_iter=1000)),
                ("gb", ensemble.HistGradientBoostingClassifier(max_iter=40, random_state=0)),
            ],
            voting="soft",
        ),
    )
    return frame, "churned", target, model.fit(frame, target)


def churn_binned_tenure() -> Fitted:
    """Generated telco customers: tenure in quantile bins, months' charges log-scaled."""
    frame, target = _telco_customers(seed=6)
    frame = frame.fillna({"monthly charges": frame["monthly charges"].median()})
    prepare = compose.make_column_transformer(
        (
            preprocessing.KBinsDiscretizer(
                n_bins=6, encode="onehot-dense", quantile_method="averaged_inverted_cdf"
            ),
            ["tenure (months)"],
        ),
        (preprocessing.FunctionTransformer(np.log1p), ["monthly charges", "support calls"]),
        (
            preprocessing.OneHotEncoder(drop="first"),
            ["contract", "internet service", "payment method"],
        ),
    )
    model = make_pipeline(prepare, linear_model.LogisticRegression(max_iter=1000))
    return frame, "churned", target, model.fit(frame, target)


def _house_sales(rows: int = 1200, seed: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    areas = np.array([f"district {n}" for n in range(1, 31)], dtype=object)
    frame = pd.DataFrame(
        {
            "neighbourhood": rng.choice(areas, rows),
            "living area (sq.ft)": rng.normal(1800, 500, rows).clip(400).round(),
            "year built": rng.integers(1900, 2022, rows).astype(float),
            "bedrooms": rng.integers(1, 6, rows).astype(float),
            "garage": rng.choice(["none", "attached", "detached"], rows).astype(object),
        }
    )
    premium = {area: rng.normal(0, 40000) for area in areas}
    price = (
        50000
        + frame["living area (sq.ft)"] * 120
        + frame["neighbourhood"].map(premium)
        + rng.normal(0, 20000, rows)
    )
    _gaps(frame, "year built", 20, seed)
    return frame, price.to_numpy()


def house_price_target_encoding() -> Fitted:
    """Generated house sales: neighbourhoods target-encoded, a ridge regression."""
    frame, price = _house_sales()
    model = make_pipeline(
        compose.make_column_transformer(
            (preprocessing.TargetEncoder(), ["neighbourhood"]),
            (preprocessing.OneHotEncoder(handle_unknown="ignore"), ["garage"]),
            (
                make_pipeline(impute.SimpleImputer(), preprocessing.RobustScaler()),
                ["living area (sq.ft)", "year built", "bedrooms"],
            ),
        ),
        linear_model.Ridge(),
    )
    return frame, "sale price", price, model.fit(frame, price)


def stack_loss_svr() -> Fitted:
    """stackloss: a plant's stack loss, a support vector regressor."""
    frame = _statsmodels("stackloss")
    target = frame.pop("STACKLOSS")
    model = make_pipeline(preprocessing.StandardScaler(), svm.SVR(C=10.0))
    return frame, "STACKLOSS", target, model.fit(frame, target)


def engel_food_svc() -> Fitted:
    """engel: is a household's food spending above the median? An RBF SVC with probabilities."""
    frame = _statsmodels("engel")
    target = (frame.pop("foodexp") > frame["income"] * 0.6).astype(int)
    model = make_pipeline(preprocessing.StandardScaler(), svm.SVC(probability=True, random_state=0))
    return frame, "spends_much", target, model.fit(frame, target)


PIPELINES: dict[str, Callable[[], Fitted]] = {
    function.__name__: function
    for function in (
        affairs_logistic,
        affairs_amount_log_target,
        vote_category_boosting,
        vote_forest_ordinal,
        school_pass_rate_polynomial,
        doctor_visits_poisson,
        firm_investment_boosting,
        travel_mode_calibrated,
        state_crime_pca,
        unemployment_splines,
        card_spending_knn,
        fertility_neural_net,
        loan_default_stacking,
        churn_soft_voting,
        churn_binned_tenure,
        house_price_target_encoding,
        stack_loss_svr,
        engel_food_svc,
    )
}
