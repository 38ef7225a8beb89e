"""`train.py --from-model`: package an estimator fitted elsewhere into a verified model folder.

The file is loaded here (skops files with skops' check of untrusted types), checked (a fitted
scikit-learn estimator; the scikit-learn it was pickled with is the one requirements.txt
serves; a fresh process with only the deployed files and libraries can load it), described
from itself and the sample CSV, and written like a trained model, ONNX where exact.
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from serving.manifest import sha256_hex
from training.boosters import booster_requirements
from training.data import DataError, frame_from_rows, read_rows, text_columns
from training.evaluate import evaluate
from training.export import servable_rows
from training.folder import JOBLIB_NAME, ONNX_NAME, created_at, describe_model, write_model
from training.isolation import REPO, cloud_load_problem, explain
from training.schema import infer_features


def package(args: argparse.Namespace) -> dict[str, Any]:
    """Check, describe and write the model in args.from_model; returns the manifest."""
    path: Path = args.from_model
    model, pickled_with = load_model_file(path, args.trusted)
    check_model(model, path)
    served = served_sklearn_version()
    if pickled_with != served and not args.force_version:
        raise DataError(
            f"{path.name} was pickled with scikit-learn {pickled_with}, but requirements.txt "
            f"serves scikit-learn {served}; retrain with {served}, or pass "
            "--force-version to package it anyway"
        )
    task = "classification" if is_classifier(model) else "regression"
    frame, target = sample_frame(model, args.data, args.target)
    on_dataframe = hasattr(model, "feature_names_in_")
    inputs = frame if on_dataframe else frame.to_numpy(dtype=np.float64)
    try:
        model.predict(inputs.iloc[:1] if on_dataframe else inputs[:1])
    except Exception as exc:
        raise DataError(f"{path.name} cannot predict the sample rows: {_first_line(exc)}") from None
    features = infer_features(model, frame, on_dataframe)
    fields, artifacts = describe_model(
        model, features, task, on_dataframe, frame, frame, f"the sample rows of {args.data.name}"
    )
    requirements = booster_requirements(model)
    if requirements and ONNX_NAME in artifacts:
        # The function serves model.onnx and needs neither booster library: prove that.
        problem = cloud_load_problem(artifacts[ONNX_NAME][1], runtime="onnx")
        requirements = []
    else:
        problem = cloud_load_problem(artifacts[JOBLIB_NAME][1], extra=requirements)
    if problem is not None:
        raise DataError(f"{path.name} would not load in the cloud: {problem}")
    stamp = created_at()
    identity = sha256_hex(artifacts[JOBLIB_NAME][1])
    manifest: dict[str, Any] = {
        "format": fields.pop("format"),
        "name": args.name or path.stem,
        "model_version": args.version or f"{stamp[:10].replace('-', '')}-{identity[:8]}",
        "created_at": stamp,
        **fields,
        "source": {"packaged_from": path.name, "sha256": sha256_hex(path.read_bytes())},
        "libraries": {**fields["libraries"], "scikit-learn": pickled_with},
        "sample_data": {"source": args.data.name, "rows": len(frame)},
    }
    if requirements:
        manifest["requirements"] = requirements
    if target is not None:
        servable = servable_rows(frame, features).index
        rows = frame.loc[servable] if on_dataframe else frame.loc[servable].to_numpy(np.float64)
        manifest["metrics"] = evaluate(model, task, rows, target[frame.index.get_indexer(servable)])
        manifest["metrics_on"] = f"the {len(servable)} servable sample rows of {args.data.name}"
    write_model(args.out, manifest, artifacts)
    return manifest


def load_model_file(path: Path, trusted: list[str]) -> tuple[Any, str]:
    """The estimator in a joblib, pickle or skops file, and the scikit-learn it was saved with."""
    if not path.is_file():
        raise DataError(f"model file {path} not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            model = _load_skops(path, trusted) if path.suffix == ".skops" else _load_pickle(path)
        except DataError:
            raise
        except (ModuleNotFoundError, AttributeError) as exc:
            reason = explain(type(exc).__name__, getattr(exc, "name", None), str(exc))
            raise DataError(f"cannot load {path.name}: {reason}") from None
        except Exception as exc:
            raise DataError(f"cannot read {path.name}: {_first_line(exc)}") from None
    versions = [w.message for w in caught if isinstance(w.message, InconsistentVersionWarning)]
    return model, versions[0].original_sklearn_version if versions else sklearn.__version__


def _load_pickle(path: Path) -> Any:
    import joblib

    return joblib.load(path)


def _load_skops(path: Path, trusted: list[str]) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [name for name in untrusted if name not in trusted]
    if refused:
        raise DataError(
            f"{path.name} holds types skops does not trust: {', '.join(refused)}; pass "
            "--trusted TYPE for each one you trust"
        )
    return sio.load(path, trusted=untrusted)


def check_model(model: Any, path: Path) -> None:
    """A fitted scikit-learn classifier or regressor, or one line saying what it is instead."""
    estimator = isinstance(model, BaseEstimator) and (is_classifier(model) or is_regressor(model))
    if not estimator or not hasattr(model, "predict"):
        raise DataError(
            f"{path.name} holds a {type(model).__module__}.{type(model).__qualname__}, not a "
            "scikit-learn classifier or regressor (or a Pipeline ending in one)"
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise DataError(
            f"{path.name} holds an unfitted {type(model).__name__}: fit it first"
        ) from None


def served_sklearn_version() -> str:
    """The scikit-learn version requirements.txt pins (what Cloud Functions installs)."""
    text = (REPO / "requirements.txt").read_text()
    found = re.search(r"^scikit-learn==([^\s#]+)", text, re.MULTILINE)
    return found.group(1) if found else sklearn.__version__


def sample_frame(model: Any, csv_path: Path, target: str | None) -> tuple[pd.DataFrame, Any]:
    """The sample CSV's feature columns in the model's order, typed, and the target if named."""
    header, body = read_rows(csv_path)
    if target is not None and target not in header:
        raise DataError(f"unknown target column {target!r}; columns: {', '.join(header)}")
    frame = frame_from_rows(header, body)
    labels = frame.pop(target).to_numpy() if target is not None else None
    if hasattr(model, "feature_names_in_"):
        names = [str(n) for n in model.feature_names_in_]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(
                f"{csv_path.name} lacks the column {missing[0]!r} that the model needs "
                f"({len(missing)} missing)"
            )
        frame = frame[names]
    elif frame.shape[1] != model.n_features_in_:
        raise DataError(
            f"the model takes {model.n_features_in_} features; {csv_path.name} has "
            f"{frame.shape[1]} columns besides the target"
        )
    elif text_columns(frame):
        raise DataError("the model was fitted on numbers only, but the sample has text columns")
    return frame, labels


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
