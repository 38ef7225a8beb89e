"""Package every corpus pipeline with train.py --from-model; how many serve on ONNX, exactly.

    python bench/corpus/run.py           # the table for BENCHMARKS.md and docs/models.md

Each pipeline of bench/corpus/pipelines.py is fitted, dumped with joblib and packaged by
`train.py --from-model M --data SAMPLE.csv --target T` (the rows it was fitted on as the
sample), then served through the real function (functions-framework's test client): its
answers for a spread of rows must equal the pipeline's own (labels exactly, probabilities and
values within 1e-9). A pipeline that got no model.onnx is named with train.py's one line and
the step responsible: the first step whose ONNX output (the pipeline up to it, converted
alone) differs from scikit-learn's or does not convert, else the final estimator.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.conformance import SKIPPED, serve, shorten  # noqa: E402
from bench.corpus.pipelines import PIPELINES  # noqa: E402

SERVED_ROWS = 40
TOLERANCE = 1e-9


def package(
    model: Any, frame: Any, target_name: str, target: Any, folder: Path
) -> tuple[dict[str, Any], str | None]:
    """train.py --from-model with the fitted rows as SAMPLE.csv: the manifest and skip line."""
    import joblib
    import numpy as np

    import train

    folder.mkdir(parents=True)
    joblib.dump(model, folder / "model.joblib")
    frame.assign(**{target_name: np.asarray(target)}).to_csv(folder / "sample.csv", index=False)
    args = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = train.main([*args, "--target", target_name, "--out", str(folder / "model")])
    if status != 0:
        raise RuntimeError(f"train.py --from-model failed:\n{printed.getvalue()}")
    skipped = SKIPPED.search(printed.getvalue())
    manifest = json.loads((folder / "model" / "manifest.json").read_text())
    return manifest, shorten(skipped.group(1)) if skipped else None


def responsible_step(model: Any, frame: Any, manifest: dict[str, Any]) -> str:
    """The first step whose ONNX output differs from scikit-learn's, else the final one."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return type(model).__name__
    for end in range(1, len(model.steps)):
        prefix = Pipeline(model.steps[:end])
        if not _transforms_exactly(prefix, frame, manifest):
            return type(model.steps[end - 1][1]).__name__
    return type(model.steps[-1][1]).__name__


def _transforms_exactly(prefix: Any, frame: Any, manifest: dict[str, Any]) -> bool:
    import numpy as np
    import onnxruntime as ort
    from skl2onnx import to_onnx

    from serving.schema import parse_features
    from training import onnx_inputs
    from training.export import OPSET, register_converters

    register_converters()
    features = parse_features(manifest["features"], manifest["feature_names"])
    try:
        graph = to_onnx(
            prefix, initial_types=onnx_inputs.input_types(features), target_opset={"": OPSET}
        )
        onnx_inputs.name_inputs(graph, features)
        session = ort.InferenceSession(
            graph.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (ours,) = session.run(None, _feeds(session, frame, features))
    except Exception:
        return False
    theirs = prefix.transform(frame)
    theirs = (
        theirs.toarray() if hasattr(theirs, "toarray") else np.asarray(theirs, dtype=np.float64)
    )
    return bool(
        ours.shape == theirs.shape and np.max(np.abs(ours - theirs), initial=0.0) <= TOLERANCE
    )


def _feeds(session: Any, frame: Any, features: Any) -> dict[str, Any]:
    import numpy as np

    inputs = session.get_inputs()
    if len(inputs) == 1 and inputs[0].name == "X":
        return {"X": frame.to_numpy(dtype=np.float64)}
    feeds = {}
    for feature in features:
        column = frame[feature.name]
        if feature.is_text:
            values = np.array(
                ["" if v != v else str(v) for v in column.astype(object)], dtype=object
            )
        else:
            values = column.to_numpy(dtype=np.float64)
        feeds[feature.name] = values.reshape(-1, 1)
    return feeds


def check(name: str, work: Path) -> dict[str, Any]:
    """Fit, package and serve one pipeline; what happened."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the users' own settings
        frame, target_name, target, model = PIPELINES[name]()
        manifest, skipped = package(model, frame, target_name, target, work / name)
    rows = frame.iloc[:: max(1, len(frame) // SERVED_ROWS)]
    runtime, equal = serve(model, work / name / "model", rows)
    parity = manifest.get("onnx_parity") if "model.onnx" in manifest["artifacts"] else None
    why = "-"
    if parity is None:
        why = f"{responsible_step(model, frame, manifest)}: {skipped}"
    return {
        "name": name,
        "model": type(model.steps[-1][1] if hasattr(model, "steps") else model).__name__,
        "rows": len(frame),
        "runtime": runtime,
        "served_equal": equal,
        "parity": "-" if parity is None else f"{parity['max_abs_diff']:.1e}",
        "why": why,
    }


COLUMNS = ("pipeline", "final step", "rows", "runtime", "parity", "answers equal", "why not ONNX")


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table; `why not ONNX` is the responsible step, then train.py's line."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in results:
        cells = [r["name"], r["model"], str(r["rows"]), r["runtime"], r["parity"]]
        cells += ["yes" if r["served_equal"] else "NO", r["why"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        results = [check(name, Path(folder)) for name in PIPELINES]
    print(table(results))
    exact = [r for r in results if r["runtime"] == "onnx" and r["served_equal"]]
    share = len(exact) / len(results)
    print(f"\n{len(exact)} of {len(results)} pipelines on ONNX with exact answers ({share:.0%})")
    unequal = [r["name"] for r in results if not r["served_equal"]]
    if unequal:
        print(f"served answers differ from the pipeline's own: {', '.join(unequal)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
