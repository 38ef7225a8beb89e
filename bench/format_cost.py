"""What a request costs inside the function, by format, at two commits: medians, and the ratios.

    cd bench && ../.venv/bin/python format_cost.py --baseline main --rounds 7 --requests 200

Each commit is unpacked with `git archive` (card_cost.py's `tree`) and measured in its own
process, in process (no HTTP): `Endpoint.answer` on the bundled model, ONNX runtime, for the
same 1,000 rows in every request format (rows, records, CSV with and without a header, MLflow
split and records, BigQuery calls, OIP JSON, OIP binary with binary outputs as tritonclient asks
them), one row in a few of them, and on the mixed penguins model (text, categories and gaps:
train.py on palmerpenguins, trained once here with the head's train.py) 1,000 rows as records
and as rows. Rounds alternate which commit goes first, so the machine's drift hits both alike;
each round takes the median of `--requests` timed requests after a warm-up, and the figure is
the median of the rounds. Printed per case: both medians, head/baseline, and each commit's
cost relative to its own 1,000-row `{"instances": rows}` request (per cell for the penguins
model, against the numeric model's rows per cell: 30 features there, 7 here).

`--memory` instead measures, in one process per commit, the peak memory (tracemalloc, which
sees NumPy's arrays) of `Endpoint.answer` on bodies holding one long string in a row of the
bundled model (refused, 400): what a body can cost beyond its own size.
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
import csv, io, json, statistics, struct, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from sklearn.datasets import load_breast_cancer
from serving.endpoint import Endpoint
from serving.settings import Settings

requests, penguins_dir, rows = int(sys.argv[2]), sys.argv[3], 1000


def bodies(manifest, table, penguins=False):
    names = list(manifest.feature_names)
    cells = table if isinstance(table, list) else table.tolist()
    records = [dict(zip(names, row)) for row in cells]
    infer = f"/v2/models/{manifest.name}/infer"
    as_json = lambda body: ("application/json", json.dumps(body).encode(), {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([["" if v is None else v for v in row] for row in cells])
    header, *data = out.getvalue().splitlines(keepends=True)
    found = {
        "rows": ("/", *as_json({"instances": cells})),
        "records": ("/", *as_json({"instances": records})),
    }
    if penguins:
        return found
    matrix = np.asarray(cells, dtype="<f8")
    flat = matrix.ravel().tolist()
    raw = matrix.tobytes()
    tensor = {"name": "input", "shape": list(matrix.shape), "datatype": "FP64",
              "parameters": {"binary_data_size": len(raw)}}
    binary_header = json.dumps({"inputs": [tensor],
                                "parameters": {"binary_data_output": True}}).encode()
    oip = {"inputs": [{"name": "input", "shape": list(matrix.shape), "datatype": "FP64",
                       "data": flat}]}
    found |= {
        "CSV with a header": ("/", "text/csv", (header + "".join(data)).encode(), {}),
        "CSV without a header": ("/", "text/csv", "".join(data).encode(), {}),
        "MLflow split": ("/invocations", *as_json({"dataframe_split": {"columns": names,
                                                                       "data": cells}})),
        "MLflow records": ("/invocations", *as_json({"dataframe_records": records})),
        "BigQuery calls": ("/", *as_json({"calls": cells})),
        "OIP JSON": (infer, *as_json(oip)),
        "OIP binary": (infer, "application/octet-stream", binary_header + raw,
                       {"Inference-Header-Content-Length": str(len(binary_header))}),
    }
    return found


def timed(endpoint, path, media_type, body, headers):
    def once():
        started = time.perf_counter()
        reply = endpoint.answer("POST", path, media_type, body, {}, headers)
        assert reply.status == 200, (path, reply.status, reply.json)
        return time.perf_counter() - started
    for _ in range(20):
        once()
    return statistics.median(once() for _ in range(requests))


found = {}
numeric = Endpoint(Settings.from_env({"MODEL_RUNTIME": "onnx"}))
manifest = numeric.model.get().manifest
data = load_breast_cancer().data
table = data[np.arange(rows) % len(data)]
for label, request in bodies(manifest, table).items():
    found[f"{label}, 1,000 rows"] = timed(numeric, *request)
for label in ("rows", "records", "OIP binary"):
    request = bodies(manifest, table[:1])[label]
    found[f"{label}, 1 row"] = timed(numeric, *request)
one = ("/", "application/json", json.dumps({"features": table[0].tolist()}).encode(), {})
found["features, 1 row"] = timed(numeric, *one)

mixed = Endpoint(Settings.from_env({"MODEL_URI": penguins_dir, "MODEL_RUNTIME": "onnx"}))
penguins = mixed.model.get().manifest
reader = csv.DictReader(open(sys.argv[4]))
frame = [row for row in reader]
def cell(feature, text):
    if text in ("", "NA"):
        return None
    return text if feature.is_text else float(text) if feature.type == "number" else int(text)
penguin_rows = [[cell(f, row[f.name]) for f in penguins.features] for row in frame]
penguin_rows = [penguin_rows[i % len(penguin_rows)] for i in range(rows)]
for label, request in bodies(penguins, penguin_rows, penguins=True).items():
    found[f"penguins {label}, 1,000 rows"] = timed(mixed, *request)
print(json.dumps(found))
"""

