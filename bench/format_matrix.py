"""Every request format's cost, 1 and 1,000 rows, on two models, in process and over HTTP.

    cd bench && ../.venv/bin/python format_matrix.py                       # HEAD (~6 minutes)
    cd bench && ../.venv/bin/python format_matrix.py --baseline 855bfb8    # before/after, one run
    cd bench && ../.venv/bin/python format_matrix.py --quick               # a smoke run

Models: the bundled breast-cancer model (30 numbers) and penguins (train.py on palmerpenguins'
CSV, trained once here by this tree: text, categories and gaps), both served on ONNX. Each commit
(HEAD, and --baseline's, unpacked with `git archive`, as card_cost.py does) serves the same two
model folders. Formats: the function's rows and records (`{"instances": ...}`), CSV with and
without a header, MLflow `dataframe_split` and `dataframe_records` (/invocations), KServe v1
(/v1/models/{name}:predict), OIP v2 JSON and binary (/v2/models/{name}/infer: one [N, 30] FP64
tensor for the numbers; one tensor per feature for penguins, BYTES where a column holds text or
gaps), BigQuery `{"calls": ...}`. Penguins' rows are the package's 344, gaps included, repeated.

In process, each commit in its own process, rounds alternating which goes first: the request
through `Endpoint.answer` and the answer's encoding, as the HTTP glue does it, split at the
data plane's seams: parse (media type, decode, the format's adapter), validate (the validation
step), run (the runtime: feeds and the ONNX session), encode (the format's answer and its
bytes). The floor of each: the body's decode alone (orjson; the csv module for CSV; the JSON
part for OIP binary) plus the ONNX session's run on the feeds the runtime built for it.
Over HTTP: a functions-framework server per commit and model, pinned to one CPU (the client on
another), each request sent to each commit in turn over keep-alive connections. Medians.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import pickle
import statistics
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from card_cost import tree
from common import REPO, Call, Variant, in_turns, launch, machine, pin_client, pinned
from penguins import trained_penguins

FORMATS = (
    "rows",
    "records",
    "CSV, header",
    "CSV, no header",
    "MLflow split",
    "MLflow records",
    "KServe v1",
    "OIP JSON",
    "OIP binary",
    "BigQuery",
)
PARTS = ("parse", "validate", "run", "encode")
SIZES = (1, 1000)
# A request: path, media type, body, headers.
Body = tuple[str, str, bytes, dict[str, str]]

# Runs inside one commit's tree: Endpoint.answer per body, split at the data plane's seams.
WORKER = r"""
import csv, io, json, pickle, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import orjson
from serving import jsonio, prediction
from serving.endpoint import Endpoint
from serving.settings import Settings

bodies = pickle.loads(open(sys.argv[2], "rb").read())
model_dir, requests = sys.argv[3], int(sys.argv[4])
endpoint = Endpoint(Settings.from_env({"MODEL_URI": model_dir, "MODEL_RUNTIME": "onnx"}))
answer = getattr(endpoint, "answer", None) or endpoint.handle
marks = {}
try:
    model = endpoint.model.get()
except Exception as exc:  # this commit cannot serve this model: no figures
    print(json.dumps({"unavailable": f"{type(exc).__name__}: {exc}"[:200]}))
    sys.exit(0)

def marked(name, function):
    def wrapper(*args, **kwargs):
        marks[name] = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            marks[name + " end"] = time.perf_counter()
    return wrapper

if hasattr(prediction, "validate"):
    prediction.validate = marked("validate", prediction.validate)
model.runtime.run = marked("run", model.runtime.run)
session = getattr(model.runtime, "session", None)
session_run = session.run if session is not None else None
fed = {}
if session is not None:
    def capture(*args, **kwargs):
        fed["args"] = args
        return session_run(*args, **kwargs)
    session.run = capture

def once(path, media_type, body, headers):
    marks.clear()
    started = time.perf_counter()
    reply = answer("POST", path, media_type, body, {}, headers)
    raw = getattr(reply, "raw", None)
    content = raw if raw is not None else jsonio.encode(getattr(reply, "json", None) or reply.body)
    ended = time.perf_counter()
    if reply.status != 200:
        raise RuntimeError(f"status {reply.status}: {content[:300]!r}")
    parts = None
    if {"validate", "run", "run end"} <= marks.keys():
        parts = {"parse": marks["validate"] - started, "validate": marks["run"] - marks["validate"],
                 "run": marks["run end"] - marks["run"], "encode": ended - marks["run end"]}
    return ended - started, parts

