"""Models fitted on the penguins DataFrame and packaged with explanations, and the oracles.

Each tree family and linear model is fitted as users fit them: a ColumnTransformer over a
DataFrame with a text column, a pandas category column, a name with spaces and gaps (NaN reach
the trees that take them; other models impute first). `packaged(family, task)` runs the real
packaging step (training/folder.py's describe_model) once per session. `shap_values` is the
oracle: shap's own path-dependent TreeSHAP, summed back to the input features; `brute_force`
the definition itself, where shap cannot go (category splits).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.batch import Table
from serving.explain.artifact import EXPLANATIONS_NAME, Explainer, read_explainer
from serving.explain.treeshap import Forest, Reading
from serving.manifest import Manifest
from serving.runtimes.sklearn_runtime import SklearnRuntime
from tests.support.penguins_data import PENGUINS
from training.encoders import learned_columns
from training.explain_columns import column_sources
from training.export import sample_table, serving_manifest
from training.folder import describe_model
from training.probe import infer_features

TASKS = ("binary", "multiclass", "regression")
TREE_FAMILIES = (
    "decision_tree",
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "hist_gradient_boosting",
    "xgboost",
    "lightgbm",
)
LINEAR_FAMILIES = ("linear",)
# The families whose pipeline hands NaN to the estimator (the others impute first).
TAKES_NAN = ("decision_tree", "random_forest", "hist_gradient_boosting", "xgboost", "lightgbm")
NUMBERS = ["bill length (mm)", "bill_depth_mm", "flipper_length_mm"]
TEXT = ["island", "sex"]
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Packaged:
    """A fitted model, its data, and what packaging wrote for it."""

    model: Any
    frame: pd.DataFrame
    target: np.ndarray
    task: str
    entry: dict[str, Any]
    artifacts: dict[str, tuple[str, bytes]]

    @property
    def explainer(self) -> Explainer:
        return read_explainer(self.artifacts[EXPLANATIONS_NAME][1])

    @property
    def manifest(self) -> Manifest:
        features = features_of(self.model, self.frame)
        classes = None if self.task == "regression" else self.model.classes_.tolist()
        kind = "regression" if self.task == "regression" else "classification"
        return serving_manifest(features, kind, classes, True)

    def table(self) -> Table:
        """All the rows through the validation step, with its edge rows (missing, unseen)."""
        return sample_table(self.frame, self.manifest)

    def estimator_rows(self) -> np.ndarray:
        """The rows as the scikit-learn runtime hands them to the final estimator."""
        return SklearnRuntime(self.model, (), "", self.manifest).estimator_input(self.table())

    def raw_output(self) -> np.ndarray:
        """The model's own raw output on the same rows."""
        rows = SklearnRuntime(self.model, (), "", self.manifest).model_rows(self.table())
        return raw_output(self.model, rows)


