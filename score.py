"""Score a CSV file with the deployed function: chunks sent concurrently, output in input order.

    python score.py INPUT.csv --url URL [--out OUTPUT.csv] [--rows-per-request N]
        [--concurrency N] [--probabilities] [--resume]

Each chunk goes as a `text/csv` POST with the header row; the output is the input's columns
plus `prediction` (and `probability_<class>` columns with --probabilities). An interrupted run
resumes where it stopped (see scoring/journal.py): run the same command again.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scoring.chunks import Chunk, chunks, read_header
from scoring.journal import Journal, JournalMismatch, journal_path
from scoring.transport import Backoff, GaveUp, Refused, Sender, Stopped


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="CSV file with a header row")
    parser.add_argument("--url", required=True, help="the function's base URL")
    parser.add_argument("--out", type=Path, help="output CSV (default: INPUT.predictions.csv)")
    parser.add_argument("--rows-per-request", type=int, default=500, metavar="N")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N")
    parser.add_argument("--probabilities", action="store_true", help="add class probabilities")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (automatic when OUTPUT and its .progress journal exist)",
    )
    parser.add_argument("--max-attempts", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--backoff-base", type=float, default=0.5, help=argparse.SUPPRESS)
    parser.add_argument("--commit-interval", type=float, default=0.5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows_per_request < 1 or args.concurrency < 1:
        parser.error("--rows-per-request and --concurrency must be at least 1")
    if args.out is None:
        args.out = args.input.with_name(args.input.stem + ".predictions.csv")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (Refused, GaveUp, JournalMismatch, OSError, ValueError) as exc:
        print(f"score.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("score.py: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    settings = {
        "input": str(args.input.resolve()),
        "probabilities": args.probabilities,
        "rows_per_request": args.rows_per_request,
    }
    resume = args.resume or (args.out.exists() and journal_path(args.out).exists())
    if resume and not journal_path(args.out).exists():
        raise ValueError(f"nothing to resume: {journal_path(args.out)} does not exist")
    sender = Sender(args.url, args.concurrency, Backoff(args.max_attempts, args.backoff_base))
    with args.input.open("rb") as source:
        header, _ = read_header(source)
        journal = Journal(args.out, settings, resume)
        try:
            position = journal.position
            if position.input_offset:
                source.seek(position.input_offset)
            pending = chunks(source, args.rows_per_request, position.next_index, position.rows + 1)
            _score_all(args, sender, header, pending, journal, source)
        except BaseException:
            sender.stop.set()
            journal.close()
            raise
        finally:
            sender.close()
    journal.finish()
    return 0


def _score_all(
    args: argparse.Namespace,
    sender: Sender,
    header: bytes,
    pending: Any,
    journal: Journal,
    source: Any,
) -> None:
    """Keep up to 2 x concurrency chunks in flight; write them in order as they complete."""
    from tqdm import tqdm

    progress = tqdm(
        total=Path(source.name).stat().st_size,
        initial=journal.position.input_offset or source.tell(),
        disable=not sys.stderr.isatty(),
        bar_format="{percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
    )
    committer = _Committer(journal, progress, args.commit_interval)
    window: deque[tuple[Chunk, Future[bytes]]] = deque()
    with ThreadPoolExecutor(args.concurrency) as pool:
        try:
            for chunk in pending:
                window.append((chunk, pool.submit(_score, sender, header, chunk, args)))
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


def _score(sender: Sender, header: bytes, chunk: Chunk, args: argparse.Namespace) -> bytes:
    """One chunk's output lines (chunk 0 starts with the header)."""
    body = header + b"\n" + b"\n".join(chunk.records) + b"\n"
    try:
        answer = sender.post_csv(body, {})
        columns = [answer["predictions"]]
        names = ["prediction"]
        if args.probabilities:
            extra = sender.post_csv(body, {"predict_method": "predict_proba"})
            classes = extra.get("classes") or range(len(extra["predictions"][0]))
            names += [f"probability_{name}" for name in classes]
            columns += list(zip(*extra["predictions"], strict=True))
    except Refused as exc:
        raise Refused(f"the function refused rows {_rows(chunk)}: {exc}") from None
    except GaveUp as exc:
        raise GaveUp(f"no answer for rows {_rows(chunk)} after {exc}") from None
    if len(columns[0]) != len(chunk.records):
        raise Refused(
            f"rows {_rows(chunk)}: {len(chunk.records)} sent, {len(columns[0])} predictions back"
        )
    lines = []
    if chunk.index == 0:
        lines.append(header + b"," + _cells(names))
    for record, values in zip(chunk.records, zip(*columns, strict=True), strict=True):
        lines.append(record + b"," + _cells(values))
    return b"\n".join(lines) + b"\n"


def _rows(chunk: Chunk) -> str:
    """Row numbers as the user counts them: 1 is the first row after the header."""
    return f"{chunk.first_row}-{chunk.last_row} (1 = first row after the header)"


def _cells(values: Sequence[Any]) -> bytes:
    """Values as CSV cells: numbers as Python prints them, text quoted when it must be."""
    if all(isinstance(v, (int, float)) for v in values):
        return ",".join(map(str, values)).encode()
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(values)
    return text.getvalue().encode()


if __name__ == "__main__":
    sys.exit(main())
