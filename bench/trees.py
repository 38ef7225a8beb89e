"""Tree ensembles on ONNX against the ten-line handler: cold start, peak memory, one-row p50.

    python bench/trees.py            # the full run recorded in BENCHMARKS.md (~8 minutes)
    python bench/trees.py --quick    # a short smoke run (CI: --estimator random_forest)

train.py fits a 100-tree RandomForestClassifier (`--estimator random_forest`) and a default
HistGradientBoostingClassifier (`--estimator hist_gradient_boosting`) on breast_cancer (the
dataset scikit-learn ships), each into a temp folder with its exact model.onnx. A third model,
`dataframe_random_forest`, is the same 100-tree forest fitted by a user on breast_cancer loaded
`as_frame=True` (column names with spaces) and packaged with `train.py --from-model`. Each
model file is served three ways by a real functions-framework server: the ten-line handler
(bench/baseline/main.py, `joblib.load` of the same model.joblib; for the DataFrame model the
pandas one, bench/baseline/dataframe_main.py, sent the rows as objects) and this project with
MODEL_RUNTIME=onnx and sklearn. `xgboost_pipeline` is bench/boosters.py's XGBClassifier pipeline
on palmerpenguins (no xgboost in the function's environment on ONNX), so that
`--estimator dataframe_random_forest --estimator xgboost_pipeline` measures both DataFrame
models of issue 24 in one run. Per model, the cold starts take turns between the variants;
then the three warm servers run side by side and take turns, a block of one-row requests each.
Figures are medians, each printed with its ratio to the baseline of the same model and run;
the three must answer the same labels for every row of the dataset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from boosters import every_row, packaged_xgboost_pipeline
from common import sample_rows, trained_model, variants
from compare import cold_starts, report, side_by_side
from penguins import BODY

# train.py's --estimator for each model measured (its forest has 100 trees), and the forest
# fitted on a DataFrame and packaged with --from-model.
ESTIMATORS = (
    "random_forest",
    "hist_gradient_boosting",
    "dataframe_random_forest",
    "xgboost_pipeline",
)
# Every row of breast_cancer, for the agreement check.
DATASET_ROWS = 569


@contextlib.contextmanager
def served_model(estimator: str) -> Iterator[tuple[Path, str, bytes, bytes]]:
    """The model folder, the ten-line handler for it, a one-row body and an every-row body."""
    if estimator == "dataframe_random_forest":
        with dataframe_forest() as (model_dir, records):
            yield (
                model_dir,
                "dataframe_main.py",
                json.dumps({"instances": records[:1]}).encode(),
                json.dumps({"instances": records}).encode(),
            )
        return
    if estimator == "xgboost_pipeline":
        with packaged_xgboost_pipeline() as model_dir:
            yield model_dir, "dataframe_main.py", BODY, every_row()
        return
    with trained_model("--estimator", estimator) as model_dir:
        body = variants(model_dir)[0].body
        rows = sample_rows(model_dir, DATASET_ROWS)
        yield model_dir, "main.py", body(rows[:1]), body(rows)


@contextlib.contextmanager
def dataframe_forest() -> Iterator[tuple[Path, list[dict[str, float]]]]:
    """A user's 100-tree forest fitted on breast_cancer as a DataFrame, packaged by
    train.py --from-model into a temp folder; its rows as objects keyed by column."""
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    import train

    loaded = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0)
    model.fit(loaded.data, loaded.target)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        joblib.dump(model, work / "forest.joblib")
        loaded.frame.to_csv(work / "sample.csv", index=False)
        args = ["--from-model", str(work / "forest.joblib"), "--data", str(work / "sample.csv")]
        if train.main([*args, "--target", "target", "--out", str(work / "model")]) != 0:
            raise SystemExit("train.py --from-model could not package the DataFrame forest")
        yield work / "model", loaded.data.to_dict(orient="records")


def measure_model(estimator: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Train one model, then its cold starts and its warm servers side by side."""
    with served_model(estimator) as (model_dir, baseline, one_row, every_row):
        if not (model_dir / "model.onnx").exists():
            raise SystemExit(f"train.py wrote no model.onnx for {estimator}")
        candidates = variants(model_dir, baseline=baseline)
        starts = cold_starts(candidates, one_row, args.starts)
        results, answers = side_by_side(
            candidates, one_row, starts, (args.rounds, args.requests, args.warmup), every_row
        )
    if len({json.dumps(answer) for answer in answers.values()}) != 1:
        raise SystemExit(f"{estimator}: the variants disagree on the dataset's rows")
    print(f"{estimator}: every variant answers the same {len(answers['baseline'])} labels")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        action="append",
        help="measure this model (repeatable; default: all)",
    )
    args = parser.parse_args()
    full = not args.quick
    args.starts = 7 if full else 1
    args.rounds = 10 if full else 1
    args.requests = 300 if full else 50
    args.warmup = 20 if full else 5
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    figures = {}
    for estimator in args.estimator or ESTIMATORS:
        figures[estimator] = measure_model(estimator, args)
        print(f"{estimator}\n{report(figures[estimator])}", flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
