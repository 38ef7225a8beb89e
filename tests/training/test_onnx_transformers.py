"""The exact converters of issue 24 part 2, each against scikit-learn's own output.

Transformers are converted alone and compared bitwise with `transform` on rows the sample never
shows: unknown and missing categories, infrequent ones, values at and beyond the knots and bin
edges. Meta-estimators are compared on their probabilities and labels for random rows, beyond
the calibration thresholds too. A missing text cell reaches a graph as "" (the ONNX runtime's
convention), where scikit-learn sees NaN (as the scikit-learn runtime feeds it).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn import calibration, compose, ensemble, linear_model, preprocessing, svm, tree
from sklearn.pipeline import make_pipeline

from serving.runtimes.onnx_runtime import MISSING_TEXT
from training.export import register_converters

RNG = np.random.default_rng(7)
CITIES = np.array(["Paris", "Lyon", "Nice", "Brest", "Metz"], dtype=object)


def session(model: Any, example: Any) -> Any:
    from skl2onnx import to_onnx

    register_converters()
    from sklearn.base import is_classifier

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    graph = to_onnx(model, example, options=options, target_opset={"": 19})
    return ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])


def onnx_outputs(model: Any, rows: np.ndarray) -> list[np.ndarray]:
    """The graph's outputs for `rows` (text: a missing cell sent as the ONNX runtime sends it)."""
    fed = (
        np.where(pd.isna(rows), MISSING_TEXT, rows).astype(object) if rows.dtype == object else rows
    )
    running = session(model, fed[:1])
    return list(running.run(None, {running.get_inputs()[0].name: fed}))


def text_rows(count: int) -> np.ndarray:
    """Two text columns, skewed so that some categories are infrequent."""
    first = RNG.choice(CITIES, count, p=[0.5, 0.3, 0.1, 0.06, 0.04])
    second = RNG.choice(np.array(["a", "b", "c"], dtype=object), count)
    return np.column_stack([first, second]).astype(object)


def probe_rows() -> np.ndarray:
    """Every known category, an unknown one and a missing one, in both columns."""
    first = [*CITIES, "Rome", np.nan, "Paris"]
    second = ["a", "b", "c", "zz", np.nan, "a", "b", np.nan]
    return np.array(list(zip(first, second, strict=True)), dtype=object)


ENCODERS = {
    "onehot": lambda: preprocessing.OneHotEncoder(handle_unknown="ignore"),
    "onehot infrequent": lambda: preprocessing.OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=40
    ),
    "onehot max_categories drop": lambda: preprocessing.OneHotEncoder(
        handle_unknown="infrequent_if_exist", max_categories=3, drop="first"
    ),
    "onehot drop if_binary": lambda: preprocessing.OneHotEncoder(
        handle_unknown="ignore", drop="if_binary"
    ),
    "ordinal unknown_value encoded_missing_value": lambda: preprocessing.OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
    ),
    "ordinal infrequent": lambda: preprocessing.OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=40
    ),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_text_encoders_are_bitwise_scikit_learn_on_unknown_missing_and_rare(name: str) -> None:
    training = text_rows(300)
    training[::25, 0] = np.nan  # missing is a category the encoders learn
    encoder = ENCODERS[name]().fit(training)
    rows = probe_rows()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "found unknown categories": what this test sends
        expected = encoder.transform(rows)
    expected = expected.toarray() if hasattr(expected, "toarray") else expected
    (got,) = onnx_outputs(encoder, rows)

    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("target", ["binary", "multiclass", "continuous"])
def test_target_encoder_is_bitwise_scikit_learn(target: str) -> None:
    training = text_rows(300)
    y = {
        "binary": (training[:, 0] == "Paris").astype(int),
        "multiclass": RNG.integers(0, 3, 300),
        "continuous": RNG.normal(size=300),
    }[target]
    encoder = preprocessing.TargetEncoder().fit(training, y)
    rows = probe_rows()

    (got,) = onnx_outputs(encoder, rows)

    np.testing.assert_array_equal(got, encoder.transform(rows))


def test_numeric_categories_compare_in_float64() -> None:
    """0.1 and its float32 neighbour are different categories (skl2onnx's compares float32)."""
    values = np.array([[0.1], [0.2], [0.30000000000000004], [0.3]] * 20)
    encoder = preprocessing.OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1
    ).fit(values)
    rows = np.array([[0.1], [float(np.float32(0.1))], [0.3], [0.30000000000000004], [np.nan]])
    encoder_with_nan = preprocessing.OneHotEncoder(handle_unknown="ignore").fit(values)

    (ordinal,) = onnx_outputs(encoder, rows[:4])
    (onehot,) = onnx_outputs(encoder_with_nan, rows)

    np.testing.assert_array_equal(ordinal, encoder.transform(rows[:4]))
    np.testing.assert_array_equal(onehot, encoder_with_nan.transform(rows).toarray())


