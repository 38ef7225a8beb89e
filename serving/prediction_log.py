"""Opt-in prediction logging (PREDICTION_LOG_RATE): one log entry per sampled request.

For that share of requests, the entry holds the rows scored and the labels or values given,
for a Cloud Logging sink to route to BigQuery and monitor.py to compare with the training
statistics.

The entry is one JSON line on stdout, selected exactly by its label:
    {"severity": "INFO", "message": "prediction",
     "logging.googleapis.com/labels": {"log": "sklearn-predictions"},
     "prediction_log": {"model_version", "request_id", "rows": [{feature: value}], "outputs",
                        "truncated"}}
Off (the default), nothing here runs and no feature value reaches a log line.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving import jsonio
from serving.batch import Table
from serving.manifest import Manifest

LOG_LABEL = "sklearn-predictions"
LOG_MESSAGE = "prediction"  # with the label, what a Cloud Logging sink selects entries by
MAX_ROWS_LOGGED = 100
# Cloud Logging drops entries over 256 KB.
MAX_ENTRY_BYTES = 200_000
logger = logging.getLogger("serving.predictions")
logger.setLevel(logging.INFO)  # on whatever LOG_LEVEL says: the operator asked for these


@dataclass(frozen=True)
class Scored:
    """What one request scored: its checked rows, the labels or values (None if only
    probabilities or decision values were asked for), and the manifest of the model used."""

    table: Table
    labels: np.ndarray | None
    manifest: Manifest


def sampled(rate: float) -> bool:
    """Whether this request is one of the share to log."""
    return rate > 0 and random.random() < rate


def write(request_id: str, scored: Scored) -> None:
    """Log one entry for the request, cut to MAX_ROWS_LOGGED rows and MAX_ENTRY_BYTES."""
    count = min(scored.table.n_rows, MAX_ROWS_LOGGED)
    while True:
        payload = _payload(request_id, scored, count)
        if count <= 1 or len(jsonio.encode(payload)) <= MAX_ENTRY_BYTES:
            break
        count //= 2
    fields = {"logging.googleapis.com/labels": {"log": LOG_LABEL}, "prediction_log": payload}
    logger.info(LOG_MESSAGE, extra={"fields": fields})


def _payload(request_id: str, scored: Scored, count: int) -> dict[str, Any]:
    manifest = scored.manifest
    names = manifest.feature_names
    columns = [column[:count].tolist() for column in scored.table.columns]
    rows = [
        {name: _value(column[i]) for name, column in zip(names, columns, strict=True)}
        for i in range(count)
    ]
    labels = scored.labels[:count].tolist() if scored.labels is not None else []
    return {
        "model_version": manifest.model_version,
        "request_id": request_id,
        "rows": rows,
        "outputs": labels,
        "truncated": count < scored.table.n_rows,
    }


def _value(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
