"""docs/models.md's conformance table: its rows, the markdown, and what `--check` compares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.conformance_families import Family

TABLE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "models.md"
START, END = "<!-- conformance:start -->", "<!-- conformance:end -->"
TOLERANCE = 1e-9
HEADER = (
    "family",
    "task",
    "dataset",
    "array: runtime",
    "array: parity (max abs diff / labels)",
    "DataFrame: runtime",
    "DataFrame: parity (max abs diff / labels)",
    "cold start onnx / sklearn (s)",
    "why not ONNX",
)
TIMING_COLUMN = HEADER.index("cold start onnx / sklearn (s)")
PARITY_COLUMNS = (
    HEADER.index("array: parity (max abs diff / labels)"),
    HEADER.index("DataFrame: parity (max abs diff / labels)"),
)
REASON_COLUMN = HEADER.index("why not ONNX")
# A measured figure inside a reason ("max difference 3.01e-07"): compared as a placeholder.
MEASURED = re.compile(r"\d+(\.\d+)?e[-+]\d+")


@dataclass(frozen=True)
class Outcome:
    """What packaging and serving one fitted variant (array or DataFrame) showed."""

    runtime: str
    labels_equal: bool | None
    max_abs_diff: float | None
    served_equal: bool
    skipped_because: str | None
    cold_start: dict[str, float]

    def parity_cell(self, task: str) -> str:
        if self.max_abs_diff is None:
            return "-"
        labels = "" if task == "regression" else " / equal"
        if self.labels_equal is False:
            labels = " / differ"
        return f"{self.max_abs_diff:.1e}{labels}"


@dataclass(frozen=True)
class Result:
    """One row: the family fitted on an array (None when it takes text only) and a DataFrame."""

    family: Family
    array: Outcome | None
    dataframe: Outcome

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for o in (self.array, self.dataframe) if o is not None]

    @property
    def served_equal(self) -> bool:
        return all(outcome.served_equal for outcome in self.outcomes)

    def cells(self) -> tuple[str, ...]:
        """The table row."""
        task = self.family.task
        array = self.array
        return (
            self.family.name,
            task,
            self.family.dataset,
            array.runtime if array else "-",
            array.parity_cell(task) if array else "-",
            self.dataframe.runtime,
            self.dataframe.parity_cell(task),
            self.cold_start_cell(),
            self.reason(),
        )

    def reason(self) -> str:
        """train.py's line(s) saying why a variant got no model.onnx ('-' when both did)."""
        reasons = {"array": self.array and self.array.skipped_because}
        reasons["DataFrame"] = self.dataframe.skipped_because
        given = {kind: why for kind, why in reasons.items() if why}
        alike = {MEASURED.sub("N", why) for why in given.values()}
        if len(alike) == 1 and len(given) == len(self.outcomes):
            return next(iter(given.values()))
        return "; ".join(f"{kind}: {why}" for kind, why in given.items()) or "-"

    def cold_start_cell(self) -> str:
        timing = self.array.cold_start if self.array else {}
        if not timing:
            return "-"
        return " / ".join(
            f"{timing[name]:.2f}" if name in timing else "-" for name in ("onnx", "sklearn")
        )


def render(results: list[Result], kept_timings: dict[str, str] | None = None) -> str:
    """The markdown table; families not timed in this run keep `kept_timings` (by family)."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "| " + " | ".join("---" for _ in HEADER) + " |",
    ]
    for result in results:
        cells = list(result.cells())
        if result.cold_start_cell() == "-" and kept_timings:
            cells[TIMING_COLUMN] = kept_timings.get(result.family.name, "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def split_rows(table: str) -> list[list[str]]:
    """The cells of every body row of a markdown table."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.strip().splitlines()[2:]
    ]


def comparable(table: str) -> list[tuple[str, ...]]:
    """The table's rows without what the machine decides: timings, and the digits of the
    measured difference (only whether it is within the tolerance and the labels' verdict)."""
    rows = []
    for cells in split_rows(table):
        cells[TIMING_COLUMN] = ""
        for column in PARITY_COLUMNS:
            cells[column] = parity_verdict(cells[column])
        cells[REASON_COLUMN] = MEASURED.sub("N", cells[REASON_COLUMN])
        rows.append(tuple(cells))
    return rows


def parity_verdict(cell: str) -> str:
    """'within' / 'over' the tolerance, with the labels' verdict; '-' when not exported."""
    if cell == "-":
        return cell
    number, _, labels = cell.partition(" / ")
    within = "within" if float(number) <= TOLERANCE else "over"
    return f"{within} {labels}".strip()


def page_table(text: str) -> str:
    """The table between the markers in the page's text."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def with_table(text: str, table: str) -> str:
    """The page's text with its table replaced."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + table + text[end:]
