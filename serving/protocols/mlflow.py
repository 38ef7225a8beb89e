"""MLflow's `dataframe_split` and `dataframe_records` bodies reshaped into a Batch (pandas-free).

Its `instances` and `inputs` bodies share their parsers with Vertex AI and KServe v1
(payload.py, row_inputs.py).
"""

from __future__ import annotations

from typing import Any, Literal

from serving.batch import Ask, Batch
from serving.errors import InvalidInput
from serving.payload import read_method
from serving.validate import echo

SPLIT_FIELDS = ("columns", "data", "index")


def parse_dataframe(
    body: dict[str, Any], key: Literal["dataframe_split", "dataframe_records"]
) -> tuple[Batch, Ask]:
    """`{"dataframe_split" | "dataframe_records": ..., "params"?: {...}}` as rows."""
    unknown = sorted(set(body) - {key, "params"})
    if unknown:
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {key}, params")
    ask = Ask((read_method(body),))
    if key == "dataframe_records":
        records = body[key]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("'dataframe_records' must be a list of objects keyed by column")
        return Batch(rows=records), ask
    return _split(body[key]), ask


def _split(split: Any) -> Batch:
    """pandas' orient="split": data rows, optional columns (any order), index ignored."""
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise InvalidInput("'dataframe_split' must be an object with 'data' (and 'columns')")
    unknown = sorted(set(split) - set(SPLIT_FIELDS))
    if unknown:
        raise InvalidInput(f"dataframe_split: unknown field {echo(unknown[0])}")
    columns = split.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise InvalidInput("dataframe_split 'columns' must be a list of column names")
    return Batch(rows=split["data"], names=columns)
