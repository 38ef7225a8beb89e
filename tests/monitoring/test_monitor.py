"""monitor.py's drift report against real models' training statistics and log entries.

The entries are built in the prediction log format from real model outputs (a penguin
classifier and a breast-cancer classifier fit here); monitor.py runs as the CLI it is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitoring.demo import (
    MODEL_VERSION,
    NEW_ISLAND,
    SHIFTED,
    log_lines,
    penguin_model,
    shifted,
    write_demo,
)
from monitoring.entries import prediction_log_entry
from tests.support.fake_bigquery import FakeBigQuery, serve
from training.statistics import OTHER, training_statistics

REPO = Path(__file__).resolve().parents[2]


def run_monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "monitor.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def penguins() -> tuple[Any, Any, Any, dict[str, Any]]:
    return penguin_model()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, penguins: tuple) -> Path:
    folder = tmp_path_factory.mktemp("penguins") / "model"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(penguins[3]))
    return folder


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_training_statistics_are_small_deterministic_and_add_up(penguins: tuple) -> None:
    model, train, _, manifest = penguins
    stats = manifest["training_statistics"]
    again = training_statistics(
        train, manifest["features"], list(model.predict(train[manifest["feature_names"]])),
        "classification", manifest["classes"],
    )  # fmt: skip
    text = json.dumps(stats, sort_keys=True, allow_nan=False)
    assert text == json.dumps(again, sort_keys=True, allow_nan=False)
    assert len(text) < 8000
    bill = next(f for f in stats["features"] if f["name"] == SHIFTED)
    assert sum(bill["counts"]) == bill["count"] == train[SHIFTED].notna().sum()
    assert bill["missing_share"] == round(train[SHIFTED].isna().mean(), 6)
    sex = next(f for f in stats["features"] if f["name"] == "sex")
    assert sex["categories"] == {
        k: round(v, 6) for k, v in train.sex.value_counts(normalize=True).items()
    }
    assert set(stats["outputs"]["shares"]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_categories_beyond_the_top_are_grouped() -> None:
    column = [f"c{i:02d}" for i in range(30) for _ in range(i + 1)]
    feature = {"name": "code", "type": "string", "nullable": False}
    stats = training_statistics({"code": column}, [feature], [0.5] * len(column), "regression")
    code = stats["features"][0]
    assert list(code["categories"])[:2] == ["c29", "c28"]
    assert len(code["categories"]) == 20
    assert code["other_share"] == round(sum(range(1, 11)) / len(column), 6)
    assert stats["outputs"]["kind"] == "values"
    assert OTHER == "(other)"


def test_held_out_rows_show_no_drift(penguins: tuple, model_dir: Path, tmp_path: Path) -> None:
    model, _, held_out, _ = penguins
    logs = write_lines(
        tmp_path / "logs.jsonl", ["plain text line", *log_lines(model, held_out, MODEL_VERSION)]
    )
    result = run_monitor("--logs", logs, "--model", str(model_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(held_out)} rows from" in result.stdout
    assert "no drift" in result.stdout
    assert "skipped 1 lines" in result.stdout


def test_shifted_feature_and_new_category_are_named(
    penguins: tuple, model_dir: Path, tmp_path: Path
) -> None:
    model, train, held_out, _ = penguins
    logs = write_lines(
        tmp_path / "logs.jsonl", log_lines(model, shifted(held_out, train), MODEL_VERSION)
    )
    result = run_monitor(
        "--logs", logs, "--model", str(model_dir), "--out", str(tmp_path / "r.html")
    )
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = [line for line in result.stdout.splitlines() if "PSI " in line and ">" in line]
    assert any(line.startswith(SHIFTED) for line in flagged)
    assert any(line.startswith("island") and NEW_ISLAND in line for line in flagged)
    assert not any(line.startswith(("bill_depth_mm", "year")) for line in flagged)
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 8
    assert "&lt;Atlantis&gt;" in page
    assert NEW_ISLAND not in page


def test_thresholds_are_overridable(penguins: tuple, model_dir: Path, tmp_path: Path) -> None:
    model, train, held_out, _ = penguins
    logs = write_lines(
        tmp_path / "logs.jsonl", log_lines(model, shifted(held_out, train), MODEL_VERSION)
    )
    result = run_monitor(
        "--logs", logs, "--model", str(model_dir), "--psi", "100", "--unseen-share", "0.5"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gcloud_logging_read_output(penguins: tuple, model_dir: Path, tmp_path: Path) -> None:
    model, _, held_out, _ = penguins
    entries: list[dict[str, Any]] = [{"textPayload": "Default STARTUP TCP probe succeeded"}]
    for line in log_lines(model, held_out, MODEL_VERSION):
        record = json.loads(line)
        labels = record.pop("logging.googleapis.com/labels")
        entries.append({"jsonPayload": record, "labels": labels, "severity": "INFO",
                        "logName": "projects/p/logs/run.googleapis.com%2Fstdout"})  # fmt: skip
    logs = tmp_path / "gcloud.json"
    logs.write_text(json.dumps(entries, indent=2))
    result = run_monitor("--logs", str(logs), "--model", str(model_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(held_out)} rows from {len(entries) - 1} log entries" in result.stdout


def test_other_model_versions_are_reported_not_mixed_in(
    penguins: tuple, model_dir: Path, tmp_path: Path
) -> None:
    model, train, held_out, _ = penguins
    old = log_lines(model, shifted(held_out, train), "older-version")
    logs = write_lines(tmp_path / "logs.jsonl", [*log_lines(model, held_out, MODEL_VERSION), *old])
    result = run_monitor("--logs", logs, "--model", str(model_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"not compared: {len(held_out)} rows logged by model version older-version" in result.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--logs", "no-such-file.jsonl"], "cannot read --logs no-such-file.jsonl"),
        (["--logs", "monitor.py", "--model", "{old}"], "has no training_statistics"),
        (["--bigquery", "not-a-table"], "expects PROJECT.DATASET.TABLE"),
    ],
)
def test_unusable_input_is_one_line(
    args: list[str], message: str, model_dir: Path, tmp_path: Path
) -> None:
    """{old}: a model folder from before train.py recorded training statistics."""
    if args[-1] == "{old}":
        manifest = json.loads((model_dir / "manifest.json").read_text())
        del manifest["training_statistics"]
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        args = [*args[:-1], str(tmp_path)]
    else:
        args = [*args, "--model", str(model_dir)]
    result = run_monitor(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def breast_cancer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    """A classifier whose feature names hold spaces, which the BigQuery sink renames."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    train_x, test_x, train_y, _ = train_test_split(
        data.data, data.target, test_size=0.3, random_state=0
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x, train_y)
    names = list(data.data.columns)
    features = [{"name": n, "type": "number", "nullable": False} for n in names]
    manifest = {
        "model_version": "bc-1",
        "task": "classification",
        "classes": [0, 1],
        "feature_names": names,
        "training_statistics": training_statistics(
            train_x, features, [int(v) for v in model.predict(train_x)], "classification", [0, 1]
        ),
    }
    folder = tmp_path_factory.mktemp("bc") / "model"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return model, test_x, folder


