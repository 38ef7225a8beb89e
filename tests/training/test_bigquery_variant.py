"""model.bigquery.onnx, the model as BigQuery ML imports it: its form (IR 8, opset 17, ai.onnx.ml
3, tensors only, SQL column names), its answers under ONNX Runtime 1.12.1 itself (in its own
Python 3.10 venv) on every row of the data, the manifest's record, and that the function never
serves it. Also what 1.12.1 does that the form works around, shown on small graphs."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import train
from serving.batch import Batch
from serving.errors import ModelUnavailable
from serving.loading import load_model
from serving.manifest import MANIFEST_NAME, Manifest, sha256_hex
from serving.schema import Feature
from serving.settings import Settings
from serving.validate import validate
from tests.support.fixture_types import TrainModel
from tests.support.penguins_data import PENGUINS, TRAIN_ARGS, penguins
from training import bigquery_env, bigquery_gate
from training.bigquery_trees import float32_split
from training.bigquery_variant import RUNTIME, VARIANT_NAME, bigquery_variant
from training.export import serving_manifest

TOLERANCE = 1e-9


def variant(folder: Path) -> tuple[dict[str, Any], bytes]:
    """The folder's manifest and its BigQuery variant, checked against the pin."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    data = (folder / VARIANT_NAME).read_bytes()
    entry = manifest["artifacts"][VARIANT_NAME]
    assert entry == {"sha256": sha256_hex(data), "bytes": len(data), "runtime": RUNTIME}
    return manifest, data


def answers_under_1_12(folder: Path, frame: pd.DataFrame, python: Path) -> dict[str, Any]:
    """The variant's answers under 1.12.1 on `frame`'s rows (as the function would take them)."""
    from training.bigquery_form import Column

    raw, data = variant(folder)
    parsed = Manifest.parse((folder / MANIFEST_NAME).read_bytes())
    tensors = _tensor_types(data)
    columns = [
        Column(c["feature"], c["column"], tensors[c["column"]], c["type"], c["nullable"],
               c.get("null_column"))
        for c in raw["bigquery_ml"]["inputs"]
    ]  # fmt: skip
    table = checked_rows(frame, parsed)
    return bigquery_gate.run(data, bigquery_gate.feeds(columns, table), python)


def checked_rows(frame: pd.DataFrame, manifest: Manifest) -> Any:
    """`frame`'s rows through the function's validation step, as it would serve them."""
    columns = {
        name: [None if pd.isna(v) else v for v in frame[name].tolist()] for name in frame.columns
    }
    return validate(Batch(columns=columns), manifest.features, max_rows=len(frame))


def _tensor_types(data: bytes) -> dict[str, str]:
    """Each graph input's type, by name."""
    graph = onnx.load_from_string(data)
    names = {TensorProto.DOUBLE: "double", TensorProto.INT64: "int64", TensorProto.STRING: "string"}
    names |= {TensorProto.BOOL: "bool"}
    return {i.name: f"tensor({names[i.type.tensor_type.elem_type]})" for i in graph.graph.input}


def assert_exact(outputs: dict[str, Any], model: Any, frame: Any) -> None:
    """Labels equal on every row; probabilities (or values) within the gate's tolerance."""
    if "predicted_value" in outputs:
        difference = np.abs(outputs["predicted_value"] - model.predict(frame))
        assert difference.max() <= TOLERANCE
        return
    assert outputs["predicted_label"].tolist() == model.predict(frame).tolist()
    assert np.abs(outputs["probabilities"] - model.predict_proba(frame)).max() <= TOLERANCE


