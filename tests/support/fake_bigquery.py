"""A small local fake of the BigQuery REST API, holding what a Cloud Logging sink would write.

It answers jobs.query (POST .../queries) and jobs.getQueryResults (GET .../queries/JOB) in
pages, for the one query shape monitor.py sends: each row's jsonPayload.prediction_log as a JSON
string. `sink()` stores log entries the way the sink writes them: jsonPayload keys renamed as
BigQuery columns (lower case, other characters as '_'), all JSON numbers as FLOAT64.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.servers import JsonHandler, in_thread

PAGE_ROWS = 7
QUERY = re.compile(
    r"^SELECT TO_JSON_STRING\(jsonPayload\.prediction_log\) AS prediction_log FROM `([^`]+)`"
    r" WHERE jsonPayload\.prediction_log\.model_version IS NOT NULL$"
)


def column_name(key: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "_", key).lstrip("_").lower()


def as_sink_writes(value: Any) -> Any:
    if isinstance(value, dict):
        return {column_name(k): as_sink_writes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sink_writes(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class FakeBigQuery:
    def __init__(self) -> None:
        self.tables: dict[str, list[str]] = {}
        self.jobs: dict[str, list[str]] = {}
        self.requests: list[str] = []

    def sink(self, table: str, stdout_lines: list[str]) -> None:
        """Route structured stdout log lines to `table`, as a Logging sink would."""
        rows = self.tables.setdefault(table, [])
        for line in stdout_lines:
            entry = json.loads(line)
            payload = {k: v for k, v in entry.items() if not k.startswith("logging.googleapis")}
            stored = as_sink_writes(payload)
            rows.append(json.dumps(stored["prediction_log"]))

    def answer(self, method: str, path: str, body: Mapping[str, Any]) -> tuple[int, dict]:
        self.requests.append(f"{method} {path}")
        url = urlparse(path)
        parts = url.path.strip("/").split("/")
        if method == "POST" and parts[-1] == "queries":
            return self.query(body)
        if method == "GET" and len(parts) >= 2 and parts[-2] == "queries":
            token = parse_qs(url.query).get("pageToken", ["0"])[0]
            return 200, self.page(parts[-1], int(token))
        if method == "GET" and len(parts) >= 2 and parts[-2] == "jobs" and parts[-1] in self.jobs:
            return 200, self.job(parts[-1])
        return 404, error(404, f"the fake does not serve {method} {url.path}")

    def query(self, body: Mapping[str, Any]) -> tuple[int, dict]:
        match = QUERY.match(str(body.get("query", "")))
        if not match:
            return 400, error(400, "the fake answers only monitor.py's query")
        table = match.group(1)
        if table not in self.tables:
            return 404, error(404, f"Not found: Table {table} was not found")
        job = f"job{len(self.jobs)}"
        self.jobs[job] = self.tables[table]
        return 200, self.page(job, 0)

    def job(self, job: str) -> dict:
        return {
            "kind": "bigquery#job",
            "jobReference": {"projectId": "fake", "jobId": job, "location": "US"},
            "configuration": {"query": {"query": "", "useLegacySql": False}},
            "status": {"state": "DONE"},
        }

    def page(self, job: str, start: int) -> dict:
        rows = self.jobs[job]
        chunk = rows[start : start + PAGE_ROWS]
        answer = {
            "kind": "bigquery#queryResponse",
            "jobReference": {"projectId": "fake", "jobId": job, "location": "US"},
            "jobComplete": True,
            "schema": {"fields": [{"name": "prediction_log", "type": "STRING"}]},
            "totalRows": str(len(rows)),
            "rows": [{"f": [{"v": r}]} for r in chunk],
        }
        if start + PAGE_ROWS < len(rows):
            answer["pageToken"] = str(start + PAGE_ROWS)
        return answer


def error(code: int, message: str) -> dict:
    reason = {400: "invalidQuery", 404: "notFound"}[code]
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "reason": reason}],
        }
    }


@contextmanager
def serve(fake: FakeBigQuery) -> Iterator[str]:
    """Serve the fake on 127.0.0.1 in a thread; yields its base URL."""

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            self.reply_json(*fake.answer("GET", self.path, {}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self.reply_json(*fake.answer("POST", self.path, body))

    with in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url