NUMBERS = RNG.normal(size=(300, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 0.0]
BEYOND = np.vstack([NUMBERS[:50], NUMBERS[:50] * 4, NUMBERS[:50] - 100])

EXPANSIONS = {
    "kbins ordinal quantile": lambda: preprocessing.KBinsDiscretizer(
        n_bins=5, encode="ordinal", quantile_method="averaged_inverted_cdf"
    ),
    "kbins onehot uniform": lambda: preprocessing.KBinsDiscretizer(
        n_bins=4, encode="onehot-dense", strategy="uniform"
    ),
    "polynomial 3": lambda: preprocessing.PolynomialFeatures(3),
    "polynomial interaction": lambda: preprocessing.PolynomialFeatures(
        3, interaction_only=True, include_bias=False
    ),
    "polynomial (2, 3)": lambda: preprocessing.PolynomialFeatures((2, 3)),
    "spline constant": lambda: preprocessing.SplineTransformer(n_knots=5),
    "spline linear degree 1": lambda: preprocessing.SplineTransformer(
        degree=1, extrapolation="linear"
    ),
    "spline continue quantile": lambda: preprocessing.SplineTransformer(
        knots="quantile", extrapolation="continue", include_bias=False
    ),
}


@pytest.mark.parametrize("name", list(EXPANSIONS))
def test_expansions_are_bitwise_scikit_learn_beyond_the_training_range(name: str) -> None:
    model = EXPANSIONS[name]().fit(NUMBERS)
    rows = BEYOND
    if name.startswith("spline"):
        knots = model.bsplines_[0].t
        rows = np.vstack([rows, np.repeat(knots.reshape(-1, 1), 3, axis=1)])
    if name.startswith("kbins"):
        rows = np.vstack([NUMBERS[:50], np.column_stack(model.bin_edges_)])

    (got,) = onnx_outputs(model, rows)

    np.testing.assert_array_equal(got, model.transform(rows))


@pytest.mark.parametrize("function", [np.log1p, np.expm1, np.log, np.exp, np.sqrt])
def test_function_transformer_ufuncs_within_two_units_in_the_last_place(function: Any) -> None:
    tiny = 10.0 ** RNG.integers(-300, 2, 400) * RNG.uniform(0.1, 1, 400)
    rows = np.concatenate([tiny, -tiny[:100] / 10 if function is not np.sqrt else tiny[:100]])
    if function in (np.log, np.sqrt):
        rows = np.abs(rows)
    rows = rows.reshape(-1, 1)
    model = preprocessing.FunctionTransformer(function).fit(rows)

    (got,) = onnx_outputs(model, rows)

    expected = model.transform(rows)
    spacing = np.spacing(np.abs(expected))
    assert np.all(np.abs(got - expected) <= 2 * spacing)


def test_transformed_target_regressor_inverts_the_prediction() -> None:
    y = np.exp(NUMBERS[:, 0] + 0.01 * NUMBERS[:, 1])
    model = compose.TransformedTargetRegressor(
        linear_model.Ridge(), func=np.log1p, inverse_func=np.expm1
    ).fit(NUMBERS, y)

    (got,) = onnx_outputs(model, BEYOND)

    np.testing.assert_allclose(got.ravel(), model.predict(BEYOND), rtol=1e-14, atol=0)


def fitted_quietly(model: Any, rows: Any, y: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and calibration notes on small data
        return model.fit(rows, y)


CLASSES = (NUMBERS[:, 0] + RNG.normal(size=300) > 0).astype(int) + (NUMBERS[:, 2] > 0.05)
MEMBERS = [
    ("lr", make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())),
    ("tree", tree.DecisionTreeClassifier(max_depth=3, random_state=0)),
    ("hgb", ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=0)),
]
META = {
    "voting soft weighted": lambda: ensemble.VotingClassifier(
        MEMBERS, voting="soft", weights=[2, 1, 0.5]
    ),
    "voting hard": lambda: ensemble.VotingClassifier(MEMBERS, voting="hard"),
    "stacking with decision values": lambda: ensemble.StackingClassifier(
        [("svc", make_pipeline(preprocessing.StandardScaler(), svm.LinearSVC())), *MEMBERS[1:]]
    ),
    "calibrated isotonic boosting": lambda: calibration.CalibratedClassifierCV(
        ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0), method="isotonic"
    ),
    "calibrated sigmoid linear svc": lambda: calibration.CalibratedClassifierCV(
        make_pipeline(preprocessing.StandardScaler(), svm.LinearSVC()), method="sigmoid"
    ),
}


@pytest.mark.parametrize("binary", [True, False], ids=["two classes", "three classes"])
@pytest.mark.parametrize("name", list(META))
def test_meta_estimators_answer_like_scikit_learn(name: str, binary: bool) -> None:
    y = (CLASSES > 0).astype(int) if binary else CLASSES
    model = fitted_quietly(META[name](), NUMBERS, y)

    outputs = onnx_outputs(model, BEYOND)

    np.testing.assert_array_equal(outputs[0], model.predict(BEYOND))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(outputs[1], model.predict_proba(BEYOND), rtol=0, atol=1e-12)
    else:
        assert len(outputs) == 1, "hard voting has no probabilities"


def test_hist_gradient_boosting_encodes_text_categories_as_it_does() -> None:
    """A pandas category column of text, with a category training never saw and gaps."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    frame = pd.DataFrame(
        {
            "city": pd.Categorical(text_rows(300)[:, 0], categories=[*CITIES, "Never"]),
            "size x": NUMBERS[:, 0],
        }
    )
    frame.loc[::11, "city"] = np.nan
    model = ensemble.HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=15, random_state=0
    ).fit(frame, CLASSES)
    cities = np.array([*CITIES, "Never", "Rome", np.nan] * 4, dtype=object)
    rows = pd.DataFrame({"city": cities, "size x": NUMBERS[: len(cities), 0]})
    register_converters()
    graph = to_onnx(
        model,
        initial_types=[
            ("city", StringTensorType([None, 1])),
            ("size x", DoubleTensorType([None, 1])),
        ],
        options={id(model): {"zipmap": False}},
        target_opset={"": 19},
    )
    running = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {
        "city": np.where(pd.isna(cities), "", cities).astype(object).reshape(-1, 1),
        "size_x": rows[["size x"]].to_numpy(),
    }

    labels, probabilities = running.run(None, feeds)

    expected = rows  # text as an object column: the encoder maps values, not codes
    np.testing.assert_array_equal(labels, model.predict(expected))
    np.testing.assert_allclose(probabilities, model.predict_proba(expected), rtol=0, atol=1e-15)
