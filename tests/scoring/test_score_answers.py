"""score.py never loses the input, checks every answer, and splits rows as the csv module does.

In process (`score.main`): the files a run may not write, and a small fake function on
127.0.0.1 that answers wrongly in each way a proxy, a redirect or another service can. Against
a real server: the penguin classifier (text features, gaps) scoring files with bare quotes
inside cells and with columns the model does not take.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import score
from scoring.chunks import records
from scoring.journal import journal_path, partial_path
from tests.support.penguins_data import PENGUINS, TEXT
from tests.support.servers import JsonHandler, Server, in_thread

# Hypothesis keeps caches beside the working directory by default: never in the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hypothesis-sklearn-cloud-function")
FEATURES = ["a b", "color"]
CLASSES = ["no", "yes"]
ROWS = 5


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    """score.py in process: its exit status and what it printed on stderr."""
    status = score.main([str(arg) for arg in argv])
    return status, capsys.readouterr().err


def one_line_error(status: int, stderr: str) -> None:
    assert status == 1, stderr
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


# ---------------------------------------------------------------- the input is never the output


@pytest.fixture
def small_input(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "input.csv"
    path.parent.mkdir()
    path.write_text("a b,color\n" + "".join(f"{i},red\n" for i in range(ROWS)))
    return path


def _same_file(kind: str, source: Path) -> str | Path:
    """--out naming the input by another path (from its folder): spelled otherwise, or a link."""
    if kind == "same path":
        return source
    if kind == "./ relative":
        return f"./{source.name}"
    if kind == "another relative path":
        return f"../{source.parent.name}/./{source.name}"
    link = source.parent / "link.csv"
    (link.symlink_to if kind == "symbolic link" else link.hardlink_to)(source)
    return link


@pytest.mark.parametrize(
    "kind", ["same path", "./ relative", "another relative path", "symbolic link", "hard link"]
)
def test_an_output_that_is_the_input_is_refused(
    kind: str,
    small_input: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(small_input.parent)
    before = small_input.read_bytes()
    out = _same_file(kind, small_input)

    status, stderr = run(
        capsys, small_input, "--url", "http://127.0.0.1:9", "--out", out, "--max-attempts", "1"
    )

    one_line_error(status, stderr)
    assert "would overwrite the input" in stderr
    assert small_input.read_bytes() == before
    assert not journal_path(Path(out)).exists()


def test_an_input_that_is_the_outputs_partial_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "scored.csv.partial"
    source.write_text("a b,color\n1,red\n")

    status, stderr = run(
        capsys, source, "--url", "http://127.0.0.1:9", "--out", tmp_path / "scored.csv"
    )

    one_line_error(status, stderr)
    assert "scored.csv.partial is the input" in stderr
    assert source.read_text() == "a b,color\n1,red\n"


# ---------------------------------------------------------------- every answer is checked


class _Fake(ThreadingHTTPServer):
    """A function that describes a two-class model at GET / and answers each POST with
    `answers[predict_method]`: (status, body bytes, extra headers)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.metadata: Any = {"loaded": True, "feature_names": FEATURES, "task": "classification"}
        self.metadata["classes"] = CLASSES
        self.requests: list[str] = []


class _FakeHandler(JsonHandler):
    server: _Fake

    def do_GET(self) -> None:
        self.server.requests.append(f"GET {self.path}")
        self.reply_json(200, self.server.metadata)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(f"POST {self.path}")
        method = "predict_proba" if "predict_proba" in self.path else "predict"
        status, body, headers = self.server.answers[method]
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake() -> Iterator[tuple[_Fake, str]]:
    running = _Fake()
    with in_thread(running) as url:
        yield running, url


def _ok(predictions: Any, **extra: Any) -> tuple[int, bytes, dict[str, str]]:
    return 200, json.dumps({"predictions": predictions, **extra}).encode(), {}


