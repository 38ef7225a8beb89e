"""explanations.npz and the manifest's "explanations" entry: exact contributions, or why not.

Trees get path-dependent TreeSHAP's arrays (training/explain_trees.py), linear models their
coefficients and each column's mean over the background rows; both with the map from the
estimator's columns back to the input features (training/explain_columns.py). The explainer
the function will run (serving/explain) is then checked on the sample rows, through each
runtime the folder has: base value plus contributions must equal the model's raw output within
TOLERANCE (relative above 1) on every row, and the ONNX graph's rows must give the same
contributions as scikit-learn's. A model that fails, or has no exact method, gets a one-line
reason instead.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from serving.explain.artifact import (
    ARTIFACT_FORMAT,
    EXPLANATIONS_NAME,
    LINEAR_METHOD,
    TREE_METHOD,
    Explainer,
    read_explainer,
)
from serving.manifest import Manifest
from serving.runtimes.sklearn_runtime import SklearnRuntime
from training.explain_columns import Unexplainable, column_sources
from training.explain_trees import evaluate_trees, is_tree_model, tree_model
from training.export import sample_table

TOLERANCE = 1e-9
# XGBoost sums float32 leaves in float32: its margin is within this of their exact sum.
FLOAT32_SUM_TOLERANCE = 1e-4


@dataclass
class Method:
    """What a model is explained with: the stored arrays and what the outputs mean."""

    name: str
    arrays: dict[str, np.ndarray]
    output: str
    raw_output: Callable[[Any], np.ndarray]
    background: str
    float32_sums: bool = False


def describe_explanations(
    model: Any,
    manifest: Manifest,
    sample: pd.DataFrame,
    seen: pd.DataFrame,
    seen_rows: str,
    onnx_bytes: bytes | None,
) -> tuple[dict[str, Any], bytes | None]:
    """The manifest entry, and explanations.npz's bytes when the model is explained.

    `sample` (servable rows) checks the explainer; `seen` (servable rows, described by
    `seen_rows`) is a linear model's background.
    """
    try:
        method = _method(model, manifest, seen, seen_rows)
        data = _npz(method.name, method.arrays)
        explainer = read_explainer(data)
        additivity = _check(explainer, method, model, manifest, sample, onnx_bytes)
    except Unexplainable as exc:
        return {"available": False, "reason": str(exc)}, None
    except Exception as exc:  # a model these modules do not foresee: served, unexplained
        reason = f"explanations could not be packaged ({_first_line(exc)})"
        print(f"Explanations skipped: {reason}")
        return {"available": False, "reason": reason}, None
    entry = {
        "available": True,
        "method": method.name,
        "artifact": EXPLANATIONS_NAME,
        "output": method.output,
        "outputs": _output_labels(manifest, explainer.n_outputs),
        "background": method.background,
        "additivity": additivity,
    }
    return entry, data


def _method(model: Any, manifest: Manifest, seen: pd.DataFrame, seen_rows: str) -> Method:
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    columns = column_sources(model, manifest.n_features)
    common = {"columns": columns, "n_inputs": np.array(manifest.n_features)}
    if is_tree_model(final):
        trees = tree_model(final, sparse_input=_reads_sparse(model, seen))
        if trees.input_columns is not None:  # the estimator's own columns, from its input's
            common["columns"] = columns[trees.input_columns]
        return Method(
            TREE_METHOD,
            {**common, **trees.arrays(len(common["columns"]))},
            trees.output,
            trees.raw_output,
            "each node's cover of the training rows (path-dependent)",
            float32_sums=trees.float32_sums,
        )
    if hasattr(final, "coef_") and hasattr(final, "intercept_"):
        return _linear(model, final, manifest, seen, seen_rows, common)
    raise Unexplainable(
        f"{type(final).__name__} has no exact explanation method here (trees and linear "
        "models have one)"
    )


def _linear(
    model: Any,
    final: Any,
    manifest: Manifest,
    seen: pd.DataFrame,
    seen_rows: str,
    common: dict[str, np.ndarray],
) -> Method:
    """coef, intercept and each column's mean over the background rows."""
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
    intercept = np.ravel(np.asarray(final.intercept_, dtype=np.float64))
    classifier = manifest.classes is not None
    if not classifier and coef.shape[0] != 1:
        raise Unexplainable("multi-output linear regressors are not explained")
    intercept = np.broadcast_to(intercept, (coef.shape[0],)).copy()
    background = _final_input(model, seen if manifest.fitted_on_dataframe else seen.to_numpy())
    if hasattr(background, "toarray"):  # a sparse matrix
        background = background.toarray()
    background = np.asarray(background, dtype=np.float64)
    link = type(getattr(getattr(final, "_base_loss", None), "link", None)).__name__
    if classifier:
        output, raw = "margin", final.decision_function
    elif link == "LogLink":  # Poisson, Gamma, Tweedie regressors: the log of the value
        output, raw = "margin", lambda rows: np.log(final.predict(rows))
    else:
        output, raw = "value", final.predict
    arrays = {**common, "coef": coef, "intercept": intercept, "mean": background.mean(axis=0)}
    return Method(
        LINEAR_METHOD,
        arrays,
        output,
        _as_columns(raw),
        f"each column's mean over {seen_rows} ({len(background)})",
    )


