"""Which estimator families serve on ONNX: fit, package, serve and check each one; the README table.

    python bench/conformance.py               # rebuild README.md's table (timings kept)
    python bench/conformance.py --cold-start  # and time one cold start per runtime (slow)
    python bench/conformance.py --check       # exit 1 when README.md's table is out of date

Each family is a small Pipeline(StandardScaler, estimator) fitted on a scikit-learn dataset,
dumped with joblib and packaged by `train.py --from-model` (in this process) with the dataset
as its sample CSV. The folder is then served through the real function (functions-framework's
test client): GET / says which runtime serves it, and a few rows posted must come back equal
to the estimator's own predict (labels exactly; probabilities and values within the parity
tolerance). The parity is what the manifest recorded; when the export was skipped, the table
gives train.py's one-line reason. `--check` compares what does not depend on the machine:
the measured differences only by their verdict, the cold-start seconds not at all.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

README = REPO / "README.md"
START, END = "<!-- conformance:start -->", "<!-- conformance:end -->"
TOLERANCE = 1e-9
SERVED_ROWS = 6
HEADER = (
    "family",
    "task",
    "dataset",
    "runtime served",
    "parity (max abs diff / labels)",
    "cold start onnx / sklearn (s)",
    "why not ONNX",
)
TIMING_COLUMN = HEADER.index("cold start onnx / sklearn (s)")
PARITY_COLUMN = HEADER.index("parity (max abs diff / labels)")
REASON_COLUMN = HEADER.index("why not ONNX")
# A measured figure inside a reason ("max difference 3.01e-07"): compared as a placeholder.
MEASURED = re.compile(r"\d+(\.\d+)?e[-+]\d+")
SVC_PROBABILITY_DEPRECATED = r"(The .probability. parameter|Attribute .prob[AB]_.) was deprecated"
SKIPPED = re.compile(r"^ONNX export skipped: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Family:
    """One estimator family: its name, task, dataset and how to build a small one."""

    name: str
    task: str
    dataset: str
    make: Callable[[], Any]


def families() -> list[Family]:
    """Every family in the table, classifier and regressor where both exist; fitted small."""
    from sklearn import ensemble, linear_model, naive_bayes, neighbors, neural_network, svm, tree

    c, r = "classification", "regression"
    return [
        Family("LogisticRegression", c, "breast_cancer", linear_model.LogisticRegression),
        Family("LinearRegression", r, "diabetes", linear_model.LinearRegression),
        Family("Ridge", r, "diabetes", linear_model.Ridge),
        Family("Lasso", r, "diabetes", linear_model.Lasso),
        Family("ElasticNet", r, "diabetes", linear_model.ElasticNet),
        Family("SGDClassifier", c, "wine", lambda: linear_model.SGDClassifier(random_state=0)),
        Family("SGDRegressor", r, "diabetes", lambda: linear_model.SGDRegressor(random_state=0)),
        Family("LinearSVC", c, "breast_cancer", lambda: svm.LinearSVC(random_state=0)),
        Family("LinearSVR", r, "diabetes", lambda: svm.LinearSVR(random_state=0)),
        Family("SVC", c, "iris", lambda: svm.SVC(probability=True, random_state=0)),
        Family("SVR", r, "diabetes", svm.SVR),
        Family("KNeighborsClassifier", c, "iris", neighbors.KNeighborsClassifier),
        Family("KNeighborsRegressor", r, "diabetes", neighbors.KNeighborsRegressor),
        Family("GaussianNB", c, "wine", naive_bayes.GaussianNB),
        Family(
            "DecisionTreeClassifier",
            c,
            "breast_cancer",
            lambda: tree.DecisionTreeClassifier(random_state=0),
        ),
        Family(
            "DecisionTreeRegressor",
            r,
            "diabetes",
            lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0),
        ),
        Family(
            "RandomForestClassifier",
            c,
            "wine",
            lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "RandomForestRegressor",
            r,
            "diabetes",
            lambda: ensemble.RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0),
        ),
        Family(
            "ExtraTreesClassifier",
            c,
            "iris",
            lambda: ensemble.ExtraTreesClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "ExtraTreesRegressor",
            r,
            "diabetes",
            lambda: ensemble.ExtraTreesRegressor(n_estimators=20, max_depth=8, random_state=0),
        ),
        Family(
            "GradientBoostingClassifier",
            c,
            "iris",
            lambda: ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0),
        ),
        Family(
            "GradientBoostingRegressor",
            r,
            "diabetes",
            lambda: ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0),
        ),
        Family(
            "HistGradientBoostingClassifier",
            c,
            "breast_cancer",
            lambda: ensemble.HistGradientBoostingClassifier(max_iter=20, random_state=0),
        ),
        Family(
            "HistGradientBoostingRegressor",
            r,
            "diabetes",
            lambda: ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0),
        ),
        Family(
            "MLPClassifier",
            c,
            "iris",
            lambda: neural_network.MLPClassifier(
                hidden_layer_sizes=(16,), max_iter=300, random_state=0
            ),
        ),
        Family(
            "MLPRegressor",
            r,
            "diabetes",
            lambda: neural_network.MLPRegressor(
                hidden_layer_sizes=(16,), max_iter=300, random_state=0
            ),
        ),
    ]


@dataclass(frozen=True)
class Result:
    """What packaging and serving one family showed."""

    family: Family
    runtime: str
    labels_equal: bool | None
    max_abs_diff: float | None
    served_equal: bool
    skipped_because: str | None
    cold_start: dict[str, float]

    def cells(self) -> tuple[str, ...]:
        """The table row."""
        return (
            self.family.name,
            self.family.task,
            self.family.dataset,
            self.runtime,
            self.parity_cell(),
            self.cold_start_cell(),
            self.skipped_because or "-",
        )

    def parity_cell(self) -> str:
        if self.max_abs_diff is None:
            return "-"
        labels = "" if self.family.task == "regression" else " / equal"
        if self.labels_equal is False:
            labels = " / differ"
        return f"{self.max_abs_diff:.1e}{labels}"

    def cold_start_cell(self) -> str:
        if not self.cold_start:
            return "-"
        return " / ".join(
            f"{self.cold_start[name]:.2f}" if name in self.cold_start else "-"
            for name in ("onnx", "sklearn")
        )


def load_dataset(name: str) -> tuple[Any, Any, list[str]]:
    """Features, target and column names of a scikit-learn dataset shipped with it."""
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")()
    return loaded.data, loaded.target, [str(n) for n in loaded.feature_names]


def write_sample_csv(path: Path, features: Any, names: list[str]) -> None:
    """The dataset's rows as the sample CSV train.py --from-model reads (with a header)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(features.tolist())


