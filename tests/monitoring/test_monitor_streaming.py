"""monitor.py reads any size of input in flat memory, draws names as text, and exits 1 only
for drift.

Memory is measured by bench/monitor_memory.py (BENCHMARKS.md); here, tracemalloc shows that
reading ten times the entries does not take ten times the memory (Python's own allocations,
counted exactly, not a timing).
"""

from __future__ import annotations

import io
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import monitor
from monitoring import entries
from monitoring.demo import write_demo
from monitoring.entries import prediction_log_entry
from monitoring.json_array import NotAnArray, array_items
from monitoring.tally import MAX_UNSEEN_NAMES, Tally
from tests.monitoring.test_monitor import run_monitor
from training.statistics import training_statistics


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """monitoring.demo's penguin model and log files."""
    folder = tmp_path_factory.mktemp("demo")
    write_demo(folder)
    return folder


# ---------------------------------------------------------------- text in plots is text

BANDS = ["$0_$25k", "$25k_$50k", "$50k+"]
FEATURES = [
    {"name": "income band", "type": "string", "nullable": False, "categories": BANDS},
    {"name": "price $_{x}", "type": "number", "nullable": False},
]


@pytest.fixture(scope="module")
def dollar_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Statistics of a table whose categories and names are full of `$` and `_`."""
    frame = pd.DataFrame(
        {"income band": [BANDS[i % 3] for i in range(300)], "price $_{x}": range(300)}
    )
    outputs = ["$yes" if i % 2 else "no_$" for i in range(300)]
    manifest = {
        "model_version": "dollars-1",
        "task": "classification",
        "classes": ["$yes", "no_$"],
        "features": FEATURES,
        "feature_names": [f["name"] for f in FEATURES],
        "training_statistics": training_statistics(
            frame, FEATURES, outputs, "classification", ["$yes", "no_$"]
        ),
    }
    folder = tmp_path_factory.mktemp("dollars") / "model"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_dollar_signs_in_names_and_categories_are_drawn_as_text(
    dollar_model: Path, tmp_path: Path
) -> None:
    rows = [{"income band": ["$0_$25k", "$1M_$2M"][i % 2], "price $_{x}": i} for i in range(100)]
    entry = prediction_log_entry("dollars-1", "r1", rows, ["$yes"] * 100)
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps(entry) + "\n")
    page = tmp_path / "report.html"

    result = run_monitor("--logs", str(logs), "--model", str(dollar_model), "--out", str(page))

    assert result.stderr == ""
    assert result.returncode == 1, result.stdout  # the unseen band is drift
    assert "unseen categories '$1M_$2M'" in result.stdout
    assert page.read_text().count("data:image/png;base64,") == 3
    assert "$1M_$2M (50)" in page.read_text()


# ---------------------------------------------------------------- exit 1 is drift, nothing else


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "report.html"
    logs, model = demo / "shifted.jsonl", demo / "model"

    result = run_monitor("--logs", str(logs), "--model", str(model), "--out", str(out))

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "No such file or directory" in result.stderr


def test_broken_training_statistics_are_one_line_and_exit_2(demo: Path, tmp_path: Path) -> None:
    manifest = json.loads((demo / "model" / "manifest.json").read_text())
    del manifest["training_statistics"]["outputs"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    result = run_monitor("--logs", str(demo / "shifted.jsonl"), "--model", str(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == "monitor.py: failed (KeyError): 'outputs'\n"


# ---------------------------------------------------------------- flat memory


def collected_peak(demo: Path, tmp_path: Path, copies: int) -> tuple[int, int]:
    """Rows read and the peak of Python's allocations while reading `copies` of the demo's
    shifted log lines."""
    lines = (demo / "shifted.jsonl").read_text().splitlines()
    logs = tmp_path / f"logs-{copies}.jsonl"
    logs.write_text("\n".join(lines * copies) + "\n")
    manifest = json.loads((demo / "model" / "manifest.json").read_text())
    args = monitor.parse_args(["--logs", str(logs)])
    tracemalloc.start()
    try:
        collected = monitor.collect(args, manifest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return collected.rows, peak


def test_reading_ten_times_the_entries_takes_no_more_memory(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entries, "WAITING_VALUES", 1_000)
    rows, peak = collected_peak(demo, tmp_path, 20)
    ten_times, ten_times_peak = collected_peak(demo, tmp_path, 200)

    assert ten_times == 10 * rows
    assert ten_times_peak < 1.5 * peak, (peak, ten_times_peak)


def test_the_same_drift_from_a_gcloud_array_as_from_json_lines(demo: Path, tmp_path: Path) -> None:
    lines = (demo / "shifted.jsonl").read_text().splitlines()
    records = []
    for line in lines:
        record = json.loads(line)
        labels = record.pop("logging.googleapis.com/labels")
        records.append({"jsonPayload": record, "labels": labels, "severity": "INFO"})
    array = tmp_path / "gcloud.json"
    array.write_text(json.dumps(records, indent=2))

    from_lines = run_monitor("--logs", str(demo / "shifted.jsonl"), "--model", str(demo / "model"))
    from_array = run_monitor("--logs", str(array), "--model", str(demo / "model"))

    assert from_array.returncode == from_lines.returncode == 1
    assert from_array.stdout == from_lines.stdout


ITEMS: list[Any] = [
    {"jsonPayload": {"prediction_log": {"rows": [{"a": 1.5}], "outputs": ["x"]}}},
    -3.5e10,
    "a ] string, with [ brackets",
    [1, [2, {"b": None}]],
    12345,
    True,
]


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_array_items_are_decoded_one_at_a_time_across_any_block_size(
    block: int, indent: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring import json_array

    monkeypatch.setattr(json_array, "BLOCK", block)
    text = json.dumps(ITEMS, indent=indent)
    reads: list[int] = []

    items = list(array_items(io.StringIO(text), lambda read: reads.append(len(read))))

    assert items == ITEMS
    assert sum(reads) == len(text)
    assert max(reads) < len(text) or block >= len(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "it ends before its last ']'"),
        ("[1 2]", "expected ',' or ']', found '2'"),
        ("[1,]", "Expecting value at character 3"),
        ('[{"a": 1}, {"b": }]', "Expecting value at character 17"),
        ("{}", "expected '[', found '{'"),
    ],
)
def test_a_broken_array_is_named(text: str, message: str) -> None:
    with pytest.raises(NotAnArray, match=re.escape(message)):
        list(array_items(io.StringIO(text)))


def test_unseen_categories_are_named_up_to_a_limit_and_all_counted() -> None:
    stats = {"categories": {"a": 0.5, "b": 0.5}, "other_share": 0.0}
    tally = Tally.for_feature(stats, None)
    tally.add(["a", "b", None, *(f"new-{i}" for i in range(MAX_UNSEEN_NAMES + 500))])

    assert (tally.rows, tally.present) == (MAX_UNSEEN_NAMES + 503, MAX_UNSEEN_NAMES + 502)
    assert dict(tally.counts) == {"a": 1, "b": 1}
    assert len(tally.unseen) == MAX_UNSEEN_NAMES
    assert tally.unseen_total == MAX_UNSEEN_NAMES + 500
