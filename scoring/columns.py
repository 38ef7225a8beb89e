"""Which of the input's columns go to the function, and which into the output.

The function takes exactly the model's features. A file holding just those (in any order) is
sent as it is, byte for byte, and each output row starts with the input row untouched. A file
with other columns too is cut per chunk with the csv module: the features go to the function;
the output keeps the features and the `--keep` columns, in the file's order; every other column
is left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Columns:
    """The input's header, the features' positions in it (None: the file is sent as it is),
    the positions the output keeps and the names it leaves out."""

    header: bytes
    names: tuple[str, ...]
    features: tuple[str, ...]
    sent: tuple[int, ...] | None
    kept: tuple[int, ...]
    left_out: tuple[str, ...]

    @classmethod
    def plan(
        cls, header: bytes, names: Sequence[str], features: Sequence[str], keep: Sequence[str]
    ) -> Columns:
        """The columns for a file with this header, a model with these features and `--keep`."""
        names = tuple(name.strip() for name in names)
        wanted = set(features) | set(keep)
        repeated = sorted({name for name in names if names.count(name) > 1} & wanted)
        if repeated:
            raise ValueError(f"the input's header names column {repeated[0]!r} more than once")
        missing = [name for name in features if name not in names]
        if missing:
            raise ValueError(
                f"the input has no column for {len(missing)} of the model's "
                f"{len(features)} features: {', '.join(map(repr, missing[:5]))}"
                + (", ..." if len(missing) > 5 else "")
            )
        unknown = [name for name in keep if name not in names]
        if unknown:
            raise ValueError(f"--keep {unknown[0]!r}: the input's header has no such column")
        left_out = tuple(name for name in names if name not in wanted)
        every = tuple(range(len(names)))
        if set(names) == set(features):
            return cls(header, names, tuple(features), None, every, ())
        sent = tuple(names.index(name) for name in features)
        kept = tuple(index for index in every if names[index] in wanted)
        return cls(header, names, tuple(features), sent, kept, left_out)

    @property
    def output_header(self) -> bytes:
        """The output's header, without the prediction columns."""
        if self.sent is None:
            return self.header
        return _line([self.names[index] for index in self.kept])

    def request(self, records: list[bytes], first_row: int) -> tuple[bytes, list[bytes]]:
        """A chunk's CSV body for the function, and the start of each of its output rows."""
        if self.sent is None:
            return self.header + b"\n" + b"\n".join(records) + b"\n", records
        rows = self._cells(records, first_row)
        body = io.StringIO()
        writer = csv.writer(body, lineterminator="\n")
        writer.writerow(self.features)
        writer.writerows([row[index] for index in self.sent] for row in rows)
        kept = [_line([row[index] for index in self.kept]) for row in rows]
        return body.getvalue().encode(), kept

    def _cells(self, records: list[bytes], first_row: int) -> list[list[str]]:
        """Each record's cells, as the csv module reads them; each row as wide as the header."""
        try:
            text = b"\n".join(records).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"rows {first_row}-{first_row + len(records) - 1} are not UTF-8 "
                f"(byte {exc.start} of the chunk)"
            ) from None
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            last = first_row + len(records) - 1
            raise ValueError(f"rows {first_row}-{last} are not valid CSV: {exc}") from None
        for row_number, row in enumerate(rows, first_row):
            if len(row) != len(self.names):
                raise ValueError(
                    f"row {row_number} has {len(row)} cells where the header has {len(self.names)}"
                )
        return rows


def _line(cells: Sequence[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(cells)
    return text.getvalue().encode()
