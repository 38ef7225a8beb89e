"""One rule for what a client sent (issue 26 items 4 to 6): no feature value, and no client
string longer than 40 characters, reaches an answer or a log line (a refused category, the one
value named, is cut to 40: tests/serving/test_validate_text.py), and a prediction log entry stays
under its cap. In process, through functions-framework's app and main.predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving.errors import ECHO_CHARS
from tests.support.fixture_types import Logs, MakeClient
from tests.support.penguins_data import PENGUINS

pytestmark = pytest.mark.in_process

LONG = "q" * 8000  # any run of ECHO_CHARS + 1 of these would be an echo past the cut
TOO_LONG = LONG[: ECHO_CHARS + 1]
# Feature values that appear nowhere else.
TENSOR = {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}
FRACTION = 2007.123456
NUMBER = 123456.75


def penguin_row() -> dict[str, Any]:
    """A good row of the penguins model (island, bill_length_mm, ..., year, sex)."""
    import pandas as pd

    frame = pd.read_csv(PENGUINS).dropna()
    row = frame.drop(columns="species").iloc[0].to_dict()
    return {key: value.item() if hasattr(value, "item") else value for key, value in row.items()}


def everything(answer: Any, logs: Logs) -> str:
    """The answer and every log line, as one text to search."""
    return answer.get_data(as_text=True) + "\n" + json.dumps(logs())


@pytest.fixture
def penguins(make_client: MakeClient, penguins_dir: Path) -> Any:
    return make_client(MODEL_URI=str(penguins_dir))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"year": FRACTION},
            "row 1, feature 'year': expected an integer, got a number with a fraction",
        ),
        ({"sex": NUMBER}, "row 1, feature 'sex': expected text"),
        ({"sex": True}, "row 1, feature 'sex': expected text"),
    ],
)
def test_a_refused_feature_value_is_never_named(
    penguins: Any, serving_logs: Logs, change: dict[str, Any], message: str
) -> None:
    answer = penguins.post("/", json={"instances": [penguin_row() | change]})
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith(message)
    seen = everything(answer, serving_logs)
    for value in change.values():
        assert str(value) not in seen
        assert str(value).lower() not in seen


def test_bigquery_text_in_an_integer_names_no_value(penguins: Any, serving_logs: Logs) -> None:
    row = penguin_row() | {"year": FRACTION}
    answer = penguins.post("/", json={"calls": [list(row.values())]})
    assert answer.status_code == 400
    assert answer.get_json()["errorMessage"].endswith("got a number with a fraction")
    assert str(FRACTION) not in everything(answer, serving_logs)


@pytest.mark.parametrize(
    "headers",
    [
        {"Function-Execution-Id": LONG},
        {"User-Agent": LONG},
        {"X-Cloud-Trace-Context": LONG + "/" + LONG},
        {"traceparent": f"00-{LONG}-{LONG}-01"},
    ],
)
def test_long_headers_are_cut_in_the_answer_and_the_log_line(
    client: Any, serving_logs: Logs, headers: dict[str, str]
) -> None:
    good = client.post("/", json={"features": [1.0] * 30}, headers=headers)
    bad = client.post("/", json={"features": [1.0] * 29}, headers=headers)
    assert (good.status_code, bad.status_code) == (200, 400)
    assert len(bad.get_json()["request_id"]) <= ECHO_CHARS
    lines = [line for line in serving_logs() if "httpRequest" in line]
    assert len(lines) == 2
    for answer in (good, bad):
        assert TOO_LONG not in everything(answer, serving_logs)
    if "User-Agent" in headers:
        assert lines[0]["httpRequest"]["userAgent"] == LONG[: ECHO_CHARS - 3] + "..."
    if "Function-Execution-Id" in headers:
        assert lines[1]["request_id"] == bad.get_json()["request_id"]


def binary_infer(name: str, size: int, data: bytes) -> dict[str, Any]:
    """An OIP infer request whose one input, `name`, takes `size` binary bytes of `data`."""
    tensor = {
        "name": name,
        "shape": [1, 30],
        "datatype": "FP64",
        "parameters": {"binary_data_size": size},
    }
    header = json.dumps({"inputs": [tensor]}).encode()
    return {
        "data": header + data,
        "headers": {"Inference-Header-Content-Length": str(len(header))},
        "content_type": "application/octet-stream",
    }


@pytest.mark.parametrize(
    "request_kwargs",
    [
        binary_infer("n" * 200_000, 240, bytes(16)),
        binary_infer("n" * 200_000, 16, bytes(16)),
        {
            "data": b'{"inputs": []}',
            "headers": {"Inference-Header-Content-Length": LONG},
            "content_type": "application/octet-stream",
        },
        {"json": {"id": LONG, "inputs": [TENSOR]}},
        {"json": {"inputs": [], "outputs": [{"name": LONG}]}},
    ],
    ids=["input name, bytes short", "input name, count", "header value", "id", "output name"],
)
def test_oip_client_strings_are_cut_in_the_answer_and_the_log_line(
    client: Any, serving_logs: Logs, request_kwargs: dict[str, Any]
) -> None:
    name = client.get("/").get_json()["name"]
    answer = client.post(f"/v2/models/{name}/infer", **request_kwargs)
    assert answer.status_code == 400
    assert len(answer.get_data()) < 2000
    seen = everything(answer, serving_logs)
    assert "n" * (ECHO_CHARS + 1) not in seen
    assert TOO_LONG not in seen
    assert all(len(json.dumps(line)) < 4000 for line in serving_logs())


def test_an_oip_id_of_40_characters_is_answered_back(client: Any) -> None:
    name = client.get("/").get_json()["name"]
    request_id = "i" * ECHO_CHARS
    answer = client.post(f"/v2/models/{name}/infer", json={"id": request_id, "inputs": [TENSOR]})
    assert answer.get_json()["id"] == request_id


def test_a_long_asset_name_is_cut_in_the_answer(client: Any) -> None:
    answer = client.get("/assets/" + "a" * 3000 + ".js")
    assert answer.status_code == 404
    assert "a" * (ECHO_CHARS + 1) not in answer.get_json()["error"]


def test_a_long_method_is_cut_in_the_answer_and_the_log_line(
    client: Any, serving_logs: Logs
) -> None:
    answer = client.open("/health", method="Q" * 3000)
    assert answer.status_code == 405
    assert "Q" * (ECHO_CHARS + 1) not in everything(answer, serving_logs)


def test_a_long_log_entry_row_is_cut_under_the_cap(
    make_client: MakeClient, penguins_dir: Path, serving_logs: Logs
) -> None:
    """Issue 26 item 5 end to end: a 9,000,000-character text cell, prediction logging on."""
    client = make_client(
        MODEL_URI=str(penguins_dir), PREDICTION_LOG_RATE="1", MAX_BODY_BYTES=str(10**8)
    )
    names = client.get("/").get_json()["features"]
    text = next(f["name"] for f in names if f["type"] == "string" and f["other_categories"])
    answer = client.post("/", json={"instances": [penguin_row() | {text: "z" * 9_000_000}]})
    assert answer.status_code == 200
    (entry,) = [line for line in serving_logs() if "prediction_log" in line]
    assert len(json.dumps(entry)) < 200_000
    assert entry["prediction_log"]["truncated"] is True
    assert entry["prediction_log"]["rows"][0][text].endswith("...")


def test_numbers_never_reach_the_log_of_an_answered_request(
    client: Any, serving_logs: Logs
) -> None:
    row = list(np.linspace(31337.1, 31338.9, 30))
    assert client.post("/", json={"features": row}).status_code == 200
    assert "31337" not in json.dumps(serving_logs())
