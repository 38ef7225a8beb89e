"""model.onnx from a fitted model, shipped only when it answers exactly like scikit-learn.

The parity gate runs the function's own two runtimes on the sample rows, after the function's
own validation step: what it compares is what each runtime would serve. Labels must be equal
on every row; probabilities, decision values and regression values within PARITY_TOLERANCE.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from serving.batch import Batch, Method, Table
from serving.errors import NotFinite
from serving.manifest import Manifest
from serving.prediction import run
from serving.runtimes.onnx_runtime import DECISION_OUTPUT, OnnxRuntime, session_options
from serving.runtimes.sklearn_runtime import SklearnRuntime
from serving.schema import Feature, Schema
from serving.validate import validate
from training import onnx_inputs
from training.probe import edge_rows, with_edge_rows

PARITY_TOLERANCE = 1e-9
# The tensor skl2onnx's linear classifiers compute their decision values in.
RAW_SCORES = "raw_scores"
OPSET = 19  # Equal on strings (training/onnx_imputer.py)


def serving_manifest(
    features: list[Feature], task: str, classes: list[Any] | None, on_dataframe: bool
) -> Manifest:
    """The parts of the manifest the runtimes and the validation step read."""
    return Manifest(
        name="export",
        model_version="export",
        task=task,
        feature_names=tuple(f.name for f in features),
        features=Schema(features),
        classes=tuple(classes) if classes is not None else None,
        artifacts={},
        fitted_on_dataframe=on_dataframe,
    )


def servable_rows(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """The rows the function would serve: none missing a value the model cannot do without."""
    required = [f.name for f in features if not f.nullable]
    return frame.dropna(subset=required) if required else frame


def sample_table(frame: pd.DataFrame, manifest: Manifest) -> Table:
    """The sample rows as the function would receive them, through its validation step, then
    the edge rows (`edges`)."""
    columns = with_edge_rows(_cells(frame), manifest.features)  # missing, "", unseen, int64's ends
    rows = len(next(iter(columns.values()), []))
    return validate(Batch(columns=columns), manifest.features, max_rows=rows)


def edges(frame: pd.DataFrame, manifest: Manifest) -> list[str]:
    """What each edge row at the end of `sample_table` tries, in order."""
    return [what for what, _ in edge_rows(_cells(frame), manifest.features)]


def _cells(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {name: [None if pd.isna(v) else v for v in frame[name].tolist()] for name in frame}


def export_onnx(
    model: Any, frame: pd.DataFrame, manifest: Manifest
) -> tuple[bytes, dict[str, Any]] | None:
    """model.onnx bytes and its parity record, or None (with one printed line saying why)."""
    try:
        import skl2onnx  # noqa: F401 (training-time only: say so in one line when absent)

        from training.onnx_explain import with_estimator_input
    except ImportError:
        print(
            "ONNX export skipped: skl2onnx is not installed (pip install -r requirements-dev.txt)"
        )
        return None
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # no usage telemetry from training
    table, tried = sample_table(frame, manifest), edges(frame, manifest)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        graph = build_graph(model, manifest, frame)
        graph = with_estimator_input(graph, model)
        has_proba = hasattr(final, "predict_proba")
        with_decision = add_decision_output(graph, model, has_proba)
        onnx_bytes = with_decision or graph.SerializeToString()
        parity = check_parity(model, onnx_bytes, manifest, table, tried)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        print(f"ONNX export skipped: this model does not convert to float64 ONNX ({reason})")
        return None
    decision = parity.get("decision_function_max_abs_diff")
    if decision is not None and decision > PARITY_TOLERANCE:
        print(
            f"ONNX export: decision values left out (max difference {decision:.3g} > "
            f"{PARITY_TOLERANCE:g}); MODEL_RUNTIME=sklearn serves them"
        )
        onnx_bytes = graph.SerializeToString()
        del parity["decision_function_max_abs_diff"]
    if "edge_differs" in parity:
        print(
            f"ONNX export skipped: ONNX and scikit-learn answer differently when "
            f"{parity['edge_differs']}; the scikit-learn runtime serves this model"
        )
        return None
    if not parity_holds(parity):
        print(
            "ONNX export skipped: ONNX outputs differ from scikit-learn on the sample rows "
            f"(max difference {parity['max_abs_diff']:.3g} > {PARITY_TOLERANCE:g} "
            "or labels differ); the scikit-learn runtime serves this model"
        )
        return None
    return onnx_bytes, parity


def build_graph(model: Any, manifest: Manifest, frame: pd.DataFrame, opset: int = OPSET) -> Any:
    """The model as an ONNX graph (a ModelProto) with the inputs the function feeds it.

    Every model fitted on numbers takes one float64 matrix, others one input per feature named
    exactly as the feature (training/onnx_inputs.py); classifiers answer labels and a
    probability (or score) tensor, without ZipMap. `frame` is the sample the model is checked
    on (the boosters' converters ask whether it reaches them sparse); `opset` is the default
    domain's.
    """
    from skl2onnx import to_onnx

    register_converters(model, frame)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if manifest.classes is not None else {}
    graph = to_onnx(
        model,
        initial_types=onnx_inputs.input_types(manifest.features),
        options=options,
        target_opset={"": opset},
    )
    onnx_inputs.name_inputs(graph, manifest.features)
    return graph


def register_converters(model: Any = None, frame: pd.DataFrame | None = None) -> None:
    """Register this project's exact converters into skl2onnx (each module is idempotent).

    The one place converters are registered: a new family's module registers itself here.
    The boosters' also note, for `model` on `frame`, which boosters are fed sparse rows.
    """
    from training import (
        onnx_boosters,
        onnx_calibration,
        onnx_encoders,
        onnx_expansions,
        onnx_functions,
        onnx_linear,
        onnx_splines,
        onnx_stacking,
        onnx_trees,
        onnx_voting,
    )

    onnx_inputs.register()
    onnx_linear.register()
    onnx_voting.register()
    onnx_stacking.register()
    onnx_calibration.register()
    onnx_encoders.register()
    onnx_expansions.register()
    onnx_splines.register()
    onnx_functions.register()
    onnx_trees.register_exact_converters()
    onnx_boosters.register_converters(model, frame)


def parity_holds(parity: dict[str, Any]) -> bool:
    """The gate: every label equal, every other output within PARITY_TOLERANCE, and every edge
    row answered alike (or refused by both)."""
    return (
        bool(parity["labels_equal"])
        and parity["max_abs_diff"] <= PARITY_TOLERANCE
        and "edge_differs" not in parity
    )


def add_decision_output(graph: Any, model: Any, has_proba: bool = True) -> bytes | None:
    """The graph with a `decision_function` output, where the converter computes the scores.

    skl2onnx's linear classifiers compute `raw_scores` (one column per class; for two classes
    [-score, score]) before turning them into probabilities: exposing them serves decision
    values without scikit-learn. A classifier without predict_proba (SGDClassifier's hinge
    loss, Perceptron) has its scores in the converter's second output instead, which is then
    renamed, so that nothing calls them probabilities. None when the graph has no such tensor.
    """
    from onnx import ModelProto, TensorProto, helper, numpy_helper

    classes = getattr(model, "classes_", None)
    if classes is None or not hasattr(model, "decision_function"):
        return None
    produced = {name for node in graph.graph.node for name in node.output}
    scores = RAW_SCORES if has_proba else graph.graph.output[1].name
    if scores not in produced:
        return None
    extended = ModelProto()
    extended.CopyFrom(graph)
    if not has_proba:
        del extended.graph.output[1]
    if len(classes) == 2:
        column = numpy_helper.from_array(np.array(1, dtype=np.int64), "positive_column")
        extended.graph.initializer.append(column)
        node = helper.make_node("Gather", [scores, column.name], [DECISION_OUTPUT], axis=1)
        shape: list[int | None] = [None]
    else:
        node = helper.make_node("Identity", [scores], [DECISION_OUTPUT])
        shape = [None, len(classes)]
    extended.graph.node.append(node)
    output = helper.make_tensor_value_info(DECISION_OUTPUT, TensorProto.DOUBLE, shape)
    extended.graph.output.append(output)
    return bytes(extended.SerializeToString())


def check_parity(
    model: Any, onnx_bytes: bytes, manifest: Manifest, table: Table, edges: Sequence[str] = ()
) -> dict[str, Any]:
    """Both runtimes on the same checked rows: are the labels equal, how far apart the rest.

    The last `len(edges)` rows are the edge rows (`edges` says what each tries): each is run
    alone, as a request of that one row would be, and both runtimes must answer it alike, or
    both refuse it (an output that is not finite). The first that does not is `edge_differs`.
    """
    import onnxruntime as ort
    import sklearn

    session = ort.InferenceSession(
        onnx_bytes, sess_options=session_options(ort), providers=["CPUExecutionProvider"]
    )
    served = OnnxRuntime(session, ort.__version__, manifest)
    reference = SklearnRuntime(model, (), sklearn.__version__, manifest)
    methods: tuple[Method, ...] = ("predict",)
    if manifest.classes is not None:
        # A classifier without probabilities is compared on its decision values, if it has any.
        if reference.has_predict_proba:
            methods += ("predict_proba",)
        elif reference.has_decision_function:
            methods += ("decision_function",)
    compared = methods[-1]
    labels_only = manifest.classes is not None and compared == "predict"

    def compare(
        ours: dict[Method, np.ndarray], theirs: dict[Method, np.ndarray], scaled: bool = False
    ) -> float | None:
        """How far apart the outputs are; None when the labels differ."""
        # A regressor's values are compared within the tolerance, not as labels.
        if manifest.classes is not None and not np.array_equal(ours["predict"], theirs["predict"]):
            return None
        return 0.0 if labels_only else distance(ours[compared], theirs[compared], scaled)

    sample = rows_of(table, 0, table.n_rows - len(edges))
    answered, refused, edge_diff = [sample], 0, 0.0
    with unseen_categories_expected():
        gap = compare(run(served, sample, methods), run(reference, sample, methods))
        parity: dict[str, Any] = {
            "rows": table.n_rows,
            "labels_equal": gap is not None,
            "max_abs_diff": gap or 0.0,
        }
        for what, rows in zip(edges, each_row(table, sample.n_rows), strict=True):
            ours = answer_or_refusal(served, rows, methods)
            theirs = answer_or_refusal(reference, rows, methods)
            if ours is None and theirs is None:
                refused += 1
                continue
            if ours is None or theirs is None:
                refuses = "the ONNX runtime" if ours is None else "scikit-learn"
                parity["edge_differs"] = f"{what} (only {refuses} refuses it)"
                break
            gap = compare(ours, theirs, scaled=True)
            if gap is None or gap > PARITY_TOLERANCE:
                differ = "labels differ" if gap is None else f"difference {gap:.3g} of its size"
                parity["edge_differs"] = f"{what} ({differ})"
                break
            edge_diff = max(edge_diff, gap)
            answered.append(rows)
    parity["tolerance"] = PARITY_TOLERANCE
    if edges:
        parity["edge_rows"] = {
            "tried": len(edges),
            "refused_by_both": refused,
            "max_scaled_diff": edge_diff,
        }
    if served.has_decision_function and compared != "decision_function":
        parity["decision_function_max_abs_diff"] = max(
            check_decision_parity(served, reference, rows, scaled=index > 0)
            for index, rows in enumerate(answered)
        )
    return parity


def answer_or_refusal(
    runtime: OnnxRuntime | SklearnRuntime, rows: Table, methods: tuple[Method, ...]
) -> dict[Method, np.ndarray] | None:
    """The runtime's outputs as the function would answer them, None when it refuses them."""
    try:
        return run(runtime, rows, methods)
    except NotFinite:
        return None


