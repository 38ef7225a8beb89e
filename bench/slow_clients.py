"""What stalled clients cost everyone else: one-row latency with none, then with as many
stalled clients as threads and with twice as many.

    .venv/bin/python bench/slow_clients.py                  # defaults: 8 threads, 10 s deadline
    .venv/bin/python bench/slow_clients.py --deadline 2     # a shorter try

Serves the bundled model/ as `make serve` does (THREADS and BODY_TIMEOUT_SECONDS as given).
Each stalled client sends its headers and six bytes of a 100-byte body, then waits; a new one
replaces it as soon as it is answered, for the whole measuring window. Meanwhile one normal
client sends one-row requests one after another. Prints, per setting, the normal requests'
median and worst latency and every status the stalled clients got.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.servers import Server, start_server
from tests.support.slow_client import CLIENT_TIMEOUT, json_of, read_until_closed, stalled_client


def normal_latencies(server: Server, body: bytes, stop: threading.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        request = urllib.request.Request(
            server.url, data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as answer:
            answer.read()
        latencies.append(time.perf_counter() - started)
    return latencies


def keep_stalling(server: Server, stop: threading.Event, statuses: Counter[str]) -> None:
    while not stop.is_set():
        status, answer = json_of(read_until_closed(stalled_client(server.url, b'{"feat', 100)))
        statuses[f"{status} {answer.get('code')}"] += 1


def measure(server: Server, body: bytes, stalled: int, seconds: float) -> dict[str, Any]:
    stop, statuses = threading.Event(), Counter[str]()
    stallers = [
        threading.Thread(target=keep_stalling, args=(server, stop, statuses))
        for _ in range(stalled)
    ]
    for thread in stallers:
        thread.start()
    time.sleep(0.2)
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    latencies = normal_latencies(server, body, stop)
    for thread in stallers:
        thread.join()
    return {
        "stalled_clients": stalled,
        "normal_requests": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "stalled_answers": dict(statuses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=10.0, help="BODY_TIMEOUT_SECONDS")
    parser.add_argument("--seconds", type=float, default=30.0, help="window per setting")
    args = parser.parse_args(argv)
    server = start_server(
        {"THREADS": str(args.threads), "BODY_TIMEOUT_SECONDS": str(args.deadline)}
    )
    try:
        with urllib.request.urlopen(server.url, timeout=CLIENT_TIMEOUT) as answer:
            width = len(json.load(answer)["feature_names"])
        body = json.dumps({"features": [1.0] * width}).encode()
        results = [
            measure(server, body, stalled, args.seconds)
            for stalled in (0, args.threads, 2 * args.threads)
        ]
    finally:
        server.stop()
    print(json.dumps({"threads": args.threads, "deadline_s": args.deadline, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
