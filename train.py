"""Train a scikit-learn Pipeline and write a verified model folder (manifest.json + artifacts).

Examples:
    python train.py                                   # breast-cancer classifier into model/
    python train.py --dataset diabetes                # a regression model
    python train.py --data houses.csv --target price  # your own CSV (header row = feature names)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn import datasets, metrics
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from serving.manifest import FORMAT_VERSION, MANIFEST_NAME, sha256_hex
from serving.runtimes.onnx_runtime import DECISION_OUTPUT

BUILTIN_DATASETS = {
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "iris": (datasets.load_iris, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}
ESTIMATORS = {
    ("classification", "linear"): lambda seed: LogisticRegression(max_iter=5000),
    ("classification", "random_forest"): lambda seed: RandomForestClassifier(
        n_estimators=100, random_state=seed
    ),
    ("regression", "linear"): lambda seed: Ridge(),
    ("regression", "random_forest"): lambda seed: RandomForestRegressor(
        n_estimators=100, random_state=seed
    ),
}
MIN_ROWS = 10
JOBLIB_NAME = "model.joblib"
ONNX_NAME = "model.onnx"
# The tensor skl2onnx's linear classifiers compute their decision values in.
RAW_SCORES = "raw_scores"
# ONNX parity: labels must be equal; probabilities and regression values within this.
PARITY_TOLERANCE = 1e-9


class DataError(Exception):
    """Bad training input: reported as one line, no traceback."""


@dataclass(frozen=True)
class Dataset:
    """Features, target and where they came from."""

    name: str
    source: str
    feature_names: list[str]
    features: np.ndarray
    target: np.ndarray
    task: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; every option explains itself in --help."""
    parser = argparse.ArgumentParser(
        description="Train a scikit-learn Pipeline (StandardScaler + estimator) and write "
        "a model folder: manifest.json (version, hashes, features, metrics), model.joblib "
        "and model.onnx when the ONNX export matches scikit-learn on the held-out rows.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=sorted(BUILTIN_DATASETS),
        default="breast_cancer",
        help="a dataset shipped inside scikit-learn (diabetes is regression, others classify; "
        "default: %(default)s)",
    )
    source.add_argument("--data", type=Path, help="a CSV file with a header row; needs --target")
    parser.add_argument("--target", help="the CSV column to predict (with --data)")
    parser.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: classification when the CSV target is text or has at most 20 "
        "distinct integers, regression otherwise (default: %(default)s)",
    )
    parser.add_argument(
        "--estimator",
        choices=("linear", "random_forest"),
        default="linear",
        help="linear: LogisticRegression or Ridge; random_forest: a 100-tree forest "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("model"),
        help="model folder to write (default: %(default)s)",
    )
    parser.add_argument("--name", help="model name (default: the dataset or CSV file name)")
    parser.add_argument(
        "--version",
        help="model_version (default: UTC date + 8 hex of the data and estimator fingerprint)",
    )
    parser.add_argument(
        "--test-size", type=float, default=0.2, help="held-out fraction (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed for split and model (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.data is not None and not args.target:
        parser.error("--data needs --target COLUMN")
    if args.target and args.data is None:
        parser.error("--target is only used with --data FILE.csv")
    if not 0 < args.test_size < 1:
        parser.error("--test-size must be between 0 and 1")
    return args


def load_builtin(name: str) -> Dataset:
    """A dataset bundled with scikit-learn (no download)."""
    loader, task = BUILTIN_DATASETS[name]
    bunch = loader()
    return Dataset(
        name=name.replace("_", "-"),
        source=f"sklearn.datasets.load_{name}",
        feature_names=[str(n) for n in bunch.feature_names],
        features=np.asarray(bunch.data, dtype=np.float64),
        target=np.asarray(bunch.target),
        task=task,
    )


def load_csv(path: Path, target: str, task: str) -> Dataset:
    """A CSV with a header row; every column but the target must be numeric."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DataError(f"data file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not rows or not any(rows[0]):
        raise DataError(f"{path} is empty; expected a header row and data rows")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    if target not in header:
        raise DataError(f"unknown target column {target!r}; columns: {', '.join(header)}")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"line {number} has {len(row)} values; the header has {len(header)}")
    target_index = header.index(target)
    names = [h for i, h in enumerate(header) if i != target_index]
    if not names:
        raise DataError(f"{path} has no feature columns besides {target!r}")
    columns = [_numeric_column(body, header.index(n), n) for n in names]
    labels = [row[target_index].strip() for row in body]
    return Dataset(
        name=path.stem,
        source=path.name,
        feature_names=names,
        features=np.column_stack(columns) if body else np.empty((0, len(names))),
        target=_target_array(labels, task),
        task=task if task != "auto" else _guess_task(labels),
    )


def _numeric_column(body: list[list[str]], index: int, name: str) -> np.ndarray:
    values = np.empty(len(body))
    for number, row in enumerate(body, start=2):
        try:
            values[number - 2] = float(row[index])
        except ValueError:
            raise DataError(
                f"column {name!r} is not numeric (line {number}: {row[index][:40]!r})"
            ) from None
    if not np.isfinite(values).all():
        raise DataError(f"column {name!r} has non-finite values (nan or inf)")
    return values


def _as_numbers(labels: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) for v in labels])
    except ValueError:
        return None


def _guess_task(labels: list[str]) -> str:
    numbers = _as_numbers(labels)
    if numbers is None:
        return "classification"
    is_integer = bool(np.all(numbers == np.round(numbers)))
    return "classification" if is_integer and len(set(numbers)) <= 20 else "regression"


def _target_array(labels: list[str], task: str) -> np.ndarray:
    numbers = _as_numbers(labels)
    if numbers is None:
        if task == "regression":
            raise DataError("--task regression needs a numeric target column")
        return np.array(labels)
    if task != "regression" and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return numbers


def check_trainable(data: Dataset) -> None:
    """Refuse data no honest model can be trained and tested on."""
    if len(data.target) < MIN_ROWS:
        raise DataError(f"need at least {MIN_ROWS} rows to train and test, got {len(data.target)}")
    if data.task == "classification":
        classes, counts = np.unique(data.target, return_counts=True)
        if len(classes) < 2:
            raise DataError(
                f"the target has a single class ({classes[0].item()!r}); need at least two"
            )
        if counts.min() < 2:
            rare = classes[counts.argmin()].item()
            raise DataError(f"class {rare!r} has one row; every class needs at least two")


def fingerprint(data: Dataset) -> str:
    """sha256 of the exact training table: feature names, values and target."""
    digest = hashlib.sha256()
    digest.update(json.dumps(data.feature_names).encode())
    digest.update(np.ascontiguousarray(data.features, dtype=np.float64).tobytes())
    digest.update(json.dumps(data.target.tolist()).encode())
    return digest.hexdigest()


def build_pipeline(task: str, estimator: str, seed: int) -> Pipeline:
    """Preprocessing + estimator."""
    model: BaseEstimator = ESTIMATORS[(task, estimator)](seed)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def evaluate(
    pipeline: Pipeline, task: str, x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, float]:
    """Held-out metrics."""
    predicted = pipeline.predict(x_test)
    if task == "regression":
        return {
            "r2": metrics.r2_score(y_test, predicted),
            "mae": metrics.mean_absolute_error(y_test, predicted),
            "rmse": metrics.root_mean_squared_error(y_test, predicted),
        }
    scores = {
        "accuracy": metrics.accuracy_score(y_test, predicted),
        "f1_macro": metrics.f1_score(y_test, predicted, average="macro"),
    }
    if len(pipeline.classes_) == 2:
        scores["roc_auc"] = metrics.roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1])
    return scores


def export_onnx(
    pipeline: Pipeline, task: str, x_test: np.ndarray
) -> tuple[bytes, dict[str, Any]] | None:
    """model.onnx bytes and its parity record, or None (with one line saying why)."""
    try:
        from skl2onnx import to_onnx
    except ImportError:
        print(
            "ONNX export skipped: skl2onnx is not installed (pip install -r requirements-dev.txt)"
        )
        return None
    try:
        options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if task != "regression" else {}
        graph = to_onnx(pipeline, x_test[:1], options=options)
        onnx_bytes = graph.SerializeToString()
        parity = check_parity(pipeline, task, onnx_bytes, x_test)
        with_decision = add_decision_output(graph, pipeline)
        if with_decision is not None:
            difference = check_decision_parity(pipeline, with_decision, x_test)
            if difference <= PARITY_TOLERANCE:
                onnx_bytes = with_decision
                parity["decision_function_max_abs_diff"] = difference
            else:
                print(
                    f"ONNX export: decision values left out (max difference {difference:.3g} > "
                    f"{PARITY_TOLERANCE:g}); MODEL_RUNTIME=sklearn serves them"
                )
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        print(f"ONNX export skipped: this pipeline does not convert to float64 ONNX ({reason})")
        return None
    if parity["max_abs_diff"] > PARITY_TOLERANCE or not parity["labels_equal"]:
        print(
            "ONNX export skipped: ONNX outputs differ from scikit-learn on the held-out rows "
            f"(max difference {parity['max_abs_diff']:.3g} > {PARITY_TOLERANCE:g} or labels differ)"
        )
        return None
    return onnx_bytes, parity


def add_decision_output(graph: Any, pipeline: Pipeline) -> bytes | None:
    """The graph with a `decision_function` output, where the converter computes the scores.

    skl2onnx's linear classifiers compute `raw_scores` (one column per class; for two classes
    [-score, score]) before turning them into probabilities: exposing them serves decision
    values without scikit-learn. None when the graph has no such tensor.
    """
    from onnx import ModelProto, TensorProto, helper, numpy_helper

    classes = getattr(pipeline, "classes_", None)
    produced = {name for node in graph.graph.node for name in node.output}
    if classes is None or RAW_SCORES not in produced or not hasattr(pipeline, "decision_function"):
        return None
    extended = ModelProto()
    extended.CopyFrom(graph)
    if len(classes) == 2:
        column = numpy_helper.from_array(np.array(1, dtype=np.int64), "positive_column")
        extended.graph.initializer.append(column)
        node = helper.make_node("Gather", [RAW_SCORES, column.name], [DECISION_OUTPUT], axis=1)
        shape: list[int | None] = [None]
    else:
        node = helper.make_node("Identity", [RAW_SCORES], [DECISION_OUTPUT])
        shape = [None, len(classes)]
    extended.graph.node.append(node)
    output = helper.make_tensor_value_info(DECISION_OUTPUT, TensorProto.DOUBLE, shape)
    extended.graph.output.append(output)
    return bytes(extended.SerializeToString())


def check_decision_parity(pipeline: Pipeline, onnx_bytes: bytes, x_test: np.ndarray) -> float:
    """Largest difference between the graph's decision values and the pipeline's."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (values,) = session.run([DECISION_OUTPUT], {session.get_inputs()[0].name: x_test})
    return float(np.max(np.abs(values - pipeline.decision_function(x_test))))


