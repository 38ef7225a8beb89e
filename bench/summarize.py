"""Several `compare.py --json` runs in one table: medians, with per-run ratios to the baseline.

    python bench/summarize.py run1.json run2.json run3.json

Each cell is the median of the runs' figures and, beside it, the median of the per-run ratios
to the baseline (each run's ratio listed). Then the same ratios between the 2-worker columns
and from one onnx process to two. This is how BENCHMARKS.md's compare tables are made.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

LABELS = {
    "cold_start_s": "cold start, spawn to first answer (s)",
    "p50_ms": "p50 one row, concurrency 1 (ms)",
    "p99_ms": "p99 one row, concurrency 1 (ms)",
    "rows_1000_ms": "one 1000-row request (ms)",
    "requests_per_s": "requests/s, wrk concurrency 8",
    "peak_rss_mb": "peak RSS, process tree (MB)",
    "pss_mb": "PSS, process tree (MB)",
}
PAIRS = (("onnx 2 workers", "baseline 2 workers"), ("onnx 2 workers", "onnx"))


def ratios(runs: list[dict[str, Any]], variant: str, base: str, figure: str) -> list[float]:
    return [run[variant][figure] / run[base][figure] for run in runs]


def cell(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def measured(runs: list[dict[str, Any]]) -> list[str]:
    """The figures every run measured (requests/s needs wrk, which a machine may lack)."""
    return [f for f in LABELS if all(f in run[v] for run in runs for v in run)]


def table(runs: list[dict[str, Any]]) -> list[str]:
    """The markdown table of every variant against the baseline."""
    names = list(runs[0])
    lines = ["| figure | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for figure in measured(runs):
        label = LABELS[figure]
        cells = [cell(statistics.median(run["baseline"][figure] for run in runs))]
        for name in names[1:]:
            each = ratios(runs, name, "baseline", figure)
            listed = ", ".join(f"{r:.2f}" for r in each)
            median = cell(statistics.median(run[name][figure] for run in runs))
            cells.append(f"{median} (x{statistics.median(each):.2f}; runs {listed})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    runs = [json.loads(Path(path).read_text()) for path in sys.argv[1:]]
    if not runs:
        raise SystemExit(__doc__)
    print("\n".join(table(runs)))
    for variant, base in PAIRS:
        if variant in runs[0] and base in runs[0]:
            print(f"\n{variant} / {base}:")
            for figure in measured(runs):
                each = ratios(runs, variant, base, figure)
                listed = ", ".join(f"{r:.2f}" for r in each)
                print(f"  {figure}: x{statistics.median(each):.2f} (runs {listed})")


if __name__ == "__main__":
    main()
