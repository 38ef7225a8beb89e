"""Small XGBoost and LightGBM models for the tests, and what their ONNX export answers."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pandas as pd

from training.export import export_onnx, servable_rows, serving_manifest
from training.probe import infer_features

ROWS = 600


def numbers(seed: int = 0, rows: int = ROWS, gaps: float = 0.1) -> pd.DataFrame:
    """Six numeric columns with realistic names, some NaN in each."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(0, 72, rows).astype(np.float64),
            "monthly_charges": rng.normal(65, 30, rows),
            "support_calls": rng.poisson(2, rows).astype(np.float64),
            "data_gb": rng.lognormal(1, 1, rows),
            "discount_pct": rng.uniform(-5, 30, rows),
            "age_years": rng.normal(45, 15, rows),
        }
    )
    return frame.mask(rng.random(frame.shape) < gaps)


def targets(frame: pd.DataFrame, kind: str, seed: int = 1) -> np.ndarray:
    """A target of the kind asked for, learnable from the columns."""
    rng = np.random.default_rng(seed)
    signal = (
        frame["monthly_charges"].fillna(60) / 30
        - frame["tenure_months"].fillna(30) / 20
        + frame["support_calls"].fillna(1) / 2
        + rng.normal(0, 0.5, len(frame))
    ).to_numpy()
    if kind == "binary":
        return (signal > np.median(signal)).astype(int)
    if kind == "multiclass":
        return np.digitize(signal, np.quantile(signal, [0.33, 0.66]))
    if kind == "unit":
        return 1 / (1 + np.exp(-signal + signal.mean()))
    if kind == "count":
        return rng.poisson(np.exp(signal / 3))
    if kind == "positive":
        return np.exp(signal / 3) + 0.1
    return signal * 10


def onnx_export(model: Any, frame: pd.DataFrame) -> tuple[bytes | None, str]:
    """train.py's export of a fitted model on `frame`: the graph (or None) and what it printed."""
    on_dataframe = hasattr(model, "feature_names_in_")
    task = "classification" if hasattr(model, "classes_") else "regression"
    features = infer_features(model, frame, on_dataframe)
    classes = model.classes_.tolist() if task == "classification" else None
    manifest = serving_manifest(features, task, classes, on_dataframe)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exported = export_onnx(model, servable_rows(frame, features), manifest)
    return (exported[0] if exported else None), printed.getvalue()


def onnx_answers(graph: bytes, frame: pd.DataFrame) -> list[np.ndarray]:
    """The graph's outputs for the rows: one float64 matrix input, or one input per column."""
    import onnxruntime as ort

    from serving.runtimes.onnx_runtime import session_options

    session = ort.InferenceSession(
        graph, sess_options=session_options(ort), providers=["CPUExecutionProvider"]
    )
    inputs = session.get_inputs()
    if len(inputs) == 1:
        feeds = {inputs[0].name: frame.to_numpy(dtype=np.float64)}
    else:
        feeds = {i.name: _column(frame[i.name], i.type) for i in inputs}
    return [np.asarray(output) for output in session.run(None, feeds)]


def _column(values: pd.Series, onnx_type: str) -> np.ndarray:
    """One feature as the graph's per-column input takes it: text as strings, else numbers."""
    if onnx_type == "tensor(string)":
        return values.fillna("").astype(str).to_numpy(dtype=object).reshape(-1, 1)
    dtype = np.int64 if onnx_type == "tensor(int64)" else np.float64
    return values.to_numpy(dtype=dtype).reshape(-1, 1)
