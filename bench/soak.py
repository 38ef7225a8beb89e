"""Load and soak: wrk with mixed valid and invalid requests, then 64 simultaneous cold requests.

    .venv/bin/python bench/soak.py                 # 60 s at concurrency 8, then 32
    .venv/bin/python bench/soak.py --seconds 10    # a short try

Serves the bundled model/ as `make serve` does (plus a 64 KiB body limit and 100 rows per
request, so that 413 and 422 are in the mix cheaply). Each run must answer only the statuses
its mix expects, in the mix's proportions, log no error, and keep the worker's RSS within 5% of
its size after warm-up. Prints the figures as JSON; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.raw_http import fire_together, stream_oversized  # noqa: E402
from tests.support.servers import Server, error_lines, rss_kib, start_server  # noqa: E402

MAX_BODY_BYTES = 64 * 1024
MAX_ROWS = 100
RSS_GROWTH_LIMIT = 0.05
COLD_REQUESTS = 64


def dataset_rows() -> list[list[float]]:
    from sklearn.datasets import load_breast_cancer

    return [[float(x) for x in row] for row in load_breast_cancer().data]


def mix(rows: list[list[float]]) -> list[dict[str, Any]]:
    """The requests wrk cycles through, each with the one status it must get."""
    tensor = {"name": "input-0", "shape": [4, 30], "datatype": "FP64", "data": rows[:4]}

    def post(path: str, body: Any, status: int, content_type: str = "application/json") -> dict:
        data = body if isinstance(body, str) else json.dumps(body)
        return {"method": "POST", "path": path, "type": content_type, "body": data, "want": status}

    def get(path: str, status: int, method: str = "GET") -> dict[str, Any]:
        return {"method": method, "path": path, "type": "", "body": "", "want": status}

    csv_rows = "\n".join(",".join(map(str, row)) for row in rows[:5])
    return [
        post("/", {"features": rows[0]}, 200),
        post("/", {"instances": rows[:10], "probabilities": True}, 200),
        post("/", {"features": rows[1]}, 200),
        post("/v2/models/breast-cancer/infer", {"inputs": [tensor]}, 200),
        post("/invocations", csv_rows, 200, "text/csv"),
        post("/v1/models/breast-cancer:predict", {"instances": rows[2:4]}, 200),
        get("/health", 200),
        get("/", 200),
        post("/", '{"features": [1, 2,', 400),
        post("/", {"features": rows[0][:29]}, 400),
        post("/", {"features": [*rows[0][:29], "NaN"]}, 400),
        post("/", {"instances": rows[:1] * (MAX_ROWS + 1)}, 422),
        post("/", {"instances": [[1.0] * 30] * 600}, 413),
        post("/", {"features": rows[0]}, 415, "text/plain"),
        get("/nowhere", 404),
        get("/health", 405, method="PUT"),
    ]


LUA = r"""
local requests = {}
local wants = {}
local counter = 1
local threads = {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for _, entry in ipairs(MIX) do
    local headers = {}
    if entry.type ~= "" then headers["Content-Type"] = entry.type end
    -- The server closes the connection after a 413 (the rest of that body is never read):
    -- say so up front, so wrk opens a new one instead of losing the next request.
    if entry.want == "413" then headers["Connection"] = "close" end
    local body = nil
    if entry.body ~= "" then body = entry.body end
    table.insert(requests, wrk.format(entry.method, entry.path, headers, body))
  end
end

function request()
  local r = requests[counter]
  counter = counter % #requests + 1
  return r
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, ' ..
    '"max": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, table.concat(parts, ", ")))
end
"""


def lua_script(entries: list[dict[str, Any]]) -> str:
    """The wrk script with the mix inlined as a Lua table."""

    def quote(text: str) -> str:
        return "[==[" + text + "]==]"

    rows = ",\n".join(
        "{" + ", ".join(f"{key} = {quote(str(entry[key]))}" for key in entry) + "}"
        for entry in entries
    )
    return f"MIX = {{\n{rows}\n}}\n" + LUA


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    threads = min(connections, os.cpu_count() or 1)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["command"] = " ".join(command)
    return result


class RssSampler:
    """Samples the server's RSS once a second in the background."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(rss_kib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def check_run(result: dict[str, Any], entries: list[dict[str, Any]], connections: int) -> list[str]:
    """Only the mix's statuses, each roughly in the mix's proportion; no socket errors."""
    problems: list[str] = []
    got = {int(status): count for status, count in result["statuses"].items()}
    answered = sum(got.values())
    expected: dict[int, float] = {}
    for entry in entries:
        want = int(entry["want"])
        expected[want] = expected.get(want, 0) + answered / len(entries)
    for status, share in expected.items():
        count = got.get(status, 0)
        if abs(count - share) > max(2 * connections, 0.1 * share):
            problems.append(f"status {status}: {count}, expected about {share:.0f}")
    unexpected = {status: count for status, count in got.items() if status not in expected}
    if unexpected:
        problems.append(f"unexpected statuses {unexpected}")
    if any(result["errors"].values()):
        problems.append(f"wrk socket errors: {result['errors']}")
    return problems


def soak(seconds: int, concurrencies: list[int]) -> dict[str, Any]:
    rows = dataset_rows()
    entries = mix(rows)
    figures: dict[str, Any] = {"machine": machine(), "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "mix.lua"
        script.write_text(lua_script(entries))
        server = start_server({"MAX_BODY_BYTES": str(MAX_BODY_BYTES), "MAX_ROWS": str(MAX_ROWS)})
        try:
            warm = run_wrk(server.url, script, max(concurrencies), max(5, seconds // 6))
            figures["warm_up"] = {"seconds": warm["seconds"], "requests": warm["requests"]}
            for connections in concurrencies:
                figures["runs"].append(measured_run(server, script, entries, connections, seconds))
            figures["errors_logged"] = error_lines(server.logs())[:5]
            figures["server_alive"] = server.process.poll() is None
        finally:
            server.stop()
    figures["cold_start"] = cold_burst(rows)
    figures["oversized_upload"] = oversized_upload()
    figures["ok"] = (
        not figures["errors_logged"]
        and figures["server_alive"]
        and all(not run["problems"] for run in figures["runs"])
        and not figures["cold_start"]["problems"]
        and not figures["oversized_upload"]["problems"]
    )
    return figures


def measured_run(
    server: Server, script: Path, entries: list[dict[str, Any]], connections: int, seconds: int
) -> dict[str, Any]:
    before = rss_kib(server.process.pid)
    load_before = os.getloadavg()
    with RssSampler(server.process.pid) as sampler:
        result = run_wrk(server.url, script, connections, seconds)
    after = rss_kib(server.process.pid)
    growth = (after - before) / before
    problems = check_run(result, entries, connections)
    if growth > RSS_GROWTH_LIMIT:
        problems.append(f"RSS grew {growth:.1%} (limit {RSS_GROWTH_LIMIT:.0%})")
    return {
        "connections": connections,
        "command": result["command"],
        "requests": result["requests"],
        "requests_per_second": round(result["requests"] / result["seconds"], 1),
        "latency_ms": {k: v / 1000 for k, v in result["latency_us"].items()},
        "statuses": result["statuses"],
        "rss_kib": {"after_warm_up": before, "end": after, "max": max(sampler.samples or [after])},
        "rss_growth": round(growth, 4),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "problems": problems,
    }


def cold_burst(rows: list[list[float]]) -> dict[str, Any]:
    """64 simultaneous first requests on a fresh instance: one load, every answer right."""
    import joblib
    import numpy as np

    estimator = joblib.load(REPO / "model" / "model.joblib")
    chosen = rows[:COLD_REQUESTS]
    expected = estimator.predict(np.asarray(chosen)).tolist()
    server = start_server()
    try:
        started = time.perf_counter()
        results = fire_together(server.url, [{"features": row} for row in chosen])
        seconds = time.perf_counter() - started
        logs = server.logs()
    finally:
        server.stop()
    problems = []
    statuses = [status for status, _ in results]
    if statuses != [200] * COLD_REQUESTS:
        problems.append(f"statuses {sorted(set(statuses))}")
    elif [body["prediction"] for _, body in results] != expected:
        problems.append("a prediction differs from model.predict")
    loads = logs.count('"message": "model loaded"')
    if loads != 1:
        problems.append(f"{loads} model loads")
    return {
        "requests": COLD_REQUESTS,
        "all_answered_seconds": round(seconds, 3),
        "model_loads": loads,
        "problems": problems,
    }


def oversized_upload(limit: int = 1 << 20, total: int = 256 << 20) -> dict[str, Any]:
    """A 256 MiB chunked upload at a 1 MiB limit: how much is sent before the 413, and RSS."""
    server = start_server({"MAX_BODY_BYTES": str(limit)})
    try:
        fire_together(server.url, [{"features": [1.0] * 30}])
        before = rss_kib(server.process.pid)
        started = time.perf_counter()
        status, sent = stream_oversized(server.url, total)
        seconds = time.perf_counter() - started
        after = rss_kib(server.process.pid)
    finally:
        server.stop()
    problems = [] if status == 413 and sent < total // 4 else [f"{status} after {sent} bytes"]
    if after - before > 8 * 1024:
        problems.append(f"RSS grew {after - before} KiB")
    return {
        "limit_bytes": limit,
        "offered_bytes": total,
        "status": status,
        "sent_before_answer_bytes": sent,
        "answer_seconds": round(seconds, 3),
        "rss_growth_kib": after - before,
        "problems": problems,
    }


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).split("\n", 1)[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each measured run")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[8, 32], help="wrk connections per run"
    )
    args = parser.parse_args(argv)
    figures = soak(args.seconds, args.concurrency)
    print(json.dumps(figures, indent=2))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
