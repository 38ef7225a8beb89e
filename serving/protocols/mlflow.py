"""MLflow's `dataframe_split` and `dataframe_records` bodies read into an Inference (pandas-free).

Its `instances` and `inputs` bodies share their parsers with Vertex AI and KServe v1
(own_format.py, row_inputs.py).
"""

from __future__ import annotations

from typing import Any

from serving.batch import Batch
from serving.errors import InvalidInput, echo
from serving.exchange import Inference, Request
from serving.loading import LoadedModel
from serving.protocols.detect import Decoded
from serving.protocols.own_format import predictions, read_method

SPLIT_FIELDS = ("columns", "data", "index")


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """`{"dataframe_split" | "dataframe_records": ..., "params"?: {...}}` as rows."""
    document, key = decoded.document, decoded.format
    unknown = sorted(set(document) - {key, "params"})
    if unknown:
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {key}, params")
    methods = (read_method(document),)
    if key == "dataframe_records":
        records = document[key]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("'dataframe_records' must be a list of objects keyed by column")
        return predictions(Batch(rows=records), methods)
    return predictions(_split(document[key]), methods)


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
