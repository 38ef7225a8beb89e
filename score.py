"""Score a CSV file with the deployed function: chunks sent concurrently, output in input order.

    python score.py INPUT.csv --url URL [--out OUTPUT.csv] [--keep COL[,COL]]
        [--rows-per-request N] [--concurrency N] [--probabilities] [--explain] [--resume]

The model's features come from the function's GET /. Each chunk goes as a `text/csv` POST
with the header row; the output is the input's feature columns and `--keep` columns plus
`prediction` (and `probability_<class>` columns with --probabilities; with --explain, each
feature's `contribution_<feature>` and the `base_value` they add to, per class
(`contribution_<class>_<feature>`) where the model explains each class); other columns are left
out (scoring/columns.py). Every answer is checked against what was asked (scoring/answers.py).
The output appears whole when the run ends; an interrupted run resumes where it stopped (see
scoring/journal.py): run the same command again.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from scoring import answers
from scoring.answers import Model
from scoring.chunks import Chunk, chunks, read_header
from scoring.columns import Columns
from scoring.journal import (
    Journal,
    JournalMismatch,
    journal_path,
    partial_path,
    refuse_to_overwrite,
)
from scoring.transport import Backoff, BadAnswer, GaveUp, Refused, Sender, Stopped


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="CSV file with a header row")
    parser.add_argument("--url", required=True, help="the function's base URL")
    parser.add_argument("--out", type=Path, help="output CSV (default: INPUT.predictions.csv)")
    parser.add_argument("--rows-per-request", type=int, default=500, metavar="N")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N")
    parser.add_argument("--probabilities", action="store_true", help="add class probabilities")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="add each feature's contribution to the answer, and the base value they add to",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COL[,COL]",
        help="copy these columns (identifiers, say) into the output; other columns the model "
        "does not take are left out",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (automatic when its .partial and .progress files exist)",
    )
    parser.add_argument("--max-attempts", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--backoff-base", type=float, default=0.5, help=argparse.SUPPRESS)
    parser.add_argument("--commit-interval", type=float, default=0.5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows_per_request < 1 or args.concurrency < 1:
        parser.error("--rows-per-request and --concurrency must be at least 1")
    if args.out is None:
        args.out = args.input.with_name(args.input.stem + ".predictions.csv")
    args.keep = [name.strip() for value in args.keep for name in value.split(",") if name.strip()]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (Refused, BadAnswer, GaveUp, JournalMismatch, OSError, ValueError) as exc:
        print(f"score.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("score.py: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    refuse_to_overwrite(args.input, args.out)
    resume = _resuming(args)
    sender = Sender(args.url, args.concurrency, Backoff(args.max_attempts, args.backoff_base))
    try:
        model, explained = _model(sender, args.probabilities, args.explain)
        with args.input.open("rb") as source:
            columns = _columns(source, model, args.keep)
            job = _Job(columns, model, args.probabilities, explained)
            journal = Journal(args.out, _settings(args), resume)
            try:
                position = journal.position
                if position.input_offset:
                    source.seek(position.input_offset)
                pending = chunks(
                    source, args.rows_per_request, position.next_index, position.rows + 1
                )
                _score_all(args, sender, job, pending, journal, source)
            except BaseException:
                sender.stop.set()
                journal.close()
                raise
    finally:
        sender.close()
    journal.finish()
    return 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a journal was written with: a resumed run must ask for the same."""
    return {
        "input": str(args.input.resolve()),
        "keep": args.keep,
        "probabilities": args.probabilities,
        "explain": args.explain,
        "rows_per_request": args.rows_per_request,
    }


def _resuming(args: argparse.Namespace) -> bool:
    """Resume when asked, or when an interrupted run left its partial output and journal."""
    journal_file, partial = journal_path(args.out), partial_path(args.out)
    left = partial.exists() and journal_file.exists()
    if args.resume and not left:
        raise ValueError(f"nothing to resume: {partial} or {journal_file} does not exist")
    return left


def _columns(source: BinaryIO, model: Model, keep: list[str]) -> Columns:
    """The input's columns against the model's features; the ones left out named once."""
    columns = Columns.plan(*read_header(source), model.feature_names, keep)
    if columns.left_out:
        print(
            f"score.py: leaving out {len(columns.left_out)} columns the model does not take: "
            f"{', '.join(columns.left_out)} (--keep COL copies one into the output)",
            file=sys.stderr,
        )
    return columns


def _model(sender: Sender, probabilities: bool, explain: bool) -> tuple[Model, _Explained]:
    """The served model, from GET /; a regression model has no probabilities to add, a model
    without explanations none to add (its reason said). With --explain, the classes it
    explains (None: one value)."""
    try:
        metadata = sender.metadata()
        model = Model.from_metadata(metadata)
    except (Refused, GaveUp, BadAnswer) as exc:
        raise type(exc)(f"GET {sender.url}: {exc}") from None
    if probabilities and model.classes is None:
        raise ValueError("--probabilities: the function serves a regression model")
    if not explain:
        return model, None
    status = metadata.get("explanations") or {}
    if not status.get("available"):
        reason = status.get("reason", "the function does not say it has explanations")
        raise ValueError(f"--explain: the model has no explanations: {reason}")
    outputs = status.get("outputs")
    return model, [str(c) for c in outputs] if outputs and len(outputs) > 1 else []


# With --explain, the classes the model explains one output each for ([]: one output).
_Explained = list[str] | None


