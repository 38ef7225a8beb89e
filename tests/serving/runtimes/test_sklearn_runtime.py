"""The scikit-learn runtime in process: the DataFrame it hands a model fitted on one (text
missing as NaN, integers and booleans in their own dtypes), the methods a model lacks, an
overflow inside a pipeline, and the version warning on load."""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LinearRegression

from serving.batch import Batch, Method
from serving.errors import InvalidInput, NotFinite
from serving.loading import LoadedModel
from serving.prediction import predict
from serving.runtimes.sklearn_runtime import SklearnRuntime, load
from serving.schema import Feature
from serving.validate import validate
from training.export import serving_manifest

pytestmark = pytest.mark.in_process

FEATURES = [
    Feature("island", "string", nullable=True, categories=("Biscoe", "Dream")),
    Feature("year", "integer"),
    Feature("smoker", "boolean"),
    Feature("mass"),
    Feature("count", "integer", nullable=True),
]
VERSION = sklearn.__version__
ROWS = [
    {"island": "Dream", "year": 2007, "smoker": True, "mass": 1.5, "count": 3},
    {"island": None, "year": 2008, "smoker": False, "mass": 2.0, "count": None},
]


class Recorder:
    """A model that keeps what it was given and answers zeros (or `answer`)."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.seen: Any = None

    def predict(self, rows: Any) -> Any:
        self.seen = rows
        if self.error is not None:
            raise self.error
        return np.zeros(len(rows)) if self.answer is None else self.answer


class ScoresOnly(Recorder):
    def decision_function(self, rows: Any) -> Any:
        return np.arange(len(rows))  # integers: the runtime answers float64


def run(model: Any, methods: tuple[Method, ...] = ("predict",), on_dataframe: bool = True) -> Any:
    manifest = serving_manifest(FEATURES, "regression", None, on_dataframe=on_dataframe)
    table = validate(Batch(rows=ROWS), FEATURES, 10)
    return SklearnRuntime(model, (), sklearn.__version__, manifest).run(table, methods)


def test_a_model_fitted_on_a_dataframe_gets_one_in_the_manifests_types() -> None:
    model = Recorder()
    run(model)
    frame = model.seen
    assert list(frame.columns) == [feature.name for feature in FEATURES]
    assert frame["island"].iloc[0] == "Dream"
    assert frame["island"].isna().tolist() == [False, True]  # missing text is NaN
    assert frame["year"].dtype == np.int64
    assert frame["year"].tolist() == [2007, 2008]
    assert frame["smoker"].dtype == np.bool_
    assert frame["mass"].dtype == np.float64
    assert frame["mass"].tolist() == [1.5, 2.0]
    # A missing integer keeps the column float64 (NaN), as scikit-learn saw it in training.
    assert frame["count"].dtype == np.float64
    assert np.isnan(frame["count"].iloc[1])


def test_a_model_fitted_on_an_array_gets_the_float64_matrix() -> None:
    model = Recorder()
    with pytest.raises(TypeError):  # text does not go into a float64 matrix
        run(model, on_dataframe=False)
    numeric = [Feature("a"), Feature("b")]
    manifest = serving_manifest(numeric, "regression", None, on_dataframe=False)
    table = validate(Batch(rows=[[1, 2], [3, 4]]), numeric, 10)
    SklearnRuntime(model, (), "1", manifest).run(table, ("predict",))
    assert isinstance(model.seen, np.ndarray)
    assert model.seen.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (
            "predict_proba",
            "predict_proba (class probabilities) is not available: this model offers predict "
            "on the sklearn runtime",
        ),
        (
            "decision_function",
            "decision_function (decision values) is not available: this model offers predict "
            "on the sklearn runtime",
        ),
    ],
)
def test_a_method_the_model_lacks_is_a_clear_400(method: Method, message: str) -> None:
    """The data plane's one check (Runtime.offers), before the model runs."""
    model = Recorder()
    manifest = serving_manifest(FEATURES, "regression", None, on_dataframe=True)
    runtime = SklearnRuntime(model, (), VERSION, manifest)
    loaded = LoadedModel(manifest, "0" * 64, runtime, "test", 0.0)
    with pytest.raises(InvalidInput, match=f"^{re.escape(message)}$"):
        predict(loaded, Batch(rows=ROWS), ("predict", method), 10)
    assert model.seen is None  # refused before the model ran


def test_decision_values_are_float64_whatever_the_model_returns() -> None:
    results = run(ScoresOnly(), ("predict", "decision_function"))
    assert results["decision_function"].dtype == np.float64
    assert results["decision_function"].tolist() == [0.0, 1.0]
    assert set(results) == {"predict", "decision_function"}


@pytest.mark.parametrize(
    "message",
    [
        "Input X contains infinity or a value too large for dtype('float64').",
        "Input contains NaN.",
        "a value too large",
    ],
)
def test_an_overflow_inside_the_pipeline_is_not_finite(message: str) -> None:
    with pytest.raises(NotFinite):
        run(Recorder(error=ValueError(message)))


def test_other_model_errors_are_not_called_overflow() -> None:
    with pytest.raises(ValueError, match=r"^shapes do not match$"):
        run(Recorder(error=ValueError("shapes do not match")))


@pytest.mark.parametrize(
    ("trained_with", "warnings"),
    [
        (sklearn.__version__, ()),
        (
            "0.1",
            (f"model trained with scikit-learn 0.1, serving with scikit-learn {VERSION}",),
        ),
    ],
)
def test_load_warns_when_the_versions_differ(trained_with: str, warnings: tuple[str, ...]) -> None:
    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), buffer)
    manifest = dataclasses.replace(
        serving_manifest([Feature("x")], "regression", None, on_dataframe=False),
        libraries={"scikit-learn": trained_with},
    )
    runtime = load(buffer.getvalue(), manifest)
    assert runtime.warnings == warnings
    assert runtime.libraries == {"scikit-learn": sklearn.__version__}
    assert runtime.has_predict_proba is False
    assert runtime.has_decision_function is False