def rows_of(table: Table, start: int, stop: int) -> Table:
    """Rows start to stop of a checked table."""
    columns = tuple(column[start:stop] for column in table.columns)
    matrix = table.matrix[start:stop] if table.matrix is not None else None
    return Table(columns, matrix, stop - start)


def each_row(table: Table, start: int) -> Iterator[Table]:
    return (rows_of(table, row, row + 1) for row in range(start, table.n_rows))


def check_decision_parity(
    served: OnnxRuntime, reference: SklearnRuntime, table: Table, scaled: bool = False
) -> float:
    """Largest difference between the graph's decision values and scikit-learn's."""
    method: tuple[Method, ...] = ("decision_function",)
    with unseen_categories_expected():
        ours, theirs = served.run(table, method), reference.run(table, method)
    return distance(ours["decision_function"], theirs["decision_function"], scaled)


@contextlib.contextmanager
def unseen_categories_expected() -> Iterator[None]:
    """The gate feeds categories never seen in training on purpose (its edge rows): the
    encoders' warning about them is expected, not a fault of the model."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Found unknown categories", UserWarning)
        yield


def distance(ours: np.ndarray, theirs: np.ndarray, scaled: bool = False) -> float:
    """Largest absolute difference; infinite when the shapes differ.

    `scaled` divides each difference by its value's size where that is over 1: how an edge
    row is compared. At int64's ends outputs reach 1e19, where the same float64 arithmetic in
    another order moves the last bits by far more than 1e-9; below 1 nothing changes.
    """
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    if not ours.size:
        return 0.0
    gaps = np.abs(ours - theirs)
    return float(np.max(gaps / np.maximum(1.0, np.abs(theirs)) if scaled else gaps))
