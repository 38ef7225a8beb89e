"""bench/compare.py's seconds-long smoke mode runs end to end (no timing is asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.bench_quick import run_quick

REPO = Path(__file__).resolve().parents[2]


def test_compare_quick_measures_every_variant(tmp_path: Path) -> None:
    figures, _ = run_quick("compare.py", tmp_path)

    assert set(figures) == {
        "baseline",
        "onnx",
        "sklearn",
        "framework floor",
        "baseline 2 workers",
        "onnx 2 workers",
    }
    expected = {"cold_start_s", "p50_ms", "p99_ms", "rows_1000_ms", "peak_rss_mb", "pss_mb"}
    if shutil.which("wrk"):
        expected.add("requests_per_s")
    for variant, values in figures.items():
        assert set(values) == expected, variant
        assert all(value > 0 for value in values.values()), variant

    summary = subprocess.run(
        [
            sys.executable,
            "summarize.py",
            str(tmp_path / "figures.json"),
            str(tmp_path / "figures.json"),
        ],
        cwd=REPO / "bench",
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # Two identical runs: every ratio listed twice, the baseline's own cells plain figures.
    assert "| cold start, spawn to first answer (s) |" in summary
    assert "onnx 2 workers / baseline 2 workers:" in summary
    onnx_ratio = figures["onnx"]["pss_mb"] / figures["baseline"]["pss_mb"]
    assert f"(x{onnx_ratio:.2f}; runs {onnx_ratio:.2f}, {onnx_ratio:.2f})" in summary
