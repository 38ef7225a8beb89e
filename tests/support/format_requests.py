"""Requests in every format the function speaks, of any row count and width, and the answers
read back alike, for the tables of tests/serving/protocols/test_*_every_format.py.

For each format (this function's own, OIP v2 JSON and binary, KServe v1, MLflow's four shapes,
Vertex AI's route, CSV, BigQuery calls, POST /predict) a builder makes a request of real
breast-cancer rows, cut or widened to any width and padded to any size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer

MAX_ROWS = 4
MAX_BODY_BYTES = 8192
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]
WIDTH = len(NAMES)
VERTEX_ROUTE = "/vertex/predict"
ENV = {
    "MAX_ROWS": str(MAX_ROWS),
    "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "AIP_PREDICT_ROUTE": VERTEX_ROUTE,
    "MODEL_RUNTIME": "sklearn",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


Send = Callable[[Request], Answer]


def rows(count: int, width: int = WIDTH) -> list[list[float]]:
    """Real rows of the breast-cancer data, cut or widened (by repeating values) to `width`."""
    picked = DATA.data[:count]
    return [[float(row[i % WIDTH]) for i in range(width)] for row in picked]


def names(width: int) -> list[str]:
    return [*NAMES, *(f"extra {i}" for i in range(width - WIDTH))][:width]


def as_json(path: str, body: dict[str, Any], pad: int = 0) -> Request:
    return Request("POST", path, json.dumps(body).encode() + b" " * pad, JSON_TYPE)


JSON_TYPE = {"Content-Type": "application/json"}
CSV_TYPE = {"Content-Type": "text/csv"}


def records(count: int, width: int) -> list[dict[str, float]]:
    return [dict(zip(names(width), row, strict=True)) for row in rows(count, width)]


def tensor(count: int, width: int) -> dict[str, Any]:
    flat = [value for row in rows(count, width) for value in row]
    return {"name": "input", "shape": [count, width], "datatype": "FP64", "data": flat}


def per_feature(count: int, width: int) -> list[dict[str, Any]]:
    columns = np.asarray(rows(count, width)).T.tolist() if count else [[]] * width
    return [
        {"name": name, "shape": [count], "datatype": "FP64", "data": column}
        for name, column in zip(names(width), columns, strict=True)
    ]


def oip_binary(model: str, count: int, width: int, pad: int = 0) -> Request:
    data = np.asarray(rows(count, width), dtype="<f8").tobytes()
    header = {
        "inputs": [
            {
                "name": "input",
                "shape": [count, width],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(data)},
            }
        ]
    }
    json_part = json.dumps(header).encode() + b" " * pad
    headers = {"Content-Type": "application/octet-stream"}
    headers["Inference-Header-Content-Length"] = str(len(json_part))
    return Request("POST", f"/v2/models/{model}/infer", json_part + data, headers)


def csv(path: str, count: int, width: int, header: bool, pad: int = 0) -> Request:
    lines = [",".join(json.dumps(n) for n in names(width))] if header else []
    lines += [",".join(repr(v) for v in row) for row in rows(count, width)]
    text = "\n".join(lines) + "0" * pad + "\n"
    return Request("POST", path, text.encode(), CSV_TYPE)


# Each format: (count, width, pad) -> a request of `count` rows of `width` values, `pad` bytes
# longer than it needs to be (spaces after JSON, zeros after CSV's last number).
Builder = Callable[[str, int, int, int], Request]
FORMATS: dict[str, Builder] = {
    "own features": lambda m, n, w, p: as_json("/", {"features": rows(n, w)}, p),
    "own instances": lambda m, n, w, p: as_json("/", {"instances": rows(n, w)}, p),
    "own records": lambda m, n, w, p: as_json("/", {"instances": records(n, w)}, p),
    "POST /predict": lambda m, n, w, p: as_json("/predict", {"features": rows(n, w)}, p),
    "Vertex AI": lambda m, n, w, p: as_json(VERTEX_ROUTE, {"instances": rows(n, w)}, p),
    "OIP JSON": lambda m, n, w, p: as_json(f"/v2/models/{m}/infer", {"inputs": [tensor(n, w)]}, p),
    "OIP per feature": lambda m, n, w, p: as_json(
        f"/v2/models/{m}/infer", {"inputs": per_feature(n, w)}, p
    ),
    "OIP at /": lambda m, n, w, p: as_json("/", {"inputs": [tensor(n, w)]}, p),
    "OIP binary": lambda m, n, w, p: oip_binary(m, n, w, p),
    "KServe v1 instances": lambda m, n, w, p: as_json(
        f"/v1/models/{m}:predict", {"instances": rows(n, w)}, p
    ),
    "KServe v1 inputs": lambda m, n, w, p: as_json(
        f"/v1/models/{m}:predict", {"inputs": rows(n, w)}, p
    ),
    "MLflow split": lambda m, n, w, p: as_json(
        "/invocations", {"dataframe_split": {"columns": names(w), "data": rows(n, w)}}, p
    ),
    "MLflow records": lambda m, n, w, p: as_json(
        "/invocations", {"dataframe_records": records(n, w)}, p
    ),
    "MLflow instances": lambda m, n, w, p: as_json("/invocations", {"instances": rows(n, w)}, p),
    "MLflow inputs": lambda m, n, w, p: as_json("/invocations", {"inputs": rows(n, w)}, p),
    "MLflow columns": lambda m, n, w, p: as_json(
        "/invocations",
        {"inputs": {name: [row[i] for row in rows(n, w)] for i, name in enumerate(names(w))}},
        p,
    ),
    "CSV with header": lambda m, n, w, p: csv("/", n, w, True, p),
    "CSV without header": lambda m, n, w, p: csv("/", n, w, False, p),
    "CSV at /invocations": lambda m, n, w, p: csv("/invocations", n, w, True, p),
    "BigQuery calls": lambda m, n, w, p: as_json("/", {"calls": rows(n, w)}, p),
}
# Formats whose rows carry names: a missing or extra feature is named, not counted.
NAMED = {"own records", "OIP per feature", "MLflow split", "MLflow records", "MLflow columns"}
NAMED |= {"CSV with header", "CSV at /invocations"}


def build(fmt: str, model: str, count: int, width: int = WIDTH, pad: int = 0) -> Request:
    return FORMATS[fmt](model, count, width, pad)


def assert_refused(answer: Answer, status: int, code: str, *fragments: str) -> str:
    assert (answer.status, answer.body.get("code")) == (status, code), answer.body
    for fragment in fragments:
        assert fragment in answer.body["error"], answer.body["error"]
    return str(answer.body["error"])


ALL = sorted(FORMATS)


PROBA = {"predict_method": "predict_proba"}


def probabilities_of(send: Send, count: int) -> list[list[float]]:
    answer = send(as_json("/", {"instances": rows(count), "parameters": PROBA}))
    return list(answer.body["predictions"])
