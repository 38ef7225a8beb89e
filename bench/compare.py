"""Baseline vs this project (ONNX and scikit-learn runtimes): cold start, latency, memory.

    python bench/compare.py            # the full run recorded in BENCHMARKS.md (~3 minutes)
    python bench/compare.py --quick    # a seconds-long smoke run (CI)

Every variant serves the same model file through a real functions-framework server on
127.0.0.1; figures are medians, and each is printed with its ratio to the baseline. The framework
floor is a handler with no model: what functions-framework itself costs. The "2 workers"
columns serve the baseline and the ONNX runtime with WORKERS=2, THREADS=4, what deploy.sh sets
on a 2-vCPU instance (`--cpu 2 --concurrency 8`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    FRAMEWORK_FLOOR,
    Variant,
    cold_start,
    launch,
    memory_mb,
    post,
    sample_rows,
    trained_model,
    variants,
)

# Lower is better for all but requests/s.
HIGHER_IS_BETTER = {"requests_per_s"}
# What deploy.sh sets for `--cpu 2 --concurrency 8`: one process per vCPU, 4 threads each.
TWO_WORKERS = {"WORKERS": "2", "THREADS": "4"}


def with_two_workers(variant: Variant) -> Variant:
    """The same variant served by two functions-framework processes, as on a 2-vCPU instance."""
    return Variant(f"{variant.name} 2 workers", variant.source, {**variant.env, **TWO_WORKERS})


def keepalive_latencies(url: str, body: bytes, count: int, warmup: int) -> list[float]:
    """Seconds per request over one persistent connection, after a warm-up."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json"}
    timings = []
    try:
        for i in range(warmup + count):
            started = time.perf_counter()
            connection.request("POST", "/", body, headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            if i >= warmup:
                timings.append(elapsed)
    finally:
        connection.close()
    return timings


def wrk_requests_per_s(url: str, body: bytes, seconds: int, connections: int) -> float:
    """Requests/s from wrk at a given concurrency; every answer must be a 200."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body.decode())}\n"
        )
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        Path(script.name).unlink()
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"cannot read wrk output:\n{output}")
    return float(match.group(1))


def cold_starts(candidates: list[Variant], body: bytes, count: int) -> dict[str, list[float]]:
    """Fresh starts, taking turns between variants so that drift on a shared machine
    weighs on each alike."""
    starts: dict[str, list[float]] = {v.name: [] for v in candidates}
    for _ in range(count):
        for variant in candidates:
            starts[variant.name].append(cold_start(variant, body))
    return starts


def answered_labels(url: str, body: bytes) -> list[object]:
    """The labels a warm server answers for `body` (this project's formats say
    "predictions", the ten-line handler "prediction")."""
    status, answer = post(url, body)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}: {answer[:500]!r}")
    decoded = json.loads(answer)
    return list(decoded["predictions"] if "predictions" in decoded else decoded["prediction"])


def side_by_side(
    candidates: list[Variant],
    body: bytes,
    starts: dict[str, list[float]],
    rounds: tuple[int, int, int],
    agreement_body: bytes | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, list[object]]]:
    """Figures per variant (cold starts already measured) and each one's answer to
    `agreement_body` (default: `body`). The warm servers run side by side and take turns,
    `rounds` = (rounds, requests per round, warm-up per round), so that drift on a shared
    machine weighs on each alike. Memory is each server's process tree after all of that."""
    count, requests, warmup = rounds
    with contextlib.ExitStack() as stack:
        servers = {}
        for variant in candidates:
            server = launch(variant)
            stack.callback(server.stop)
            servers[variant.name] = server
        answers = {
            name: answered_labels(server.url, agreement_body or body)
            for name, server in servers.items()
        }
        latencies: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(count):
            for name, server in servers.items():
                latencies[name] += keepalive_latencies(server.url, body, requests, warmup)
        memory = {name: memory_mb(server.process.pid) for name, server in servers.items()}
    results = {
        name: {
            "cold_start_s": statistics.median(starts[name]),
            "p50_ms": statistics.median(latencies[name]) * 1000,
            "p99_ms": statistics.quantiles(latencies[name], n=100)[98] * 1000,
            "peak_rss_mb": memory[name][0],
            "pss_mb": memory[name][2],
        }
        for name in servers
    }
    return results, answers


def measure(
    variant: Variant, rows: list[list[float]], starts: list[float], args: argparse.Namespace
) -> dict[str, float]:
    """All figures for one variant (its cold starts already measured)."""
    one_row = variant.body(rows[:1])
    server = launch(variant)
    try:
        latencies = keepalive_latencies(server.url, one_row, args.requests, args.warmup)
        big = variant.body(rows[:1000])
        big_timings = keepalive_latencies(server.url, big, args.big_requests, 2)
        figures = {
            "cold_start_s": statistics.median(starts),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
            "rows_1000_ms": statistics.median(big_timings) * 1000,
        }
        if shutil.which("wrk"):
            figures["requests_per_s"] = wrk_requests_per_s(server.url, one_row, args.wrk_seconds, 8)
        peak, _, pss = memory_mb(server.process.pid)
        figures |= {"peak_rss_mb": peak, "pss_mb": pss}
    finally:
        server.stop()
    return figures


def report(results: dict[str, dict[str, float]]) -> str:
    """A table of figures with ratios to the baseline."""
    base = results["baseline"]
    lines = [f"{'figure':<16}" + "".join(f"{name:>24}" for name in results)]
    for figure in base:
        cells = []
        for values in results.values():
            ratio = values[figure] / base[figure] if base[figure] else float("nan")
            cells.append(f"{values[figure]:>12.3f} (x{ratio:5.2f})")
        lines.append(f"{figure:<16}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    full = not args.quick
    args.starts = 7 if full else 1
    args.requests = 3000 if full else 50
    args.warmup = 200 if full else 5
    args.big_requests = 20 if full else 2
    args.wrk_seconds = 10 if full else 1
    with trained_model() as model_dir:
        rows = sample_rows(model_dir, 1000)
        baseline, onnx, sklearn = variants(model_dir)
        candidates = [
            baseline,
            onnx,
            sklearn,
            FRAMEWORK_FLOOR,
            with_two_workers(baseline),
            with_two_workers(onnx),
        ]
        starts = cold_starts(candidates, candidates[0].body(rows[:1]), args.starts)
        results = {v.name: measure(v, rows, starts[v.name], args) for v in candidates}
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
