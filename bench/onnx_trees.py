"""Tree models on ONNX (exact converters) against joblib + scikit-learn: cold start, one row.

    python bench/onnx_trees.py [--runs 15]

For a 100-tree RandomForestClassifier and a default HistGradientBoostingClassifier, both on
breast_cancer: the model files' sizes; a fresh process that imports its runtime, loads the
model and predicts one row (median wall time of `--runs` runs, with hyperfine when installed,
else a subprocess loop); in this process, session load / joblib.load time and the one-row
predict_proba p50. The ONNX session uses the serving settings (one thread).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ORT_SCRIPT = """
import numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
s = ort.InferenceSession({path!r}, o, providers=["CPUExecutionProvider"])
s.run(None, {{s.get_inputs()[0].name: np.load({row!r})}})
"""
SKLEARN_SCRIPT = """
import joblib, numpy as np
joblib.load({path!r}).predict_proba(np.load({row!r}))
"""


def export(model: Any, row: np.ndarray, folder: Path, name: str) -> tuple[Path, Path]:
    from skl2onnx import to_onnx

    from training.onnx_trees import register_exact_converters

    register_exact_converters()
    onnx_path, joblib_path = folder / f"{name}.onnx", folder / f"{name}.joblib"
    graph = to_onnx(model, row, options={id(model): {"zipmap": False}})
    onnx_path.write_bytes(graph.SerializeToString())
    joblib.dump(model, joblib_path)
    return onnx_path, joblib_path


def cold_starts(scripts: dict[str, str], runs: int, folder: Path) -> dict[str, float]:
    """Median seconds of a fresh `python -c script` per name."""
    commands = {name: [sys.executable, "-c", script] for name, script in scripts.items()}
    if shutil.which("hyperfine"):
        report = folder / "hyperfine.json"
        names = list(commands)
        subprocess.run(
            ["hyperfine", "-N", "--warmup", "2", "--runs", str(runs), "--export-json", str(report)]
            + [" ".join(_quoted(part) for part in commands[name]) for name in names],
            check=True,
            capture_output=True,
        )
        results = json.loads(report.read_text())["results"]
        return {name: float(result["median"]) for name, result in zip(names, results, strict=True)}
    medians = {}
    for name, command in commands.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
    return medians


def _quoted(part: str) -> str:
    import shlex

    return shlex.quote(part)


def p50(call: Callable[[], object], repeat: int = 2000) -> float:
    for _ in range(50):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process(onnx_path: Path, joblib_path: Path, row: np.ndarray) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    start = time.perf_counter()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    session_load = time.perf_counter() - start
    start = time.perf_counter()
    model = joblib.load(joblib_path)
    joblib_load = time.perf_counter() - start
    feeds = {session.get_inputs()[0].name: row}
    return {
        "session_load": session_load,
        "joblib_load": joblib_load,
        "onnx_p50": p50(lambda: session.run(None, feeds)),
        "sklearn_p50": p50(lambda: model.predict_proba(row)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    features, target = load_breast_cancer(return_X_y=True)
    models = {
        "RandomForestClassifier(100)": RandomForestClassifier(100, random_state=0),
        "HistGradientBoostingClassifier()": HistGradientBoostingClassifier(random_state=0),
    }
    row = features[:1].astype(np.float64)
    print(
        "| model | model.onnx | model.joblib | cold start onnx (ms) | cold start sklearn (ms) | "
        "ratio | session load (ms) | joblib.load (ms) | 1 row onnx (us) | 1 row sklearn (us) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        row_path = folder / "row.npy"
        np.save(row_path, row)
        for name, model in models.items():
            model.fit(features, target)
            onnx_path, joblib_path = export(model, row, folder, name.split("(")[0])
            cold = cold_starts(
                {
                    "onnx": ORT_SCRIPT.format(path=str(onnx_path), row=str(row_path)),
                    "sklearn": SKLEARN_SCRIPT.format(path=str(joblib_path), row=str(row_path)),
                },
                args.runs,
                folder,
            )
            warm = in_process(onnx_path, joblib_path, row)
            print(
                f"| {name} | {onnx_path.stat().st_size / 1024:.0f} KiB "
                f"| {joblib_path.stat().st_size / 1024:.0f} KiB "
                f"| {cold['onnx'] * 1e3:.0f} | {cold['sklearn'] * 1e3:.0f} "
                f"| {cold['onnx'] / cold['sklearn']:.2f}x "
                f"| {warm['session_load'] * 1e3:.1f} | {warm['joblib_load'] * 1e3:.1f} "
                f"| {warm['onnx_p50'] * 1e6:.0f} | {warm['sklearn_p50'] * 1e6:.0f} |"
            )
    print(f"(fresh processes timed with {'hyperfine' if shutil.which('hyperfine') else 'a loop'})")


if __name__ == "__main__":
    main()
