"""Prediction logging: the entry for a predicted request (in process), and end to end: a real
server with PREDICTION_LOG_RATE writes the entries, monitor.py compares them with the training
statistics train.py pinned in the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.model_selection import train_test_split

from serving import jsonio, prediction_log
from serving.batch import Table
from serving.manifest import MANIFEST_NAME, Manifest
from serving.prediction import Prediction
from serving.schema import Feature
from tests.support.fixture_types import Logs
from tests.support.penguins_data import PENGUINS, TEXT, records
from tests.support.servers import REPO, Server, start_server
from training.export import serving_manifest

pytestmark = pytest.mark.in_process


def predicted(model_dir: Path, rows: int, labels: bool = True) -> Prediction:
    """`rows` rows of the model's features (cell [1][2] missing), labelled 0, 1, 2, ... (or
    only their probabilities)."""
    manifest = Manifest.parse((model_dir / MANIFEST_NAME).read_bytes())
    matrix = np.arange(rows * manifest.n_features, dtype=float).reshape(rows, -1) / 7
    if rows > 1:
        matrix[1, 2] = np.nan
    outputs = {"predict": np.arange(rows)} if labels else {"predict_proba": np.ones((rows, 2))}
    return Prediction(Table.from_matrix(matrix), outputs, manifest)


def logged_entries(serving_logs: Logs) -> list[dict[str, Any]]:
    lines = [line for line in serving_logs() if line["message"] == "prediction"]
    assert all(
        line["logging.googleapis.com/labels"] == {"log": "sklearn-predictions"} for line in lines
    )
    return [line["prediction_log"] for line in lines]


def test_an_entry_names_each_rows_features_and_its_outputs(
    classifier_dir: Path, serving_logs: Logs
) -> None:
    batch = predicted(classifier_dir, 3)
    prediction_log.write("request-7", batch)
    (entry,) = logged_entries(serving_logs)
    names = batch.manifest.feature_names
    matrix = batch.table.matrix
    assert matrix is not None
    assert entry["model_version"] == batch.manifest.model_version
    assert entry["request_id"] == "request-7"
    assert entry["outputs"] == [0, 1, 2]
    assert entry["truncated"] is False
    assert [list(row) for row in entry["rows"]] == [list(names)] * 3
    assert entry["rows"][2] == dict(zip(names, matrix[2].tolist(), strict=True))
    assert entry["rows"][1][names[2]] is None  # NaN, the missing value, is JSON null
    assert entry["rows"][1][names[3]] == matrix[1, 3]


def test_a_request_asking_only_for_probabilities_logs_no_outputs(
    classifier_dir: Path, serving_logs: Logs
) -> None:
    prediction_log.write("r", predicted(classifier_dir, 2, labels=False))
    (entry,) = logged_entries(serving_logs)
    assert entry["outputs"] == []
    assert len(entry["rows"]) == 2


def test_more_rows_than_an_entry_holds_are_cut_and_marked(
    classifier_dir: Path, serving_logs: Logs
) -> None:
    prediction_log.write("r", predicted(classifier_dir, prediction_log.MAX_ROWS_LOGGED + 1))
    (entry,) = logged_entries(serving_logs)
    assert len(entry["rows"]) == prediction_log.MAX_ROWS_LOGGED
    assert entry["outputs"] == list(range(prediction_log.MAX_ROWS_LOGGED))
    assert entry["truncated"] is True


def test_an_entry_over_the_byte_cap_is_halved_until_it_fits(
    classifier_dir: Path, serving_logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 20_000
    monkeypatch.setattr(prediction_log, "MAX_ENTRY_BYTES", cap)
    prediction_log.write("r", predicted(classifier_dir, 80))
    (entry,) = logged_entries(serving_logs)
    size = len(jsonio.encode(entry))
    # Rows of one size: the first count that fits is over half the cap.
    assert cap // 2 < size <= cap
    assert len(entry["rows"]) in (40, 20, 10, 5, 2)
    assert entry["truncated"] is True


def test_one_row_with_a_huge_text_cell_is_cut_under_the_cap_and_marked(
    serving_logs: Logs,
) -> None:
    """Issue 26 item 5: a 9,000,000-character text cell made a 9 MB entry marked whole."""
    features = [Feature("note", "string"), Feature("size")]
    manifest = serving_manifest(features, "classification", ["a", "b"], on_dataframe=True)
    text = np.array(["x" * 9_000_000], dtype=object)
    table = Table((text, np.array([2.5])), None, 1)
    prediction_log.write("r", Prediction(table, {"predict": np.array(["a"])}, manifest))
    (entry,) = logged_entries(serving_logs)
    assert len(jsonio.encode(entry)) <= prediction_log.MAX_ENTRY_BYTES
    assert entry["truncated"] is True
    (row,) = entry["rows"]
    assert row["size"] == 2.5
    assert row["note"] == "x" * (prediction_log.MAX_TEXT_LOGGED - 3) + "..."
    assert entry["outputs"] == ["a"]


def test_one_row_over_the_byte_cap_even_cut_is_left_out_and_marked(
    classifier_dir: Path, serving_logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = 300
    monkeypatch.setattr(prediction_log, "MAX_ENTRY_BYTES", cap)
    prediction_log.write("r", predicted(classifier_dir, 5))
    (entry,) = logged_entries(serving_logs)
    assert len(jsonio.encode(entry)) <= cap
    assert (entry["rows"], entry["outputs"], entry["truncated"]) == ([], [], True)


@pytest.mark.parametrize(
    ("rate", "draw", "logged"),
    [(0.0, 0.0, False), (0.25, 0.25, False), (0.25, 0.2499, True), (1.0, 0.9999, True)],
)
def test_a_request_is_sampled_when_its_draw_is_under_the_rate(
    rate: float, draw: float, logged: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("random.random", lambda: draw)
    assert prediction_log.sampled(rate) is logged


def test_requests_in_process_log_what_they_scored(
    make_client: Any, classifier_dir: Path, serving_logs: Logs
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), PREDICTION_LOG_RATE="1")
    rows = [[1.0] * 30, [2.0] * 30]
    answer = client.post("/", json={"features": rows}, headers={"Function-Execution-Id": "abc"})
    assert answer.status_code == 200
    (entry,) = logged_entries(serving_logs)
    assert entry["request_id"] == "abc"
    assert entry["outputs"] == answer.get_json()["predictions"]
    assert [list(row.values()) for row in entry["rows"]] == rows


def test_requests_in_process_log_nothing_when_off(
    make_client: Any, classifier_dir: Path, serving_logs: Logs
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    assert client.post("/", json={"features": [[1.0] * 30]}).status_code == 200
    assert logged_entries(serving_logs) == []


def held_out() -> pd.DataFrame:
    """The rows train.py held out (same split: 20 %, seed 0, stratified by species)."""
    frame = pd.read_csv(PENGUINS).dropna(subset=["species"])
    target = frame.pop("species")
    frame[TEXT] = frame[TEXT].astype(object)
    _, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=target)
    return test.reset_index(drop=True)


@pytest.fixture
def logging_server(penguins_dir: Path) -> Iterator[Server]:
    running = start_server({"MODEL_URI": str(penguins_dir), "PREDICTION_LOG_RATE": "1"})
    yield running
    running.stop()


def monitor(server: Server, model: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    logs = tmp_path / "logs.jsonl"
    logs.write_text(server.logs())
    return subprocess.run(
        [sys.executable, str(REPO / "monitor.py"), "--logs", str(logs), "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def send_rows(server: Server, frame: pd.DataFrame) -> None:
    """The rows in three formats: this function's own, CSV and BigQuery's calls."""
    third = len(frame) // 3
    first, second, rest = frame[:third], frame[third : 2 * third], frame[2 * third :]
    assert requests.post(server.url, json={"instances": records(first)}, timeout=30).ok
    csv = second.to_csv(index=False, na_rep="")
    assert requests.post(server.url, data=csv, headers={"Content-Type": "text/csv"}, timeout=30).ok
    calls = [list(row.values()) for row in records(rest)]
    assert requests.post(server.url, json={"calls": calls}, timeout=30).ok


def entries(server: Server) -> list[dict[str, Any]]:
    return [line["prediction_log"] for line in server.json_logs() if "prediction_log" in line]


def test_every_request_is_logged_in_every_format(logging_server: Server) -> None:
    frame = held_out()
    send_rows(logging_server, frame)
    logged = entries(logging_server)
    assert len(logged) == 3
    assert sum(len(entry["rows"]) for entry in logged) == len(frame)
    assert logged[0]["rows"][0] == records(frame[:1])[0]
    assert all(len(e["outputs"]) == len(e["rows"]) for e in logged)


def test_held_out_rows_show_no_drift(
    logging_server: Server, penguins_dir: Path, tmp_path: Path
) -> None:
    send_rows(logging_server, held_out())
    report = monitor(logging_server, penguins_dir, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr


def test_a_shifted_feature_and_an_unseen_category_are_named(
    logging_server: Server, penguins_dir: Path, tmp_path: Path
) -> None:
    frame = held_out()
    shifted = frame.copy()
    shifted["bill_length_mm"] += 3 * pd.read_csv(PENGUINS)["bill_length_mm"].std()
    shifted.loc[: len(frame) // 2, "island"] = "Atlantis"
    send_rows(logging_server, shifted)
    report = monitor(logging_server, penguins_dir, tmp_path)
    assert report.returncode == 1, report.stdout + report.stderr
    assert "bill_length_mm" in report.stdout
    assert "Atlantis" in report.stdout


def test_off_by_default_no_feature_value_is_logged(penguins_dir: Path) -> None:
    server = start_server({"MODEL_URI": str(penguins_dir)})
    try:
        row = {**records(held_out()[:1])[0], "bill_length_mm": 47.123456}
        assert requests.post(server.url, json={"instances": [row]}, timeout=30).ok
        logs = server.logs()
    finally:
        server.stop()
    assert "prediction_log" not in logs
    assert "47.123456" not in logs


def test_entries_are_capped_in_rows_and_bytes(logging_server: Server) -> None:
    frame = pd.concat([held_out()] * 3, ignore_index=True)
    assert requests.post(logging_server.url, json={"instances": records(frame)}, timeout=30).ok
    (entry,) = entries(logging_server)
    assert entry["truncated"] is True
    assert len(entry["rows"]) == 100
    assert len(json.dumps(entry)) < 256_000
