"""bench/boosters.py's seconds-long smoke mode runs end to end (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench_quick import run_quick


def test_boosters_quick_measures_every_variant(tmp_path: Path) -> None:
    figures, output = run_quick("boosters.py", tmp_path)

    assert "served by the onnx runtime" in output
    assert "every variant answers the same 344 labels" in output
    assert set(figures) == {"baseline", "onnx", "sklearn"}
    expected = {"cold_start_s", "p50_ms", "p99_ms", "peak_rss_mb", "pss_mb"}
    for variant, values in figures.items():
        assert set(values) == expected, variant
        assert all(value > 0 for value in values.values()), variant
