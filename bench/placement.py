"""Where to load the model: on the first request in the worker (ours) or at import in the master.

    python bench/placement.py [--starts 7]

Cold start (spawn to first prediction answered) for each runtime and placement, median;
the starts take turns between the four variants.
"""

from __future__ import annotations

import argparse
import statistics

from common import REPO, Variant, sample_rows, trained_model
from compare import cold_starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7, help="fresh starts per variant")
    args = parser.parse_args()
    with trained_model() as model_dir:
        body = Variant("", REPO, {}).body(sample_rows(model_dir, 1))
        candidates = [
            Variant(
                f"{runtime} / {placement}",
                source,
                {"MODEL_URI": str(model_dir), "MODEL_RUNTIME": runtime},
            )
            for runtime in ("onnx", "sklearn")
            for placement, source in (
                ("first request, in the worker", REPO / "main.py"),
                ("import time, in the master", REPO / "bench" / "preload_entry.py"),
            )
        ]
        for name, starts in cold_starts(candidates, body, args.starts).items():
            print(
                f"{name:<42} median {statistics.median(starts):.3f} s "
                f"(min {min(starts):.3f}, max {max(starts):.3f})"
            )


if __name__ == "__main__":
    main()
