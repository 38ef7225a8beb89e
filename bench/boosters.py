"""An XGBClassifier pipeline fitted on a DataFrame against the ten-line pandas handler.

    python bench/boosters.py            # the full run recorded in BENCHMARKS.md (~5 minutes)
    python bench/boosters.py --quick    # a seconds-long smoke run

The pipeline a user writes for XGBoost on palmerpenguins' CSV (numbers scaled with their gaps
kept, `island` and `sex` imputed and one-hot encoded, XGBClassifier with its defaults: 100
rounds of depth 6) is fitted here, dumped with joblib and packaged by
`train.py --from-model`, which converts it to an exact model.onnx. The same model.joblib is
served by the ten-line handler (bench/baseline/dataframe_main.py, which needs xgboost
installed beside it), and the folder by this project with MODEL_RUNTIME=onnx (no xgboost
imported) and sklearn. Request, turns and figures as in bench/penguins.py; the three must
answer the same label for the penguin and for every row of the CSV.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import variants
from compare import cold_starts, report, side_by_side
from penguins import BODY, penguins_csv

TEXT = ["island", "sex"]


@contextlib.contextmanager
def packaged_xgboost_pipeline() -> Iterator[Path]:
    """The user's XGBoost pipeline, fitted, dumped and packaged into a temp folder."""
    import joblib
    import pandas as pd
    import xgboost
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import train

    frame = pd.read_csv(penguins_csv())
    frame[TEXT] = frame[TEXT].astype(object)
    species = frame.pop("species").astype("category").cat.codes.to_numpy()
    text = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    numbers = [name for name in frame.columns if name not in TEXT]
    prepare = ColumnTransformer([("numbers", StandardScaler(), numbers), ("text", text, TEXT)])
    model = make_pipeline(prepare, xgboost.XGBClassifier()).fit(frame, species)
    with tempfile.TemporaryDirectory() as folder:
        joblib.dump(model, Path(folder) / "xgboost_pipeline.joblib")
        model_dir = Path(folder) / "model"
        args = ["--from-model", str(Path(folder) / "xgboost_pipeline.joblib")]
        if train.main([*args, "--data", str(penguins_csv()), "--out", str(model_dir)]) != 0:
            raise SystemExit("train.py could not package the XGBoost pipeline")
        if not (model_dir / "model.onnx").exists():
            raise SystemExit("train.py wrote no model.onnx for the XGBoost pipeline")
        yield model_dir


def every_row() -> bytes:
    """The CSV's rows as one request (gaps as null), for the agreement check."""
    import pandas as pd

    frame = pd.read_csv(penguins_csv()).drop(columns="species")
    rows = json.loads(frame.to_json(orient="records"))
    return json.dumps({"instances": rows}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    full = not args.quick
    rounds = (10, 300, 20) if full else (1, 50, 5)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with packaged_xgboost_pipeline() as model_dir:
        candidates = variants(model_dir, baseline="dataframe_main.py")
        starts = cold_starts(candidates, BODY, 7 if full else 1)
        results, answers = side_by_side(candidates, BODY, starts, rounds, every_row())
    if len({json.dumps(answer) for answer in answers.values()}) != 1:
        raise SystemExit("the variants disagree on the CSV's rows")
    print(f"every variant answers the same {len(answers['baseline'])} labels")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