# Runs inside one commit's tree: peak memory of one request holding a long string.
MEMORY = r"""
import json, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
from serving.endpoint import Endpoint
from serving.settings import Settings

endpoint = Endpoint(Settings.from_env({"MODEL_RUNTIME": "onnx", "MAX_BODY_BYTES": str(2**25)}))
names = list(endpoint.model.get().manifest.feature_names)
found = {}
for megabytes in (1, 2, 4):
    long = "x" * (megabytes * 2**20)
    for label, body in {
        "a long string in a row": {"instances": [[long] + [1.0] * 29]},
        "a long string in a record": {"instances": [dict(zip(names, [long] + [1.0] * 29))]},
        "a long string in a BYTES tensor": {"inputs": [{"name": "input", "shape": [1, 30],
                                                        "datatype": "BYTES",
                                                        "data": [long] + ["1.0"] * 29}]},
    }.items():
        raw = json.dumps(body).encode()
        tracemalloc.start()
        reply = endpoint.answer("POST", "/", "application/json", raw, {}, {})
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert reply.status == 400, reply.json
        found[f"{label}, {megabytes} MB"] = [len(raw), peak]
print(json.dumps(found))
"""


def run(script: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def penguins_model(folder: Path, head: Path) -> tuple[Path, Path]:
    """The mixed model, trained once by the head's train.py: (model folder, its CSV)."""
    import palmerpenguins

    data = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    out = folder / "penguins"
    subprocess.run(
        [sys.executable, "train.py", "--data", str(data), "--target", "species", "--out", str(out)],
        cwd=head,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out, data


def relative(figures: dict[str, float], label: str) -> str:
    """A case's cost relative to the same commit's 1,000-row rows request (per cell for the
    penguins model: 7 features against 30)."""
    base = figures["rows, 1,000 rows"]
    if label.startswith("penguins"):
        return f"{figures[label] / 7 / (base / 30):.2f}x per cell"
    return f"{figures[label] / base:.2f}x"


def timing(args: argparse.Namespace, trees: dict[str, Path]) -> None:
    with tempfile.TemporaryDirectory(prefix="format-cost-model-") as scratch:
        penguins_dir, penguins_csv = penguins_model(Path(scratch), trees["head"])
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for turn in range(args.rounds):
            order = list(trees) if turn % 2 == 0 else list(trees)[::-1]
            for name in order:
                worker = (
                    str(trees[name]),
                    str(args.requests),
                    str(penguins_dir),
                    str(penguins_csv),
                )
                rounds[name].append(run(WORKER, *worker))
    medians = {
        name: {label: statistics.median(r[label] for r in found) for label in found[0]}
        for name, found in rounds.items()
    }
    print("| case | baseline ms | head ms | head/baseline | baseline vs rows | head vs rows |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label in medians["baseline"]:
        base, head = medians["baseline"][label], medians["head"][label]
        print(
            f"| {label} | {base * 1000:.3f} | {head * 1000:.3f} | {head / base:.3f} | "
            f"{relative(medians['baseline'], label)} | {relative(medians['head'], label)} |"
        )
    print(f"(medians of {args.rounds} rounds of {args.requests} requests each)")


def memory(trees: dict[str, Path]) -> None:
    found = {name: run(MEMORY, str(folder)) for name, folder in trees.items()}
    print("| body | bytes | baseline peak MB | head peak MB | head peak / body |")
    print("| --- | --- | --- | --- | --- |")
    for label, (size, base) in found["baseline"].items():
        head = found["head"][label][1]
        print(f"| {label} | {size} | {base / 2**20:.1f} | {head / 2**20:.1f} | {head / size:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with")
    parser.add_argument("--head", default="HEAD", help="the commit measured (HEAD)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--memory", action="store_true", help="peak memory of long strings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="format-cost-") as folder:
        trees = {
            name: tree(revision, Path(folder) / name).parent
            for name, revision in (("baseline", args.baseline), ("head", args.head))
        }
        if args.memory:
            memory(trees)
        else:
            timing(args, trees)


if __name__ == "__main__":
    main()
