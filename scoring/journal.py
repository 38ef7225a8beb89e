"""The output file and its progress journal: how a run is resumed without losing or repeating
a chunk, and how the output appears whole or not at all.

Rows go to OUTPUT.partial, beside the output; only the finished run renames it to OUTPUT (one
atomic rename), so an interrupted run never leaves half a file under the name the user asked
for, and an older OUTPUT stays as it was until then. The partial file is append-only and
written strictly in chunk order. After one or more chunks' rows are written and fsync'd, one
JSON line is appended (and fsync'd) to the journal, OUTPUT.progress: the last chunk's index, the
input offset after its last record, the partial file's size and the rows done. A chunk counts
as done only once its journal line is on disk. On resume the partial file is truncated to the
size the last complete journal line records (dropping rows written after it, whose line never
made it), and reading restarts at the input offset it records. A torn last line (a crash
mid-write) is ignored, so that chunk is scored again, once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


class JournalMismatch(Exception):
    """The journal was written for another input or other settings."""


@dataclass(frozen=True)
class Position:
    """Where a run stands: chunks done, input offset, output size, rows done."""

    next_index: int = 0
    input_offset: int = 0
    output_size: int = 0
    rows: int = 0


def journal_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress")


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def refuse_to_overwrite(source: Path, output: Path) -> None:
    """Refuse an output (or its partial file or journal) that is the input under any name:
    the same path spelled otherwise, a symbolic link or a hard link to it."""
    for written in (output, partial_path(output), journal_path(output)):
        if written.exists() and os.path.samefile(source, written):
            raise ValueError(
                f"--out {output} would overwrite the input {source}"
                + (f" ({written.name} is the input)" if written != output else "")
                + "; choose another --out"
            )


def read_position(path: Path, settings: dict[str, Any]) -> Position:
    """The last fully written position in a journal; its first line must match `settings`."""
    lines = path.read_bytes().split(b"\n")
    complete = [line for line in lines[:-1] if line]
    if not complete:
        return Position()
    recorded = json.loads(complete[0])
    if recorded != settings:
        changed = sorted(
            k for k in settings.keys() | recorded.keys() if recorded.get(k) != settings.get(k)
        )
        raise JournalMismatch(f"{path} was written with other settings ({', '.join(changed)})")
    if len(complete) == 1:
        return Position()
    last = json.loads(complete[-1])
    return Position(last["chunk"] + 1, last["input_offset"], last["output_size"], last["rows"])


class Journal:
    """The open partial output and journal of a run; `record` makes one chunk durable,
    `finish` puts the output in place."""

    def __init__(self, output: Path, settings: dict[str, Any], resume: bool) -> None:
        self.final = output
        self.partial = partial_path(output)
        self.path = journal_path(output)
        self.position = Position()
        if resume:
            self.position = read_position(self.path, settings)
            self.output: BinaryIO = self.partial.open("r+b")
            if self.output.seek(0, os.SEEK_END) < self.position.output_size:
                self.output.close()
                raise JournalMismatch(f"{self.partial} is shorter than {self.path} records")
            self.output.truncate(self.position.output_size)
            self.output.seek(self.position.output_size)
            self.journal: BinaryIO = self.path.open("ab")
            if _drop_torn_tail(self.journal) == 0:
                self._append(settings)  # a crash tore the very first line
        else:
            self.output = self.partial.open("wb")
            self.journal = self.path.open("wb")
            self._append(settings)
        _fsync_folder(output)

    def record(self, index: int, data: bytes, input_offset: int, rows: int) -> None:
        """Append a chunk's output, then its journal line, each flushed to disk in that order."""
        self.output.write(data)
        self.output.flush()
        os.fsync(self.output.fileno())
        self.position = Position(index + 1, input_offset, self.output.tell(), rows)
        self._append(
            {
                "chunk": index,
                "input_offset": input_offset,
                "output_size": self.output.tell(),
                "rows": rows,
            }
        )

    def _append(self, entry: dict[str, Any]) -> None:
        self.journal.write(json.dumps(entry, sort_keys=True).encode() + b"\n")
        self.journal.flush()
        os.fsync(self.journal.fileno())

    def finish(self) -> None:
        """Close both, rename the complete partial file to the output, remove the journal.

        A crash after the rename leaves the journal without its partial file: the next run
        starts afresh (the output is already whole), never from a stale journal."""
        self.close()
        self.partial.replace(self.final)
        _fsync_folder(self.final)
        self.path.unlink()

    def close(self) -> None:
        self.output.close()
        self.journal.close()


def _drop_torn_tail(journal: BinaryIO) -> int:
    """Cut a last line left without its newline by a crash, so the next line starts clean;
    returns the size kept."""
    journal.seek(0, os.SEEK_END)
    size = journal.tell()
    if size == 0:
        return 0
    with open(journal.name, "rb") as reader:
        content = reader.read()
    keep = content.rfind(b"\n") + 1
    if keep != size:
        journal.truncate(keep)
        journal.flush()
        os.fsync(journal.fileno())
    return keep


def _fsync_folder(output: Path) -> None:
    """New file names survive a crash only once their folder is synced."""
    folder = os.open(output.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