def decode_floor(label, media_type, body, headers):
    if media_type == "text/csv":
        return lambda: list(csv.reader(io.StringIO(body.decode())))
    if "Inference-Header-Content-Length" in headers:
        head = body[: int(headers["Inference-Header-Content-Length"])]
        return lambda: orjson.loads(head)
    return lambda: orjson.loads(body)

def median_seconds(function, count):
    found = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        found.append(time.perf_counter() - started)
    return statistics.median(found)

found = {}
for key, (path, media_type, body, headers) in bodies.items():
    rows = int(key.rsplit("|", 1)[1])
    count = requests if rows > 1 else requests * 10
    try:
        for _ in range(max(count // 10, 3)):
            once(path, media_type, body, headers)
    except Exception as exc:
        found[key] = {"error": str(exc)[:300]}
        continue
    totals, splits = [], []
    for _ in range(count):
        total, parts = once(path, media_type, body, headers)
        totals.append(total)
        if parts:
            splits.append(parts)
    figures = {"total": statistics.median(totals)}
    for part in ("parse", "validate", "run", "encode"):
        if splits:
            figures[part] = statistics.median(split[part] for split in splits)
    figures["floor decode"] = median_seconds(decode_floor(key, media_type, body, headers), count)
    if "args" in fed:
        args = fed.pop("args")
        figures["floor run"] = median_seconds(lambda: session_run(*args), count)
    found[key] = figures
print(json.dumps(found))
"""


def penguin_rows() -> tuple[list[str], list[list[Any]]]:
    """palmerpenguins' table (no download): the column names, and its rows with None for NA."""
    import palmerpenguins

    path = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    with path.open(newline="") as file:
        reader = csv.reader(file)
        names = next(reader)
        rows = [[_cell(value) for value in row] for row in reader]
    return names, rows


def _cell(text: str) -> Any:
    if text == "NA":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def model_rows(model_dir: Path, count: int) -> tuple[dict[str, Any], list[list[Any]]]:
    """The manifest, and `count` rows in its feature order (its training rows, repeated)."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    names = manifest["feature_names"]
    if manifest["training_data"]["source"].startswith("sklearn.datasets."):
        from sklearn.datasets import load_breast_cancer

        table = load_breast_cancer().data.tolist()
    else:
        columns, raw = penguin_rows()
        order = [columns.index(name) for name in names]
        table = [[row[i] for i in order] for row in raw]
    return manifest, [table[i % len(table)] for i in range(count)]


def bodies(manifest: dict[str, Any], rows: list[list[Any]]) -> dict[str, Body]:
    """Each format's request for these rows."""
    names, model = manifest["feature_names"], manifest["name"]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    json_type = {"Content-Type": "application/json"}

    def as_json(document: Any) -> bytes:
        return json.dumps(document).encode()

    def as_csv(header: bool) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(names)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return out.getvalue().encode()

    infer = f"/v2/models/{model}/infer"
    found: dict[str, Body] = {
        "rows": ("/", "application/json", as_json({"instances": rows}), json_type),
        "records": ("/", "application/json", as_json({"instances": records}), json_type),
        "CSV, header": ("/", "text/csv", as_csv(True), {"Content-Type": "text/csv"}),
        "CSV, no header": ("/", "text/csv", as_csv(False), {"Content-Type": "text/csv"}),
        "MLflow split": (
            "/invocations",
            "application/json",
            as_json({"dataframe_split": {"columns": names, "data": rows}}),
            json_type,
        ),
        "MLflow records": (
            "/invocations",
            "application/json",
            as_json({"dataframe_records": records}),
            json_type,
        ),
        "KServe v1": (
            f"/v1/models/{model}:predict",
            "application/json",
            as_json({"instances": rows}),
            json_type,
        ),
        "OIP JSON": (
            infer,
            "application/json",
            as_json({"inputs": oip_json(names, rows)}),
            json_type,
        ),
        "OIP binary": oip_binary(infer, names, rows),
        "BigQuery": ("/", "application/json", as_json({"calls": rows}), json_type),
    }
    return found


def numeric(rows: list[list[Any]]) -> bool:
    return all(isinstance(v, int | float) and v is not None for row in rows for v in row)


def oip_json(names: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    """One [N, width] FP64 tensor of numbers (data flat, as MLServer's clients send it); else
    one [N] tensor per feature: FP64 for a column of numbers, BYTES for text or gaps (null, as
    JSON BYTES spell a missing value: an empty string there is text)."""
    if numeric(rows):
        flat = [v for row in rows for v in row]
        return [
            {"name": "input", "shape": [len(rows), len(names)], "datatype": "FP64", "data": flat}
        ]
    tensors = []
    for index, name in enumerate(names):
        column = [row[index] for row in rows]
        if numeric([column]):
            tensors.append({"name": name, "shape": [len(rows)], "datatype": "FP64", "data": column})
        else:
            text = [None if v is None else str(v) for v in column]
            tensors.append({"name": name, "shape": [len(rows)], "datatype": "BYTES", "data": text})
    return tensors


def oip_binary(path: str, names: list[str], rows: list[list[Any]]) -> Body:
    """The same tensors as binary data (numbers FP64, gaps NaN; text as BYTES), binary outputs
    asked for, as tritonclient sends them."""
    tensors: list[dict[str, Any]] = []
    parts: list[bytes] = []
    if numeric(rows):
        flat = [float(v) for row in rows for v in row]
        parts.append(struct.pack(f"<{len(flat)}d", *flat))
        tensors.append({"name": "input", "shape": [len(rows), len(names)], "datatype": "FP64"})
    else:
        for index, name in enumerate(names):
            column = [row[index] for row in rows]
            if all(v is None or isinstance(v, int | float) for v in column):
                numbers = [float("nan") if v is None else float(v) for v in column]
                parts.append(struct.pack(f"<{len(numbers)}d", *numbers))
                datatype = "FP64"
            else:
                encoded = [b"" if v is None else str(v).encode() for v in column]
                parts.append(b"".join(struct.pack("<I", len(e)) + e for e in encoded))
                datatype = "BYTES"
            tensors.append({"name": name, "shape": [len(rows)], "datatype": datatype})
    for tensor, part in zip(tensors, parts, strict=True):
        tensor["parameters"] = {"binary_data_size": len(part)}
    header = json.dumps({"inputs": tensors, "parameters": {"binary_data_output": True}}).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    return path, "application/octet-stream", header + b"".join(parts), headers


def in_process(
    folder: Path, requests: dict[str, Body], model_dir: Path, count: int
) -> dict[str, dict[str, Any]]:
    """The worker's figures for one commit's tree and one model."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as file:
        file.write(pickle.dumps(requests))
        file.flush()
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(folder), file.name, str(model_dir), str(count)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the worker failed in {folder}:\n{done.stderr[-3000:]}")
    found: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@contextmanager
def models() -> Iterator[dict[str, Path]]:
    """The two model folders: the bundled one, and penguins trained into a temp folder."""
    with trained_penguins() as penguins:
        yield {"breast-cancer (30 numbers)": REPO / "model", "penguins (text, gaps)": penguins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="also measure the function at this commit")
    parser.add_argument("--rounds", type=int, default=3, help="in process, per commit")
    parser.add_argument("--requests", type=int, default=40, help="1,000-row requests per round")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 1, 3
    pin_client()
    print(f"machine: {machine()}")
    results: dict[str, Any] = {}
    with ExitStack() as stack, models() as folders:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="matrix-")))
        trees = {"HEAD": REPO}
        if args.baseline:
            trees = {args.baseline: tree(args.baseline, temp / "baseline").parent, **trees}
        for model_name, model_dir in folders.items():
            requests: dict[str, Body] = {}
            for size in SIZES:
                manifest, rows = model_rows(model_dir, size)
                for label, body in bodies(manifest, rows).items():
                    requests[f"{label}|{size}"] = body
            found = measure_model(trees, requests, model_dir, args)
            results[model_name] = found
            print_model(model_name, found, list(trees), len(manifest["feature_names"]))
    print(f"after: {machine()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def measure_model(
    trees: dict[str, Path], requests: dict[str, Body], model_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """In process (rounds alternating the trees), then over HTTP (requests in turns)."""
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for turn in range(args.rounds):
        order = list(trees) if turn % 2 == 0 else list(trees)[::-1]
        for name in order:
            rounds[name].append(in_process(trees[name], requests, model_dir, args.requests))
    found: dict[str, Any] = {name: {"in process": merge(rounds[name])} for name in trees}
    with ExitStack() as stack:
        ports = {}
        for name, folder in trees.items():
            variant = Variant(
                name, folder / "main.py", {"MODEL_URI": str(model_dir), "MODEL_RUNTIME": "onnx"}
            )
            server = launch(variant, preexec=pinned())
            stack.callback(server.stop)
            ports[name] = int(server.url.rsplit(":", 1)[1])
        for key, (path, _, body, headers) in requests.items():
            calls = {
                name: Call(ports[name], path, body, headers)
                for name in trees
                if "error" not in found[name]["in process"].get(key, {"error": 1})
            }
            if not calls:
                continue
            count = args.requests * 2 if key.endswith("|1000") else args.requests * 20
            in_turns(calls, max(count // 10, 2))
            for name, timings in in_turns(calls, count).items():
                found[name].setdefault("over HTTP", {})[key] = statistics.median(timings)
    return found


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the rounds, per request and figure."""
    if "unavailable" in rounds[0]:
        return rounds[0]
    merged: dict[str, Any] = {}
    for key, first in rounds[0].items():
        if "error" in first:
            merged[key] = first
            continue
        merged[key] = {
            figure: statistics.median(found[key][figure] for found in rounds) for figure in first
        }
    return merged


def print_model(model_name: str, found: dict[str, Any], trees: list[str], width: int) -> None:
    """One table per commit, then the commits' ratio."""
    for name in trees:
        inner, http = found[name]["in process"], found[name].get("over HTTP", {})
        print(f"\n{model_name}, {name}:")
        if "unavailable" in inner:
            print(f"  cannot serve this model: {inner['unavailable']}")
            continue
        reference = inner.get("rows|1000", {}).get("total")
        print(
            "| format | 1 row, in process (us) | 1 row, HTTP (ms) | 1,000 rows: parse / validate"
            " / run / encode (ms) | in process (ms) = per row (us) | per cell (ns) | x rows"
            " | floor: decode + run (ms) | x floor | HTTP (ms) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for label in FORMATS:
            one, big = inner.get(f"{label}|1", {}), inner.get(f"{label}|1000", {})
            if "error" in one or "error" in big:
                print(f"| {label} | {one.get('error') or big.get('error')} |")
                continue
            split = " / ".join(f"{big[p] * 1000:.2f}" for p in PARTS) if "parse" in big else "-"
            floor = big["floor decode"] + big.get("floor run", 0.0)
            print(
                f"| {label} | {one['total'] * 1e6:.0f} | {http.get(f'{label}|1', 0) * 1000:.3f} "
                f"| {split} | {big['total'] * 1000:.2f} | {big['total'] * 1e9 / 1000 / width:.0f} "
                f"| {big['total'] / reference:.2f} | {big['floor decode'] * 1000:.2f} + "
                f"{big.get('floor run', 0.0) * 1000:.2f} | {big['total'] / floor:.2f} "
                f"| {http.get(f'{label}|1000', 0) * 1000:.2f} |"
            )
    if len(trees) == 2:
        base, head = trees
        print(f"\n{model_name}: {head} / {base}, in process and over HTTP:")
        print(
            "| format | 1 row in process | 1 row HTTP | 1,000 rows in process | 1,000 rows HTTP |"
        )
        print("| --- | --- | --- | --- | --- |")
        for label in FORMATS:
            cells = []
            for where in ("in process", "over HTTP"):
                for size in SIZES:
                    key = f"{label}|{size}"
                    b, h = found[base].get(where, {}).get(key), found[head].get(where, {}).get(key)
                    if isinstance(b, dict):
                        b, h = b.get("total"), (h or {}).get("total")
                    cells.append(f"{h / b:.3f}" if b and h else "-")
            print(f"| {label} | {cells[0]} | {cells[2]} | {cells[1]} | {cells[3]} |")


if __name__ == "__main__":
    main()