def penguins_table(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The penguins as a DataFrame (text, a category column, gaps, a name with spaces) and a
    target: species (multiclass), Adelie or not (binary), body mass (regression)."""
    frame = pd.read_csv(PENGUINS).dropna(subset=["body_mass_g"]).reset_index(drop=True)
    frame = frame.rename(columns={"bill_length_mm": NUMBERS[0]})
    frame["sex"] = frame["sex"].astype(object)
    frame["island"] = frame["island"].astype("category")
    species = frame.pop("species").astype(object).to_numpy()
    mass = frame.pop("body_mass_g").to_numpy(dtype=np.float64)
    frame = frame[[name for name in frame.columns if name != "year"]]
    frame.loc[::17, "bill_depth_mm"] = np.nan  # gaps beyond the two rows without numbers
    if task == "multiclass":
        return frame, species
    if task == "binary":
        return frame, np.where(species == "Adelie", "Adelie", "other").astype(object)
    return frame, mass


def estimator(family: str, task: str) -> Any:
    """A small estimator of the family for the task."""
    from sklearn import ensemble, linear_model, tree

    classify = task != "regression"
    if family == "decision_tree":
        kind = tree.DecisionTreeClassifier if classify else tree.DecisionTreeRegressor
        return kind(max_depth=5, random_state=0)
    if family == "random_forest":
        kind = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return kind(n_estimators=15, max_depth=6, random_state=0)
    if family == "extra_trees":
        kind = ensemble.ExtraTreesClassifier if classify else ensemble.ExtraTreesRegressor
        return kind(n_estimators=15, max_depth=6, random_state=0)
    if family == "gradient_boosting":
        kind = (
            ensemble.GradientBoostingClassifier if classify else ensemble.GradientBoostingRegressor
        )
        return kind(n_estimators=15, max_depth=3, random_state=0)
    if family == "hist_gradient_boosting":
        kind = (
            ensemble.HistGradientBoostingClassifier
            if classify
            else ensemble.HistGradientBoostingRegressor
        )
        return kind(max_iter=15, random_state=0)
    if family == "xgboost":
        import xgboost

        kind = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
        return kind(n_estimators=15, max_depth=4, random_state=0)
    if family == "lightgbm":
        import lightgbm

        kind = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return kind(n_estimators=15, num_leaves=8, min_child_samples=5, verbose=-1)
    return linear_model.LogisticRegression(max_iter=2000) if classify else linear_model.Ridge()


def pipeline(final: Any, takes_nan: bool, numbers: list[str]) -> Any:
    """Numbers (imputed unless the estimator takes NaN), text imputed and one-hot encoded."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    scaled = "passthrough" if takes_nan else make_pipeline(SimpleImputer(), StandardScaler())
    text = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="(missing)"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    prepare = ColumnTransformer([("numbers", scaled, numbers), ("text", text, TEXT)])
    return Pipeline([("prepare", prepare), ("model", final)])


def features_of(model: Any, frame: pd.DataFrame) -> list[Any]:
    """The typed schema, as train.py --from-model finds it (learned categories first)."""
    return infer_features(model, frame, True, learned_columns(model, list(frame.columns)))


@functools.cache
def packaged(family: str, task: str) -> Packaged:
    """The family fitted for the task and packaged (ONNX where exact, explanations)."""
    frame, target = penguins_table(task)
    if family == "xgboost" and task != "regression":  # XGBClassifier takes 0 .. K-1 only
        target = np.unique(target, return_inverse=True)[1]
    numbers = [name for name in frame.columns if name not in TEXT]
    model = pipeline(estimator(family, task), family in TAKES_NAN, numbers).fit(frame, target)
    features = features_of(model, frame)
    kind = "regression" if task == "regression" else "classification"
    with contextlib.redirect_stdout(io.StringIO()):  # ONNX export's one-line notes
        fields, artifacts = describe_model(model, features, kind, True, frame.iloc[::3], frame)
    return Packaged(model, frame, target, task, fields["explanations"], artifacts)


def raw_output(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The model's raw output from the model itself, [rows, outputs]: probabilities for trees
    and forests, margins for boosting and linear classifiers, values for regressors."""
    final, rows = model[-1], model[:-1].transform(frame)
    name = type(final).__name__
    if name.startswith("XGB"):
        values = final.predict(rows, output_margin=True)
    elif name.startswith("LGBM"):
        values = final.predict(rows, raw_score=True)
    elif hasattr(final, "predict_proba") and "Boosting" not in name and not hasattr(final, "coef_"):
        values = final.predict_proba(rows)
    elif hasattr(final, "decision_function"):
        values = final.decision_function(rows)
    else:
        values = final.predict(rows)
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(len(values), -1)


def import_shap() -> Any:
    """shap, imported once; importing it makes matplotlib warn of a future deprecation in
    shap's own plotting code, which these tests never reach."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


def shap_values(case: Packaged, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shap's path-dependent TreeSHAP (or LinearExplainer over the training rows' mean) of the
    final estimator on its input rows, summed back to the input features: [rows, features,
    outputs], and shap's base values."""
    shap = import_shap()
    final = case.model[-1]
    if hasattr(final, "coef_"):
        background = case.model[:-1].transform(case.frame)  # the rows it was packaged with
        explainer = shap.LinearExplainer(
            final, shap.maskers.Independent(background, max_samples=len(background))
        )
        values, base = explainer.shap_values(rows), explainer.expected_value
    elif type(final).__name__ == "GradientBoostingClassifier" and final.estimators_.shape[1] > 1:
        values, base = _per_tree_shap(final, rows)
    else:
        explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
        if type(final).__name__.startswith("XGB"):
            # shap hands path-dependent XGBoost to XGBoost's own float32 pred_contribs; its
            # own float64 algorithm runs on the trees it parsed when told the model is its own.
            explainer.model.model_type = "internal"
        with warnings.catch_warnings():  # a note that its LightGBM binary output changed
            warnings.filterwarnings("ignore", "LightGBM binary classifier", UserWarning)
            values = explainer.shap_values(rows, check_additivity=False)
        base = explainer.expected_value
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    columns = column_sources(case.model, len(case.frame.columns))
    to_inputs = np.zeros((len(columns), len(case.frame.columns)))
    to_inputs[np.arange(len(columns)), columns] = 1.0
    return np.einsum("nck,cf->nfk", values, to_inputs), np.ravel(base)


def _per_tree_shap(final: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-class GradientBoosting (which shap refuses): shap on each stage's regression tree,
    times the learning rate, summed per class; TreeSHAP is linear in the trees it sums."""
    shap = import_shap()
    stages, classes = final.estimators_.shape
    values = np.zeros((len(rows), rows.shape[1], classes))
    base = np.ravel(final._raw_predict_init(rows[:1].astype(np.float32))).astype(np.float64)
    for stage in range(stages):
        for k in range(classes):
            explainer = shap.TreeExplainer(
                final.estimators_[stage, k], feature_perturbation="tree_path_dependent"
            )
            values[:, :, k] += final.learning_rate * explainer.shap_values(rows)
            base[k] += final.learning_rate * float(np.ravel(explainer.expected_value)[0])
    return values, base


def worst(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest difference, relative to the value where it is above 1 in magnitude."""
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))))


