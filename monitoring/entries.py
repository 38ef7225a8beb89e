"""Prediction log entries, from the function's stdout, `gcloud logging read` or BigQuery.

One entry per sampled request, one JSON line on stdout in Cloud Logging's structured format:

    {"severity": "INFO", "message": "prediction",
     "logging.googleapis.com/labels": {"log": "sklearn-predictions"},
     "prediction_log": {"model_version": "...", "request_id": "...",
                        "rows": [{"feature": value, ...}, ...],
                        "outputs": [label_or_value, ...], "truncated": false}}

`gcloud logging read --format=json` prints a JSON array of LogEntry objects with that payload
under "jsonPayload"; both shapes are read here. Other lines (plain text, other logs) are
counted and skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm  # type: ignore[import-untyped]

LOG_LABEL = "sklearn-predictions"
PROGRESS_FROM_BYTES = 1_000_000


class LogReadError(Exception):
    """The log input cannot be read at all (missing file, not JSON where JSON is needed)."""


@dataclass
class Collected:
    """Rows and outputs of the compared model version; what other versions logged, counted."""

    model_version: str
    rows: list[Mapping[str, Any]] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    entries: int = 0
    truncated_entries: int = 0
    other_versions: dict[str, int] = field(default_factory=dict)
    skipped_lines: int = 0

    def add(self, payload: Mapping[str, Any]) -> None:
        version = str(payload.get("model_version"))
        rows = payload.get("rows") or []
        outputs = payload.get("outputs") or []
        if not (isinstance(rows, list) and isinstance(outputs, list)) or not all(
            isinstance(r, dict) for r in rows
        ):
            self.skipped_lines += 1
            return
        if version != self.model_version:
            self.other_versions[version] = self.other_versions.get(version, 0) + len(rows)
            return
        self.entries += 1
        self.truncated_entries += bool(payload.get("truncated"))
        self.rows.extend(rows)
        self.outputs.extend(outputs)


def payload_of(record: Any) -> Mapping[str, Any] | None:
    """The prediction_log payload of one stdout line or one LogEntry, else None."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("jsonPayload"), dict):
        record = record["jsonPayload"]
    payload = record.get("prediction_log")
    return payload if isinstance(payload, dict) else None


def read_log_file(path: str, collected: Collected) -> None:
    """Add every prediction entry in the file (JSON lines or a gcloud JSON array)."""
    try:
        size = os.path.getsize(path)
        with open(path, encoding="utf-8") as stream:
            first = stream.read(1)
            stream.seek(0)
            records: Iterable[Any]
            if first == "[":
                records = gcloud_records(stream)
            else:
                records = line_records(stream, size, collected)
            for record in records:
                payload = payload_of(record)
                if payload is None:
                    collected.skipped_lines += 1
                else:
                    collected.add(payload)
    except OSError as exc:
        raise LogReadError(f"cannot read --logs {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise LogReadError(f"--logs {path} is not UTF-8 text: {exc.reason}") from exc


def gcloud_records(stream: IO[str]) -> list[Any]:
    try:
        records = json.load(stream)
    except json.JSONDecodeError as exc:
        raise LogReadError(
            f"the log file starts with '[' but is not a JSON array of log entries "
            f"(as `gcloud logging read --format=json` prints): {exc.msg} at line {exc.lineno}"
        ) from exc
    if not isinstance(records, list):
        raise LogReadError("expected a JSON array of log entries")
    return records


def line_records(stream: IO[str], size: int, collected: Collected) -> Iterator[Any]:
    """One JSON object per line; a progress bar by bytes read on large files."""
    with tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc="reading logs",
        disable=size < PROGRESS_FROM_BYTES or None,
    ) as bar:
        for line in stream:
            bar.update(len(line.encode("utf-8")))
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                collected.skipped_lines += 1


def bigquery_column_name(name: str) -> str:
    """How a Cloud Logging sink names a jsonPayload key as a BigQuery column: characters
    other than letters and digits become '_', leading underscores go, all in lower case."""
    return re.sub(r"[^0-9A-Za-z]", "_", name).lstrip("_").lower()


def restore_feature_names(
    payloads: Iterable[Mapping[str, Any]], names: Iterable[str]
) -> Iterator[dict[str, Any]]:
    """Payloads read back from BigQuery with the rows keyed by the real feature names again."""
    by_column = {bigquery_column_name(n): n for n in names}
    for payload in payloads:
        rows = [
            {by_column.get(k, k): v for k, v in row.items()} for row in payload.get("rows") or []
        ]
        yield {**payload, "rows": rows}


def prediction_log_entry(
    model_version: str,
    request_id: str,
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    truncated: bool = False,
) -> dict[str, Any]:
    """The stdout line's object, as the function writes it (reference for the serving side)."""
    return {
        "severity": "INFO",
        "message": "prediction",
        "logging.googleapis.com/labels": {"log": LOG_LABEL},
        "prediction_log": {
            "model_version": model_version,
            "request_id": request_id,
            "rows": list(rows),
            "outputs": list(outputs),
            "truncated": truncated,
        },
    }
