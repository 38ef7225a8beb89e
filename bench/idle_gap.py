"""One request's handler work back to back, and with the CPU idle in between (as between
real requests): what the same code costs once caches have gone cold.

    python bench/idle_gap.py [onnx|sklearn]

Runs Endpoint.answer in this process (no server) on a freshly trained model, 2,000 one-row
calls each way, and prints the medians.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from common import sample_rows, trained_model

from serving.endpoint import Endpoint
from serving.settings import Settings

CALLS = 2000
IDLE_SECONDS = 0.001


def median_us(endpoint: Endpoint, body: bytes, idle: float) -> float:
    """Median microseconds of Endpoint.answer, sleeping `idle` seconds before each call."""
    timings = []
    for _ in range(CALLS):
        if idle:
            time.sleep(idle)
        started = time.perf_counter()
        endpoint.answer("POST", "/", "application/json", body)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def main() -> None:
    runtime = sys.argv[1] if len(sys.argv) > 1 else "onnx"
    with trained_model() as model_dir:
        endpoint = Endpoint(
            Settings.from_env({"MODEL_URI": str(model_dir), "MODEL_RUNTIME": runtime})
        )
        body = json.dumps({"features": sample_rows(model_dir, 1)}).encode()
        median_us(endpoint, body, 0)  # load the model, warm up
        hot = median_us(endpoint, body, 0)
        idle = median_us(endpoint, body, IDLE_SECONDS)
    gap_ms = IDLE_SECONDS * 1e3
    print(f"{runtime}: back to back {hot:.0f} us; after {gap_ms:g} ms idle {idle:.0f} us")


if __name__ == "__main__":
    main()
