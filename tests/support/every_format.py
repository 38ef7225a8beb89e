"""One table of rows spelled in every request format, as each format's clients write it, and the
answers read back alike: to check that a model answers the same in all of them.

The formats: this function's own JSON (records), CSV with a header, OIP v2 with JSON tensors
and with binary tensor data (per-feature inputs), and BigQuery calls. A missing cell is null in
JSON, OIP JSON (BYTES) and BigQuery, an empty cell in CSV and OIP BYTES binary data, NaN in OIP
FP64 binary data. Integers go to BigQuery as TO_JSON_STRING writes large INT64s: as text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import requests

FORMATS = ("JSON", "CSV", "OIP JSON", "OIP binary", "BigQuery")


@dataclass(frozen=True)
class Spelled:
    """One request: where it goes, its body and headers."""

    path: str
    body: bytes
    headers: dict[str, str]


def cells(frame: pd.DataFrame, features: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each feature's values as Python values (None for a gap, int for an integer feature)."""
    columns: dict[str, list[Any]] = {}
    for feature in features:
        name = feature["name"]
        values = []
        for value in frame[name].tolist():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                values.append(None)
            elif feature["type"] == "integer":
                values.append(int(value))
            elif feature["type"] == "string":
                values.append(str(value))
            else:
                values.append(float(value))
        columns[name] = values
    return columns


def spell(
    frame: pd.DataFrame, features: list[dict[str, Any]], model: str, method: str
) -> dict[str, Spelled]:
    """The frame's rows in every format, asking for `method`."""
    columns = cells(frame, features)
    names = [f["name"] for f in features]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    infer = f"/v2/models/{model}/infer"
    as_json = {"Content-Type": "application/json"}
    own = {"instances": rows, "parameters": {"predict_method": method}}
    oip = {"inputs": [_json_tensor(n, columns[n]) for n in names], "outputs": [{"name": method}]}
    calls = [[_bigquery(v) for v in row.values()] for row in rows]
    bigquery: dict[str, Any] = {"calls": calls}
    if method == "predict_proba":
        bigquery["userDefinedContext"] = {"output": "probabilities"}
    return {
        "JSON": Spelled("/", json.dumps(own).encode(), as_json),
        "CSV": Spelled(
            f"/?predict_method={method}", _csv(names, rows), {"Content-Type": "text/csv"}
        ),
        "OIP JSON": Spelled(infer, json.dumps(oip).encode(), as_json),
        "OIP binary": _binary(infer, names, columns, method),
        "BigQuery": Spelled("/", json.dumps(bigquery).encode(), as_json),
    }


def disagreements(
    url: str,
    frame: pd.DataFrame,
    manifest: dict[str, Any],
    method: str,
    expected: np.ndarray,
    atol: float,
) -> dict[str, str]:
    """Each format whose answer from the server at `url` is not `expected`, and how."""
    spelled = spell(frame, manifest["features"], manifest["name"], method)
    found = {}
    for fmt, request in spelled.items():
        answer = requests.post(
            url + request.path, data=request.body, headers=request.headers, timeout=60
        )
        if answer.status_code != 200:
            found[fmt] = f"{answer.status_code}: {answer.text[:200]}"
            continue
        got = answered(fmt, answer)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=atol):
            found[fmt] = f"200, but {np.abs(got - expected).max()} from the expected answer"
    return found


def answered(fmt: str, answer: requests.Response) -> np.ndarray:
    """The answer's labels, values or probabilities, whatever the format."""
    assert answer.status_code == 200, (fmt, answer.text[:500])
    body = answer.json()
    if fmt.startswith("OIP"):
        output = body["outputs"][0]
        return np.array(output["data"]).reshape(output["shape"])
    if fmt == "BigQuery":
        replies = body["replies"]
        if replies and isinstance(replies[0], dict):
            return np.array([list(reply.values()) for reply in replies])
        return np.array(replies)
    return np.array(body["predictions"])


def _json_tensor(name: str, values: list[Any]) -> dict[str, Any]:
    """Text as BYTES; numbers as FP64, or as BYTES text with null where some are missing."""
    if any(isinstance(v, str) for v in values) or None in values:
        data = [v if v is None or isinstance(v, str) else repr(v) for v in values]
        return {"name": name, "shape": [len(values)], "datatype": "BYTES", "data": data}
    return {"name": name, "shape": [len(values)], "datatype": "FP64", "data": values}


def _binary(infer: str, names: list[str], columns: dict[str, list[Any]], method: str) -> Spelled:
    """Every input as binary tensor data: BYTES ("" missing) or FP64 (NaN missing)."""
    tensors, data = [], b""
    for name in names:
        values = columns[name]
        if any(isinstance(v, str) for v in values):
            chunk = b"".join(_element("" if v is None else v) for v in values)
            datatype = "BYTES"
        else:
            numbers = [math.nan if v is None else float(v) for v in values]
            chunk, datatype = np.asarray(numbers, dtype="<f8").tobytes(), "FP64"
        shape = [len(values)]
        parameters = {"binary_data_size": len(chunk)}
        tensor = {"name": name, "shape": shape, "datatype": datatype}
        tensors.append(tensor | {"parameters": parameters})
        data += chunk
    header = json.dumps({"inputs": tensors, "outputs": [{"name": method}]}).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    return Spelled(infer, header + data, headers)


def _element(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("<I", len(encoded)) + encoded


def _csv(names: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row.values()])
    return out.getvalue().encode()


def _csv_cell(value: Any) -> Any:
    return "" if value is None else repr(value) if isinstance(value, float) else value


def _bigquery(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
