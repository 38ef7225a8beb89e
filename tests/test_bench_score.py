"""bench/score_throughput.py's seconds-long smoke mode runs end to end (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_score_throughput_quick_measures_every_figure(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"

    subprocess.run(
        [sys.executable, "score_throughput.py", "--quick", "--json", str(figures_path)],
        cwd=REPO / "bench",
        check=True,
        capture_output=True,
        timeout=300,
    )

    figures = json.loads(figures_path.read_text())
    assert set(figures) == {
        "bare_sender_rows_per_s",
        "score_py_rows_per_s",
        "batch_500_ms_per_row",
        "single_row_ms_per_row",
        "csv_batch_500_ms_per_row",
        "score_py_vs_bare",
        "single_vs_batch_per_row",
    }
    assert all(value > 0 for value in figures.values())
