"""The palmerpenguins table as users send it: the CSV, chosen rows as a DataFrame, JSON records,
and a user's own training script run on it as a separate program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import palmerpenguins
import pandas as pd

PENGUINS = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
TEXT = ["island", "sex"]
# Rows with every kind of gap: all numbers missing (3), sex missing (8, 9), and complete rows.
ROWS = [3, 8, 9, 0, 150, 200, 300, 343]
# train.py's arguments for the penguins classifier (add --out).
TRAIN_ARGS = ("--data", str(PENGUINS), "--target", "species")


def penguins(rows: list[int] = ROWS) -> pd.DataFrame:
    """Rows of the real penguins CSV as the user's script reads them (text as object)."""
    frame = pd.read_csv(PENGUINS).drop(columns="species").iloc[rows]
    frame[TEXT] = frame[TEXT].astype(object)
    return frame.reset_index(drop=True)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON rows keyed by feature name, null for a gap."""
    return [
        {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def run_user_script(script: str, folder: Path, *args: str) -> None:
    """The user's own training script, run as a separate program in its own folder."""
    (folder / "user_script.py").write_text(script)
    done = subprocess.run(
        [sys.executable, "user_script.py", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