def fit(family: Family, features: Any, target: Any) -> Any:
    """StandardScaler + the family's estimator, fitted on the dataset (few iterations)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline([("scale", StandardScaler()), ("model", family.make())])
    with warnings.catch_warnings():
        # Kept small on purpose: a model that has not converged still has to serve exactly.
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
    from tests.servers import SETTINGS_VARIABLES

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
    answers for `rows` equal the estimator's own (labels exactly, floats within tolerance)."""
    import functions_framework
    import numpy as np

    with function_environment(MODEL_URI=str(folder)):
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        client = app.test_client()
        body: dict[str, Any] = {"instances": rows.tolist()}
        with_probabilities = hasattr(model, "classes_") and hasattr(model, "predict_proba")
        if with_probabilities:
            body["probabilities"] = True
        response = client.post("/", json=body)
        runtime = client.get("/").get_json()["runtime"]
    if response.status_code != 200:
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
    else:
        served = np.asarray(answer["predictions"], dtype=np.float64)
        equal = bool(np.max(np.abs(served - expected)) <= TOLERANCE)
    return runtime, equal


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
    features, target, names = load_dataset(family.dataset)
    folder = work / family.name
    folder.mkdir()
    sample_csv = folder / f"{family.dataset}.csv"
    write_sample_csv(sample_csv, features, names)
    model = fit(family, features, target)
    manifest, skipped_because = package(model, sample_csv, folder)
    parity = manifest.get("onnx_parity") if "model.onnx" in manifest["artifacts"] else None
    rows = features[:: max(1, len(features) // SERVED_ROWS)][:SERVED_ROWS]
    runtime, served_equal = serve(model, folder / "model", rows)
    timing: dict[str, float] = {}
    if timed:
        runtimes = ["onnx", "sklearn"] if runtime == "onnx" else ["sklearn"]
        timing = cold_starts(folder / "model", rows, runtimes)
    return Result(
        family=family,
        runtime=runtime,
        labels_equal=parity["labels_equal"] if parity else None,
        max_abs_diff=parity["max_abs_diff"] if parity else None,
        served_equal=served_equal,
        skipped_because=skipped_because,
        cold_start=timing,
    )


def check_all(timed: bool = False) -> list[Result]:
    """Every family, each in its own temp folder."""
    with tempfile.TemporaryDirectory() as work:
        return [check_family(family, Path(work), timed) for family in families()]


def render(results: list[Result], kept_timings: dict[str, str] | None = None) -> str:
    """The markdown table; families not timed in this run keep `kept_timings` (by family)."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "| " + " | ".join("---" for _ in HEADER) + " |",
    ]
    for result in results:
        cells = list(result.cells())
        if not result.cold_start and kept_timings:
            cells[TIMING_COLUMN] = kept_timings.get(result.family.name, "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def split_rows(table: str) -> list[list[str]]:
    """The cells of every body row of a markdown table."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()[2:]
    ]


def comparable(table: str) -> list[tuple[str, ...]]:
    """The table's rows without what the machine decides: timings, and the digits of the
    measured difference (only whether it is within the tolerance and the labels' verdict)."""
    rows = []
    for cells in split_rows(table):
        cells[TIMING_COLUMN] = ""
        cells[PARITY_COLUMN] = parity_verdict(cells[PARITY_COLUMN])
        cells[REASON_COLUMN] = MEASURED.sub("N", cells[REASON_COLUMN])
        rows.append(tuple(cells))
    return rows


def parity_verdict(cell: str) -> str:
    """'within' / 'over' the tolerance, with the labels' verdict; '-' when not exported."""
    if cell == "-":
        return cell
    number, _, labels = cell.partition(" / ")
    within = "within" if float(number) <= TOLERANCE else "over"
    return f"{within} {labels}".strip()


def readme_table(text: str) -> str:
    """The table between the markers in the README text."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def with_table(text: str, table: str) -> str:
    """The README text with its table replaced."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is outdated")
    parser.add_argument(
        "--cold-start", action="store_true", help="time one cold start per runtime and family"
    )
    args = parser.parse_args(argv)
    results = check_all(timed=args.cold_start)
    text = README.read_text()
    kept = {cells[0]: cells[TIMING_COLUMN] for cells in split_rows(readme_table(text))}
    table = render(results, kept)
    unserved = [r.family.name for r in results if not r.served_equal]
    if unserved:
        print(f"served answers differ from the estimator's: {', '.join(unserved)}")
        return 1
    if args.check:
        if comparable(readme_table(text)) != comparable(table):
            print("README.md's conformance table is out of date: run python bench/conformance.py")
            print(table)
            return 1
        print("README.md's conformance table is up to date")
        return 0
    README.write_text(with_table(text, table))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