def test_bundled_model_variant_is_in_bigquery_ml_form_and_exact_on_every_row(
    classifier_dir: Path, ort_1_12: Path
) -> None:
    manifest, data = variant(classifier_dir)
    record = manifest["bigquery_ml"]
    assert record["status"] == "passed"
    assert record["gate"]["onnxruntime"] == "1.12.1"
    graph = onnx.load_from_string(data)
    assert graph.ir_version == 8
    opsets = {o.domain: o.version for o in graph.opset_import}
    assert opsets[""] == 17
    assert opsets.get("ai.onnx.ml", 1) <= 3
    assert [o.name for o in graph.graph.output] == ["predicted_label", "probabilities"]
    assert record["outputs"] == {"predicted_label": "INT64", "probabilities": "ARRAY<FLOAT64>"}
    names = [i.name for i in graph.graph.input]
    assert names[:2] == ["mean_radius", "mean_texture"]
    assert [c["column"] for c in record["inputs"]] == names
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in names)
    data_set = load_breast_cancer(as_frame=True)
    frame = data_set.data  # all 569 rows, not only the sample the gate saw
    outputs = answers_under_1_12(classifier_dir, frame, ort_1_12)
    assert_exact(outputs, joblib.load(classifier_dir / "model.joblib"), frame.to_numpy())


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        (("--estimator", "random_forest"), "breast_cancer"),
        ((*TRAIN_ARGS, "--estimator", "hist_gradient_boosting"), "penguins"),
        (TRAIN_ARGS, "penguins"),
    ],
    ids=["forest", "penguins-hgb", "penguins"],
)
def test_trees_and_mixed_type_pipelines_are_exact_under_1_12(
    train_model: TrainModel, ort_1_12: Path, args: tuple[str, ...], rows: str
) -> None:
    folder = train_model(*args)
    manifest, data = variant(folder)
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    opsets = {o.domain: o.version for o in onnx.load_from_string(data).opset_import}
    assert opsets[""] == 17
    assert opsets.get("ai.onnx.ml", 3) <= 3
    model = joblib.load(folder / "model.joblib")
    if rows == "penguins":
        frame = penguins(list(range(344)))  # every row: numbers, sex and all-number gaps
        assert frame.isna().any(axis=None)
        outputs = answers_under_1_12(folder, frame, ort_1_12)
        assert_exact(outputs, model, frame)
        return
    loader = load_breast_cancer if rows == "breast_cancer" else load_diabetes
    frame = loader(as_frame=True).data
    outputs = answers_under_1_12(folder, frame, ort_1_12)
    assert_exact(outputs, model, frame.to_numpy())


def package_frame_model(model: Any, frame: pd.DataFrame, target: Any, folder: Path) -> Path:
    """`train.py --from-model` on a DataFrame-fitted model, its frame as the sample CSV."""
    folder.mkdir()
    joblib.dump(model, folder / "model.joblib")
    frame.assign(target=target).to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    assert train.main([*args, "--target", "target", "--out", str(folder / "out")]) == 0
    return folder / "out"


def assert_passed_and_exact(out: Path, model: Any, frame: pd.DataFrame, python: Path) -> None:
    """The packaged variant passed its gate, and answers exactly on every row of `frame`."""
    manifest, _ = variant(out)
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    assert_exact(answers_under_1_12(out, frame, python), model, frame)


