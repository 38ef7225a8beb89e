"""Which estimator families serve on ONNX: fit, package, serve, check each; docs/models.md's table.

    python bench/conformance.py               # rebuild docs/models.md's table (timings kept)
    python bench/conformance.py --cold-start  # and time one cold start per runtime (slow)
    python bench/conformance.py --check       # exit 1 when docs/models.md's table is out of date

Each row is fitted twice on a scikit-learn dataset, on its NumPy array and on a DataFrame with
a text column and gaps (bench/conformance_families.py says how), dumped with joblib and
packaged by `train.py --from-model` (in this process) with the data as its sample CSV. Each
folder is then served through the real function (functions-framework's test client): GET /
says which runtime serves it, and a few rows posted must come back equal to the estimator's
own predict (labels exactly; probabilities and values within the parity tolerance). The
parity is what the manifest recorded; when the export was skipped, the table gives train.py's
one-line reason. `--check` compares what does not depend on the machine: the measured
differences only by their verdict, the cold-start seconds not at all. The cold starts are
those of the array variant.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from bench.conformance_bigquery import bigquery_outcome  # noqa: E402
from bench.conformance_families import (  # noqa: E402
    TEXT_COLUMN,
    Family,
    array_pipeline,
    dataset_frame,
    families,
    frame_pipeline,
)
from bench.conformance_table import (  # noqa: E402
    HEADER,
    TABLE_PAGE,
    TIMING_COLUMN,
    TOLERANCE,
    Outcome,
    Result,
    comparable,
    page_table,
    render,
    split_rows,
    with_table,
)

SERVED_ROWS = 6
SVC_PROBABILITY_DEPRECATED = r"(The .probability. parameter|Attribute .prob[AB]_.) was deprecated"
SKIPPED = re.compile(r"^ONNX export skipped: (.*)$", re.MULTILINE)


def load_dataset(name: str) -> tuple[Any, Any, list[str]]:
    """Features, target and column names of a scikit-learn dataset shipped with it."""
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")()
    return loaded.data, loaded.target, [str(n) for n in loaded.feature_names]


def write_sample_csv(path: Path, features: Any, names: list[str]) -> None:
    """The rows as the sample CSV train.py --from-model reads (with a header; gaps empty)."""
    import pandas as pd

    frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
    frame.to_csv(path, header=names, index=False)


def fit(pipeline: Any, features: Any, target: Any) -> Any:
    """The pipeline fitted on the data (few iterations: a model that has not converged still
    has to serve exactly)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(features, target)
    return pipeline


def package(model: Any, sample_csv: Path, folder: Path) -> tuple[dict[str, Any], str | None]:
    """train.py --from-model on the dumped model: its manifest and the skip reason printed."""
    import joblib

    import train

    model_file = folder / "model-in.joblib"
    joblib.dump(model, model_file)
    printed = io.StringIO()
    out = folder / "model"
    with contextlib.redirect_stdout(printed):
        status = train.main(
            ["--from-model", str(model_file), "--data", str(sample_csv), "--out", str(out)]
        )
    if status != 0:
        raise RuntimeError(f"train.py --from-model failed:\n{printed.getvalue()}")
    skipped = SKIPPED.search(printed.getvalue())
    manifest = json.loads((out / "manifest.json").read_text())
    return manifest, shorten(skipped.group(1)) if skipped else None


def shorten(reason: str) -> str:
    """train.py's skip line, cut to what says why (no advice, no pipes for the table)."""
    reason = reason.split("; the scikit-learn runtime serves")[0].replace("this model ", "")
    return reason.replace("|", "/")[:160]


@contextlib.contextmanager
def function_environment(**values: str) -> Iterator[None]:
    """The function's settings for one client, the previous environment restored afterwards."""
    from tests.support.servers import SETTINGS_VARIABLES

    names = set(SETTINGS_VARIABLES) | set(values) | {"FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"}
    saved = {name: os.environ.get(name) for name in names}
    for name in SETTINGS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values, FUNCTION_TARGET="predict", FUNCTION_SIGNATURE_TYPE="http")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def serve(model: Any, folder: Path, rows: Any) -> tuple[str, bool]:
    """Serve the folder through the real function: the runtime GET / reports, and whether the
    answers for `rows` (an array, or a DataFrame sent as objects) equal the estimator's own
    (labels exactly, floats within tolerance)."""
    import functions_framework
    import numpy as np

    instances = _instances(rows)
    with function_environment(MODEL_URI=str(folder)):
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        client = app.test_client()
        body: dict[str, Any] = {"instances": instances}
        with_probabilities = hasattr(model, "classes_") and hasattr(model, "predict_proba")
        if with_probabilities:
            body["probabilities"] = True
        response = client.post("/", json=body)
        runtime = client.get("/").get_json()["runtime"]
        # Without probabilities, a classifier's decision values are its only numbers.
        scores_only = hasattr(model, "decision_function") and not with_probabilities
        if scores_only:
            decision_body = {
                "instances": instances,
                "parameters": {"predict_method": "decision_function"},
            }
            decision = client.post("/", json=decision_body)
    if response.status_code != 200 or (scores_only and decision.status_code != 200):
        return runtime, False
    answer = response.get_json()
    expected = model.predict(rows)
    if hasattr(model, "classes_"):
        equal = answer["predictions"] == expected.tolist()
        if with_probabilities:
            probabilities = np.asarray(answer["probabilities"], dtype=np.float64)
            equal = equal and bool(
                np.max(np.abs(probabilities - model.predict_proba(rows))) <= TOLERANCE
            )
        if scores_only:
            scores = np.asarray(decision.get_json()["predictions"], dtype=np.float64)
            equal = equal and bool(
                np.max(np.abs(scores - model.decision_function(rows))) <= TOLERANCE
            )
    else:
        served = np.asarray(answer["predictions"], dtype=np.float64)
        equal = bool(np.max(np.abs(served - expected)) <= TOLERANCE)
    return runtime, equal