def check_parity(
    pipeline: Pipeline, task: str, onnx_bytes: bytes, x_test: np.ndarray
) -> dict[str, Any]:
    """Compare the ONNX graph with the pipeline on the held-out rows."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # no usage telemetry from training
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x_test})
    if task == "regression":
        expected = pipeline.predict(x_test)
        labels_equal = True
        max_diff = float(np.max(np.abs(np.ravel(outputs[0]) - expected)))
    else:
        labels_equal = bool(np.array_equal(np.ravel(outputs[0]), pipeline.predict(x_test)))
        max_diff = float(np.max(np.abs(outputs[1] - pipeline.predict_proba(x_test))))
    return {
        "rows": len(x_test),
        "labels_equal": labels_equal,
        "max_abs_diff": max_diff,
        "tolerance": PARITY_TOLERANCE,
    }


def created_at() -> str:
    """Now in UTC, or SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_model(
    out: Path, manifest: dict[str, Any], artifacts: dict[str, tuple[str, bytes]]
) -> None:
    """Write the artifacts ({name: (runtime, bytes)}), then the manifest that pins them.

    Each file goes through a temporary file and a rename, so a reader never sees half a file.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest["artifacts"] = {
        name: {"sha256": sha256_hex(data), "bytes": len(data), "runtime": runtime}
        for name, (runtime, data) in artifacts.items()
    }
    for stale in {JOBLIB_NAME, ONNX_NAME} - set(artifacts):
        (out / stale).unlink(missing_ok=True)
    files = {name: data for name, (_, data) in artifacts.items()}
    files[MANIFEST_NAME] = (json.dumps(manifest, indent=2) + "\n").encode()
    for name, data in files.items():
        temporary = out / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(out / name)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and write the model folder; returns the manifest."""
    data = load_csv(args.data, args.target, args.task) if args.data else load_builtin(args.dataset)
    if args.task != "auto" and data.task != args.task:
        data = Dataset(**{**data.__dict__, "task": args.task})
    check_trainable(data)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features,
        data.target,
        test_size=args.test_size,
        random_state=args.seed,
        stratify=data.target if data.task == "classification" else None,
    )
    if data.task == "classification" and len(np.unique(y_train)) < 2:
        raise DataError("the training split has a single class; add rows or lower --test-size")
    pipeline = build_pipeline(data.task, args.estimator, args.seed)
    pipeline.fit(x_train, y_train)
    scores = {
        k: round(float(v), 6) for k, v in evaluate(pipeline, data.task, x_test, y_test).items()
    }
    data_sha256 = fingerprint(data)
    identity = sha256_hex(f"{data_sha256}{pipeline!r}{args.seed}{args.test_size}".encode())
    stamp = created_at()
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    classes = pipeline.classes_.tolist() if data.task == "classification" else None
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "name": args.name or data.name,
        "model_version": args.version or f"{stamp[:10].replace('-', '')}-{identity[:8]}",
        "created_at": stamp,
        "task": data.task,
        "estimator": repr(pipeline),
        "feature_names": data.feature_names,
        "n_features": len(data.feature_names),
        "classes": classes,
        "metrics": scores,
        "test_split": {"fraction": args.test_size, "seed": args.seed, "rows": len(y_test)},
        "training_data": {"source": data.source, "rows": len(data.target), "sha256": data_sha256},
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
    artifacts = {JOBLIB_NAME: ("sklearn", buffer.getvalue())}
    onnx_export = export_onnx(pipeline, data.task, x_test)
    if onnx_export is not None:
        artifacts[ONNX_NAME] = ("onnx", onnx_export[0])
        manifest["onnx_parity"] = onnx_export[1]
    write_model(args.out, manifest, artifacts)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and a non-zero exit on bad input."""
    args = parse_args(argv)
    try:
        manifest = train(args)
    except DataError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"trained {manifest['name']} {manifest['model_version']} ({manifest['task']})")
    for name, value in manifest["metrics"].items():
        print(f"  {name}: {value}")
    manifest_sha = sha256_hex((args.out / MANIFEST_NAME).read_bytes())
    print(f"wrote {args.out}/ (manifest sha256 {manifest_sha}: set MODEL_SHA256 to pin it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