def test_bigquery_sink_table_via_the_fake_api(breast_cancer: tuple) -> None:
    model, test_x, folder = breast_cancer
    lines = []
    for start in range(0, len(test_x), 10):
        chunk = test_x.iloc[start : start + 10]
        rows = chunk.to_dict("records")
        outputs = [int(v) for v in model.predict(chunk)]
        lines.append(json.dumps(prediction_log_entry("bc-1", f"r{start}", rows, outputs)))
    fake = FakeBigQuery()
    fake.sink("proj.preds.run_googleapis_com_stdout", lines)
    with serve(fake) as url:
        result = run_monitor("--bigquery", "proj.preds.run_googleapis_com_stdout",
                             "--bigquery-endpoint", url, "--model", str(folder))  # fmt: skip
        missing = run_monitor("--bigquery", "proj.preds.nothing", "--bigquery-endpoint", url,
                              "--model", str(folder))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(test_x)} rows from {len(lines)} log entries" in result.stdout
    assert "0.0%->0.0%" in result.stdout
    assert any("GET" in r and "queries/job0" in r for r in fake.requests), fake.requests
    assert missing.returncode == 2
    assert "Table proj.preds.nothing was not found" in missing.stderr


def test_operating_page_summary_is_what_the_demo_prints(tmp_path: Path) -> None:
    write_demo(tmp_path)
    result = run_monitor(
        "--logs", str(tmp_path / "shifted.jsonl"), "--model", str(tmp_path / "model")
    )
    page = (REPO / "docs" / "operating.md").read_text()
    block = re.search(r"## Watch for drift.*?```text\n(.*?)```", page, re.S)
    assert block is not None
    assert block.group(1).strip() == result.stdout.strip()
    assert result.returncode == 1
