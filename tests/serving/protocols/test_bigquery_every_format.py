"""BigQuery remote-function calls in detail: what userDefinedContext asks for and its errors,
unknown fields and bad calls, and a regressor's probabilities, on a real server and in process
(`send`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.format_requests import (
    VERTEX_ROUTE,
    Send,
    as_json,
    assert_refused,
    probabilities_of,
    rows,
)

pytestmark = pytest.mark.in_process


@pytest.mark.parametrize("path", ["/", "/predict", VERTEX_ROUTE])
def test_bigquery_replies_as_userdefinedcontext_asks(send: Send, path: str) -> None:
    expected = probabilities_of(send, 3)
    labels = send(as_json(path, {"calls": rows(3)})).body
    assert labels == {"replies": [int(np.argmax(p)) for p in expected]}
    context: dict[str, Any] = {"output": "probabilities"}
    answer = send(as_json(path, {"calls": rows(3), "userDefinedContext": context}))
    assert answer.body == {"replies": [{"0": p[0], "1": p[1]} for p in expected]}
    for chosen in (0, 1, "1"):
        context = {"output": "probability", "class": chosen}
        answer = send(as_json(path, {"calls": rows(3), "userDefinedContext": context}))
        assert answer.body == {"replies": [p[int(chosen)] for p in expected]}
    label = send(as_json(path, {"calls": rows(3), "userDefinedContext": {"output": "label"}}))
    assert label.body == labels


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ("probabilities", 'userDefinedContext may hold "output"'),
        ({"output": "label", "extra": 1}, 'userDefinedContext may hold "output"'),
        ({"output": "scores"}, "output must be one of label, probabilities, probability"),
        ({"output": "probability"}, "class must be one of 0, 1"),
        ({"output": "probability", "class": 2}, "class must be one of 0, 1"),
    ],
)
def test_bigquery_context_errors_reach_the_sql_user(
    send: Send, context: Any, fragment: str
) -> None:
    answer = send(as_json("/", {"calls": rows(1), "userDefinedContext": context}))
    message = assert_refused(answer, 400, "invalid_input", fragment)
    assert answer.body["errorMessage"] == message


def test_bigquery_unknown_field_and_bad_calls(send: Send) -> None:
    answer = send(as_json("/", {"calls": rows(1), "requestId": "r", "caller": "c", "x": 1}))
    assert_refused(answer, 400, "invalid_input", "unknown field 'x'")
    for calls in ({"a": 1}, [rows(1)[0], 3]):
        answer = send(as_json("/", {"calls": calls}))
        assert_refused(answer, 400, "invalid_input", "'calls' must be a list of argument lists")
    ok = send(as_json("/", {"calls": rows(1), "requestId": "r", "sessionUser": "u"}))
    assert ok.status == 200


def test_bigquery_probabilities_of_a_regressor_are_400(
    make_client: Callable[..., Any], regressor_dir: Path
) -> None:
    client = make_client(MODEL_URI=str(regressor_dir))
    context = {"output": "probabilities"}
    answer = client.post("/", json={"calls": [[0.0] * 10], "userDefinedContext": context})
    assert answer.status_code == 400
    assert answer.get_json()["errorMessage"] == (
        "predict_proba (class probabilities) is not available: this model offers predict on "
        "the onnx runtime; MODEL_RUNTIME=sklearn serves every method the estimator has"
    )
    assert client.post("/", json={"calls": [[0.0] * 10]}).status_code == 200
