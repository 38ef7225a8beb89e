"""Train a scikit-learn pipeline, or package one trained elsewhere, into a verified model folder.

Examples:
    python train.py                                      # breast-cancer classifier into model/
    python train.py --dataset diabetes                   # a regression model
    python train.py --data penguins.csv --target species # a CSV with text columns and gaps
    python train.py --from-model model.joblib --data sample.csv --target species
    python train.py --from-model model.joblib --data sample.csv --target species \
        --code user_features.py --holdout test.csv --column-type zip=text
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from serving.manifest import MANIFEST_NAME, sha256_hex
from serving.schema import Feature
from training import package
from training.data import (
    BUILTIN_DATASETS,
    DataError,
    Dataset,
    load_builtin,
    load_csv,
    text_columns,
)
from training.data import fingerprint as table_fingerprint
from training.evaluate import evaluate
from training.folder import ONNX_NAME, created_at, describe_model, real_example, write_model
from training.probe import infer_features

ESTIMATORS = {
    ("classification", "linear"): lambda seed: LogisticRegression(max_iter=5000),
    ("classification", "random_forest"): lambda seed: RandomForestClassifier(
        n_estimators=100, random_state=seed
    ),
    ("classification", "hist_gradient_boosting"): lambda seed: HistGradientBoostingClassifier(
        random_state=seed
    ),
    ("regression", "linear"): lambda seed: Ridge(),
    ("regression", "random_forest"): lambda seed: RandomForestRegressor(
        n_estimators=100, random_state=seed
    ),
    ("regression", "hist_gradient_boosting"): lambda seed: HistGradientBoostingRegressor(
        random_state=seed
    ),
}
MIN_ROWS = 10


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; every option explains itself in --help."""
    parser = argparse.ArgumentParser(
        description="Train a scikit-learn Pipeline (preprocessing + estimator), or package a "
        "fitted model trained elsewhere (--from-model), and write a model folder: "
        "manifest.json (version, hashes, typed features, metrics), model.joblib, and "
        "model.onnx when the ONNX export answers like scikit-learn on the held-out rows.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=sorted(BUILTIN_DATASETS),
        default="breast_cancer",
        help="a dataset shipped inside scikit-learn (diabetes is regression, others classify; "
        "default: %(default)s)",
    )
    source.add_argument(
        "--data",
        type=Path,
        help="a CSV file with a header row (text columns and empty or NA cells are fine); "
        "needs --target to train, is the sample rows with --from-model",
    )
    parser.add_argument("--target", help="the CSV column to predict (with --data)")
    parser.add_argument(
        "--from-model",
        type=Path,
        metavar="FILE",
        help="package this fitted estimator or pipeline (.joblib, .pkl or .skops) instead of "
        "training; --data gives sample rows for its schema and the ONNX parity check",
    )
    parser.add_argument(
        "--trusted",
        action="append",
        default=[],
        metavar="TYPE",
        help="with a .skops file: a type skops does not trust by default that you trust "
        "(repeat for each)",
    )
    parser.add_argument(
        "--column-type",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help="read the CSV column NAME as TYPE (text, number, integer or boolean) whatever its "
        "cells look like; for the rare column the model's encoders do not tell (repeat for each)",
    )
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="with --from-model: your own module (FILE.py) or package (DIR) that the pickle "
        "needs, shipped with the model and importable only while it is loaded (repeat for each)",
    )
    parser.add_argument(
        "--holdout",
        type=Path,
        metavar="CSV",
        help="with --from-model and --target: rows the model did not see in training, for "
        "its metrics (default: the --data sample rows, which may include training rows)",
    )
    parser.add_argument(
        "--force-version",
        action="store_true",
        help="with --from-model: package a model pickled with another scikit-learn version "
        "than requirements.txt serves (default: refuse)",
    )
    parser.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: classification when the CSV target is text or has at most 20 "
        "distinct integers, regression otherwise (default: %(default)s)",
    )
    parser.add_argument(
        "--estimator",
        choices=("linear", "random_forest", "hist_gradient_boosting"),
        default="linear",
        help="linear: LogisticRegression or Ridge; random_forest: a 100-tree forest; "
        "hist_gradient_boosting: HistGradientBoosting (default: %(default)s)",
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
    parser.add_argument(
        "--example-row",
        type=int,
        metavar="N",
        help="publish row N of the data (1 = the first row after the header, as train.py reads "
        "it) as the example on the model card and GET /; default: a synthetic row of medians "
        "and most common values, never a real row",
    )
    args = parser.parse_args(argv)
    if args.from_model is not None and args.data is None:
        parser.error("--from-model needs --data SAMPLE.csv (rows the model takes)")
    if args.from_model is None and args.data is not None and not args.target:
        parser.error("--data needs --target COLUMN")
    if args.target and args.data is None:
        parser.error("--target is only used with --data FILE.csv")
    if args.from_model is None and (args.code or args.holdout):
        parser.error("--code and --holdout are only used with --from-model")
    if args.holdout and not args.target:
        parser.error("--holdout needs --target COLUMN")
    if not 0 < args.test_size < 1:
        parser.error("--test-size must be between 0 and 1")
    return args


def column_types(given: list[str]) -> dict[str, Feature]:
    """--column-type NAME=TYPE as the columns whose type is known."""
    return package.known_columns({}, given, [g.rpartition("=")[0] for g in given], True)


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
    return table_fingerprint(data.features, data.target)


def build_pipeline(task: str, estimator: str, seed: int, data: Dataset) -> Pipeline:
    """Preprocessing + estimator: scaling for numbers; for tables with text or gaps, numbers
    imputed (median) and scaled, text imputed and one-hot encoded (unknown text ignored)."""
    model: BaseEstimator = ESTIMATORS[(task, estimator)](seed)
    if not data.tabular:
        return Pipeline([("scale", StandardScaler()), ("model", model)])
    frame = data.features
    text = text_columns(frame)
    numbers = [name for name in frame.columns if name not in text]
    prepare = ColumnTransformer(
        [
            (
                "numbers",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numbers,
            ),
            (
                "text",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                        (
                            "encode",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                        ),
                    ]
                ),
                text,
            ),
        ]
    )
    return Pipeline([("prepare", prepare), ("model", model)])


