"""bench/score_throughput.py's seconds-long smoke mode runs end to end (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench_quick import run_quick


def test_score_throughput_quick_measures_every_figure(tmp_path: Path) -> None:
    figures, _ = run_quick("score_throughput.py", tmp_path)

    assert set(figures) == {
        "bare_sender_rows_per_s",
        "score_py_rows_per_s",
        "score_py_cpu_us_per_row",
        "batch_500_ms_per_row",
        "single_row_ms_per_row",
        "csv_batch_500_ms_per_row",
        "score_py_vs_bare",
        "single_vs_batch_per_row",
    }
    assert all(value > 0 for value in figures.values())