@dataclass(frozen=True)
class _Job:
    """What each chunk needs: the columns to send and keep, the model the answers must fit,
    and what to add."""

    columns: Columns
    model: Model
    probabilities: bool
    explained: _Explained = None

    @property
    def added(self) -> list[str]:
        """The output's new columns."""
        classes = self.model.classes if self.probabilities else None
        added = ["prediction", *(f"probability_{name}" for name in classes or ())]
        if self.explained is None:
            return added
        features = self.model.feature_names
        for suffix in [f"_{label}" for label in self.explained] or [""]:
            added += [f"contribution{suffix}_{name}" for name in features]
            added.append(f"base_value{suffix}")
        return added


def _score_all(
    args: argparse.Namespace,
    sender: Sender,
    job: _Job,
    pending: Iterator[Chunk],
    journal: Journal,
    source: BinaryIO,
) -> None:
    """Keep up to 2 x concurrency chunks in flight; write them in order as they complete."""
    from tqdm import tqdm

    progress = tqdm(
        total=args.input.stat().st_size,
        initial=journal.position.input_offset or source.tell(),
        disable=not sys.stderr.isatty(),
        bar_format="{percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
    )
    committer = _Committer(journal, progress, args.commit_interval)
    window: deque[tuple[Chunk, Future[bytes]]] = deque()
    with ThreadPoolExecutor(args.concurrency) as pool:
        try:
            for chunk in pending:
                window.append((chunk, pool.submit(_score, sender, job, chunk)))
                if len(window) >= 2 * args.concurrency:
                    committer.add(*window.popleft())
            while window:
                committer.add(*window.popleft())
            committer.commit()
        except BaseException:
            sender.stop.set()
            for _, future in window:
                future.cancel()
            committer.commit()  # chunks already answered are kept; the rest are sent again
            raise
        finally:
            progress.close()


class _Committer:
    """Answered chunks, in order, made durable together at most every `interval` seconds:
    an fsync costs milliseconds, so one per chunk would make the disk the bottleneck."""

    def __init__(self, journal: Journal, progress: Any, interval: float) -> None:
        self.journal = journal
        self.progress = progress
        self.interval = interval
        self.ready: list[tuple[Chunk, bytes]] = []
        self.started = self.last = time.monotonic()
        self.session_rows = 0

    def add(self, chunk: Chunk, future: Future[bytes]) -> None:
        try:
            data = future.result()
        except Stopped:
            raise KeyboardInterrupt from None
        self.ready.append((chunk, data))
        if time.monotonic() - self.last >= self.interval:
            self.commit()

    def commit(self) -> None:
        # Taken first: a Ctrl-C inside record() must not leave these to be written again by
        # the commit on the way out (the journal sorts out a half-made record on resume).
        ready, self.ready = self.ready, []
        if not ready:
            return
        last = ready[-1][0]
        self.journal.record(
            last.index, b"".join(data for _, data in ready), last.end_offset, last.last_row
        )
        self.session_rows += sum(len(chunk.records) for chunk, _ in ready)
        self.last = time.monotonic()
        rate = self.session_rows / max(self.last - self.started, 1e-9)
        self.progress.set_postfix_str(f"{last.last_row:,} rows, {rate:,.0f} rows/s", refresh=False)
        self.progress.update(last.end_offset - self.progress.n)


def _score(sender: Sender, job: _Job, chunk: Chunk) -> bytes:
    """One chunk's output lines (chunk 0 starts with the header), its answers checked."""
    body, starts = job.columns.request(chunk.records, chunk.first_row)
    count = len(chunk.records)
    try:
        answer = sender.post_csv(body, {"explain": "true"} if job.explained is not None else {})
        columns: list[Sequence[Any]] = [answers.labels(answer, chunk.first_row, count, job.model)]
        if job.probabilities:
            extra = sender.post_csv(body, {"predict_method": "predict_proba"})
            rows = answers.probabilities(extra, chunk.first_row, count, job.model)
            columns += list(zip(*rows, strict=True))
        if job.explained is not None:
            features, explained = job.model.feature_names, job.explained or None
            cells = answers.explanations(answer, chunk.first_row, count, features, explained)
            columns += list(zip(*cells, strict=True))
    except Refused as exc:
        reason = _file_row(str(exc), chunk)
        raise Refused(f"the function refused rows {_rows(chunk)}: {reason}") from None
    except BadAnswer as exc:
        raise BadAnswer(f"wrong answer for rows {_rows(chunk)}: {exc}") from None
    except GaveUp as exc:
        raise GaveUp(f"no answer for rows {_rows(chunk)} after {exc}") from None
    lines = []
    if chunk.index == 0:
        lines.append(job.columns.output_header + b"," + _cells(job.added))
    for start, values in zip(starts, zip(*columns, strict=True), strict=True):
        lines.append(start + b"," + _cells(values))
    return b"\n".join(lines) + b"\n"


def _rows(chunk: Chunk) -> str:
    """Row numbers as the user counts them: 1 is the first row after the header."""
    return f"{chunk.first_row}-{chunk.last_row} (1 = first row after the header)"


# The function counts a request's rows from 1: its "row N" is the chunk's N-th row.
_REQUEST_ROW = re.compile(r"\brow (\d+)\b")


def _file_row(reason: str, chunk: Chunk) -> str:
    """The function's reason with the row it names counted as in the file (1 = the first row
    after the header), not within the request."""
    return _REQUEST_ROW.sub(
        lambda found: f"row {chunk.first_row + int(found.group(1)) - 1}", reason, count=1
    )


def _cells(values: Sequence[Any]) -> bytes:
    """Values as CSV cells: numbers as Python prints them, text quoted when it must be."""
    if all(isinstance(v, (int, float)) for v in values):
        return ",".join(map(str, values)).encode()
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(values)
    return text.getvalue().encode()


if __name__ == "__main__":
    sys.exit(main())