def model_input(data: Dataset, frame: pd.DataFrame) -> Any:
    """What the pipeline is fitted on: the DataFrame for tables, else its float64 matrix."""
    return frame if data.tabular else frame.to_numpy(dtype=np.float64)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and write the model folder; returns the manifest."""
    if args.data:
        data = load_csv(args.data, args.target, args.task, column_types(args.column_type))
    else:
        data = load_builtin(args.dataset)
    if args.task != "auto" and data.task != args.task:
        data = data.with_task(args.task)
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
    pipeline = build_pipeline(data.task, args.estimator, args.seed, data)
    pipeline.fit(model_input(data, x_train), y_train)
    scores = evaluate(pipeline, data.task, model_input(data, x_test), y_test)
    data_sha256 = fingerprint(data)
    identity = sha256_hex(f"{data_sha256}{pipeline!r}{args.seed}{args.test_size}".encode())
    features = infer_features(pipeline, data.features, data.tabular)
    example = None if args.example_row is None else real_example(data.features, args.example_row)
    fields, artifacts = describe_model(
        pipeline, features, data.task, data.tabular, x_test, x_train, example
    )
    stamp = created_at()
    manifest: dict[str, Any] = {
        "format": fields.pop("format"),
        "name": args.name or data.name,
        "model_version": args.version or f"{stamp[:10].replace('-', '')}-{identity[:8]}",
        "created_at": stamp,
        **fields,
        "metrics": scores,
        "test_split": {"fraction": args.test_size, "seed": args.seed, "rows": len(y_test)},
        "training_data": {"source": data.source, "rows": len(data.target), "sha256": data_sha256},
    }
    write_model(args.out, manifest, artifacts)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and a non-zero exit on bad input."""
    args = parse_args(argv)
    try:
        manifest = package.package(args) if args.from_model is not None else train(args)
    except DataError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 1
    verb = "packaged" if args.from_model is not None else "trained"
    print(f"{verb} {manifest['name']} {manifest['model_version']} ({manifest['task']})")
    for name, value in manifest.get("metrics", {}).items():
        print(f"  {name}: {value}")
    runtime = "onnx" if ONNX_NAME in manifest["artifacts"] else "sklearn"
    print(f"  served by the {runtime} runtime")
    if manifest.get("requirements"):
        pins = ", ".join(manifest["requirements"])
        print(f"  which needs {pins} beside requirements.txt (in the manifest; deploy adds it)")
    manifest_sha = sha256_hex((args.out / MANIFEST_NAME).read_bytes())
    print(f"wrote {args.out}/ (manifest sha256 {manifest_sha}: set MODEL_SHA256 to pin it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
