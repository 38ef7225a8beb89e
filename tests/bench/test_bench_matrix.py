"""bench/format_matrix.py's seconds-long smoke mode runs end to end (no timing is asserted):
every format answers 200 on both models, and every figure is there."""

from __future__ import annotations

from pathlib import Path

from tests.support.bench_quick import run_quick

FORMATS = (
    "rows",
    "records",
    "CSV, header",
    "CSV, no header",
    "MLflow split",
    "MLflow records",
    "KServe v1",
    "OIP JSON",
    "OIP binary",
    "BigQuery",
)


def test_format_matrix_quick_measures_every_format_on_both_models(tmp_path: Path) -> None:
    figures, _ = run_quick("format_matrix.py", tmp_path)

    assert len(figures) == 2
    for model, found in figures.items():
        in_process, over_http = found["HEAD"]["in process"], found["HEAD"]["over HTTP"]
        expected = {f"{label}|{size}" for label in FORMATS for size in (1, 1000)}
        assert set(in_process) == expected, model
        assert set(over_http) == expected, model
        for key, values in in_process.items():
            assert "error" not in values, (model, key, values)
            parts = {"parse", "validate", "run", "encode"}
            assert {"total", "floor decode", "floor run", *parts} <= set(values), (model, key)
        assert all(seconds > 0 for seconds in over_http.values()), model
