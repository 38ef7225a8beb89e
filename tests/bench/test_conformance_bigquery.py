"""The conformance table's BigQuery ML column, from real packaged models' manifests."""

from __future__ import annotations

import json
from pathlib import Path

from bench.conformance_bigquery import bigquery_cell, bigquery_outcome


def test_a_passed_variant_is_exact_with_its_largest_difference(
    classifier_dir: Path, ort_1_12: Path
) -> None:
    manifest = json.loads((classifier_dir / "manifest.json").read_text())
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    difference = manifest["bigquery_ml"]["gate"]["max_abs_diff"]
    assert bigquery_outcome(manifest) == (difference, "exact")
    assert bigquery_cell({"DataFrame": (difference, "exact")}) == f"exact ({difference:.1e})"


def test_other_verdicts_give_the_status_and_the_reason() -> None:
    refused = {"status": "not built", "reason": "does not convert at opset 17 | x"}
    assert bigquery_outcome({"bigquery_ml": refused}) == (
        None,
        "not built: does not convert at opset 17 / x",
    )
    assert bigquery_outcome({"bigquery_ml": {"status": "not checked"}}) == (None, "not checked")
    assert bigquery_outcome({}) == (None, "-")


def test_a_row_shows_the_largest_difference_or_each_fit_where_they_differ() -> None:
    both = {"array": (2e-16, "exact"), "DataFrame": (1e-16, "exact")}
    assert bigquery_cell(both) == "exact (2.0e-16)"
    failed = (None, "failed: labels differ")
    assert bigquery_cell({"array": failed, "DataFrame": failed}) == "failed: labels differ"
    near = {
        "array": (None, "failed: off by 3.01e-07"),
        "DataFrame": (None, "failed: off by 3.3e-07"),
    }
    assert bigquery_cell(near) == "failed: off by 3.01e-07"
    assert bigquery_cell({"array": (0.0, "exact"), "DataFrame": failed}) == (
        "array: exact; DataFrame: failed: labels differ"
    )