def _check(
    explainer: Explainer,
    method: Method,
    model: Any,
    manifest: Manifest,
    sample: pd.DataFrame,
    onnx_bytes: bytes | None,
) -> dict[str, Any]:
    """Additivity on every sample row (and the validation step's edge rows: missing, unseen,
    extreme values), through each runtime; Unexplainable when it fails."""
    import sklearn

    table = sample_table(sample, manifest)
    runtime = SklearnRuntime(model, (), sklearn.__version__, manifest)
    rows = runtime.estimator_input(table)
    if rows.shape[1] != len(method.arrays["columns"]):
        raise Unexplainable(
            f"the pipeline gives {rows.shape[1]} columns, but {len(method.arrays['columns'])} "
            "were traced back to the input features"
        )
    contributions = explainer.explain(rows)
    sums = contributions.sum(axis=1) + explainer.base_value
    with np.errstate(all="ignore"):
        expected = method.raw_output(_final_input(model, runtime.model_rows(table)))
    # Rows whose output overflows are refused by the function (400 not_finite): not compared.
    finite = np.isfinite(expected).all(axis=1)
    sums, expected, rows = sums[finite], expected[finite], rows[finite]
    record: dict[str, Any] = {"rows": int(finite.sum()), "tolerance": TOLERANCE}
    if method.float32_sums:
        exact = evaluate_trees(method.arrays, rows)
        record["float32_sum_max_abs_diff"] = _worst(exact, expected)
        if record["float32_sum_max_abs_diff"] > FLOAT32_SUM_TOLERANCE:
            raise Unexplainable("the trees' leaves do not sum to the booster's own margin")
        expected = exact
    record["max_abs_diff"] = _worst(sums, expected)
    if record["max_abs_diff"] > TOLERANCE:
        raise Unexplainable(
            f"contributions do not add up to the model's output on the sample rows "
            f"(off by {record['max_abs_diff']:.3g})"
        )
    if onnx_bytes is not None:
        onnx_rows = _onnx_estimator_input(onnx_bytes, manifest, table)[finite]
        record["onnx_max_abs_diff"] = _worst(explainer.explain(onnx_rows), contributions[finite])
        if record["onnx_max_abs_diff"] > TOLERANCE:
            raise Unexplainable("the ONNX graph's rows explain differently from scikit-learn's")
    return record


def _onnx_estimator_input(onnx_bytes: bytes, manifest: Manifest, table: Any) -> np.ndarray:
    """The rows as the ONNX graph hands them to its estimator (its `estimator_input`)."""
    import onnxruntime as ort

    from serving.runtimes.onnx_runtime import OnnxRuntime, session_options

    session = ort.InferenceSession(
        onnx_bytes, sess_options=session_options(ort), providers=["CPUExecutionProvider"]
    )
    runtime = OnnxRuntime(session, ort.__version__, manifest)
    if not runtime.has_estimator_input:
        raise Unexplainable("the ONNX graph does not expose the rows its estimator reads")
    return runtime.estimator_input(table)


def _final_input(model: Any, rows: Any) -> Any:
    """What a pipeline hands its final step (the rows themselves for a bare estimator)."""
    return model[:-1].transform(rows) if hasattr(model, "steps") else rows


def _reads_sparse(model: Any, frame: pd.DataFrame) -> bool:
    from training.onnx_boosters import reads_sparse

    return reads_sparse(model, frame)


def _output_labels(manifest: Manifest, width: int) -> list[Any] | None:
    """What each output column is: a class (per class), the positive class, or None (a value)."""
    classes = manifest.classes
    if classes is None:
        return None
    return list(classes) if width == len(classes) else [classes[-1]]


def _npz(method: str, arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as a compressed .npz, byte for byte the same for the same model (a fixed
    timestamp in every entry), holding no pickled object (np.load refuses them)."""
    entries = {"format": np.array(ARTIFACT_FORMAT), "method": np.array(method), **arrays}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in entries.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as file:
                np.lib.format.write_array(file, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def _as_columns(predict: Callable[[Any], Any]) -> Callable[[Any], np.ndarray]:
    def raw(rows: Any) -> np.ndarray:
        values = np.asarray(predict(rows), dtype=np.float64)
        return values.reshape(len(values), -1)

    return raw


def _worst(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest difference, relative to the value where it is above 1 in magnitude."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    scale = np.maximum(1.0, np.abs(theirs))
    return float(np.max(np.abs(ours - theirs) / scale)) if ours.size else 0.0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
