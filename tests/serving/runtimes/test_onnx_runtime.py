"""The ONNX runtime in process, on small graphs built here and run by onnxruntime: what each
per-feature input is fed (type, shape, a missing text cell), which outputs a graph offers, the
methods it lacks, and the graphs it refuses."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from serving.batch import Batch, Method
from serving.errors import InvalidInput, ModelUnavailable
from serving.runtimes.onnx_runtime import MISSING_TEXT, OnnxRuntime, load, session_options
from serving.schema import Feature
from serving.validate import validate
from training.export import serving_manifest

pytestmark = pytest.mark.in_process

FEATURES = [
    Feature("island", "string", nullable=True, categories=("Biscoe", "Dream")),
    Feature("year", "integer"),
    Feature("smoker", "boolean"),
    Feature("mass"),
    Feature("count", nullable=True),
]
INPUT_TYPES = {
    "island": TensorProto.STRING,
    "year": TensorProto.INT64,
    "smoker": TensorProto.BOOL,
    "mass": TensorProto.DOUBLE,
    "count": TensorProto.FLOAT,
}
ROWS = [
    {"island": "Dream", "year": 2007, "smoker": True, "mass": 1.5, "count": 3},
    {"island": None, "year": 2008, "smoker": False, "mass": 2.25, "count": None},
]


def graph_bytes(second_output: str | None = "probabilities") -> bytes:
    """One [rows, 1] input per feature; outputs: the island text as "labels", then (named
    `second_output`) the other inputs as float64 columns."""
    inputs = [helper.make_tensor_value_info(n, t, [None, 1]) for n, t in INPUT_TYPES.items()]
    nodes = [helper.make_node("Identity", ["island"], ["labels"])]
    casts = []
    for name in ("year", "smoker", "mass", "count"):
        nodes.append(helper.make_node("Cast", [name], [f"{name}_64"], to=TensorProto.DOUBLE))
        casts.append(f"{name}_64")
    outputs = [helper.make_tensor_value_info("labels", TensorProto.STRING, [None, 1])]
    if second_output:
        nodes.append(helper.make_node("Concat", casts, [second_output], axis=1))
        outputs.append(helper.make_tensor_value_info(second_output, TensorProto.DOUBLE, [None, 4]))
    graph = helper.make_graph(nodes, "features", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def runtime_for(artifact: bytes, features: list[Feature] = FEATURES) -> OnnxRuntime:
    return load(artifact, serving_manifest(features, "classification", ["a"], on_dataframe=True))


def run(runtime: OnnxRuntime, methods: tuple[Method, ...]) -> dict[Method, Any]:
    return runtime.run(validate(Batch(rows=ROWS), FEATURES, 10), methods)


def refusal(runtime: OnnxRuntime, method: Method) -> str:
    """The data plane's one check refusing `method`: its message."""
    with pytest.raises(InvalidInput) as refused:
        runtime.offers(("predict", method))
    return refused.value.message


def test_each_feature_input_gets_its_column_in_the_graphs_type() -> None:
    results = run(runtime_for(graph_bytes()), ("predict", "predict_proba"))
    # A missing text cell is fed as MISSING_TEXT (ONNX string tensors have no missing value),
    # not as "", which is text a model may know.
    assert results["predict"].tolist() == ["Dream", MISSING_TEXT]
    assert np.array_equal(
        results["predict_proba"], [[2007, 1, 1.5, 3], [2008, 0, 2.25, np.nan]], equal_nan=True
    )
    assert set(results) == {"predict", "predict_proba"}


def test_labels_alone_still_fetch_the_probabilities_in_the_same_pass() -> None:
    """The caller's checks (finite outputs) see the probabilities too, at no extra run."""
    results = run(runtime_for(graph_bytes()), ("predict",))
    assert set(results) == {"predict", "predict_proba"}


def test_a_graph_with_labels_and_decision_values_has_no_probabilities() -> None:
    runtime = runtime_for(graph_bytes("decision_function"))
    assert (runtime.has_predict_proba, runtime.has_decision_function) == (False, True)
    results = run(runtime, ("predict", "decision_function"))
    assert results["decision_function"].shape == (2, 4)
    assert refusal(runtime, "predict_proba") == (
        "predict_proba (class probabilities) is not available: this model offers predict, "
        "decision_function on the onnx runtime; MODEL_RUNTIME=sklearn serves every method "
        "the estimator has"
    )


def test_a_graph_without_decision_values_says_how_to_get_them() -> None:
    runtime = runtime_for(graph_bytes())
    assert (runtime.has_predict_proba, runtime.has_decision_function) == (True, False)
    assert refusal(runtime, "decision_function") == (
        "decision_function (decision values) is not available: this model offers predict, "
        "predict_proba on the onnx runtime; MODEL_RUNTIME=sklearn serves every method "
        "the estimator has"
    )
    labels_only = runtime_for(graph_bytes(None))
    assert (labels_only.has_predict_proba, labels_only.has_decision_function) == (False, False)


def test_a_one_input_graph_gets_the_float64_matrix() -> None:
    features = [Feature("a"), Feature("b")]
    node = helper.make_node("ReduceSum", ["X"], ["sums"], axes=[1], keepdims=0)
    graph = helper.make_graph(
        [node],
        "matrix",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 2])],
        [helper.make_tensor_value_info("sums", TensorProto.DOUBLE, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    runtime = runtime_for(model.SerializeToString(), features)
    table = validate(Batch(rows=[[1, 2], [3, 4.5]]), features, 10)
    assert runtime.run(table, ("predict",))["predict"].tolist() == [3.0, 7.5]


@pytest.mark.parametrize(
    ("name", "element_type", "type_name"),
    [
        ("weight", TensorProto.DOUBLE, "tensor(double)"),
        ("mass", TensorProto.UINT8, "tensor(uint8)"),
    ],
)
def test_a_graph_input_that_matches_no_feature_is_refused(
    name: str, element_type: int, type_name: str
) -> None:
    inputs = [
        helper.make_tensor_value_info("year", TensorProto.INT64, [None, 1]),
        helper.make_tensor_value_info(name, element_type, [None, 1]),
    ]
    nodes = [helper.make_node("Identity", ["year"], ["labels"])]
    outputs = [helper.make_tensor_value_info("labels", TensorProto.INT64, [None, 1])]
    model = helper.make_model(
        helper.make_graph(nodes, "odd", inputs, outputs),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    with pytest.raises(ModelUnavailable) as refused:
        runtime_for(model.SerializeToString())
    assert refused.value.message == f"model.onnx input {name!r} ({type_name}) matches no feature"


def test_sessions_run_one_thread_per_inference_and_name_their_library() -> None:
    options = session_options(ort)
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    runtime = runtime_for(graph_bytes())
    assert runtime.libraries == {"onnxruntime": ort.__version__}
    assert runtime.session.get_providers() == ["CPUExecutionProvider"]