LABELS = _ok(["no", "yes", "no", "yes", "no"], model_version="v1")
PROBABILITIES = _ok([[0.9, 0.1]] * ROWS, classes=CLASSES)
HTML = (200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"})


SHORT = _ok([[0.9]] * ROWS, classes=CLASSES)
SWAPPED = _ok([[0.9, 0.1]] * ROWS, classes=["yes", "no"])
ABOVE_ONE = _ok([[0.9, 0.1]] * 4 + [[0.5, 1.5]], classes=CLASSES)
TWO = "expected 2 probabilities (one per class)"


@pytest.mark.parametrize(
    ("predict", "proba", "message"),
    [
        ((200, b'{"model_version": "v1"}', {}), None, "no predictions list"),
        ((200, b"[0, 1, 0, 1, 0]", {}), None, "with predictions, got a JSON list"),
        (HTML, None, "not JSON (text/html): '<html><body>Sign in</body></html>'"),
        (_ok(["no", "yes"]), None, "5 rows sent, 2 predictions back"),
        (_ok(["no", "yes", "no", "maybe", "no"]), None, "row 4: 'maybe' is not one of the model's"),
        (_ok([[0.9, 0.1]] * ROWS), None, "row 1: [0.9, 0.1] is not one of the model's classes"),
        (LABELS, LABELS, f"row 1: {TWO}, got 'no'"),
        (LABELS, SHORT, f"row 1: {TWO}, got [0.9]"),
        (LABELS, ABOVE_ONE, f"row 5: {TWO}, got [0.5, 1.5]"),
        (LABELS, SWAPPED, "classes ['yes', 'no'] where the model has ['no', 'yes']"),
        (LABELS, _ok([[0.9, 0.1]] * ROWS), "classes None where the model has"),
    ],
)  # fmt: skip
def test_a_wrong_answer_is_one_line_naming_the_rows_and_what_was_wrong(
    predict: Any,
    proba: Any,
    message: str,
    fake: tuple[_Fake, str],
    small_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = fake
    server.answers = {"predict": predict, "predict_proba": proba or PROBABILITIES}
    out = small_input.with_name("scored.csv")
    extra = ["--probabilities"] if proba else []

    status, stderr = run(capsys, small_input, "--url", url, "--out", out, *extra)

    one_line_error(status, stderr)
    assert "wrong answer for rows 1-5 (1 = first row after the header)" in stderr
    assert message in stderr
    assert not out.exists()


def test_a_redirect_is_an_error_naming_the_location_not_followed(
    fake: tuple[_Fake, str], small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, url = fake
    server.answers = {"predict": (302, b"", {"Location": f"{url}/elsewhere"})}

    status, stderr = run(capsys, small_input, "--url", url, "--out", small_input.with_name("o.csv"))

    one_line_error(status, stderr)
    assert f"HTTP 302 redirect to {url}/elsewhere, not followed" in stderr
    assert "rows 1-5" in stderr
    assert server.requests == ["GET /", "POST /"]


def test_right_answers_are_written_beside_their_rows(
    fake: tuple[_Fake, str], small_input: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, url = fake
    server.answers = {"predict": LABELS, "predict_proba": PROBABILITIES}
    out = small_input.with_name("scored.csv")

    status, stderr = run(capsys, small_input, "--url", url, "--out", out, "--probabilities")

    assert (status, stderr) == (0, "")
    lines = out.read_text().splitlines()
    assert lines[0] == "a b,color,prediction,probability_no,probability_yes"
    assert lines[1:3] == ["0,red,no,0.9,0.1", "1,red,yes,0.9,0.1"]
    assert not partial_path(out).exists()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"loaded": False, "reason": "model unavailable"}, "no model loaded: 'model unavailable'"),
        ({"status": "ok"}, "GET / answered no feature_names"),
        (["a b", "color"], "GET / answered a JSON list"),
        ({"feature_names": FEATURES, "task": "classification"}, "with classes None"),
    ],
)
def test_a_function_that_does_not_describe_a_model_is_refused_before_any_row(
    metadata: Any,
    message: str,
    fake: tuple[_Fake, str],
    small_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = fake
    server.metadata = metadata

    status, stderr = run(capsys, small_input, "--url", url, "--out", small_input.with_name("o.csv"))

    one_line_error(status, stderr)
    assert f"GET {url}: " in stderr
    assert message in stderr
    assert server.requests == ["GET /"]


# ---------------------------------------------------------------- rows split as csv splits them

CELLS = st.lists(st.sampled_from(["a", '"', ",", "\n", "\r\n", " ", '""', "é", "5"]), max_size=14)


def _not_blank(row: list[str]) -> bool:
    """Whitespace-only lines are left out by the chunker (as pandas, so train.py, skips them)."""
    return bool(row) and not (len(row) == 1 and not row[0].strip())


@settings(database=None, max_examples=500)
@given(CELLS)
def test_records_are_what_the_csv_module_reads(pieces: list[str]) -> None:
    """Each record the chunker cuts is one csv row, and together they are the csv module's rows
    (a file ending inside a quoted field aside: no two readers agree on that)."""
    text = "".join(pieces) + "\n"
    try:
        expected = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return
    cut = [record.decode() for record, _ in records(io.BytesIO(text.encode()))]
    rows = [list(csv.reader(io.StringIO(record, newline=""))) for record in cut]
    assert all(len(one) == 1 for one in rows), cut
    assert [one[0] for one in rows if _not_blank(one[0])] == list(filter(_not_blank, expected))


def test_a_bare_quote_inside_a_cell_is_text_as_for_the_csv_module() -> None:
    data = b'a,b,c\n1,5" red,5\n2,x,3\n3,"y, z",4\n'
    assert [record for record, _ in records(io.BytesIO(data))] == [
        b"a,b,c",
        b'1,5" red,5',
        b"2,x,3",
        b'3,"y, z",4',
    ]


@pytest.fixture(scope="module")
def penguin_server(serve: Callable[..., Server], penguins_dir: Path) -> Server:
    return serve({"MODEL_URI": str(penguins_dir)})


BARE = ' 5" north'


def penguin_rows(notes: bool) -> pd.DataFrame:
    """The real penguins table; every fifth island has a bare quote in it (a category the
    model never saw, which it ignores); with `notes`, an id and a free-text column too."""
    frame = pd.read_csv(PENGUINS)
    frame.loc[::5, "island"] = frame.loc[::5, "island"] + BARE
    if notes:
        frame.insert(0, "id", [f"P-{i:04d}" for i in range(len(frame))])
        frame["notes"] = ['tagged 7" bill, "calm"' if i % 3 else "" for i in range(len(frame))]
    return frame


def write_unquoted(frame: pd.DataFrame, path: Path) -> Path:
    """The table as a spreadsheet writes it: the island's bare quote left as it is (unquoted
    cell), the notes quoted because they hold commas."""
    marked = frame.assign(island=frame["island"].str.replace(BARE, " 5INCH north"))
    path.write_text(marked.to_csv(index=False).replace("5INCH", '5"'))
    return path


def expected_labels(penguins_dir: Path, scored: Path) -> list[str]:
    """The model's labels in process, on the input as pandas (so train.py) reads it."""
    model = joblib.load(penguins_dir / "model.joblib")
    frame = pd.read_csv(scored)
    frame[TEXT] = frame[TEXT].astype(object)
    names = json.loads((penguins_dir / "manifest.json").read_text())["feature_names"]
    return list(model.predict(frame[names]))


def test_a_bare_quote_in_a_cell_keeps_rows_and_answers_in_line(
    penguin_server: Server, penguins_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = penguin_rows(notes=False).drop(columns="species")
    source = write_unquoted(frame, tmp_path / "penguins.csv")
    assert source.read_text().count('5" north,') == len(frame[::5])
    out = tmp_path / "scored.csv"

    status, stderr = run(
        capsys, source, "--url", penguin_server.url, "--out", out, "--rows-per-request", "40"
    )

    assert (status, stderr) == (0, "")
    scored = pd.read_csv(out)
    assert len(scored) == len(frame)
    assert scored["island"].tolist() == frame["island"].tolist()
    assert scored["prediction"].tolist() == expected_labels(penguins_dir, source)


def test_keep_copies_identifier_columns_and_other_columns_are_left_out(
    penguin_server: Server, penguins_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = penguin_rows(notes=True)
    source = write_unquoted(frame, tmp_path / "penguins.csv")
    out = tmp_path / "scored.csv"

    status, stderr = run(
        capsys, source, "--url", penguin_server.url, "--out", out, "--keep", "id,species",
        "--probabilities", "--rows-per-request", "50",
    )  # fmt: skip

    assert status == 0, stderr
    assert stderr == (
        "score.py: leaving out 1 columns the model does not take: notes "
        "(--keep COL copies one into the output)\n"
    )
    scored = pd.read_csv(out)
    features = [name for name in frame.columns if name not in ("id", "species", "notes")]
    assert list(scored.columns) == [
        "id", "species", *features, "prediction",
        "probability_Adelie", "probability_Chinstrap", "probability_Gentoo",
    ]  # fmt: skip
    assert scored["id"].tolist() == frame["id"].tolist()
    assert scored["island"].tolist() == frame["island"].tolist()
    assert scored["prediction"].tolist() == expected_labels(penguins_dir, source)
    assert (scored["prediction"] == scored["species"]).mean() > 0.9


@pytest.mark.parametrize(
    ("header", "keep", "message"),
    [
        ("a b,id", [], "the input has no column for 1 of the model's 2 features: 'color'"),
        ("a b,color", ["--keep", "id"], "--keep 'id': the input's header has no such column"),
        ("a b,color,a b", [], "names column 'a b' more than once"),
    ],
)
def test_an_input_that_does_not_fit_the_model_is_refused_before_any_row(
    header: str,
    keep: list[str],
    message: str,
    fake: tuple[_Fake, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = fake
    source = tmp_path / "input.csv"
    source.write_text(header + "\n" + "1,2,3\n")

    status, stderr = run(capsys, source, "--url", url, "--out", tmp_path / "o.csv", *keep)

    one_line_error(status, stderr)
    assert message in stderr
    assert server.requests == ["GET /"]
