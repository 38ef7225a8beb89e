"""`train.py --from-model`: package an estimator fitted elsewhere into a verified model folder.

The file is loaded here (skops files with skops' check of untrusted types; the user's own
modules from --code importable), checked (a fitted scikit-learn estimator; the scikit-learn it
was pickled with is the one requirements.txt serves; a fresh process with only the deployed
files, libraries and --code can load it), described from itself and the sample CSV (read as
its encoders learned each column), and written like a trained model, ONNX where exact. Its
metrics are on the --holdout rows, or else on the sample rows, and say which.
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from serving.cells import MISSING_MARKERS
from serving.errors import InvalidInput
from serving.manifest import sha256_hex
from serving.schema import Feature, FeatureType
from serving.user_code import importable
from training.boosters import booster_requirements
from training.data import DataError, column, read_rows, text_columns, with_target
from training.encoders import Learned, learned_columns
from training.evaluate import evaluate
from training.export import servable_rows
from training.folder import (
    JOBLIB_NAME,
    ONNX_NAME,
    created_at,
    describe_model,
    real_example,
    write_model,
)
from training.isolation import REPO, cloud_load_problem, explain
from training.probe import UNSEEN, infer_features
from training.reasons import one_line
from training.user_code import collect

# --column-type's words for the schema's types.
COLUMN_TYPES: dict[str, FeatureType] = {
    "text": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
}


def package(args: argparse.Namespace) -> dict[str, Any]:
    """Check, describe and write the model in args.from_model; returns the manifest."""
    path: Path = args.from_model
    code = collect(args.code)
    with importable(code.files):
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
    on_dataframe = hasattr(model, "feature_names_in_")
    names = [str(n) for n in model.feature_names_in_] if on_dataframe else []
    learned = learned_columns(model, names) if on_dataframe else {}
    known = known_columns(learned, args.column_type, names, on_dataframe)
    sample = read_sample(model, args.data, args.target, known)
    overridden = {given.rpartition("=")[0] for given in args.column_type}
    check_predicts(model, sample, on_dataframe, overridden, path)
    features = infer_features(model, sample.frame, on_dataframe, learned)
    frame = sample.frame
    try:
        example = None if args.example_row is None else real_example(frame, args.example_row)
        fields, artifacts = describe_model(
            model,
            features,
            task,
            on_dataframe,
            frame,
            frame,
            example,
            f"the sample rows of {args.data.name}",
        )
    except InvalidInput as exc:
        raise DataError(f"the sample rows fail the function's own checks: {exc}") from None
    requirements = booster_requirements(model)
    if requirements and ONNX_NAME in artifacts:
        # The function serves model.onnx and needs neither booster library: prove that.
        problem = cloud_load_problem(artifacts[ONNX_NAME][1], code.files, runtime="onnx")
        requirements = []
    else:
        problem = cloud_load_problem(artifacts[JOBLIB_NAME][1], code.files, extra=requirements)
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
    if code.files:
        manifest["code"] = code.manifest_entry()
    scored = read_sample(model, args.holdout, args.target, known) if args.holdout else sample
    if scored.labels is not None:
        holdout = args.holdout is not None
        manifest["metrics"] = metrics_on(model, task, scored, features, on_dataframe, holdout)
    write_model(args.out, manifest, artifacts, code.folder_files())
    return manifest


@dataclass(frozen=True)
class Sample:
    """A CSV's feature columns in the model's order, typed, and its target labels if named."""

    source: str
    frame: pd.DataFrame
    labels: np.ndarray | None
    header: list[str]
    body: list[list[str]]

    def reread(self, name: str, known: Feature | None) -> pd.Series:
        """One column read again from its cells, as `known` says (None: by their look)."""
        return column(self.body, self.header.index(name), name, known)


def known_columns(
    learned: Mapping[str, Learned], overrides: list[str], names: list[str], on_dataframe: bool
) -> dict[str, Feature]:
    """The columns whose type is known before their cells are read: text an encoder learned
    (with the categories spelled like a missing marker), and --column-type's."""
    if overrides and not on_dataframe:
        raise DataError(
            f"--column-type {overrides[0]}: the model was fitted on an array, so every column "
            "is a number"
        )
    known = {
        name: Feature(name, "string", True, marker_categories=_markers(seen.categories))
        for name, seen in learned.items()
        if seen.text
    }
    for given in overrides:
        name, _, kind = given.rpartition("=")
        if kind not in COLUMN_TYPES or not name:
            raise DataError(
                f"--column-type {given}: expected NAME=TYPE, TYPE one of {', '.join(COLUMN_TYPES)}"
            )
        if name not in names:
            raise DataError(f"--column-type {given}: the model takes no column {name!r}")
        feature_type = COLUMN_TYPES[kind]
        seen = learned.get(name)
        if seen is not None and seen.text != (feature_type == "string"):
            raise DataError(f"--column-type {given}: {seen.describe(name)}")
        markers = _markers(seen.categories) if seen is not None else ()
        known[name] = Feature(name, feature_type, True, marker_categories=markers)
    return known


