"""The conformance table's BigQuery ML column, from real packaged models' manifests."""

from __future__ import annotations

import json
from pathlib import Path

from bench.conformance_bigquery import bigquery_verdict


def test_a_passed_variant_reads_exact_with_its_largest_difference(
    classifier_dir: Path, ort_1_12: Path
) -> None:
    manifest = json.loads((classifier_dir / "manifest.json").read_text())
    assert manifest["bigquery_ml"]["status"] == "passed", manifest["bigquery_ml"]
    difference = manifest["bigquery_ml"]["gate"]["max_abs_diff"]
    assert bigquery_verdict(manifest) == f"exact ({difference:.1e})"


def test_other_verdicts_give_the_status_and_the_reason() -> None:
    refused = {"status": "not built", "reason": "trees with category-set splits | x"}
    assert bigquery_verdict({"bigquery_ml": refused}) == (
        "not built: trees with category-set splits / x"
    )
    assert bigquery_verdict({"bigquery_ml": {"status": "not checked"}}) == "not checked"
    assert bigquery_verdict({}) == "-"
