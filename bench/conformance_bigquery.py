"""The conformance table's "BigQuery ML" column: each family's verdict from the BigQuery
variant's gate under ONNX Runtime 1.12.1, as train.py recorded it in the manifest."""

from __future__ import annotations

import re
from typing import Any

COLUMN = "BigQuery ML"
_FIGURE = re.compile(r"\d+(\.\d+)?e[-+]\d+")  # a measured difference inside a reason


def bigquery_outcome(manifest: dict[str, Any]) -> tuple[float | None, str]:
    """The gate's largest difference when the variant passed (else None), and its verdict:
    "exact", or the status and train.py's one-line reason."""
    record = manifest.get("bigquery_ml")
    if not isinstance(record, dict) or "status" not in record:
        return None, "-"
    if record["status"] == "passed":
        return float(record["gate"]["max_abs_diff"]), "exact"
    reason = str(record.get("reason", "")).replace("|", "/")
    return None, f"{record['status']}: {reason}" if reason else str(record["status"])


def bigquery_cell(outcomes: dict[str, tuple[float | None, str]]) -> str:
    """One cell for a family's variants ({"array": ..., "DataFrame": ...}): "exact (largest
    difference)" when every variant passed, one verdict when they agree (but for a measured
    figure), else each one."""
    if all(difference is not None for difference, _ in outcomes.values()):
        largest = max(difference for difference, _ in outcomes.values() if difference is not None)
        return f"exact ({largest:.1e})"
    verdicts = {kind: verdict for kind, (_, verdict) in outcomes.items()}
    if len({_FIGURE.sub("N", verdict) for verdict in verdicts.values()}) == 1:
        return next(iter(verdicts.values()))  # alike but for a measured figure: the first
    return "; ".join(f"{kind}: {verdict}" for kind, verdict in verdicts.items())
