"""The long fuzz run: >= 10,000 hostile requests (tests/support/fuzz_cases.py's strategies) at
real servers.

    .venv/bin/python bench/fuzz.py --cases 10000

Three servers: the breast-cancer classifier and "digits" (tests/support/fuzz_targets.py:
numeric-looking feature names, a text feature, gaps) on the ONNX runtime and on the scikit-learn
one. Prints the figures as JSON (cases, statuses, framings, input classes whose status is known,
latency, errors logged, longest log line, RSS) and exits 1 if any answer broke a property (5xx,
not JSON, no message, a long echo, a status other than the one the generator expects, a hang) or
a server died.
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
from tests.support.fuzz_cases import Case, cases, check, fuzz_env, send  # noqa: E402
from tests.support.fuzz_targets import (  # noqa: E402
    DIGITS,
    DIGITS_SKLEARN,
    FUZZ_MAX_BODY_BYTES,
    FUZZ_MAX_ROWS,
    MAIN,
    digits_csv,
    digits_train_args,
    register,
)
from tests.support.servers import Server, error_lines, longest_line, rss_kib, start_server  # noqa: E402


def start(models: dict[str, Path]) -> dict[str, Server]:
    """One fuzzed server per target, its model registered for the strategies."""
    servers: dict[str, Server] = {}
    try:
        for target, folder in models.items():
            register(target, folder)
            servers[target] = start_server(fuzz_env(folder, target))
    except Exception:
        for server in servers.values():
            server.stop()
        raise
    return servers


def run(count: int, models: dict[str, Path]) -> dict[str, Any]:
    """Fuzz fresh servers with `count` cases; the figures, failures included."""
    servers = start(models)
    server = servers[MAIN]
    statuses: collections.Counter[int] = collections.Counter()
    framings: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    known: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    slowest: list[tuple[float, str]] = []
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
            answer = send(servers[case.target].url, case)
            check(case, answer)
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc} <- {case.describe()}"[:500])
            return
        latencies.append(time.perf_counter() - started)
        slowest.append((latencies[-1], case.describe()[:200]))
        slowest.sort(reverse=True)
        del slowest[3:]
        statuses[answer.status] += 1
        framings[case.framing] += 1
        if case.expect is not None:
            known[f"{case.kind} {answer.status}"] += 1
        if answer.status >= 400 and case.method != "HEAD":
            codes[json.loads(answer.body)["code"]] += 1

    try:
        started = time.perf_counter()
        rss_before = rss_kib(server.process.pid)
        one()
        seconds = time.perf_counter() - started
        alive = all(one.process.poll() is None for one in servers.values())
        rss_after = rss_kib(server.process.pid) if alive else 0
        logs = [one.logs() for one in servers.values()]
        logged_errors = [line for log in logs for line in error_lines(log)]
        longest = max(longest_line(log) for log in logs)
    finally:
        for one in servers.values():
            one.stop()
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
        "known_status_cases": dict(sorted(known.items())),
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "slowest": [f"{seconds * 1000:.0f} ms {case}" for seconds, case in slowest],
        "errors_logged": len(logged_errors),
        "errors_logged_first": [line[:500] for line in logged_errors[:5]],
        "longest_log_line": longest,
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
        digits_dir = Path(scratch) / "digits"
        with contextlib.redirect_stdout(sys.stderr):
            if model_dir is None:
                model_dir = Path(scratch) / "model"
                train.main(["--out", str(model_dir)])
            data = digits_csv(Path(scratch) / "digits.csv")
            train.main([*digits_train_args(data), "--out", str(digits_dir)])
        figures = run(args.cases, {MAIN: model_dir, DIGITS: digits_dir, DIGITS_SKLEARN: digits_dir})
    print(json.dumps(figures, indent=2))
    ok = figures["failure_count"] == 0 and figures["errors_logged"] == 0 and figures["server_alive"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
