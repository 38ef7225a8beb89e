"""What a request costs inside the function, by format, at two commits: medians, and the ratio.

    cd bench && ../.venv/bin/python format_cost.py --baseline 6713ffa --rounds 7 --requests 200

Each commit is unpacked with `git archive` (card_cost.py's `tree`) and measured in its own
process, in process (no HTTP): `Endpoint.answer` on the bundled model, ONNX runtime, for a
1,000-row CSV body with a header, a 1,000-row OIP binary request (binary outputs, as
tritonclient asks), a one-row OIP binary request and, for reference, 1,000 rows of
`{"instances": ...}`. Rounds alternate which commit goes first, so the machine's drift hits
both alike; each round takes the median of `--requests` timed requests after a warm-up, and the
figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from card_cost import tree

# Runs inside one commit's tree: builds the bodies, times Endpoint.answer, prints the medians.
WORKER = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from sklearn.datasets import load_breast_cancer
from serving.endpoint import Endpoint
from serving.settings import Settings

requests, rows = int(sys.argv[2]), 1000
endpoint = Endpoint(Settings.from_env({"MODEL_RUNTIME": "onnx"}))
manifest = endpoint.model.get().manifest
data = load_breast_cancer().data
table = data[np.arange(rows) % len(data)]
csv = "\n".join([",".join(f'"{n}"' for n in manifest.feature_names)]
                + [",".join(map(repr, row)) for row in table.tolist()]).encode()

def binary(matrix):
    raw = np.ascontiguousarray(matrix, dtype="<f8").tobytes()
    tensor = {"name": "input", "shape": list(matrix.shape), "datatype": "FP64",
              "parameters": {"binary_data_size": len(raw)}}
    header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}}).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}

infer = f"/v2/models/{manifest.name}/infer"
cases = {
    "CSV, 1,000 rows": ("/", "text/csv", csv, {}),
    "OIP binary, 1,000 rows": (infer, "application/octet-stream", *binary(table)),
    "OIP binary, 1 row": (infer, "application/octet-stream", *binary(table[:1])),
    "instances, 1,000 rows": ("/", "application/json",
                              json.dumps({"instances": table.tolist()}).encode(), {}),
}
found = {}
for label, (path, media_type, body, headers) in cases.items():
    def once():
        started = time.perf_counter()
        reply = endpoint.answer("POST", path, media_type, body, {}, headers)
        assert reply.status == 200, (label, reply.status)
        return time.perf_counter() - started
    for _ in range(20):
        once()
    found[label] = statistics.median(once() for _ in range(requests))
print(json.dumps(found))
"""


def measure(folder: Path, requests: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(folder), str(requests)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with")
    parser.add_argument("--head", default="HEAD", help="the commit measured (HEAD)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="format-cost-") as folder:
        trees = {
            name: tree(revision, Path(folder) / name).parent
            for name, revision in (("baseline", args.baseline), ("head", args.head))
        }
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for turn in range(args.rounds):
            order = list(trees) if turn % 2 == 0 else list(trees)[::-1]
            for name in order:
                rounds[name].append(measure(trees[name], args.requests))
    for label in rounds["baseline"][0]:
        base = statistics.median(r[label] for r in rounds["baseline"]) * 1000
        head = statistics.median(r[label] for r in rounds["head"]) * 1000
        print(
            f"{label}: baseline {base:.3f} ms, head {head:.3f} ms, ratio {head / base:.3f} "
            f"(median of {args.rounds} rounds of {args.requests})"
        )


if __name__ == "__main__":
    main()
