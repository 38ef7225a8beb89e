"""train.py: its command line, bad input, the manifest it writes, reproducibility, model/."""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import sklearn
from onnx import numpy_helper
from sklearn.datasets import load_breast_cancer, load_diabetes

import train
from serving.manifest import MANIFEST_NAME, sha256_hex
from tests.support.csv_data import write_csv
from tests.support.fixture_types import MakeClient, TrainModel
from tests.support.penguins_data import PENGUINS, penguins, records

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "train.py"
BUNDLED = REPO / "model"
CANCER = np.asarray(load_breast_cancer().data, dtype=np.float64)


def run_train(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TRAIN), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def animals_csv(path: Path, rows: int = 80) -> Path:
    """Two numeric features around a string label, with the label column in the middle."""
    rng = np.random.default_rng(7)
    body = []
    for i in range(rows):
        label = "cat" if i % 2 else "dog"
        weight = rng.normal(4 if label == "cat" else 20, 2)
        height = rng.normal(25 if label == "cat" else 55, 5)
        body.append([round(weight, 3), label, round(height, 3)])
    return write_csv(path, ["weight", "animal", "height"], body)


def manifest_of(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / MANIFEST_NAME).read_bytes()))


def option_names() -> list[str]:
    return re.findall(r'add_argument\(\s*"(--[a-z-]+)"', TRAIN.read_text())


# --- command line ------------------------------------------------------------------------------


def test_help_explains_every_option() -> None:
    done = run_train("--help")
    assert done.returncode == 0
    options = option_names()
    assert len(options) >= 9
    for option in options:
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(option))
        described = line.strip()[len(option) :].strip()
        assert described or "--help" in option, f"{option} has no help text"
    assert all(option in done.stdout for option in options)


# (id, arguments, what the one line must say); {name} is a file from the bad_csvs fixture.
# The list runs as real commands; the rest run in-process (same code path).
COMMAND_ERRORS: list[tuple[str, list[str], str]] = [
    ("missing", ["--data", "{tmp}/nope.csv", "--target", "y"], "nope.csv not found"),
    (
        "unknown_target",
        ["--data", "{good}", "--target", "colour"],
        "unknown target column 'colour'",
    ),
    ("typo", ["--data", "{text}", "--target", "y"], "column 'b' is numeric except line 3 ('tall')"),
    ("too_few_rows", ["--data", "{few}", "--target", "y"], "need at least 10 rows"),
    ("single_class", ["--data", "{single}", "--target", "y"], "the target has a single class (1)"),
    ("empty", ["--data", "{empty}", "--target", "y"], "is empty"),
    ("ragged", ["--data", "{ragged}", "--target", "y"], "line 4 has 2 values; the header has 3"),
]
IN_PROCESS_ERRORS: list[tuple[str, list[str], str]] = [
    ("non_finite", ["--data", "{inf}", "--target", "y"], "column 'a' has non-finite values"),
    ("lonely_class", ["--data", "{lonely}", "--target", "y"], "class 'z' has one row"),
    ("only_target", ["--data", "{only}", "--target", "y"], "no feature columns besides 'y'"),
    ("not_utf8", ["--data", "{binary}", "--target", "y"], "cannot read"),
    ("a_folder", ["--data", "{tmp}", "--target", "y"], "cannot read"),
    (
        "text_regression",
        ["--data", "{good}", "--target", "y", "--task", "regression"],
        "--task regression needs a numeric target column",
    ),
]


