"""Prediction log entries, from the function's stdout, `gcloud logging read` or BigQuery.

One entry per sampled request, one JSON line on stdout in Cloud Logging's structured format:

    {"severity": "INFO", "message": "prediction",
     "logging.googleapis.com/labels": {"log": "sklearn-predictions"},
     "prediction_log": {"model_version": "...", "request_id": "...",
                        "rows": [{"feature": value, ...}, ...],
                        "outputs": [label_or_value, ...], "truncated": false}}

`gcloud logging read --format=json` prints a JSON array of LogEntry objects with that payload
under "jsonPayload"; both shapes are read here, one entry at a time (the array is never read
whole), and each entry's values are counted into tallies (monitoring/tally.py), never kept, so
memory stays flat however large the input. Other lines (plain text, other logs) are counted
and skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm import tqdm  # type: ignore[import-untyped]

from monitoring.json_array import NotAnArray, array_items
from monitoring.tally import Tally

LOG_LABEL = "sklearn-predictions"
PROGRESS_FROM_BYTES = 1_000_000
WAITING_VALUES = 500_000  # numbers batched across columns before numpy bins them (~16 MB)


class LogReadError(Exception):
    """The log input cannot be read at all (missing file, not JSON where JSON is needed)."""


@dataclass
class Collected:
    """Counts of the compared model version's rows and outputs; what other versions logged."""

    model_version: str
    features: dict[str, Tally]
    outputs: Tally
    rows: int = 0
    entries: int = 0
    truncated_entries: int = 0
    other_versions: dict[str, int] = field(default_factory=dict)
    skipped_lines: int = 0
    waiting: int = 0

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
        self.rows += len(rows)
        for name, tally in self.features.items():
            tally.add([row.get(name) for row in rows])
        self.outputs.add(outputs)
        self.waiting += len(rows) * (len(self.features) + 1)
        if self.waiting >= WAITING_VALUES:
            for tally in (*self.features.values(), self.outputs):
                tally.flush()
            self.waiting = 0


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
        with (
            open(path, encoding="utf-8") as stream,
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc="reading logs",
                disable=size < PROGRESS_FROM_BYTES or None,
            ) as bar,
        ):
            first = stream.read(1)
            stream.seek(0)
            records = gcloud_records(stream, bar) if first == "[" else line_records(stream, bar)
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


def gcloud_records(stream: IO[str], bar: Any) -> Iterator[Any]:
    """The entries of `gcloud logging read --format=json`'s array, one at a time."""
    try:
        yield from array_items(stream, lambda block: bar.update(len(block.encode("utf-8"))))
    except NotAnArray as exc:
        raise LogReadError(
            "the log file starts with '[' but is not a JSON array of log entries "
            f"(as `gcloud logging read --format=json` prints): {exc}"
        ) from None


def line_records(stream: IO[str], bar: Any) -> Iterator[Any]:
    """One JSON object per line; a line that is not JSON comes back as None (skipped)."""
    for line in stream:
        bar.update(len(line))  # characters: the function's JSON lines are ASCII
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            yield None


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
