"""Does OPENBLAS_NUM_THREADS=1 (deploy.sh sets it) slow any batch size down?

    python bench/openblas_threads.py            # 1, 100, 1000, 10000 rows; both runtimes

For each runtime (ONNX, scikit-learn) two warm servers run side by side, one with numpy's
OpenBLAS left to its default thread count and one with OPENBLAS_NUM_THREADS=1; requests
alternate between them so both see the same machine load. Prints the median latency per
batch size and the ratio (one thread / default): above 1 means one thread is slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

from common import Variant, post, sample_rows, trained_model, variants

from tests.support.servers import Server, start_server

BATCHES = (1, 100, 1000, 10_000)


def requests_for(rows: int) -> int:
    """Fewer repeats for the big batches: each takes longer."""
    return 41 if rows <= 100 else 21 if rows <= 1000 else 11


def timed_ms(server: Server, body: bytes) -> float:
    started = time.perf_counter()
    status, answer = post(server.url, body, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"answered {status}: {answer[:200]!r}")
    return elapsed


def compare(variant: Variant, rows_by_size: dict[int, list[list[float]]]) -> list[str]:
    """Markdown rows: runtime, rows, median ms default, median ms one thread, ratio."""
    base = {**variant.env, "WORKERS": "1", "THREADS": "1"}
    default = start_server(base, source=variant.source)
    single = start_server({**base, "OPENBLAS_NUM_THREADS": "1"}, source=variant.source)
    lines = []
    try:
        for size, rows in rows_by_size.items():
            body = variant.body(rows)
            for _ in range(3):
                timed_ms(default, body)
                timed_ms(single, body)
            times: dict[str, list[float]] = {"default": [], "single": []}
            for _ in range(requests_for(size)):
                times["default"].append(timed_ms(default, body))
                times["single"].append(timed_ms(single, body))
            plain = statistics.median(times["default"])
            one = statistics.median(times["single"])
            lines.append(
                f"| {variant.name} | {size} | {plain:.2f} | {one:.2f} | {one / plain:.2f} |"
            )
            print(lines[-1], flush=True)
    finally:
        default.stop()
        single.stop()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.batches.split(",")]
    # The "default" server must not inherit a setting from this shell.
    os.environ.pop("OPENBLAS_NUM_THREADS", None)
    print("| runtime | rows | default (ms) | OPENBLAS_NUM_THREADS=1 (ms) | ratio |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    with trained_model() as model_dir:
        rows_by_size = {size: sample_rows(model_dir, size) for size in sizes}
        for variant in variants(model_dir):
            if variant.name in ("onnx", "sklearn"):
                compare(variant, rows_by_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
