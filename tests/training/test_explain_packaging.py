"""Packaging explanations: what is explained, what is refused with which reason, the pinned
file the loader verifies, and the map from the estimator's columns back to input features."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from serving.errors import IntegrityError, ModelUnavailable
from serving.explain.artifact import EXPLANATIONS_NAME, read_explainer
from serving.explain.treeshap import Reading
from serving.loading import load_model
from serving.manifest import MANIFEST_NAME, sha256_hex
from serving.runtimes.onnx_runtime import load as load_onnx
from serving.runtimes.sklearn_runtime import SklearnRuntime
from serving.settings import Settings
from tests.support.explain_cases import (
    brute_force,
    features_of,
    forest_of,
    packaged,
    penguins_table,
)
from training.explain_columns import Unexplainable, sources
from training.export import sample_table, serving_manifest
from training.folder import describe_model, write_model

pytestmark = pytest.mark.in_process


def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    """Breast cancer as a DataFrame (30 names with spaces) and its 0/1 target."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    return bunch.data, bunch.target.to_numpy()


def explanations_of(model: Any, frame: pd.DataFrame, task: str) -> dict[str, Any]:
    features = features_of(model, frame)
    with contextlib.redirect_stdout(io.StringIO()):
        fields, artifacts = describe_model(model, features, task, True, frame.iloc[::5], frame)
    assert (EXPLANATIONS_NAME in artifacts) is fields["explanations"]["available"]
    entry: dict[str, Any] = fields["explanations"]
    return entry


def halve_the_sum(rows: Any) -> Any:
    """A user's own function that mixes columns."""
    return np.asarray(rows) / 2 + np.asarray(rows).sum(axis=1, keepdims=True)


def refused(step: str) -> Any:
    """A classifier pipeline that has no exact explanation, by what it holds."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler
    from sklearn.svm import SVC

    return {
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier()),
        "mlp": make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=50, random_state=0)),
        "svc": make_pipeline(StandardScaler(), SVC()),
        "pca": make_pipeline(StandardScaler(), PCA(4), LogisticRegression()),
        "poly": make_pipeline(
            StandardScaler(), PolynomialFeatures(2), LogisticRegression(max_iter=50)
        ),
        "function": make_pipeline(FunctionTransformer(halve_the_sum), LogisticRegression()),
    }[step]


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("knn", "KNeighborsClassifier has no exact explanation method here"),
        ("mlp", "MLPClassifier has no exact explanation method here"),
        ("svc", "SVC has no exact explanation method here"),
        ("pca", "PCA is not known to keep each output column to one input feature"),
        ("poly", "PolynomialFeatures is not known to keep each output column to one input"),
        ("function", "FunctionTransformer(halve_the_sum) may mix columns"),
    ],
)
def test_a_model_without_an_exact_method_is_marked_with_its_reason(step: str, reason: str) -> None:
    frame, target = cancer()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small MLP and polynomial fits do not converge
        model = refused(step).fit(frame, target)

    entry = explanations_of(model, frame, "classification")

    assert entry["available"] is False
    assert entry["reason"].startswith(reason)
    assert "\n" not in entry["reason"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_hist_gradient_boosting_on_category_columns_is_explained_by_its_category_splits(
    task: str,
) -> None:
    """A bare HistGradientBoosting fitted on a DataFrame with pandas category columns splits on
    category sets (categorical_features="from_dtype"), which shap cannot read: the contributions
    are checked against the definition, and add up on every row, on both runtimes."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    frame, target = penguins_table(task)
    frame["sex"] = frame["sex"].astype("category")
    kind = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    model = kind(max_iter=8, random_state=0).fit(frame, target)
    features = features_of(model, frame)
    job = "regression" if task == "regression" else "classification"
    with contextlib.redirect_stdout(io.StringIO()):
        fields, artifacts = describe_model(model, features, job, True, frame.iloc[::3], frame)
    data = artifacts[EXPLANATIONS_NAME][1]
    explainer = read_explainer(data)
    manifest = serving_manifest(features, job, getattr(model, "classes_", None), True)
    table = sample_table(frame, manifest)
    rows = SklearnRuntime(model, (), "", manifest).estimator_input(table)

    ours = explainer.explain(rows)

    assert fields["explanations"]["available"] is True
    forest, columns = forest_of(data)
    assert forest.category_table is not None
    assert forest.category_table.shape[0] > 0
    assert sorted(columns) == list(range(len(columns)))  # one model column per feature
    for row, phi in zip(rows[:6], ours[:6], strict=True):
        expected = brute_force(forest, Reading(), row, explainer.n_outputs)
        np.testing.assert_allclose(phi[columns], expected, atol=1e-12)
    raw = model.decision_function if task != "regression" else model.predict
    frame_rows = SklearnRuntime(model, (), "", manifest).model_rows(table)
    expected_sums = np.asarray(raw(frame_rows)).reshape(len(rows), -1)
    np.testing.assert_allclose(ours.sum(axis=1) + explainer.base_value, expected_sums, atol=1e-9)
    onnx_rows = load_onnx(artifacts["model.onnx"][1], manifest).estimator_input(table)
    np.testing.assert_array_equal(explainer.explain(onnx_rows), ours)


