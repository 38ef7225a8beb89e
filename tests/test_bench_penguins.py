"""bench/penguins.py's seconds-long smoke mode runs end to end (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_penguins_quick_measures_every_variant(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"

    output = subprocess.run(
        [sys.executable, "penguins.py", "--quick", "--json", str(figures_path)],
        cwd=REPO / "bench",
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout

    assert "every variant answers ['Gentoo']" in output
    figures = json.loads(figures_path.read_text())
    assert set(figures) == {"baseline", "onnx", "sklearn"}
    expected = {"cold_start_s", "p50_ms", "p99_ms", "peak_rss_mb", "pss_mb"}
    for variant, values in figures.items():
        assert set(values) == expected, variant
        assert all(value > 0 for value in values.values()), variant
