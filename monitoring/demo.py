"""A worked example on real data: a penguin classifier, its training statistics, and log files.

    python -m monitoring.demo OUTDIR

writes OUTDIR/model/manifest.json (with training_statistics), OUTDIR/held_out.jsonl (held-out
rows scored by the model, one log entry per 5 rows) and OUTDIR/shifted.jsonl (the same rows with
bill_length_mm moved by three training standard deviations and every fourth island renamed to
one never seen in training). Training needs scikit-learn and palmerpenguins (dev requirements).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitoring.entries import prediction_log_entry
from training.statistics import training_statistics

MODEL_VERSION = "penguins-demo"
NEW_ISLAND = "<Atlantis>"
SHIFTED = "bill_length_mm"
PENGUIN_FEATURES: list[dict[str, Any]] = [
    {"name": "island", "type": "string", "nullable": False,
     "categories": ["Biscoe", "Dream", "Torgersen"]},
    {"name": "bill_length_mm", "type": "number", "nullable": True},
    {"name": "bill_depth_mm", "type": "number", "nullable": True},
    {"name": "flipper_length_mm", "type": "number", "nullable": True},
    {"name": "body_mass_g", "type": "number", "nullable": True},
    {"name": "sex", "type": "string", "nullable": True, "categories": ["female", "male"]},
    {"name": "year", "type": "integer", "nullable": False},
]  # fmt: skip


def penguin_model() -> tuple[Any, Any, Any, dict[str, Any]]:
    """(fitted pipeline, training frame, held-out frame, manifest with training_statistics)."""
    from palmerpenguins import load_penguins
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = load_penguins()
    names = [f["name"] for f in PENGUIN_FEATURES]
    text = [f["name"] for f in PENGUIN_FEATURES if f["type"] == "string"]
    numbers = [n for n in names if n not in text]
    train, held_out = train_test_split(data, test_size=0.25, random_state=0, stratify=data.species)
    prepare = ColumnTransformer([
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore")), text),
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
    ])  # fmt: skip
    model = make_pipeline(prepare, LogisticRegression(max_iter=2000))
    model.fit(train[names], train.species)
    classes = [str(c) for c in model.classes_]
    manifest = {
        "name": "penguins",
        "model_version": MODEL_VERSION,
        "task": "classification",
        "classes": classes,
        "features": PENGUIN_FEATURES,
        "feature_names": names,
        "training_statistics": training_statistics(
            train, PENGUIN_FEATURES, list(model.predict(train[names])), "classification", classes
        ),
    }
    return model, train, held_out, manifest


def log_lines(model: Any, frame: Any, model_version: str, per_entry: int = 5) -> list[str]:
    """One stdout log line per `per_entry` rows, outputs from the model itself."""
    names = [f["name"] for f in PENGUIN_FEATURES]
    lines = []
    for start in range(0, len(frame), per_entry):
        chunk = frame[names].iloc[start : start + per_entry]
        rows = [{k: json_value(v) for k, v in row.items()} for row in chunk.to_dict("records")]
        outputs = [str(o) for o in model.predict(chunk)]
        entry = prediction_log_entry(model_version, f"req-{start}", rows, outputs)
        lines.append(json.dumps(entry, sort_keys=True))
    return lines


def shifted(frame: Any, train: Any) -> Any:
    moved = frame.copy()
    moved[SHIFTED] = moved[SHIFTED] + 3 * train[SHIFTED].std()
    moved.loc[moved.index[::4], "island"] = NEW_ISLAND
    return moved


def json_value(value: Any) -> Any:
    """NaN and pandas' missing values as JSON null; numpy scalars as plain numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def write_demo(folder: Path) -> None:
    model, train, held_out, manifest = penguin_model()
    (folder / "model").mkdir(parents=True, exist_ok=True)
    (folder / "model" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for name, frame in (("held_out", held_out), ("shifted", shifted(held_out, train))):
        lines = log_lines(model, frame, MODEL_VERSION)
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m monitoring.demo OUTDIR", file=sys.stderr)
        return 2
    write_demo(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