def test_a_linear_model_whose_scores_are_not_its_coefficients_is_refused() -> None:
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    bunch = load_iris(as_frame=True)
    model = SVC(kernel="linear").fit(bunch.data, bunch.target)  # one-vs-one coefficients

    entry = explanations_of(model, bunch.data, "classification")

    assert entry["available"] is False
    assert entry["reason"].startswith(
        "contributions do not add up to the model's output on the sample rows (off by "
    )


def test_a_linear_models_background_is_the_rows_it_was_packaged_with() -> None:
    case = packaged("linear", "multiclass")
    rows = case.model[:-1].transform(case.frame)

    assert case.entry["background"] == f"each column's mean over the training rows ({len(rows)})"
    model = case.model[-1]
    expected = model.intercept_ + model.coef_ @ rows.mean(axis=0)
    np.testing.assert_allclose(case.explainer.base_value, expected, rtol=1e-12)


def test_the_file_is_pinned_and_holds_no_pickle(tmp_path: Path) -> None:
    case = packaged("random_forest", "binary")
    manifest = {"format": 2, "name": "m", "model_version": "1", "task": "classification"}
    write_model(tmp_path, manifest, dict(case.artifacts))
    pinned = json.loads((tmp_path / MANIFEST_NAME).read_text())["artifacts"][EXPLANATIONS_NAME]
    data = (tmp_path / EXPLANATIONS_NAME).read_bytes()

    assert pinned == {"sha256": sha256_hex(data), "bytes": len(data), "runtime": "explanations"}
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        kinds = {stored[name].dtype.kind for name in stored.files}
    assert kinds <= {"b", "i", "f", "U"}  # booleans, integers, floats, the method's name


def test_the_same_model_packages_the_same_bytes() -> None:
    case = packaged("gradient_boosting", "multiclass")
    model, frame = case.model, case.frame
    features = features_of(model, frame)
    with contextlib.redirect_stdout(io.StringIO()):
        _, again = describe_model(model, features, "classification", True, frame.iloc[::3], frame)

    assert again[EXPLANATIONS_NAME] == case.artifacts[EXPLANATIONS_NAME]


@pytest.fixture
def packaged_folder(tmp_path: Path) -> Path:
    """The penguins random forest's folder, written as train.py writes it."""
    case = packaged("random_forest", "multiclass")
    fields, artifacts = case.entry, dict(case.artifacts)
    frame = case.frame
    features = features_of(case.model, frame)
    with contextlib.redirect_stdout(io.StringIO()):
        described, artifacts = describe_model(
            case.model, features, "classification", True, frame.iloc[::3], frame
        )
    assert described["explanations"] == fields
    manifest = {"name": "penguins", "model_version": "1", **described}
    write_model(tmp_path, manifest, artifacts)
    return tmp_path


def test_a_changed_file_is_refused_and_the_model_still_predicts(packaged_folder: Path) -> None:
    path = packaged_folder / EXPLANATIONS_NAME
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    model = load_model(Settings(model_uri=str(packaged_folder)))

    assert model.explainer is not None
    with pytest.raises(IntegrityError, match=r"explanations.npz sha256 is [0-9a-f]{64}, but"):
        model.explainer.get()
    with pytest.raises(ModelUnavailable):  # within its backoff: the same refusal, no re-read
        model.explainer.get()
    frame, _ = penguins_table("multiclass")
    from training.export import sample_table

    table = sample_table(frame.iloc[:3], model.manifest)
    labels = model.runtime.run(table, ("predict",))
    assert len(labels["predict"]) == table.n_rows


def test_the_explainer_is_read_only_when_first_asked_for(packaged_folder: Path) -> None:
    model = load_model(Settings(model_uri=str(packaged_folder)))
    assert model.explainer is not None
    assert model.explainer.value is None

    explainer = model.explainer.get()

    assert explainer.n_inputs == model.manifest.n_features
    assert model.explainer.get() is explainer