def _markers(categories: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(c for c in categories if isinstance(c, str) and c in MISSING_MARKERS)


def read_sample(
    model: Any, csv_path: Path, target: str | None, known: Mapping[str, Feature]
) -> Sample:
    """The CSV's feature columns in the model's order, read by the cell rule (a column whose
    type is known as that type), and its target labels as the model's classes are spelled.
    Rows without a target are dropped, and counted."""
    header, body = read_rows(csv_path)
    labels = None
    if target is not None:
        if target not in header:
            raise DataError(f"unknown target column {target!r}; columns: {', '.join(header)}")
        body, cells = with_target(header, body, target)
        labels = target_labels(model, cells, target, csv_path.name)
    features = [h for h in header if h != target]
    if hasattr(model, "feature_names_in_"):
        names = [str(n) for n in model.feature_names_in_]
        missing = [n for n in names if n not in features]
        if missing:
            raise DataError(
                f"{csv_path.name} lacks the column {missing[0]!r} that the model needs "
                f"({len(missing)} missing)"
            )
    elif getattr(model, "n_features_in_", None) is None:
        raise DataError(
            "the model does not say which columns it takes (it has neither feature_names_in_ "
            "nor n_features_in_): a step of your own should set them in its fit, as "
            "scikit-learn's steps do"
        )
    elif len(features) != model.n_features_in_:
        raise DataError(
            f"the model takes {model.n_features_in_} features; {csv_path.name} has "
            f"{len(features)} columns besides the target"
        )
    else:
        names = features
    if not body:
        raise DataError(f"{csv_path.name} has no rows to describe the model with")
    index = {name: header.index(name) for name in names}
    frame = pd.DataFrame({n: column(body, index[n], n, known.get(n)) for n in names})
    if not hasattr(model, "feature_names_in_") and text_columns(frame):
        raise DataError("the model was fitted on numbers only, but the sample has text columns")
    return Sample(csv_path.name, frame, labels, header, body)


def target_labels(model: Any, cells: list[str], target: str, source: str) -> np.ndarray:
    """The target cells as the model's own labels: its classes' type, or numbers for a
    regressor; one line naming both label sets when they do not match."""
    classes = getattr(model, "classes_", None) if is_classifier(model) else None
    numeric = classes is None or np.asarray(classes).dtype.kind in "biuf"
    labels: np.ndarray
    if numeric:
        try:
            labels = np.array([float(cell) for cell in cells])
        except ValueError:
            labels = np.array(cells, dtype=object)
    else:
        labels = np.array(cells, dtype=object)
    if classes is None:
        if labels.dtype == object:
            raise DataError(
                f"the target {target!r} in {source} holds text ({_listed(labels)}), but the "
                "model is a regressor, which predicts numbers"
            )
        return labels
    known = set(np.asarray(classes).tolist())
    unknown = sorted({v for v in labels.tolist() if v not in known}, key=str)
    if unknown:
        raise DataError(
            f"the target {target!r} in {source} holds labels {_listed(unknown)}, but the model's "
            f"classes are {_listed(np.asarray(classes).tolist())}"
        )
    return labels.astype(np.asarray(classes).dtype) if numeric else labels


def _listed(values: Any, most: int = 6) -> str:
    """A few values, as plain Python spells them."""
    plain = sorted({_plain(v) for v in values}, key=str)
    shown = ", ".join(str(v) for v in plain[:most])
    return shown + (f" ... ({len(plain)} in all)" if len(plain) > most else "")


def _plain(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def check_predicts(
    model: Any, sample: Sample, on_dataframe: bool, overridden: set[str], path: Path
) -> None:
    """The model predicts a sample row; else one line, naming the column and the cause when
    reading one column another way makes it predict (text as numbers, or the other way)."""
    complete = sample.frame.dropna()
    row = (complete if not complete.empty else sample.frame).iloc[:1]
    problem = _predict_problem(model, row, on_dataframe)
    if problem is None:
        _check_text_overrides(model, sample, row, overridden, path)
        return
    for name in row.columns if on_dataframe else []:
        if name in overridden:
            other = sample.reread(name, None)
        elif row[name].dtype == object:
            other = pd.to_numeric(sample.reread(name, None), errors="coerce")
        else:
            other = sample.reread(name, Feature(name, "string", True))
        changed = row.assign(**{name: other.loc[row.index].to_numpy()})
        if _predict_problem(model, changed, on_dataframe) is not None:
            continue
        takes = "text" if other.dtype == object else "numbers"
        if name in overridden:
            given = "numbers" if takes == "text" else "text"
            raise DataError(
                f"--column-type {name}: {path.name} cannot predict with {name!r} read as "
                f"{given}; it takes {name!r} as {takes} ({problem})"
            )
        raise DataError(
            f"{path.name} cannot predict the sample rows: it takes {name!r} as {takes}, but its "
            f"sample cells read as {'numbers' if takes == 'text' else 'text'}; pass "
            f"--column-type {name}={'text' if takes == 'text' else 'number'} ({problem})"
        )
    raise DataError(f"{path.name} cannot predict the sample rows: {problem}")


def _check_text_overrides(
    model: Any, sample: Sample, row: pd.DataFrame, overridden: set[str], path: Path
) -> None:
    """Refuse `--column-type NAME=text` for a column the model reads as numbers: it cannot
    take a word there, and it predicts on the cells read as numbers."""
    for name in overridden:
        if sample.frame[name].dtype != object:
            continue
        word = _predict_problem(model, row.assign(**{name: [UNSEEN]}), True)
        numbers = pd.to_numeric(sample.reread(name, None), errors="coerce").loc[row.index]
        if (
            word is not None
            and _predict_problem(model, row.assign(**{name: numbers}), True) is None
        ):
            raise DataError(
                f"--column-type {name}: {path.name} cannot predict with {name!r} read as text; "
                f"it takes {name!r} as numbers ({word})"
            )


def _predict_problem(model: Any, frame: pd.DataFrame, on_dataframe: bool) -> str | None:
    """None when the model predicts on the rows; else its error, in one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.predict(frame if on_dataframe else frame.to_numpy(dtype=np.float64))
    except Exception as exc:
        return one_line(exc)
    return None


def metrics_on(
    model: Any,
    task: str,
    scored: Sample,
    features: list[Feature],
    on_dataframe: bool,
    holdout: bool,
) -> dict[str, Any]:
    """The metrics on the servable rows of `scored`, and which rows they are."""
    assert scored.labels is not None
    servable = servable_rows(scored.frame, features)
    rows = servable if on_dataframe else servable.to_numpy(dtype=np.float64)
    labels = scored.labels[scored.frame.index.get_indexer(servable.index)]
    if holdout:
        measured_on = f"the {len(servable)} held-out rows of {scored.source} (--holdout)"
    else:
        measured_on = (
            f"the {len(servable)} sample rows of {scored.source} (may include training rows)"
        )
    return {**evaluate(model, task, rows, labels), "measured_on": measured_on}


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
            raise DataError(f"cannot read {path.name}: {one_line(exc)}") from None
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
