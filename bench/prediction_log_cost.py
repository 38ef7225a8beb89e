"""What PREDICTION_LOG_RATE costs: one-row p50 with the setting unset, at 0, and at 1.

    cd bench && ../.venv/bin/python prediction_log_cost.py            # BENCHMARKS.md's run
    cd bench && ../.venv/bin/python prediction_log_cost.py --quick    # seconds

The penguins model (text and gaps, ONNX runtime) served three times side by side; the servers
take turns, each round one keep-alive run per server, so load drift hits all three alike.
"""

from __future__ import annotations

import argparse
import json
import statistics

from common import REPO, Variant
from compare import keepalive_latencies
from penguins import trained_penguins

from tests.support.servers import start_server

ROW = {
    "island": "Biscoe",
    "bill_length_mm": 45.1,
    "bill_depth_mm": 14.5,
    "flipper_length_mm": 215,
    "body_mass_g": 5000,
    "sex": None,
    "year": 2008,
}
SETTINGS = {
    "unset": {},
    "rate 0": {"PREDICTION_LOG_RATE": "0"},
    "rate 1": {"PREDICTION_LOG_RATE": "1"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    args = parser.parse_args()
    rounds, count = (1, 50) if args.quick else (10, 300)
    body = json.dumps({"instances": [ROW]}).encode()
    with trained_penguins() as model_dir:
        variants = [
            Variant(name, REPO / "main.py", {"MODEL_URI": str(model_dir), **env})
            for name, env in SETTINGS.items()
        ]
        servers = {v.name: start_server(dict(v.env), source=v.source) for v in variants}
        try:
            timings: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(rounds):
                for name, server in servers.items():
                    timings[name] += keepalive_latencies(server.url, body, count, warmup=20)
            logged = sum(
                '"prediction_log"' in line for line in servers["rate 1"].logs().splitlines()
            )
        finally:
            for server in servers.values():
                server.stop()
    base = statistics.median(timings["unset"])
    for name, values in timings.items():
        p50 = statistics.median(values)
        print(f"{name}: p50 {p50 * 1000:.3f} ms (x{p50 / base:.3f}), {len(values)} requests")
    print(f"rate 1 logged {logged} entries")


if __name__ == "__main__":
    main()
