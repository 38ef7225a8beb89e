"""Models fitted on a DataFrame reach ONNX with exact answers (issue 24, part 1).

Each model of the issue's table is fitted on a scikit-learn dataset loaded `as_frame=True`
(names with spaces), packaged with `train.py --from-model M --data SAMPLE.csv --target T`, and
served through the function; its answers must be the model's own. Packaging runs in this
process, once for the module; train.py's proof that a fresh deployed-only Python can unpickle
each model (a new interpreter per model) is swapped for a load here, as in
tests/bench/test_conformance.py: that proof has its own tests, and these are plain scikit-learn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pandas as pd
import pytest

from bench.conformance import fit, serve
from tests.support.load_here import loads_here

TOLERANCE = 1e-9


def issue_models() -> dict[str, tuple[Callable[[], Any], str]]:
    """The issue's table: each model and the dataset it is fitted on."""
    from sklearn import ensemble, linear_model, neighbors, neural_network, preprocessing, tree
    from sklearn.pipeline import make_pipeline

    scaled = preprocessing.StandardScaler
    return {
        "LogisticRegression": (
            lambda: linear_model.LogisticRegression(max_iter=5000),
            "breast_cancer",
        ),
        "Ridge": (linear_model.Ridge, "diabetes"),
        "StandardScaler+LogisticRegression": (
            lambda: make_pipeline(scaled(), linear_model.LogisticRegression()),
            "breast_cancer",
        ),
        "RandomForestClassifier": (
            lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=0),
            "wine",
        ),
        "HistGradientBoostingClassifier": (
            lambda: ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=0),
            "breast_cancer",
        ),
        "DecisionTreeRegressor": (
            lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0),
            "diabetes",
        ),
        "StandardScaler+KNeighborsClassifier": (
            lambda: make_pipeline(scaled(), neighbors.KNeighborsClassifier()),
            "iris",
        ),
        "GradientBoostingRegressor": (
            lambda: ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0),
            "diabetes",
        ),
        "ExtraTreesClassifier": (
            lambda: ensemble.ExtraTreesClassifier(n_estimators=20, random_state=0),
            "iris",
        ),
        "StandardScaler+MLPRegressor": (
            lambda: make_pipeline(
                scaled(), neural_network.MLPRegressor(max_iter=300, random_state=0)
            ),
            "diabetes",
        ),
    }


def package_frame(model: Any, frame: pd.DataFrame, target: Any, folder: Path) -> dict[str, Any]:
    """train.py --from-model on the dumped model with frame + target as the sample CSV."""
    import train

    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    frame.assign(target=np.asarray(target)).to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    assert train.main([*args, "--target", "target", "--out", str(folder / "out")]) == 0
    return dict(json.loads((folder / "out" / "manifest.json").read_text()))


@pytest.fixture(scope="module")
def packaged(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Any, pd.DataFrame, Path]]:
    """Every model of the issue's table fitted on its DataFrame and packaged (once)."""
    from sklearn import datasets

    work = tmp_path_factory.mktemp("dataframe-models")
    folders = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.package.cloud_load_problem", loads_here)
        for name, (make, dataset) in issue_models().items():
            loaded = getattr(datasets, f"load_{dataset}")(as_frame=True)
            model = fit(make(), loaded.data, loaded.target)  # unconverged is fine
            package_frame(model, loaded.data, loaded.target, work / name)
            folders[name] = (model, loaded.data, work / name / "out")
    return folders


@pytest.mark.parametrize("name", list(issue_models()))
def test_issue_model_fitted_on_a_dataframe_is_served_by_onnx_exactly(
    packaged: dict[str, tuple[Any, pd.DataFrame, Path]], name: str
) -> None:
    model, frame, folder = packaged[name]
    manifest = json.loads((folder / "manifest.json").read_text())
    parity = manifest["onnx_parity"]

    assert "model.onnx" in manifest["artifacts"], name
    assert parity["labels_equal"]
    assert parity["max_abs_diff"] <= TOLERANCE
    rows = frame.iloc[:: max(1, len(frame) // 25)]
    assert serve(model, folder, rows) == ("onnx", True)


def test_an_all_number_frame_converts_as_its_array_in_float64(
    packaged: dict[str, tuple[Any, pd.DataFrame, Path]],
) -> None:
    """The MLP's 8.6e-6: one input per column went through FeatureVectorizer (float32)."""
    _, _, folder = packaged["StandardScaler+MLPRegressor"]
    graph = onnx.load(folder / "model.onnx").graph

    assert [i.name for i in graph.input] == ["X"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert "FeatureVectorizer" not in {node.op_type for node in graph.node}


# Names that skl2onnx sanitises, one of them into another's sanitised form.
AWKWARD_NAMES = ["mean radius", "mean_radius", "ratio (a/b)", "v1.2", "größe €", "text col"]


@pytest.fixture(scope="module")
def awkward_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pd.DataFrame, Path]:
    """A pipeline over a text column and numbers whose names collide once sanitised."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    rows = 200
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in AWKWARD_NAMES[:-1]})
    frame["text col"] = pd.Series(rng.choice(["a", "b", "c"], rows), dtype=object)
    frame.loc[::9, "v1.2"] = np.nan
    target = (frame["mean radius"] - frame["mean_radius"] + (frame["text col"] == "a")) > 0
    numbers = AWKWARD_NAMES[:-1]
    model = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(), StandardScaler()), numbers),
            (OneHotEncoder(handle_unknown="ignore"), ["text col"]),
        ),
        LogisticRegression(),
    ).fit(frame, target.astype(int))
    folder = tmp_path_factory.mktemp("awkward")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("training.package.cloud_load_problem", loads_here)
        package_frame(model, frame, target.astype(int), folder / "model")
    return model, frame, folder / "model" / "out"


def test_graph_inputs_are_named_exactly_as_the_features(
    awkward_model: tuple[Any, pd.DataFrame, Path],
) -> None:
    _, _, folder = awkward_model
    manifest = json.loads((folder / "manifest.json").read_text())
    graph = onnx.load(folder / "model.onnx").graph

    assert manifest["feature_names"] == AWKWARD_NAMES
    assert [graph_input.name for graph_input in graph.input] == AWKWARD_NAMES


def test_awkward_names_serve_on_onnx_with_the_models_own_answers(
    awkward_model: tuple[Any, pd.DataFrame, Path],
) -> None:
    model, frame, folder = awkward_model

    assert serve(model, folder, frame.iloc[:40]) == ("onnx", True)


def test_a_feature_name_that_another_tensor_holds_is_refused() -> None:
    """Renaming an input onto a name the graph already uses would join two tensors."""
    from onnx import TensorProto, helper

    from serving.schema import Feature
    from training.onnx_inputs import name_inputs

    nodes = [helper.make_node("Identity", ["a_b"], ["a b"])]
    inputs = [helper.make_tensor_value_info("a_b", TensorProto.STRING, [None, 1])]
    outputs = [helper.make_tensor_value_info("a b", TensorProto.STRING, [None, 1])]
    graph = helper.make_model(helper.make_graph(nodes, "clash", inputs, outputs))

    with pytest.raises(NotImplementedError, match="'a b' is also a tensor"):
        name_inputs(graph, [Feature("a b", "string")])
