"""A CSV file as its header and chunks of raw records, each with the byte offset after it.

Records are cut as raw bytes, not parsed into values: what the server receives is exactly what
the file holds (text, blanks and quoting untouched). A newline ends a record unless it falls
inside a quoted field, by the csv module's rules (which pandas, so train.py, follows too): a
quote opens a quoted field only as the field's first character; inside one, `""` is a quote
and a lone `"` closes it. A quote anywhere else is text (`5" red` is one cell).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

COMMA = ord(",")
# A line that is one whole record, by the rules above (a quoted field's closing quote is never
# the first of a `""`); matched in C, so only lines it cannot vouch for are scanned in Python.
_FIELD = rb'(?:"[^"]*(?:""[^"]*)*"(?!")[^,\n]*|[^",\n][^,\n]*|)'
WHOLE_RECORD = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*\n?")
BOM = b"\xef\xbb\xbf"  # the csv module reads the file as utf-8-sig: the BOM is no character


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
    for line in file:
        offset += len(line)
        if not pending and (b'"' not in line or WHOLE_RECORD.fullmatch(line)):
            if line.strip():
                yield line.rstrip(b"\r\n"), offset
            continue
        pending.append(line)
        if ends_in_quoted_field(line, len(pending) > 1):
            continue
        record = b"".join(pending).rstrip(b"\r\n")
        pending.clear()
        if record.strip():
            yield record, offset
    if pending:
        yield b"".join(pending).rstrip(b"\r\n"), offset


def ends_in_quoted_field(line: bytes, quoted: bool) -> bool:
    """Whether a record is still inside a quoted field after `line`; `quoted`: it was before."""
    position = line.find(b'"')
    while position != -1:
        if quoted:
            if line[position + 1 : position + 2] == b'"':  # "" inside a quoted field
                position = line.find(b'"', position + 2)
                continue
            quoted = False
        elif position == 0 or line[position - 1] == COMMA or line[:position] == BOM:
            quoted = True
        position = line.find(b'"', position + 1)
    return quoted


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
