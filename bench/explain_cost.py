"""What explanations cost: one-row and 1,000-row p50 with and without, peak memory, cold start.

    python bench/explain_cost.py            # the run recorded in BENCHMARKS.md (~10 minutes)
    python bench/explain_cost.py --quick    # a short smoke run

Three models, each fitted on a DataFrame (names with spaces) and packaged with
`train.py --from-model`, so that each serves on ONNX with its explanations.npz:
- a 100-tree RandomForestClassifier of depth 8 on breast_cancer (569 rows, 30 features);
- a default HistGradientBoostingClassifier on breast_cancer;
- the same forest on 20,000 generated rows of 20 features, where depth 8 fills its trees
  (about 150 leaves a tree): the worst case for path-dependent TreeSHAP at this depth.

Per model, one real functions-framework server answers `{"instances": rows}` and
`{"instances": rows, "explain": true}` in turns (blocks of one-row requests, then of 1,000-row
requests); figures are medians, and "extra" is the difference of the two medians of the same
run. Peak RSS is read from two fresh servers of the same model: one that only predicts and
one that explains, after the same one-row requests (the explainer loaded), then after the same
1,000-row requests (what their answers hold). Cold start is the time to the first
answer of a fresh server that never asks for explanations, for the folder as packaged and for
the same folder without explanations.npz (its manifest entry removed), taking turns.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import REPO, Variant, cold_start, launch, memory_mb, post

MODELS = ("random_forest_depth8", "hist_gradient_boosting", "random_forest_depth8_20k")
# As deploy sets it for every function (docs/deploying.md).
DEPLOYED = {"OPENBLAS_NUM_THREADS": "1"}


def fitted(name: str) -> tuple[Any, Any, Any]:
    """The model, its DataFrame and target."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    if name.endswith("20k"):
        rows, target = make_classification(20_000, 20, n_informative=10, random_state=0)
        frame = pd.DataFrame(rows, columns=[f"signal {i}" for i in range(20)])
    else:
        bunch = load_breast_cancer(as_frame=True)
        frame, target = bunch.data, bunch.target.to_numpy()
    if name.startswith("random_forest"):
        model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0)
    else:
        model = HistGradientBoostingClassifier(random_state=0)
    return model.fit(frame, target), frame, np.asarray(target)


@contextlib.contextmanager
def packaged(name: str) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """The model packaged into a temp folder, and its rows as JSON objects."""
    import joblib

    import train

    model, frame, target = fitted(name)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        joblib.dump(model, root / "model.joblib")
        frame.assign(target=target).iloc[:2000].to_csv(root / "sample.csv", index=False)
        args = ["--from-model", str(root / "model.joblib"), "--data", str(root / "sample.csv")]
        with contextlib.redirect_stdout(io.StringIO()):
            status = train.main([*args, "--target", "target", "--out", str(root / "model")])
        manifest = json.loads((root / "model" / "manifest.json").read_text())
        if status != 0 or "model.onnx" not in manifest["artifacts"]:
            raise SystemExit(f"{name}: not packaged for ONNX")
        if not manifest["explanations"]["available"]:
            raise SystemExit(f"{name}: no explanations: {manifest['explanations']['reason']}")
        yield root / "model", frame.to_dict("records")