def test_read_explainer_refuses_pickled_objects_and_broken_trees() -> None:
    case = packaged("decision_tree", "regression")
    with np.load(io.BytesIO(case.artifacts[EXPLANATIONS_NAME][1])) as stored:
        arrays = {name: stored[name] for name in stored.files}

    def saved(**changes: Any) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, **changes})
        return buffer.getvalue()

    assert read_explainer(saved()).n_outputs == 1
    with pytest.raises(IntegrityError, match=r"malformed: .*allow_pickle"):
        read_explainer(saved(columns=np.array([{"a": 1}], dtype=object)))
    left = arrays["left"].copy()
    left[0] = len(left) + 5
    with pytest.raises(IntegrityError, match="a child must be a later node of the same tree"):
        read_explainer(saved(left=left))
    with pytest.raises(IntegrityError, match="columns must name input features"):
        read_explainer(saved(n_inputs=np.array(2)))
    with pytest.raises(IntegrityError, match="format 7 is not 1"):
        read_explainer(saved(format=np.array(7)))


def test_the_onnx_graph_adds_its_rows_as_an_output_no_one_mistakes_for_probabilities() -> None:
    case = packaged("random_forest", "regression")

    runtime = load_onnx(case.artifacts["model.onnx"][1], case.manifest)

    assert runtime.has_estimator_input
    assert not runtime.has_predict_proba


def test_from_model_names_the_sample_rows_as_background(tmp_path: Path) -> None:
    import train

    case = packaged("linear", "multiclass")
    joblib.dump(case.model, tmp_path / "model.joblib")
    sample = case.frame.assign(species=case.target)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    with contextlib.redirect_stdout(io.StringIO()):
        status = train.main(
            [
                "--from-model", str(tmp_path / "model.joblib"),
                "--data", str(tmp_path / "sample.csv"),
                "--target", "species",
                "--out", str(tmp_path / "out"),
            ]
        )  # fmt: skip
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())

    assert status == 0
    assert manifest["explanations"]["background"] == (
        f"each column's mean over the sample rows of sample.csv ({len(sample)})"
    )
    assert EXPLANATIONS_NAME in manifest["artifacts"]


# --- the map from the estimator's columns back to the input features --------------------------


def transformers() -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectKBest, VarianceThreshold
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        KBinsDiscretizer,
        OneHotEncoder,
        OrdinalEncoder,
        SplineTransformer,
        StandardScaler,
        TargetEncoder,
    )

    numbers = ["a", "b", "c"]
    return {
        "onehot-drop-infrequent": ColumnTransformer(
            [
                ("text", OneHotEncoder(drop="first", min_frequency=5, sparse_output=False), ["t"]),
                ("numbers", StandardScaler(), numbers),
            ]
        ),
        "imputer-indicator-empty-column": ColumnTransformer(
            [("numbers", SimpleImputer(add_indicator=True), ["empty", *numbers])],
            remainder="drop",
        ),
        "bins-splines-ordinal": ColumnTransformer(
            [
                (
                    "bins",
                    KBinsDiscretizer(4, encode="onehot-dense", quantile_method="linear"),
                    ["a"],
                ),
                ("splines", SplineTransformer(n_knots=4), ["b"]),
                ("ordinal", OrdinalEncoder(), ["t"]),
            ],
            remainder="passthrough",
        ),
        "target-encoder-selection": ColumnTransformer(
            [
                ("target", TargetEncoder(random_state=0), ["t"]),
                ("picked", make_pipeline(VarianceThreshold(0.0), SelectKBest(k=1)), ["a", "b"]),
                ("gaps", MissingIndicator(), ["c"]),
            ]
        ),
    }


def mixed_frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    rows = 200
    frame = pd.DataFrame(
        {
            "t": rng.choice(["red", "green", "blue", "rare"], rows, p=[0.5, 0.3, 0.18, 0.02]),
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "c": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(size=rows)),
            "empty": np.full(rows, np.nan),
        }
    ).astype({"t": object})
    target = rng.integers(0, 3, rows)
    return frame, target


@pytest.mark.parametrize("name", list(transformers()))
def test_every_column_changes_only_with_the_input_it_is_mapped_to(name: str) -> None:
    import warnings

    frame, target = mixed_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KBinsDiscretizer's and SimpleImputer's notes
        transformer = transformers()[name].fit(frame, target)
        before = np.asarray(transformer.transform(frame), dtype=np.float64)
        mapped = sources(transformer, np.arange(frame.shape[1]))
        assert mapped.shape == (before.shape[1],)
        for index, column in enumerate(frame.columns):
            changed = frame.copy()
            changed[column] = frame[column].sample(frac=1.0, random_state=1).to_numpy()
            after = np.asarray(transformer.transform(changed), dtype=np.float64)
            moved = ~np.isclose(before, after, equal_nan=True).all(axis=0)
            assert set(np.flatnonzero(moved)) <= set(np.flatnonzero(mapped == index)), column


def test_an_unknown_transformer_is_named_in_the_reason() -> None:
    from sklearn.preprocessing import Normalizer

    with pytest.raises(Unexplainable, match=r"^Normalizer is not known to keep"):
        sources(Normalizer(), np.arange(3))
