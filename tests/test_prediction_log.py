"""Prediction logging end to end: a real server with PREDICTION_LOG_RATE writes the entries,
monitor.py compares them with the training statistics train.py pinned in the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from sklearn.model_selection import train_test_split

from tests.penguins_data import PENGUINS, TEXT, records
from tests.servers import REPO, Server, start_server


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


def score(server: Server, frame: pd.DataFrame) -> None:
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
    score(logging_server, frame)
    logged = entries(logging_server)
    assert len(logged) == 3
    assert sum(len(entry["rows"]) for entry in logged) == len(frame)
    assert logged[0]["rows"][0] == records(frame[:1])[0]
    assert all(len(e["outputs"]) == len(e["rows"]) for e in logged)


def test_held_out_rows_show_no_drift(
    logging_server: Server, penguins_dir: Path, tmp_path: Path
) -> None:
    score(logging_server, held_out())
    report = monitor(logging_server, penguins_dir, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr


def test_a_shifted_feature_and_an_unseen_category_are_named(
    logging_server: Server, penguins_dir: Path, tmp_path: Path
) -> None:
    frame = held_out()
    shifted = frame.copy()
    shifted["bill_length_mm"] += 3 * pd.read_csv(PENGUINS)["bill_length_mm"].std()
    shifted.loc[: len(frame) // 2, "island"] = "Atlantis"
    score(logging_server, shifted)
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
