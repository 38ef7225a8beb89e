"""Counts of one column's logged values (a feature's, or the model's outputs), kept as rows
stream by: what the drift comparison needs, in memory that does not grow with the rows read.

A number column keeps its counts per training bin (values wait in a batch until `flush` bins
them with numpy, which the reader calls once enough values wait across all columns); a
category column keeps the count of each training category and of each category never seen in
training, at most MAX_UNSEEN_NAMES of them by name (any more are counted together).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from training.statistics import bin_counts, category_key

MAX_UNSEEN_NAMES = 1_000


class Tally:
    """`rows` values seen, `present` of them not missing; for numbers, `numbers` of those
    counted in `bins`; for categories, the training ones' `counts` and the `unseen` ones'."""

    def __init__(
        self,
        edges: Sequence[float] | None = None,
        listed: Iterable[str] = (),
        allowed: set[str] | None = None,
    ) -> None:
        self.edges = None if edges is None else list(edges)
        self.listed = set(listed)
        self.allowed = allowed
        self.rows = 0
        self.present = 0
        self.numbers = 0
        self.counts: Counter[str] = Counter()
        self.unseen: Counter[str] = Counter()
        self.unseen_beyond_names = 0
        self._bins = np.zeros(len(self.edges) + 1 if self.edges is not None else 0, np.int64)
        self._batch: list[float] = []

    @classmethod
    def for_feature(cls, stats: Mapping[str, Any], known: Sequence[str] | None) -> Tally:
        """A tally for a feature's training statistics (and its schema's categories)."""
        if "edges" in stats:
            return cls(edges=stats["edges"])
        return cls(listed=stats["categories"], allowed=known_categories(stats, known))

    @classmethod
    def for_outputs(cls, stats: Mapping[str, Any]) -> Tally:
        """A tally for the outputs: the classes (any other label is unseen), or value bins."""
        if stats["kind"] == "classes":
            return cls(listed=stats["shares"], allowed=set(stats["shares"]))
        return cls(edges=stats["edges"])

    def add(self, values: Sequence[Any]) -> None:
        """Count a batch of values; None and NaN are missing."""
        present = [v for v in values if v is not None and v == v]
        self.rows += len(values)
        self.present += len(present)
        if self.edges is not None:
            numbers = [v for v in present if isinstance(v, int | float)]
            self.numbers += len(numbers)
            self._batch.extend(numbers)
            return
        for key in map(category_key, present):
            if key in self.listed:
                self.counts[key] += 1
            elif self.allowed is not None and key not in self.allowed:
                if key in self.unseen or len(self.unseen) < MAX_UNSEEN_NAMES:
                    self.unseen[key] += 1
                else:
                    self.unseen_beyond_names += 1

    @property
    def bins(self) -> list[int]:
        """Counts per training bin of the numbers seen."""
        self.flush()
        return [int(n) for n in self._bins]

    @property
    def unseen_total(self) -> int:
        return sum(self.unseen.values()) + self.unseen_beyond_names

    def flush(self) -> None:
        """Bin the numbers waiting in the batch."""
        if self._batch and self.edges is not None:
            self._bins += bin_counts(np.asarray(self._batch, dtype=float), self.edges)
            self._batch.clear()


def known_categories(stats: Mapping[str, Any], known: Sequence[str] | None) -> set[str] | None:
    """The schema's categories, else the training ones when none were grouped as "(other)";
    with only the top ones listed nothing can be called unseen."""
    listed = set(stats["categories"])
    if known:
        return set(known) | listed
    return listed if stats["other_share"] == 0 else None
