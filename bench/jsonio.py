"""stdlib json vs orjson on the 1000-row body: decode and encode, median of repeats.

python bench/jsonio.py
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable

import numpy as np
import orjson
from common import sample_rows, trained_model


def median_ms(call: Callable[[], object], repeat: int = 15, number: int = 20) -> float:
    """Median milliseconds per call."""
    return statistics.median(timeit.repeat(call, repeat=repeat, number=number)) / number * 1000


def main() -> None:

    with trained_model() as model_dir:
        rows = sample_rows(model_dir, 1000)
    body = json.dumps({"features": rows}).encode()
    answer = {
        "predictions": np.zeros(1000, dtype=np.int64).tolist(),
        "probabilities": np.random.default_rng(0).random((1000, 2)).tolist(),
        "classes": [0, 1],
    }
    figures = {
        "decode stdlib json.loads": median_ms(lambda: json.loads(body)),
        "decode orjson.loads": median_ms(lambda: orjson.loads(body)),
        "encode stdlib json.dumps": median_ms(lambda: json.dumps(answer).encode()),
        "encode orjson.dumps": median_ms(lambda: orjson.dumps(answer)),
    }
    print(f"body: {len(body)} bytes, 1000 rows x 30 features; answer with probabilities")
    for name, value in figures.items():
        print(f"{name:<28} {value:8.3f} ms")
    decode = figures["decode stdlib json.loads"] / figures["decode orjson.loads"]
    encode = figures["encode stdlib json.dumps"] / figures["encode orjson.dumps"]
    print(f"orjson speed-up: decode x{decode:.1f}, encode x{encode:.1f}")


if __name__ == "__main__":
    main()
