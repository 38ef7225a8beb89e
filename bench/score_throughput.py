"""score.py's throughput against a bare concurrent sender, and a batch's cost per row.

    python bench/score_throughput.py            # 1,000,000 rows, the run in BENCHMARKS.md
    python bench/score_throughput.py --baseline 855bfb8   # the server at a commit, then HEAD's
    python bench/score_throughput.py --quick    # a seconds-long smoke run (CI)

Both clients post the same 500-row `text/csv` chunks, 8 at a time, to one local
functions-framework server with WORKERS=2, THREADS=4 (deploy.sh's 2-vCPU shape). The bare
sender has its chunks built in memory beforehand and throws the answers away; score.py reads
the CSV file, writes the scored file and its journal. Their ratio says whether the client is
ever the bottleneck; score.py's CPU time per row says what the client costs under any
load. Then the cost per row of one 500-row request against one-row requests,
sequential over one keep-alive connection, median of each (JSON `features` bodies, the
shape BigQuery's batches will take; and the same 500 rows as CSV, what score.py sends).
With --baseline, the server runs that commit's tree (unpacked with `git archive`) and then
HEAD's, in --rounds turns, with the same client: the server's change, before and after.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from card_cost import tree
from common import REPO, Variant, launch, machine, sample_rows, trained_model, variants
from compare import with_two_workers

CHUNK_ROWS = 500
CONCURRENCY = 8


def write_input(model_dir: Path, path: Path, count: int) -> None:
    """The training rows repeated to `count`, with a header, as score.py's input."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    rows = sample_rows(model_dir, min(count, 10_000))
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(manifest["feature_names"])
        for index in range(count):
            writer.writerow(rows[index % len(rows)])


def prebuilt_chunks(path: Path) -> list[bytes]:
    """The input's chunks as the bodies score.py sends: the header, then CHUNK_ROWS lines."""
    lines = path.read_bytes().splitlines()
    header, data = lines[0], lines[1:]
    return [
        b"\n".join([header, *data[start : start + CHUNK_ROWS]]) + b"\n"
        for start in range(0, len(data), CHUNK_ROWS)
    ]


def bare_sender_rows_per_s(url: str, bodies: list[bytes]) -> float:
    """Rows/s of posting the bodies CONCURRENCY at a time, answers parsed and dropped."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY)
    session.mount("http://", adapter)
    headers = {"Content-Type": "text/csv"}

    def send(body: bytes) -> int:
        response = session.post(url, data=body, headers=headers, timeout=120)
        response.raise_for_status()
        return len(response.json()["predictions"])

    rows = sum(body.count(b"\n") - 1 for body in bodies)
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        answered = sum(pool.map(send, bodies))
    elapsed = time.perf_counter() - started
    session.close()
    assert answered == rows, (answered, rows)
    return rows / elapsed


def score_py_rows_per_s(url: str, path: Path, out: Path, rows: int) -> tuple[float, float]:
    """Rows/s of score.py on the file, interpreter start included, and the CPU time it took
    per row (microseconds, user + system: what the client costs, whatever the machine's load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "score.py"),
            str(path),
            *("--url", url, "--out", str(out)),
            *("--rows-per-request", str(CHUNK_ROWS), "--concurrency", str(CONCURRENCY)),
        ],
        check=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with out.open("rb") as scored:
        assert sum(1 for _ in scored) == rows + 1
    return rows / elapsed, cpu / rows * 1e6


def ms_per_row(
    url: str, body: bytes, rows: int, count: int, content_type: str = "application/json"
) -> float:
    """Median milliseconds per row of one request of `rows` rows, over one connection."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": content_type}
    timings = []
    for index in range(count + 3):
        started = time.perf_counter()
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        if index >= 3:
            timings.append(time.perf_counter() - started)
    connection.close()
    return statistics.median(timings) * 1000 / rows


def measure(
    server_variant: Variant, model_dir: Path, path: Path, rows: int, quick: bool
) -> dict[str, float]:
    """Every figure for one server: the bare sender, score.py, and the costs per row."""
    figures: dict[str, float] = {}
    server = launch(with_two_workers(server_variant))
    try:
        url = server.url + "/"
        bodies = prebuilt_chunks(path)
        bare_sender_rows_per_s(url, bodies[: 2 * CONCURRENCY])  # warm-up
        figures["bare_sender_rows_per_s"] = bare_sender_rows_per_s(url, bodies)
        csv_batch = bodies[0]
        del bodies
        figures["score_py_rows_per_s"], figures["score_py_cpu_us_per_row"] = score_py_rows_per_s(
            url, path, Path(tempfile.mkdtemp(dir=path.parent)) / "scored.csv", rows
        )
        sample = sample_rows(model_dir, CHUNK_ROWS)
        count = 20 if quick else 200
        batch = json.dumps({"features": sample}).encode()
        single = json.dumps({"features": sample[:1]}).encode()
        figures["batch_500_ms_per_row"] = ms_per_row(server.url, batch, CHUNK_ROWS, count)
        figures["single_row_ms_per_row"] = ms_per_row(server.url, single, 1, count * 5)
        figures["csv_batch_500_ms_per_row"] = ms_per_row(
            server.url, csv_batch, CHUNK_ROWS, count, "text/csv"
        )
    finally:
        server.stop()
    figures["score_py_vs_bare"] = figures["score_py_rows_per_s"] / figures["bare_sender_rows_per_s"]
    figures["single_vs_batch_per_row"] = (
        figures["single_row_ms_per_row"] / figures["batch_500_ms_per_row"]
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline", help="the server at this commit first, then HEAD's")
    parser.add_argument("--rounds", type=int, default=1, help="turns of the two servers")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = 5_000 if args.quick else args.rows
    print(f"machine: {machine()}")
    runs: dict[str, list[dict[str, float]]] = {}
    with trained_model() as model_dir, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        write_input(model_dir, path, rows)
        onnx = next(v for v in variants(model_dir) if v.name == "onnx")
        servers = {"HEAD": onnx}
        if args.baseline:
            source = tree(args.baseline, Path(folder) / "baseline")
            servers = {args.baseline: Variant(args.baseline, source, onnx.env), **servers}
        for _ in range(args.rounds):
            for name, variant in servers.items():
                runs.setdefault(name, []).append(
                    measure(variant, model_dir, path, rows, args.quick)
                )
    print(f"rows: {rows:,}, {CHUNK_ROWS} per request, {CONCURRENCY} in flight, 2-worker server")
    results = {
        name: {figure: statistics.median(run[figure] for run in found) for figure in found[0]}
        for name, found in runs.items()
    }
    for name, figures in results.items():
        print(f"server at {name} (median of {len(runs[name])}):")
        for figure, value in figures.items():
            print(f"  {figure}: {value:,.4g}")
    if args.baseline:
        before, after = results[args.baseline], results["HEAD"]
        for figure in ("score_py_rows_per_s", "bare_sender_rows_per_s"):
            print(f"{figure}, HEAD / {args.baseline}: {after[figure] / before[figure]:.3f}")
    print(f"after: {machine()}")
    if args.json:
        args.json.write_text(
            json.dumps(results if args.baseline else results["HEAD"], indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
