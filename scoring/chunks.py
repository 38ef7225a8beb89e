"""A CSV file as its header and chunks of raw records, each with the byte offset after it.

Records are cut as raw bytes, not parsed into values: what the server receives is exactly what
the file holds (text, blanks and quoting untouched). A newline ends a record when the record so
far holds an even number of quote characters (RFC 4180: a quote inside a quoted field is
doubled, so the parity only changes at a field's opening and closing quote).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class Chunk:
    """Consecutive data records: `first_row` is 1-based (row 1 is the first after the header)."""

    index: int
    first_row: int
    records: list[bytes]
    end_offset: int

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.records) - 1


def records(file: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """Each non-blank record (line ending stripped) and the file offset just after it."""
    offset = file.tell()
    pending: list[bytes] = []
    quotes = 0
    for line in file:
        offset += len(line)
        quotes += line.count(b'"')
        pending.append(line)
        if quotes % 2:
            continue
        record = b"".join(pending).rstrip(b"\r\n") if len(pending) > 1 else line.rstrip(b"\r\n")
        pending.clear()
        quotes = 0
        if record.strip():
            yield record, offset
    if pending:
        yield b"".join(pending).rstrip(b"\r\n"), offset


def read_header(file: BinaryIO) -> tuple[bytes, list[str]]:
    """The header record as bytes and its column names; the file is left just after it."""
    for record, _ in records(file):
        names = next(csv.reader([record.decode("utf-8-sig")]))
        return record, names
    raise ValueError("the file has no header row")


def chunks(file: BinaryIO, size: int, first_index: int, first_row: int) -> Iterator[Chunk]:
    """The records from the file's current position, `size` at a time."""
    batch: list[bytes] = []
    index, row = first_index, first_row
    end = file.tell()
    for record, end in records(file):
        batch.append(record)
        if len(batch) == size:
            yield Chunk(index, row, batch, end)
            index, row, batch = index + 1, row + len(batch), []
    if batch:
        yield Chunk(index, row, batch, end)
