"""onnxruntime session options for a serverless instance: threads and graph optimisation.

    python bench/onnx_options.py               # on the whole machine
    python bench/onnx_options.py --vcpu 0.333  # inside a CPU quota (512 MiB's share; root)

For each option set: session creation time, one-row and 1000-row latency (median), and
throughput with 8 threads calling the same session at once (as the framework's threads do).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from cgroups import Limits
from common import sample_rows, trained_model

OPTION_SETS = {
    "ours: 1 thread, sequential, all optimisations": (
        1,
        1,
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ),
    "default: intra threads = cores, all optimisations": (
        0,
        0,
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    ),
    "2 intra threads, all optimisations": (2, 1, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
    "1 thread, basic optimisations": (1, 1, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
    "1 thread, no optimisation": (1, 1, ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
}


def build(
    model: bytes, intra: int, inter: int, level: ort.GraphOptimizationLevel
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = level
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def threaded_rows_per_s(session: ort.InferenceSession, rows: np.ndarray, seconds: float) -> float:
    """Rows/s with 8 threads predicting one row at a time on a shared session."""
    counts = [0] * 8
    stop = time.perf_counter() + seconds

    def work(index: int) -> None:
        while time.perf_counter() < stop:
            session.run(None, {"X": rows[index : index + 1]})
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def median_ms(call: Callable[[], object], number: int) -> float:
    return statistics.median(timeit.repeat(call, repeat=9, number=number)) / number * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vcpu", type=float, help="run inside a cgroup CPU quota of this many")
    args = parser.parse_args()
    if args.vcpu:
        limits = Limits.create("onnx-options")
        try:
            limits.set(args.vcpu, None)
            print(f"inside a CPU quota of {args.vcpu} vCPU")
            subprocess.run([sys.executable, __file__], check=True, preexec_fn=limits.join)
        finally:
            limits.empty()
            limits.remove()
        return
    with trained_model() as model_dir:
        model = (model_dir / "model.onnx").read_bytes()
        rows = np.asarray(sample_rows(model_dir, 1000), dtype=np.float64)
    columns = ("create ms", "1 row us", "1000 rows ms", "8 threads rows/s")
    print(f"{'options':<52}" + "".join(f"{c:>18}" for c in columns))
    for name, (intra, inter, level) in OPTION_SETS.items():
        started = time.perf_counter()
        session = build(model, intra, inter, level)
        created = (time.perf_counter() - started) * 1000
        one = median_ms(lambda s=session: s.run(None, {"X": rows[:1]}), 500) * 1000
        big = median_ms(lambda s=session: s.run(None, {"X": rows}), 20)
        rate = threaded_rows_per_s(session, rows, 2.0)
        print(f"{name:<52}{created:>18.2f}{one:>18.1f}{big:>18.3f}{rate:>18.0f}")


if __name__ == "__main__":
    main()
