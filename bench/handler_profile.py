"""Where one request's time goes inside the running server, part by part (medians).

    python bench/handler_profile.py [onnx|sklearn]

Serves bench/timed_entry.py (main.predict with its parts timed) on a real functions-framework
server, sends 2,500 one-row requests over one keep-alive connection, and prints the medians
of the last 2,000, next to the client-side p50.
"""

from __future__ import annotations

import statistics
import sys
import time

from common import REPO, Variant, launch, sample_rows, trained_model
from compare import keepalive_latencies


def main() -> None:
    runtime = sys.argv[1] if len(sys.argv) > 1 else "onnx"
    with trained_model() as model_dir:
        variant = Variant(
            f"timed {runtime}",
            REPO / "bench" / "timed_entry.py",
            {"MODEL_URI": str(model_dir), "MODEL_RUNTIME": runtime},
        )
        server = launch(variant)
        try:
            latencies = keepalive_latencies(
                server.url, variant.body(sample_rows(model_dir, 1)), 2000, 500
            )
            time.sleep(0.5)
            report = [line for line in server.logs().splitlines() if line.startswith("TIMINGS")]
        finally:
            server.stop()
    print(f"{runtime}: client p50 {statistics.median(latencies) * 1000:.3f} ms")
    print(report[0] if report else "no timings reported")


if __name__ == "__main__":
    main()