def test_a_dataframe_fitted_forest_with_spaces_in_its_names_is_exact(
    tmp_path: Path, ort_1_12: Path
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer(as_frame=True)  # "mean radius", "worst concave points", ...
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(data.data, data.target)
    out = package_frame_model(model, data.data, data.target, tmp_path / "forest")
    manifest, _ = variant(out)
    assert manifest["fitted_on"] == "dataframe"
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    assert manifest["bigquery_ml"]["inputs"][0] == {
        "feature": "mean radius", "column": "mean_radius", "type": "FLOAT64",
        "nullable": manifest["features"][0]["nullable"],
    }  # fmt: skip
    outputs = answers_under_1_12(out, data.data, ort_1_12)
    assert_exact(outputs, model, data.data)


def test_hist_gradient_boosting_routes_nan_as_scikit_learn_under_1_12(
    tmp_path: Path, ort_1_12: Path
) -> None:
    """Fitted on a DataFrame (names with spaces and parentheses) with NaN in it, so that its
    nodes send missing values left or right."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    data = load_diabetes(as_frame=True)
    frame = data.data.mask(np.random.default_rng(0).random(data.data.shape) < 0.2)
    frame.columns = [f"{name} (scaled)" for name in frame.columns]
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(frame, data.target)
    out = package_frame_model(model, frame, data.target, tmp_path / "hgb")
    manifest, _ = variant(out)
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    missing_left = [
        bool(node["missing_go_to_left"])
        for stage in model._predictors
        for predictor in stage
        for node in predictor.nodes
        if not node["is_leaf"]
    ]
    assert any(missing_left)
    assert not all(missing_left)
    outputs = answers_under_1_12(out, frame, ort_1_12)
    assert_exact(outputs, model, frame)


def test_category_set_splits_are_exact_with_unseen_categories_and_nan(ort_1_12: Path) -> None:
    rng = np.random.default_rng(0)
    kinds = rng.integers(0, 6, 400).astype(np.float64)
    kinds[rng.random(400) < 0.1] = np.nan
    x = np.column_stack([kinds, rng.normal(size=400)])
    y = (np.nan_to_num(x[:, 0], nan=1) % 3 == 0).astype(int)
    model = HistGradientBoostingClassifier(categorical_features=[0], max_iter=20, random_state=0)
    model.fit(x, y)
    manifest = serving_manifest(
        [Feature("kind", nullable=True), Feature("size")], "classification", [0, 1], False
    )
    data, record = bigquery_variant(model, pd.DataFrame(x, columns=["kind", "size"]), manifest)
    assert data is not None, record
    assert record["status"] == "passed"
    graph = onnx.load_from_string(data)
    [trees] = [n for n in graph.graph.node if n.op_type == "TreeEnsembleRegressor"]
    modes = next(a for a in trees.attribute if a.name == "nodes_modes").strings
    assert b"BRANCH_EQ" in modes
    # Every category, one never seen (9), and NaN, against the model itself.
    rows = np.column_stack([[0, 1, 2, 3, 4, 5, 9, np.nan] * 3, np.linspace(-2, 2, 24)])
    feeds = {"kind": rows[:, :1], "size": rows[:, 1:]}
    outputs = bigquery_gate.run(data, feeds, ort_1_12)
    assert_exact(outputs, model, rows)


def test_awkward_feature_names_become_distinct_sql_column_names(ort_1_12: Path) -> None:
    data_set = load_breast_cancer()
    x = data_set.data[:, :6]
    model = LogisticRegression(max_iter=5000).fit(x, data_set.target)
    names = ["mean radius", "mean-radius", "select", "1st (mm)", "Ünïcode", "__"]
    manifest = serving_manifest([Feature(n) for n in names], "classification", [0, 1], False)
    data, record = bigquery_variant(model, pd.DataFrame(x[:40], columns=names), manifest)
    assert data is not None
    assert record["status"] == "passed"
    columns = [c["column"] for c in record["inputs"]]
    assert columns == ["mean_radius", "mean_radius_2", "f_select", "f_1st_mm", "n_code", "f"]
    assert [c["feature"] for c in record["inputs"]] == names


def test_without_the_environment_the_variant_is_kept_and_marked_not_checked(
    train_model: TrainModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A user without a Python 3.10: packaging goes on, the manifest says why it was not checked."""
    monkeypatch.setattr(bigquery_env, "ENV_DIR", tmp_path / "none")
    monkeypatch.setattr(bigquery_env, "STAMP", tmp_path / "none" / "installed")
    folder = train_model()
    manifest, _ = variant(folder)
    record = manifest["bigquery_ml"]
    assert record["status"] == "not checked"
    assert "make bigquery-check" in record["reason"]
    assert "gate" not in record


def test_the_function_never_serves_the_variant(model_copy: Path) -> None:
    manifest = json.loads((model_copy / MANIFEST_NAME).read_text())
    assert manifest["artifacts"][VARIANT_NAME]["runtime"] == RUNTIME
    assert load_model(Settings(model_uri=str(model_copy))).runtime.name == "onnx"
    # Without model.onnx, the function serves scikit-learn, never the variant.
    del manifest["artifacts"]["model.onnx"]
    (model_copy / "model.onnx").unlink()
    (model_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert load_model(Settings(model_uri=str(model_copy))).runtime.name == "sklearn"
    with pytest.raises(ModelUnavailable, match="it lists: bigquery-ml, explanations, sklearn"):
        load_model(Settings(model_uri=str(model_copy), model_runtime="onnx"))
    # Even as the only artifact, the variant is not served.
    del manifest["artifacts"]["model.joblib"]
    (model_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="lists no artifact for MODEL_RUNTIME=auto"):
        load_model(Settings(model_uri=str(model_copy)))


def test_float32_split_moves_each_split_to_where_float32_rounding_puts_it() -> None:
    rng = np.random.default_rng(0)
    splits = rng.normal(size=2000) * 10.0 ** rng.integers(-30, 30, 2000)
    low = rng.normal(size=500).astype(np.float32)
    high = np.nextafter(low, np.float32(np.inf))
    midpoints = (low.astype(np.float64) + high.astype(np.float64)) / 2  # ties to even
    extremes = [0.0, 1e-45, -1e-45, float(np.finfo(np.float32).max), 0.5, -3.0]
    splits = np.concatenate([splits, midpoints, low.astype(np.float64), extremes])
    moved = float32_split(splits)
    for split, m in zip(splits, moved, strict=True):
        probes = [m, np.nextafter(m, np.inf), np.nextafter(m, -np.inf), split]
        probes += [np.nextafter(split, np.inf), np.nextafter(split, -np.inf)]
        with np.errstate(over="ignore"):
            rounded = np.asarray(probes).astype(np.float32).astype(np.float64)
        assert ((rounded <= split) == (np.asarray(probes) <= m)).all(), split


def test_the_gate_compares_labels_exactly_and_the_rest_within_the_tolerance() -> None:
    expected = {"predict": np.array([0, 1]), "predict_proba": np.array([[0.9, 0.1], [0.2, 0.8]])}
    every = np.array([True, True])

    def passes(outputs: dict[str, np.ndarray], answered: np.ndarray = every) -> bool:
        return bool(
            bigquery_gate.compare(dict(outputs), expected, answered, TOLERANCE, len(answered))[
                "passed"
            ]
        )

    same = {"predicted_label": np.array([0, 1]), "probabilities": expected["predict_proba"]}
    assert passes(same)
    assert not passes({**same, "predicted_label": np.array([1, 1])})
    assert not passes({**same, "probabilities": expected["predict_proba"] + 2e-9})
    assert not passes({**same, "probabilities": expected["predict_proba"].astype(np.float32)})
    # A row the function refuses (an edge row) is left out, whatever the variant answers there.
    extra = {
        "predicted_label": np.array([0, 7, 1]),
        "probabilities": np.vstack([expected["predict_proba"][:1], [[0.5, 0.5]], [[0.2, 0.8]]]),
    }
    answered = np.array([True, False, True])
    assert passes(extra, answered)
    assert (
        bigquery_gate.compare(extra, expected, answered, TOLERANCE, len(answered))[
            "refused_by_the_function"
        ]
        == 1
    )


# What ONNX Runtime 1.12.1 does, on graphs of one or two nodes (the evidence for the form).


def _tree_v3(output_type: int) -> bytes:
    """One split at 0.1 (float64), leaves 0.1 and 0.2, as TreeEnsembleRegressor v3."""
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 1])
    node = helper.make_node(
        "TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
        nodes_featureids=[0, 0, 0], nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
        nodes_nodeids=[0, 1, 2], nodes_treeids=[0, 0, 0], nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        nodes_values_as_tensor=numpy_helper.from_array(np.array([0.1, 0, 0])),
        target_ids=[0, 0], target_nodeids=[1, 2], target_treeids=[0, 0],
        target_weights_as_tensor=numpy_helper.from_array(np.array([0.1, 0.2])),
    )  # fmt: skip
    y = helper.make_tensor_value_info("y", output_type, [None, 1])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    model = helper.make_model(helper.make_graph([node], "tree", [x], [y]), opset_imports=opsets)
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_1_12_tree_ensemble_v3_splits_in_float64_but_answers_float32(ort_1_12: Path) -> None:
    above = np.nextafter(0.1, 1.0)
    x = np.array([[0.1], [above]])
    outputs = bigquery_gate.run(_tree_v3(TensorProto.FLOAT), {"x": x}, ort_1_12)
    assert outputs["y"].dtype == np.float32
    assert outputs["y"].ravel().tolist() == [np.float32(0.1), np.float32(0.2)]  # split in float64
    assert float(outputs["y"][0, 0]) != 0.1
    with pytest.raises(bigquery_gate.GateError, match=r"Type \(tensor\(double\)\) of output arg"):
        bigquery_gate.run(_tree_v3(TensorProto.DOUBLE), {"x": x}, ort_1_12)