def _instances(rows: Any) -> list[Any]:
    """An array's rows as lists; a DataFrame's as objects keyed by column, gaps as null."""
    if not hasattr(rows, "columns"):
        return list(rows.tolist())
    return [
        {str(name): (None if value != value else value) for name, value in row.items()}
        for row in rows.to_dict(orient="records")
    ]


def cold_starts(folder: Path, rows: Any, runtimes: list[str]) -> dict[str, float]:
    """Spawn to first answer of a real server, one start per runtime."""
    from bench.common import Variant, cold_start

    body = json.dumps({"instances": rows[:1].tolist()}).encode()
    return {
        runtime: cold_start(
            Variant(
                runtime, REPO / "main.py", {"MODEL_URI": str(folder), "MODEL_RUNTIME": runtime}
            ),
            body,
        )
        for runtime in runtimes
    }


def check_family(family: Family, work: Path, timed: bool = False) -> Result:
    """Fit, package, serve (and optionally cold-start) one family."""
    with warnings.catch_warnings():
        # scikit-learn 1.9 deprecates SVC(probability=True) (the issue asks for it): its fit and
        # the converter's reading of probA_/probB_ warn; the model serves the same meanwhile.
        warnings.filterwarnings("ignore", SVC_PROBABILITY_DEPRECATED, FutureWarning)
        return _check_family(family, work, timed)


def _check_family(family: Family, work: Path, timed: bool) -> Result:
    folder = work / re.sub(r"\W+", "_", family.name)
    folder.mkdir()
    array = None
    if family.arrays:
        features, target, names = load_dataset(family.dataset)
        model = fit(array_pipeline(family), features, target)
        array = check_variant(model, features, target, names, folder / "array", timed)
    frame, target = dataset_frame(family.dataset)
    if family.categories:
        frame[TEXT_COLUMN] = frame[TEXT_COLUMN].astype("category")
    model = fit(frame_pipeline(family, frame), frame, target)
    names = [str(name) for name in frame.columns]
    dataframe = check_variant(model, frame, target, names, folder / "dataframe", timed=False)
    return Result(family=family, array=array, dataframe=dataframe)


def check_variant(
    model: Any, features: Any, target: Any, names: list[str], folder: Path, timed: bool
) -> Outcome:
    """Package one fitted model with its data as the sample CSV, serve it, time it if asked."""
    folder.mkdir()
    sample_csv = folder / "sample.csv"
    write_sample_csv(sample_csv, features, names)
    manifest, skipped_because = package(model, sample_csv, folder)
    parity = manifest.get("onnx_parity") if "model.onnx" in manifest["artifacts"] else None
    rows = features[:: max(1, len(features) // SERVED_ROWS)][:SERVED_ROWS]
    runtime, served_equal = serve(model, folder / "model", rows)
    timing: dict[str, float] = {}
    if timed:
        runtimes = ["onnx", "sklearn"] if runtime == "onnx" else ["sklearn"]
        timing = cold_starts(folder / "model", rows, runtimes)
    return Outcome(
        runtime=runtime,
        labels_equal=parity["labels_equal"] if parity else None,
        max_abs_diff=parity["max_abs_diff"] if parity else None,
        served_equal=served_equal,
        skipped_because=skipped_because,
        cold_start=timing,
        bigquery=bigquery_outcome(manifest),
    )


def check_all(timed: bool = False) -> list[Result]:
    """Every family, each in its own temp folder."""
    with tempfile.TemporaryDirectory() as work:
        return [check_family(family, Path(work), timed) for family in families()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/models.md is outdated")
    parser.add_argument(
        "--cold-start", action="store_true", help="time one cold start per runtime and family"
    )
    args = parser.parse_args(argv)
    results = check_all(timed=args.cold_start)
    text = TABLE_PAGE.read_text()
    # The page's timings, found by their column's name (a column added since moves them).
    header = [cell.strip() for cell in page_table(text).splitlines()[0].strip("| ").split("|")]
    timing = header.index(HEADER[TIMING_COLUMN])
    kept = {
        cells[0]: cells[timing] for cells in split_rows(page_table(text)) if len(cells) > timing
    }
    table = render(results, kept)
    unserved = [r.family.name for r in results if not r.served_equal]
    if unserved:
        print(f"served answers differ from the estimator's: {', '.join(unserved)}")
        return 1
    if args.check:
        if comparable(page_table(text)) != comparable(table):
            print(
                "docs/models.md's conformance table is out of date: run python bench/conformance.py"
            )
            print(table)
            return 1
        print("docs/models.md's conformance table is up to date")
        return 0
    TABLE_PAGE.write_text(with_table(text, table))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
