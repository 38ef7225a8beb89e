"""bench/trees.py's smoke mode runs end to end on the forest (no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench_quick import run_quick


def test_trees_quick_measures_every_variant_of_the_forest(tmp_path: Path) -> None:
    figures, output = run_quick("trees.py", tmp_path, "--estimator", "random_forest")

    assert "random_forest: every variant answers the same 569 labels" in output
    assert list(figures) == ["random_forest"]
    assert set(figures["random_forest"]) == {"baseline", "onnx", "sklearn"}
    expected = {"cold_start_s", "p50_ms", "p99_ms", "peak_rss_mb", "pss_mb"}
    for variant, values in figures["random_forest"].items():
        assert set(values) == expected, variant
        assert all(value > 0 for value in values.values()), variant