def test_1_12_drops_a_float32_round_trip(ort_1_12: Path) -> None:
    """Cast(float) then Cast(double): ONNX Runtime 1.12.1 hands back the value unrounded."""
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None, 1])
    nodes = [
        helper.make_node("Cast", ["x"], ["single"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["single"], ["y"], to=TensorProto.DOUBLE),
    ]
    graph = helper.make_graph(nodes, "round_trip", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    outputs = bigquery_gate.run(model.SerializeToString(), {"x": np.array([[0.1]])}, ort_1_12)
    assert outputs["y"][0, 0] == 0.1  # not float32(0.1) = 0.10000000149...
    assert float(np.float32(0.1)) != 0.1


def test_the_environment_is_onnx_runtime_1_12_1_on_python_3_10(ort_1_12: Path) -> None:
    assert bigquery_env.python() == ort_1_12
    x = {"x": np.array([[0.0]])}
    assert str(bigquery_gate.run(_tree_v3(TensorProto.FLOAT), x, ort_1_12)["__onnxruntime__"]) == (
        "1.12.1"
    )
    config = (ort_1_12.parent.parent / "pyvenv.cfg").read_text()
    assert re.search(r"^version(_info)? = 3\.10\.", config, re.MULTILINE), config


def test_penguins_variant_takes_text_and_gaps_as_bigquery_columns(penguins_dir: Path) -> None:
    manifest, data = variant(penguins_dir)
    inputs = {c["column"]: (c["type"], c["nullable"]) for c in manifest["bigquery_ml"]["inputs"]}
    assert inputs["island"][0] == "STRING"
    assert inputs["sex"] == ("STRING", True)
    assert inputs["bill_length_mm"] == ("FLOAT64", True)
    year = next(f for f in manifest["features"] if f["name"] == "year")
    # An integer the model accepts missing is fed as float64 (NaN), like model.onnx's input.
    assert inputs["year"] == (("FLOAT64", True) if year["nullable"] else ("INT64", False))
    assert manifest["bigquery_ml"]["outputs"]["predicted_label"] == "STRING"
    assert PENGUINS.exists()
    assert len(data) < 450 * 1024 * 1024


def test_a_lightgbm_softmax_gets_its_reduce_axes_as_opset_17_has_them(
    tmp_path: Path, ort_1_12: Path
) -> None:
    """The boosters' softmax writes ReduceMax(x, axes) (opset 18's form)."""
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.data.set_axis(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1
    )
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, data.target)
    out = package_frame_model(model, frame, data.target, tmp_path / "lgbm")
    manifest, data_bytes = variant(out)
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    graph = onnx.load_from_string(data_bytes)
    reduce_max = [n for n in graph.graph.node if n.op_type == "ReduceMax"]
    assert reduce_max
    assert all(len(n.input) == 1 for n in reduce_max)
    outputs = answers_under_1_12(out, frame, ort_1_12)
    assert_exact(outputs, model, frame)


def test_an_xgboost_regressor_sums_its_float32_leaves_in_its_order(
    tmp_path: Path, ort_1_12: Path
) -> None:
    """float32 splits and leaves, NaN routed per node, summed tree after tree in float32."""
    xgboost = pytest.importorskip("xgboost")
    data = load_diabetes(as_frame=True)
    frame = data.data.mask(np.random.default_rng(0).random(data.data.shape) < 0.1)
    model = xgboost.XGBRegressor(n_estimators=20, max_depth=4).fit(frame, data.target)
    out = package_frame_model(model, frame, data.target, tmp_path / "xgb")
    assert_passed_and_exact(out, model, frame, ort_1_12)


def test_an_xgboost_classifier_keeps_glibc_expf_in_opset_17(tmp_path: Path, ort_1_12: Path) -> None:
    """Its sigmoid is built with Mod where it had BitwiseAnd (opset 18)."""
    xgboost = pytest.importorskip("xgboost")
    data = load_breast_cancer(as_frame=True)
    frame = data.data.set_axis([f"f{i}" for i in range(30)], axis=1)
    frame = frame.mask(np.random.default_rng(0).random(frame.shape) < 0.1)
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(frame, data.target)
    out = package_frame_model(model, frame, data.target, tmp_path / "xgb")
    assert_passed_and_exact(out, model, frame, ort_1_12)


def test_an_xgboost_softmax_keeps_its_float32_rounding_under_1_12(
    tmp_path: Path, ort_1_12: Path
) -> None:
    """The softmax's float32 exps are summed in float64: a Cast(float), Cast(double) pair that
    1.12.1 would drop (one row of wine was a float32 ulp off)."""
    xgboost = pytest.importorskip("xgboost")
    from bench.conformance_families import Family, dataset_frame, frame_pipeline

    frame, target = dataset_frame("wine")  # a text column one-hot encoded, gaps, odd names
    make = partial(xgboost.XGBClassifier, n_estimators=20)  # bench/conformance_boosters.py's
    family = Family("XGBClassifier", "classification", "wine", make)
    model = frame_pipeline(family, frame).fit(frame, target)
    out = package_frame_model(model, frame, target, tmp_path / "xgb")
    manifest, _ = variant(out)
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    outputs = answers_under_1_12(out, frame, ort_1_12)
    assert_exact(outputs, model, frame)
