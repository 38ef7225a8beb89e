"""The long fuzz run: >= 10,000 hostile requests (tests/test_fuzz.py's strategies) at a real server.

    .venv/bin/python bench/fuzz.py --cases 10000

Prints the figures as JSON (cases, statuses, framings, latency, errors logged, RSS) and exits 1
if any answer broke a property (5xx, not JSON, no message, a hang) or the server died.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, settings  # noqa: E402

import train  # noqa: E402
from tests.servers import start_server  # noqa: E402
from tests.test_fuzz import (  # noqa: E402
    FUZZ_MAX_BODY_BYTES,
    FUZZ_MAX_ROWS,
    Case,
    cases,
    check,
    error_lines,
    fuzz_env,
    rss_kib,
    send,
)


def run(count: int, model_dir: Path) -> dict[str, Any]:
    """Fuzz a fresh server with `count` cases; the figures, failures included."""
    server = start_server(fuzz_env(model_dir))
    statuses: collections.Counter[int] = collections.Counter()
    framings: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    failures: list[str] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases())
    def one(case: Case) -> None:
        started = time.perf_counter()
        try:
            answer = send(server.url, case)
            check(case, answer)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc} <- {case.describe()}"[:500])
            return
        latencies.append(time.perf_counter() - started)
        statuses[answer.status] += 1
        framings[case.framing] += 1
        if answer.status >= 400 and case.method != "HEAD":
            codes[json.loads(answer.body)["code"]] += 1

    try:
        started = time.perf_counter()
        rss_before = rss_kib(server.process.pid)
        one()
        seconds = time.perf_counter() - started
        alive = server.process.poll() is None
        rss_after = rss_kib(server.process.pid) if alive else 0
        logged_errors = error_lines(server.logs())
    finally:
        server.stop()
    latencies.sort()
    sent = len(latencies) + len(failures)
    return {
        "cases": sent,
        "failures": failures[:20],
        "failure_count": len(failures),
        "seconds": round(seconds, 1),
        "cases_per_second": round(sent / seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "error_codes": dict(codes.most_common()),
        "framings": dict(framings.most_common()),
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "errors_logged": len(logged_errors),
        "server_alive": alive,
        "rss_kib": {"start": rss_before, "end": rss_after},
        "max_body_bytes": FUZZ_MAX_BODY_BYTES,
        "max_rows": FUZZ_MAX_ROWS,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="requests to send")
    parser.add_argument("--model", type=Path, help="model folder (default: train a fresh one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(scratch) / "model"
            with contextlib.redirect_stdout(sys.stderr):
                train.main(["--out", str(model_dir)])
        figures = run(args.cases, model_dir)
    print(json.dumps(figures, indent=2))
    ok = figures["failure_count"] == 0 and figures["errors_logged"] == 0 and figures["server_alive"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