@pytest.fixture(scope="module")
def bad_csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One small CSV per kind of bad input (and one good one)."""
    tmp = tmp_path_factory.mktemp("csv")
    numbers = [[i, i * 2, "yes" if i % 2 else "no"] for i in range(20)]
    text = [list(row) for row in numbers]
    text[1][1] = "tall"
    inf = [list(row) for row in numbers]
    inf[5][0] = "inf"
    lonely = [[*row[:2], "z" if i == 0 else row[2]] for i, row in enumerate(numbers)]
    (tmp / "empty.csv").write_text("")
    (tmp / "ragged.csv").write_text("a,b,y\n1,2,yes\n3,4,no\n5,6\n")
    (tmp / "binary.csv").write_bytes(b"a,b,y\n\xff\xfe,1,2\n")
    return {
        "tmp": str(tmp),
        "good": str(write_csv(tmp / "good.csv", ["a", "b", "y"], numbers)),
        "text": str(write_csv(tmp / "text.csv", ["a", "b", "y"], text)),
        "inf": str(write_csv(tmp / "inf.csv", ["a", "b", "y"], inf)),
        "few": str(write_csv(tmp / "few.csv", ["a", "b", "y"], numbers[:9])),
        "single": str(
            write_csv(tmp / "single.csv", ["a", "b", "y"], [[i, i, 1] for i in range(20)])
        ),
        "lonely": str(write_csv(tmp / "lonely.csv", ["a", "b", "y"], lonely)),
        "only": str(write_csv(tmp / "only.csv", ["y"], [[i % 2] for i in range(20)])),
        "empty": str(tmp / "empty.csv"),
        "ragged": str(tmp / "ragged.csv"),
        "binary": str(tmp / "binary.csv"),
    }


@pytest.fixture(scope="module")
def command_runs(
    bad_csvs: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, str, str, Path]]:
    """Every command of COMMAND_ERRORS, started at once (each pays for importing sklearn)."""
    started = {}
    for name, args, _ in COMMAND_ERRORS:
        out = tmp_path_factory.mktemp(name) / "out"
        command = [sys.executable, str(TRAIN), *[a.format(**bad_csvs) for a in args]]
        started[name] = (
            subprocess.Popen(
                [*command, "--out", str(out)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            out,
        )
    runs = {}
    for name, (process, out) in started.items():
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        runs[name] = (process.returncode, stdout, stderr, out)
    return runs


@pytest.mark.parametrize(
    ("name", "message"),
    [(row[0], row[2]) for row in COMMAND_ERRORS],
    ids=[row[0] for row in COMMAND_ERRORS],
)
def test_bad_input_exits_with_one_clear_line(
    command_runs: dict[str, tuple[int, str, str, Path]], name: str, message: str
) -> None:
    returncode, stdout, stderr, out = command_runs[name]
    assert returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("train.py: error: ")
    assert message in lines[0]
    assert "Traceback" not in stdout + stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [row[1:] for row in IN_PROCESS_ERRORS],
    ids=[row[0] for row in IN_PROCESS_ERRORS],
)
def test_more_bad_input_in_process(
    bad_csvs: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "out"
    assert train.main([*[arg.format(**bad_csvs) for arg in args], "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"train.py: error: {captured.err[17:].strip()}"]
    assert message in captured.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "x.csv"], "--data needs --target"),
        (["--target", "y"], "--target is only used with --data"),
        (["--test-size", "1.5"], "--test-size must be between 0 and 1"),
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["--data", "x.csv", "--dataset", "iris", "--target", "y"], "not allowed with"),
    ],
)
def test_bad_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        train.main(args)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert ": error: " in err.strip().splitlines()[-1]
    assert message in err


# --- what it writes ----------------------------------------------------------------------------


def test_manifest_records_every_field(classifier_dir: Path) -> None:
    manifest = manifest_of(classifier_dir)
    bunch = load_breast_cancer()
    assert manifest["name"] == "breast-cancer"
    assert re.fullmatch(r"\d{8}-[0-9a-f]{8}", manifest["model_version"])
    created = dt.datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert manifest["model_version"].startswith(created.strftime("%Y%m%d"))
    assert manifest["task"] == "classification"
    assert manifest["feature_names"] == [str(n) for n in bunch.feature_names]
    assert manifest["n_features"] == 30
    assert manifest["classes"] == [0, 1]
    assert set(manifest["metrics"]) == {"accuracy", "f1_macro", "roc_auc"}
    assert all(0.9 < value <= 1 for value in manifest["metrics"].values())
    assert set(manifest["artifacts"]) == {
        "model.joblib",
        "model.onnx",
        "model.bigquery.onnx",
        "explanations.npz",
    }
    for name, entry in manifest["artifacts"].items():
        data = (classifier_dir / name).read_bytes()
        assert entry["sha256"] == sha256_hex(data)
        assert entry["bytes"] == len(data)
    assert manifest["artifacts"]["model.joblib"]["runtime"] == "sklearn"
    assert manifest["artifacts"]["model.onnx"]["runtime"] == "onnx"
    assert manifest["artifacts"]["model.bigquery.onnx"]["runtime"] == "bigquery-ml"
    assert manifest["artifacts"]["explanations.npz"]["runtime"] == "explanations"
    assert manifest["explanations"]["available"] is True
    assert manifest["libraries"] == {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }
    assert manifest["training_data"]["rows"] == len(bunch.target)
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["training_data"]["sha256"])
    assert manifest["test_split"] == {"fraction": 0.2, "seed": 0, "rows": 114}
    assert manifest["onnx_parity"]["labels_equal"] is True
    assert manifest["onnx_parity"]["max_abs_diff"] <= manifest["onnx_parity"]["tolerance"]
    assert sorted(path.name for path in classifier_dir.iterdir()) == sorted(
        [MANIFEST_NAME, *manifest["artifacts"]]
    )


def test_regression_option(regressor_dir: Path) -> None:
    manifest = manifest_of(regressor_dir)
    assert manifest["task"] == "regression"
    assert manifest["classes"] is None
    assert set(manifest["metrics"]) == {"r2", "mae", "rmse"}
    assert manifest["n_features"] == load_diabetes().data.shape[1]
    model = joblib.load(regressor_dir / "model.joblib")
    assert model.predict(load_diabetes().data[:3]).dtype == np.float64


def test_version_name_and_created_time_options(
    train_model: TrainModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    folder = train_model("--dataset", "iris", "--version", "2026-11-26.1", "--name", "flowers")
    manifest = manifest_of(folder)
    assert manifest["model_version"] == "2026-11-26.1"
    assert manifest["name"] == "flowers"
    assert manifest["created_at"] == "2023-11-14T22:13:20Z"
    assert manifest["classes"] == [0, 1, 2]


def test_data_fingerprint_follows_the_data_not_the_file(tmp_path: Path) -> None:
    first = animals_csv(tmp_path / "a.csv")
    same = tmp_path / "b.csv"
    same.write_bytes(first.read_bytes())
    other = tmp_path / "c.csv"
    other.write_text(first.read_text().replace("\n1", "\n2", 1))
    assert other.read_text() != first.read_text()

    def fingerprint(path: Path) -> str:
        return train.fingerprint(train.load_csv(path, "animal", "auto"))

    assert fingerprint(first) == fingerprint(same)
    assert fingerprint(first) != fingerprint(other)


def test_csv_with_string_labels_end_to_end(tmp_path: Path, make_client: MakeClient) -> None:
    """The user's path: train from a CSV as a command, then serve it and get its labels back."""
    data = animals_csv(tmp_path / "animals.csv")
    out = tmp_path / "animals-model"
    done = run_train("--data", str(data), "--target", "animal", "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = manifest_of(out)
    assert manifest["name"] == "animals"
    assert manifest["feature_names"] == ["weight", "height"]
    assert manifest["classes"] == ["cat", "dog"]
    assert manifest["training_data"]["source"] == "animals.csv"
    for metric in manifest["metrics"]:
        assert f"  {metric}: " in done.stdout
    pinned = sha256_hex((out / MANIFEST_NAME).read_bytes())
    assert f"manifest sha256 {pinned}" in done.stdout

    model = joblib.load(out / "model.joblib")
    rows = [[4.0, 24.0], [21.0, 60.0], [12.0, 40.0]]
    expected = model.predict(np.array(rows)).tolist()
    assert set(expected) == {"cat", "dog"}
    for runtime in ("sklearn", "onnx", "auto"):
        client = make_client(MODEL_URI=str(out), MODEL_RUNTIME=runtime)
        body = client.post("/", json={"instances": rows, "probabilities": True}).get_json()
        assert body["predictions"] == expected, runtime
        assert body["classes"] == ["cat", "dog"]
        keyed = client.post("/", json={"features": {"height": 24.0, "weight": 4.0}}).get_json()
        assert keyed["prediction"] == expected[0]


def test_csv_with_a_float_target_is_regression(train_model: TrainModel, tmp_path: Path) -> None:
    rows = [[i, (i * 7) % 5, i * 0.5 + 0.25] for i in range(30)]
    folder = train_model(
        "--data",
        str(write_csv(tmp_path / "price.csv", ["x", "z", "price"], rows)),
        "--target",
        "price",
    )
    manifest = manifest_of(folder)
    assert manifest["task"] == "regression"
    assert manifest["classes"] is None
    assert manifest["feature_names"] == ["x", "z"]


def test_same_arguments_give_identical_predictions(
    train_model: TrainModel, classifier_dir: Path
) -> None:
    again = train_model()
    first = joblib.load(classifier_dir / "model.joblib")
    second = joblib.load(again / "model.joblib")
    assert second.predict(CANCER).tolist() == first.predict(CANCER).tolist()
    assert second.predict_proba(CANCER).tolist() == first.predict_proba(CANCER).tolist()
    for name in ("model.joblib", "model.onnx"):
        assert (again / name).read_bytes() == (classifier_dir / name).read_bytes(), name


def onnx_outputs(folder: Path) -> list[np.ndarray]:
    session = ort.InferenceSession(
        (folder / "model.onnx").read_bytes(), providers=["CPUExecutionProvider"]
    )
    return list(session.run(None, {session.get_inputs()[0].name: CANCER}))


# The committed model/ was trained on another machine: OpenBLAS picks its kernels by CPU, so
# the last bits of a fitted weight (and of every float computed from it) may differ there.
# Across that boundary labels must be equal and every other float within this; exact equality
# is asserted only where one machine computes both sides (the test above).
ACROSS_MACHINES = 1e-9


def close(shipped: Any, retrained: Any, where: str = "") -> None:
    """Assert two JSON-like values are equal, floats within ACROSS_MACHINES (relative to
    magnitudes above 1), and say where they are not."""
    if isinstance(shipped, dict):
        assert isinstance(retrained, dict), where
        assert shipped.keys() == retrained.keys(), f"{where}: keys differ"
        for key in shipped:
            close(shipped[key], retrained[key], f"{where}.{key}")
    elif isinstance(shipped, list | tuple):
        assert isinstance(retrained, list | tuple), where
        assert len(shipped) == len(retrained), f"{where}: lengths differ"
        for index, (left, right) in enumerate(zip(shipped, retrained, strict=True)):
            close(left, right, f"{where}[{index}]")
    elif isinstance(shipped, float) and not isinstance(retrained, bool):
        assert isinstance(retrained, int | float), where
        tolerance = ACROSS_MACHINES * max(1.0, abs(shipped))
        assert abs(shipped - retrained) <= tolerance, f"{where}: {shipped} != {retrained}"
    else:
        assert shipped == retrained, f"{where}: {shipped!r} != {retrained!r}"


def test_bundled_model_is_what_train_py_writes(classifier_dir: Path) -> None:
    """model/ in the repo equals `python train.py` (default arguments) run today, here: the
    same labels, and every weight, probability and figure within ACROSS_MACHINES."""
    bundled, fresh = (
        joblib.load(BUNDLED / "model.joblib"),
        joblib.load(classifier_dir / "model.joblib"),
    )
    assert bundled.predict(CANCER).tolist() == fresh.predict(CANCER).tolist()
    close(bundled.predict_proba(CANCER).tolist(), fresh.predict_proba(CANCER).tolist())
    (shipped_labels, *shipped_scores), (labels, *scores) = (
        onnx_outputs(BUNDLED),
        onnx_outputs(classifier_dir),
    )
    assert shipped_labels.tolist() == labels.tolist()
    close([s.tolist() for s in shipped_scores], [s.tolist() for s in scores], "model.onnx")

    shipped, retrained = manifest_of(BUNDLED), manifest_of(classifier_dir)
    assert shipped["model_version"].split("-")[1] == retrained["model_version"].split("-")[1]
    # The Python patch release may differ between machines; the pinned libraries may not.
    shipped["libraries"].pop("python")
    retrained["libraries"].pop("python")
    for varying in ("created_at", "model_version"):
        shipped.pop(varying)
        retrained.pop(varying)
    # The graph and its weights are what must match, so they are compared decoded (the
    # bytes differ with any weight's last bit).
    close(onnx_graph(BUNDLED), onnx_graph(classifier_dir), "model.onnx")
    # model.joblib's bytes differ by a few bytes of array alignment padding in some test
    # sessions, and by a weight's last bit across machines (same predictions, compared above);
    # explanations.npz is compressed, so its size follows its last bits too: compared decoded.
    close(explanation_arrays(BUNDLED), explanation_arrays(classifier_dir), "explanations.npz")
    for manifest in (shipped, retrained):
        for name in ("model.joblib", "model.onnx", "model.bigquery.onnx", "explanations.npz"):
            manifest["artifacts"][name].pop("sha256")
        for name in ("model.joblib", "explanations.npz"):
            manifest["artifacts"][name].pop("bytes")
    close(shipped, retrained, "manifest")


def explanation_arrays(folder: Path) -> dict[str, Any]:
    """explanations.npz decoded, each array as a list."""
    with np.load(folder / "explanations.npz", allow_pickle=False) as stored:
        return {name: stored[name].tolist() for name in stored.files}


def test_close_tells_a_last_bit_from_a_real_difference() -> None:
    # Seen between two CPUs' OpenBLAS kernels (issue 26): equal within the tolerance.
    close([0.9999999979020201, 2.09797986805228e-09], [0.9999999979020201, 2.097979868052302e-09])
    close({"w": 1234.5678}, {"w": 1234.5678 + 1e-7})
    for shipped, retrained in (
        ({"p": [0.5]}, {"p": [0.5 + 2e-9]}),
        ({"w": 1234.5678}, {"w": 1234.5679}),
        ({"label": 1}, {"label": 0}),
        ({"k": "a"}, {"k": "b"}),
        ({"k": 1.0}, {"j": 1.0}),
    ):
        with pytest.raises(AssertionError):
            close(shipped, retrained)


def onnx_graph(folder: Path) -> dict[str, Any]:
    """model.onnx decoded: opsets, nodes with their attributes, inputs, outputs, weights."""
    model = onnx.load(folder / "model.onnx")
    graph = model.graph
    return {
        "opsets": {opset.domain: opset.version for opset in model.opset_import},
        "nodes": [
            (node.op_type, node.domain, [*node.input], [*node.output], str(node.attribute))
            for node in graph.node
        ],
        "inputs": str(graph.input),
        "outputs": str(graph.output),
        "weights": {
            tensor.name: (tensor.data_type, numpy_helper.to_array(tensor).tolist())
            for tensor in graph.initializer
        },
    }


# --- tables with text and gaps -----------------------------------------------------------------


def test_penguins_csv_trains_with_text_and_gaps(
    penguins_dir: Path, make_client: MakeClient
) -> None:
    manifest = manifest_of(penguins_dir)
    kinds = {f["name"]: (f["type"], f["nullable"]) for f in manifest["features"]}
    assert kinds == {
        "island": ("string", True),
        "bill_length_mm": ("number", True),
        "bill_depth_mm": ("number", True),
        "flipper_length_mm": ("number", True),
        "body_mass_g": ("number", True),
        "sex": ("string", True),
        "year": ("integer", True),
    }
    assert manifest["fitted_on"] == "dataframe"
    assert manifest["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert manifest["metrics"]["accuracy"] > 0.9
    assert "model.onnx" in manifest["artifacts"]
    model = joblib.load(penguins_dir / "model.joblib")
    frame = penguins()
    for runtime in ("onnx", "sklearn"):
        client = make_client(MODEL_URI=str(penguins_dir), MODEL_RUNTIME=runtime)
        answer = client.post("/", json={"instances": records(frame)}).get_json()
        assert answer["predictions"] == model.predict(frame).tolist(), runtime


def test_hist_gradient_boosting_option(train_model: TrainModel) -> None:
    folder = train_model(
        "--data", str(PENGUINS), "--target", "species", "--estimator", "hist_gradient_boosting"
    )
    manifest = manifest_of(folder)
    assert "HistGradientBoostingClassifier" in manifest["estimator"]
    assert manifest["metrics"]["accuracy"] > 0.9


def test_blank_targets_are_dropped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [[i, (i * 3) % 7, "" if i % 9 == 0 else i * 1.5] for i in range(40)]
    data = write_csv(tmp_path / "blank.csv", ["x", "z", "price"], rows)
    assert train.main(["--data", str(data), "--target", "price", "--out", str(tmp_path / "m")]) == 0
    assert "dropped 5 rows whose target 'price' is empty or NA" in capsys.readouterr().out
    manifest = manifest_of(tmp_path / "m")
    assert manifest["task"] == "regression"
    assert manifest["training_data"]["rows"] == 35


def test_byte_order_mark_and_repeated_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [[i, i % 3, "a" if i % 2 else "b"] for i in range(30)]
    data = write_csv(tmp_path / "bom.csv", ["weight", "size", "y"], rows)
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())
    assert train.main(["--data", str(data), "--target", "y", "--out", str(tmp_path / "m")]) == 0
    assert manifest_of(tmp_path / "m")["feature_names"] == ["weight", "size"]

    repeated = write_csv(tmp_path / "twice.csv", ["a", "a", "y"], rows)
    assert train.main(["--data", str(repeated), "--target", "y", "--out", str(tmp_path / "n")]) == 1
    err = capsys.readouterr().err
    assert err == "train.py: error: column name 'a' appears more than once in the header\n"
