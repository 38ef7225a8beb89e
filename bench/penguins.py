"""A mixed-type model (text columns and gaps) against the ten-line pandas handler.

    python bench/penguins.py            # the full run recorded in BENCHMARKS.md (~3 minutes)
    python bench/penguins.py --quick    # a seconds-long smoke run (CI)

train.py fits its ColumnTransformer pipeline (numbers imputed and scaled, text imputed and
one-hot encoded) + LogisticRegression on palmerpenguins' CSV, into a temp folder. The same
model.joblib is served by the ten-line handler a user would write for it
(bench/baseline/dataframe_main.py: a pandas DataFrame from the JSON instances, then
model.predict), and the folder by this project with MODEL_RUNTIME=onnx and sklearn. One request
shape for all three: one penguin with a text field and a null. Cold starts take turns between
the variants; then the three warm servers run side by side and take turns, a block of requests
each. Figures are medians, each printed with its ratio to the baseline of the same run; the
three must answer the same label.
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

# docs/models.md's example: island is text, sex is missing.
PENGUIN = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 215,
    "body_mass_g": 5000,
    "sex": None,
    "year": 2008,
}
BODY = json.dumps({"instances": [PENGUIN]}).encode()


def penguins_csv() -> Path:
    """The CSV the palmerpenguins package ships (no download)."""
    import palmerpenguins

    return Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"


@contextlib.contextmanager
def trained_penguins() -> Iterator[Path]:
    """train.py on the penguins CSV (target: species), in a temp folder that lasts the block."""
    import train  # scikit-learn: only once the benchmark really starts

    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder) / "model"
        args = ["--data", str(penguins_csv()), "--target", "species", "--out", str(model_dir)]
        if train.main(args) != 0:
            raise SystemExit("train.py could not train the penguins model")
        if not (model_dir / "model.onnx").exists():
            raise SystemExit("train.py wrote no model.onnx for the penguins model")
        yield model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    full = not args.quick
    starts_each = 7 if full else 1
    args.rounds = 10 if full else 1
    args.requests = 300 if full else 50
    args.warmup = 20 if full else 5
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with trained_penguins() as model_dir:
        # The ten-line handler a user writes for a DataFrame model.
        candidates = variants(model_dir, baseline="dataframe_main.py")
        starts = cold_starts(candidates, BODY, starts_each)
        results, answers = side_by_side(
            candidates, BODY, starts, (args.rounds, args.requests, args.warmup)
        )
    if len({json.dumps(answer) for answer in answers.values()}) != 1:
        raise SystemExit(f"the variants disagree on the penguin: {answers}")
    print(f"every variant answers {answers['baseline']}")
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
