"""Bench-only entry point: main.predict with each part of the handler timed.

bench/handler_profile.py serves it and reads the medians it prints to the server's output.
"""

import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main
from serving import http

REPORT_AFTER = 2500
SKIP = 500
timings: dict[str, list[float]] = defaultdict(list)


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = function(*args, **kwargs)
        timings[name].append(time.perf_counter() - started)
        return result

    return wrapper


http.read_body = timed("read the body", http.read_body)
main.ENDPOINT.answer = timed("route, parse, validate, predict", main.ENDPOINT.answer)
http._log = timed("log line", http._log)
http.jsonio.encode = timed("encode", http.jsonio.encode)


def predict(request: flask.Request) -> flask.Response:
    response = timed("whole handler", main.predict)(request)
    if len(timings["whole handler"]) == REPORT_AFTER:
        parts = ", ".join(
            f"{name} {statistics.median(values[SKIP:]) * 1e6:.0f} us"
            for name, values in timings.items()
        )
        print(f"TIMINGS {parts}", file=sys.stderr, flush=True)
    return response
