"""MLflow scoring server: `dataframe_split` and `dataframe_records` bodies (pandas-free).

`instances` and `inputs` bodies share their parsers with Vertex AI and KServe v1 (shapes.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.errors import InvalidInput
from serving.loading import LoadedModel
from serving.payload import check_rows, read_method, to_matrix
from serving.protocols.common import Reply, predictions

SPLIT_FIELDS = ("columns", "data", "index")


def dataframe(model: LoadedModel, body: dict[str, Any], max_rows: int) -> Reply:
    """Answer `{"dataframe_split" | "dataframe_records": ..., "params"?: {...}}`."""
    key = "dataframe_split" if "dataframe_split" in body else "dataframe_records"
    unknown = sorted(set(body) - {key, "params"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}; accepted: {key}, params")
    method = read_method(body)
    names = model.manifest.feature_names
    if key == "dataframe_records":
        records = body[key]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("'dataframe_records' must be a list of objects keyed by column")
        check_rows(len(records), max_rows)
        return predictions(model, to_matrix(records, names), method)
    return predictions(model, _split(body[key], names, max_rows), method)


def _split(split: Any, names: tuple[str, ...], max_rows: int) -> np.ndarray:
    """pandas' orient="split": data rows, optional columns (any order), index ignored."""
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise InvalidInput("'dataframe_split' must be an object with 'data' (and 'columns')")
    unknown = sorted(set(split) - set(SPLIT_FIELDS))
    if unknown:
        raise InvalidInput(f"dataframe_split: unknown field {unknown[0]!r}")
    data = split["data"]
    check_rows(len(data), max_rows)
    columns = split.get("columns")
    if columns is None:
        return to_matrix(data, names)
    if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(names):
        raise InvalidInput(
            f"dataframe_split 'columns' must name each of the {len(names)} features once"
        )
    matrix = to_matrix(data, names)
    order = [columns.index(name) for name in names]
    return np.ascontiguousarray(matrix[:, order])
