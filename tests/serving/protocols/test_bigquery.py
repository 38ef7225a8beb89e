"""BigQuery remote functions at the base URL: the bodies BigQuery documents, on a real server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests

from tests.support.penguins_data import penguins, records
from tests.support.servers import Server


def call(server: Server, calls: list[list[Any]], context: Any = None) -> requests.Response:
    body: dict[str, Any] = {
        "requestId": "124ab1c",
        "caller": "//bigquery.googleapis.com/projects/p/jobs/j",
        "sessionUser": "user@example.com",
        "calls": calls,
    }
    if context is not None:
        body["userDefinedContext"] = context
    return requests.post(server.url, json=body, timeout=30)


@pytest.fixture(scope="module")
def penguins_server(serve: Callable[..., Server], penguins_dir: Path) -> tuple[Server, Path]:
    return serve({"MODEL_URI": str(penguins_dir)}), penguins_dir


def as_bigquery(row: dict[str, Any]) -> list[Any]:
    """A row as TO_JSON_STRING sends it: INT64 as a string when large, NULL as null."""
    return [str(v) if isinstance(v, int) else v for v in row.values()]


def test_labels_for_a_batch_with_nulls_and_integers_as_strings(
    penguins_server: tuple[Server, Path],
) -> None:
    server, folder = penguins_server
    frame = penguins()
    answer = call(server, [as_bigquery(r) for r in records(frame)])
    model = joblib.load(folder / "model.joblib")
    assert answer.status_code == 200
    assert answer.json() == {"replies": model.predict(frame).tolist()}


def test_a_batch_of_one_row_and_the_same_rows_twice(penguins_server: tuple[Server, Path]) -> None:
    server, _ = penguins_server
    row = as_bigquery(records(penguins([0]))[0])
    once = call(server, [row]).json()["replies"]
    twice = call(server, [row, row]).json()["replies"]
    assert twice == once * 2


def test_probabilities_as_json_and_one_class_as_a_number(
    penguins_server: tuple[Server, Path],
) -> None:
    server, folder = penguins_server
    frame = penguins()
    rows = [as_bigquery(r) for r in records(frame)]
    expected = joblib.load(folder / "model.joblib").predict_proba(frame)
    objects = call(server, rows, {"output": "probabilities"}).json()["replies"]
    assert list(objects[0]) == ["Adelie", "Chinstrap", "Gentoo"]
    np.testing.assert_allclose([list(o.values()) for o in objects], expected, atol=1e-9)
    gentoo = call(server, rows, {"output": "probability", "class": "Gentoo"}).json()["replies"]
    np.testing.assert_allclose(gentoo, expected[:, 2], atol=1e-9)


@pytest.mark.parametrize(
    ("calls", "context", "message"),
    [
        ([["Biscoe", 45.1, 14.5, 215, 5000, None]], None, "expected 7 features, got 6"),
        (
            [["Biscoe", 45.1, 14.5, 215, 5000, None, "2008"], ["Dream", "long", 1, 2, 3, None, 1]],
            None,
            "row 2, feature 'bill_length_mm': expected a number, got text",
        ),
        ([["Biscoe", "Infinity", 14.5, 215, 5000, None, 2008]], None, "must be finite"),
        ([["Biscoe", 45.1, 14.5, 215, 5000, None, 2008]], {"output": "odds"}, "must be one of"),
        (
            [["Biscoe", 45.1, 14.5, 215, 5000, None, 2008]],
            {"output": "probability", "class": "Emperor"},
            "class must be one of Adelie, Chinstrap, Gentoo",
        ),
    ],
)
def test_bad_calls_are_a_400_bigquery_does_not_retry(
    penguins_server: tuple[Server, Path], calls: list[list[Any]], context: Any, message: str
) -> None:
    server, _ = penguins_server
    answer = call(server, calls, context)
    assert answer.status_code == 400
    assert message in answer.json()["errorMessage"]
    assert len(answer.json()["errorMessage"]) <= 1000


def test_nan_strings_are_missing_values(penguins_server: tuple[Server, Path]) -> None:
    server, _ = penguins_server
    answer = call(server, [["Biscoe", "NaN", 14.5, 215, 5000, None, "2008"]])
    assert answer.status_code == 200
    assert answer.json()["replies"] in (["Adelie"], ["Chinstrap"], ["Gentoo"])


def test_numeric_model_with_big_integers_as_strings(server: Server) -> None:
    """The bundled breast-cancer model: FLOAT64 arguments, and an INT64 beyond 2^53."""
    row: list[Any] = [1.0] * 29 + [str(2**60)]
    answer = call(server, [row, [1.0] * 30])
    assert answer.status_code == 200
    assert len(answer.json()["replies"]) == 2


@pytest.mark.parametrize("count", [10_001, 50_000])
def test_too_many_calls_are_a_422_the_sql_user_can_read(server: Server, count: int) -> None:
    """Issue 26 item 10: past the byte budget (50,000 calls) the 422 lacked errorMessage."""
    answer = call(server, [[1.0]] * count)
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "too_many_rows"
    assert body["errorMessage"] == body["error"]