def brute_force(forest: Forest, reading: Reading, x: np.ndarray, n_outputs: int) -> np.ndarray:
    """Exact Shapley values of one row, [columns, outputs], from every subset of columns."""
    row = reading.apply(x[None, :])[0]
    columns = len(row)

    def expectation(subset: frozenset[int]) -> np.ndarray:
        total = np.zeros(n_outputs)
        for tree in range(len(forest.tree_starts) - 1):
            start = forest.tree_starts[tree]

            def visit(node: int, start: int = start) -> np.ndarray:
                left, right = forest.left[start + node], forest.right[start + node]
                if left < 0:
                    return forest.value[start + node]
                column = forest.feature[start + node]
                if column in subset:
                    goes_left = decide(forest, reading, start + node, row[column])
                    return visit(left if goes_left else right)
                cover = forest.cover[start:]
                return (cover[left] * visit(left) + cover[right] * visit(right)) / cover[node]

            target = forest.target[tree]
            width = forest.value.shape[1]
            total[target : target + width] += forest.scale[tree] * visit(0)
        return total

    phi = np.zeros((columns, n_outputs))
    for column in range(columns):
        others = [c for c in range(columns) if c != column]
        for size in range(columns):
            weight = math.factorial(size) * math.factorial(columns - size - 1)
            weight /= math.factorial(columns)
            for subset in itertools.combinations(others, size):
                chosen = frozenset(subset)
                gain = expectation(chosen | {column}) - expectation(chosen)
                phi[column] += weight * gain
    return phi


def decide(forest: Forest, reading: Reading, node: int, value: float) -> bool:
    """Whether `value` goes left at the node: its category test, or its threshold."""
    category = -1 if forest.category_row is None else forest.category_row[node]
    if category >= 0:
        assert forest.category_table is not None
        codes = forest.category_table[category]
        known = not np.isnan(value) and value == int(value) and 0 <= value < len(codes)
        if not known or codes[int(value)] < 0:
            return bool(forest.missing_left[node])
        return bool(codes[int(value)] == 1)
    if np.isnan(value):
        return bool(forest.missing_left[node])
    split = forest.threshold[node]
    return bool(value < split if reading.strict_less else value <= split)


# The three models issue 27's "done when" names, each fitted on the penguins DataFrame.
SERVED = ("random_forest_classifier", "hist_gradient_boosting_regressor", "logistic_regression")


def served_model(name: str) -> tuple[Any, pd.DataFrame, np.ndarray]:
    """A RandomForestClassifier pipeline (NaN reach its trees), a bare HistGradientBoosting
    regressor on the DataFrame with its NaN and two category columns (its category splits),
    or a one-hot LogisticRegression pipeline: the model, its frame and target."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    if name == "random_forest_classifier":
        frame, target = penguins_table("multiclass")
        numbers = [c for c in frame.columns if c not in TEXT]
        model = pipeline(estimator("random_forest", "multiclass"), True, numbers)
    elif name == "logistic_regression":
        frame, target = penguins_table("multiclass")
        numbers = [c for c in frame.columns if c not in TEXT]
        model = pipeline(estimator("linear", "multiclass"), False, numbers)
    else:
        frame, target = penguins_table("regression")
        frame["sex"] = frame["sex"].astype("category")
        model = HistGradientBoostingRegressor(max_iter=30, random_state=0)
    return model.fit(frame, target), frame, target


def package_served(name: str, folder: Path) -> Path:
    """The model packaged by `train.py --from-model` (as a user does), into folder/model."""
    import joblib

    import train

    model, frame, target = served_model(name)
    joblib.dump(model, folder / "model.joblib")
    frame.assign(target=target).to_csv(folder / "sample.csv", index=False)
    arguments = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    with contextlib.redirect_stdout(io.StringIO()):
        status = train.main([*arguments, "--target", "target", "--out", str(folder / "model")])
    assert status == 0
    return folder / "model"


def forest_of(data: bytes) -> tuple[Forest, np.ndarray]:
    """explanations.npz's trees as the explainer reads them, and each column's input feature."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    names = Forest.__dataclass_fields__
    return Forest(**{name: arrays[name] for name in names}), arrays["columns"]
