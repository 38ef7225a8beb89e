"""Opt-in prediction logging (PREDICTION_LOG_RATE): one log entry per sampled request.

For that share of requests, the entry holds the rows predicted and the labels or values given,
for a Cloud Logging sink to route to BigQuery and monitor.py to compare with the training
statistics.

The entry is one JSON line on stdout, selected exactly by its label:
    {"severity": "INFO", "message": "prediction",
     "logging.googleapis.com/labels": {"log": "sklearn-predictions"},
     "prediction_log": {"model_version", "request_id", "rows": [{feature: value}], "outputs",
                        "truncated"}}
`truncated` is true when rows were left out or a long text cell was cut (ending in "...").
Off (the default), nothing here runs and no feature value reaches a log line.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any

from serving import jsonio
from serving.prediction import Prediction

LOG_LABEL = "sklearn-predictions"
LOG_MESSAGE = "prediction"  # with the label, what a Cloud Logging sink selects entries by
MAX_ROWS_LOGGED = 100
# Cloud Logging drops entries over 256 KB.
MAX_ENTRY_BYTES = 200_000
# A text cell is cut to this many characters when one row alone is over MAX_ENTRY_BYTES.
MAX_TEXT_LOGGED = 1000
CUT_MARK = "..."
logger = logging.getLogger("serving.predictions")
logger.setLevel(logging.INFO)  # on whatever LOG_LEVEL says: the operator asked for these


def sampled(rate: float) -> bool:
    """Whether this request is one of the share to log."""
    return rate > 0 and random.random() < rate


def write(request_id: str, prediction: Prediction) -> None:
    """Log one entry for the request, cut to MAX_ROWS_LOGGED rows and MAX_ENTRY_BYTES."""
    fields = {
        "logging.googleapis.com/labels": {"log": LOG_LABEL},
        "prediction_log": entry(request_id, prediction),
    }
    logger.info(LOG_MESSAGE, extra={"fields": fields})


def entry(request_id: str, prediction: Prediction) -> dict[str, Any]:
    """The entry: as many rows as fit, halving the count; one row over the cap has its long
    text cut, and when even that is over, no row is logged. `truncated` marks every cut."""
    count = min(prediction.table.n_rows, MAX_ROWS_LOGGED)
    while True:
        built = _entry(request_id, prediction, count)
        if _fits(built):
            return built
        if count == 1:
            break
        count //= 2
    built = _entry(request_id, prediction, 1, cut=True)
    return built if _fits(built) else _entry(request_id, prediction, 0)


def _fits(built: dict[str, Any]) -> bool:
    return len(jsonio.encode(built)) <= MAX_ENTRY_BYTES


def _entry(
    request_id: str, prediction: Prediction, count: int, cut: bool = False
) -> dict[str, Any]:
    manifest = prediction.manifest
    names = manifest.feature_names
    columns = [column[:count].tolist() for column in prediction.table.columns]
    rows = [
        {name: _value(column[i], cut) for name, column in zip(names, columns, strict=True)}
        for i in range(count)
    ]
    predicted = prediction.outputs.get("predict")
    return {
        "model_version": manifest.model_version,
        "request_id": request_id,
        "rows": rows,
        "outputs": predicted[:count].tolist() if predicted is not None else [],
        "truncated": cut or count < prediction.table.n_rows,
    }


def _value(value: Any, cut: bool) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if cut and isinstance(value, str) and len(value) > MAX_TEXT_LOGGED:
        return value[: MAX_TEXT_LOGGED - len(CUT_MARK)] + CUT_MARK
    return value
