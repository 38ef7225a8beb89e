"""The conformance table's "BigQuery ML" column: each family's verdict from the BigQuery
variant's gate under ONNX Runtime 1.12.1, as train.py recorded it in the manifest."""

from __future__ import annotations

from typing import Any

COLUMN = "BigQuery ML"


def bigquery_verdict(manifest: dict[str, Any]) -> str:
    """ "exact (max abs diff)" when the variant passed; else its status and one-line reason."""
    record = manifest.get("bigquery_ml")
    if not isinstance(record, dict) or "status" not in record:
        return "-"
    if record["status"] == "passed":
        gate = record["gate"]
        labels = "" if gate.get("labels_equal", True) else ", labels differ"
        return f"exact ({gate['max_abs_diff']:.1e}{labels})"
    reason = str(record.get("reason", "")).replace("|", "/")
    return f"{record['status']}: {reason}" if reason else str(record["status"])