def without_explanations(model_dir: Path, into: Path) -> Path:
    """A copy of the folder with explanations.npz and its manifest entry removed."""
    import shutil

    shutil.copytree(model_dir, into)
    (into / "explanations.npz").unlink()
    manifest = json.loads((into / "manifest.json").read_text())
    del manifest["artifacts"]["explanations.npz"]
    del manifest["explanations"]
    (into / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return into


def body(rows: list[dict[str, Any]], explain: bool) -> bytes:
    return json.dumps(
        {"instances": rows, "explain": True} if explain else {"instances": rows}
    ).encode()


def timed(url: str, payload: bytes, count: int) -> list[float]:
    """Milliseconds per request, `count` requests one after the other."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        status, answer = post(url, payload)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"answered {status}: {answer[:300]!r}")
    return times


def latency(url: str, rows: list[dict[str, Any]], rounds: int, count: int) -> dict[str, float]:
    """Median ms without and with explain, taking turns in blocks; and the extra."""
    plain, explained = body(rows, False), body(rows, True)
    timed(url, plain, max(2, count // 5))
    timed(url, explained, max(2, count // 5))
    without, with_ = [], []
    for _ in range(rounds):
        without += timed(url, plain, count)
        with_ += timed(url, explained, count)
    p50, p50_explain = statistics.median(without), statistics.median(with_)
    return {"p50_ms": p50, "p50_explain_ms": p50_explain, "extra_ms": p50_explain - p50}


def peak_memory(model_dir: Path, rows: list[dict[str, Any]], requests: int) -> dict[str, float]:
    """Peak RSS (MB, the server's process tree) after the same requests with and without
    explain: one-row requests (the explainer loaded), then 1,000-row ones (their answers)."""
    variant = Variant("this", REPO / "main.py", {"MODEL_URI": str(model_dir), **DEPLOYED})
    peaks: dict[str, float] = {}
    for explain in (False, True):
        server = launch(variant)
        suffix = "_explain" if explain else ""
        try:
            url = server.url + "/"
            timed(url, body(rows[:1], explain), requests)
            peaks[f"peak_rss_one_row{suffix}_mb"] = memory_mb(server.process.pid)[0]
            timed(url, body(rows[:1000], explain), 3)
            peaks[f"peak_rss_rows_1000{suffix}_mb"] = memory_mb(server.process.pid)[0]
        finally:
            server.stop()
    for size in ("one_row", "rows_1000"):
        peaks[f"extra_{size}_mb"] = (
            peaks[f"peak_rss_{size}_explain_mb"] - peaks[f"peak_rss_{size}_mb"]
        )
    return peaks


def cold_starts(model_dir: Path, rows: list[dict[str, Any]], starts: int) -> dict[str, float]:
    """Median seconds to the first (unexplained) answer, with and without explanations.npz."""
    with tempfile.TemporaryDirectory() as folder:
        bare = without_explanations(model_dir, Path(folder) / "bare")
        folders = {"cold_start_s": model_dir, "cold_start_without_npz_s": bare}
        seconds: dict[str, list[float]] = {key: [] for key in folders}
        payload = body(rows[:1], False)
        for _ in range(starts):
            for key, path in folders.items():
                variant = Variant(key, REPO / "main.py", {"MODEL_URI": str(path), **DEPLOYED})
                seconds[key].append(cold_start(variant, payload))
    return {key: statistics.median(values) for key, values in seconds.items()}


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    with packaged(name) as (model_dir, records):
        rows = [records[i % len(records)] for i in range(1000)]
        manifest = json.loads((model_dir / "manifest.json").read_text())
        figures: dict[str, Any] = {
            "explanations_npz_bytes": manifest["artifacts"]["explanations.npz"]["bytes"]
        }
        server = launch(
            Variant("this", REPO / "main.py", {"MODEL_URI": str(model_dir), **DEPLOYED})
        )
        try:
            url = server.url + "/"
            figures["one_row"] = latency(url, rows[:1], args.rounds, args.requests)
            figures["rows_1000"] = latency(url, rows, max(1, args.rounds // 2), args.big)
        finally:
            server.stop()
        figures["memory"] = peak_memory(model_dir, rows, args.requests)
        figures["cold_start"] = cold_starts(model_dir, rows, args.starts)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--model", choices=MODELS, help="measure only this model")
    args = parser.parse_args()
    full = not args.quick
    args.rounds, args.requests, args.big, args.starts = (6, 100, 5, 5) if full else (1, 10, 1, 1)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    results = {}
    for name in [args.model] if args.model else MODELS:
        results[name] = measure(name, args)
        print(name, json.dumps(results[name], indent=2), flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
