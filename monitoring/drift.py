"""Drift of serving data against the training statistics, one result per feature and outputs.

PSI (population stability index) = sum over bins of (s - t) * ln(s / t), with s and t the
serving and training shares (half a count added to each bin so an empty bin stays finite).
Even with no drift, sampling alone gives a PSI near (bins - 1) * (1/n_serving + 1/n_training),
so a feature is flagged only above both the threshold and that noise's 99.9% level: a small
sample does not raise false alarms, and a real shift of a few standard deviations still stands
out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from monitoring.tally import Tally
from training.statistics import OTHER

NOISE_QUANTILE = 0.999


@dataclass(frozen=True)
class Thresholds:
    psi: float = 0.2
    missing_change: float = 0.1
    unseen_share: float = 0.0


@dataclass
class Drift:
    """One feature's (or the outputs') comparison, with the shares its plot draws."""

    name: str
    kind: str
    psi: float
    psi_noise: float
    labels: list[str]
    training_shares: list[float]
    serving_shares: list[float]
    missing_training: float = 0.0
    missing_serving: float = 0.0
    unseen: dict[str, int] = field(default_factory=dict)
    unseen_share: float = 0.0
    crossed: list[str] = field(default_factory=list)
    psi_limit: float = 0.0

    @property
    def missing_change(self) -> float:
        return self.missing_serving - self.missing_training


def compare_feature(stats: Mapping[str, Any], tally: Tally) -> Drift:
    """One feature's logged values (counted in `tally`) against its training statistics."""
    missing = 1 - tally.present / tally.rows if tally.rows else 0.0
    if "edges" in stats:
        drift = compare_numbers(stats["name"], stats, tally, stats["count"])
    else:
        drift = compare_categories(stats["name"], stats, tally, stats["count"])
    drift.missing_training = stats["missing_share"]
    drift.missing_serving = round(missing, 6)
    return drift


def compare_outputs(stats: Mapping[str, Any], tally: Tally, rows: int) -> Drift:
    if stats["kind"] == "classes":
        shares = {"categories": stats["shares"], "other_share": 0.0}
        return compare_categories("(outputs)", shares, tally, rows)
    return compare_numbers("(outputs)", stats, tally, rows)


def compare_numbers(name: str, stats: Mapping[str, Any], tally: Tally, trained: int) -> Drift:
    training = shares_of(stats["counts"])
    serving = shares_of(tally.bins)
    labels = bin_labels(stats["edges"])
    psi, noise = psi_pair(training, serving, tally.numbers, trained)
    return Drift(name, "number", psi, noise, labels, training, serving)


def compare_categories(name: str, stats: Mapping[str, Any], tally: Tally, trained: int) -> Drift:
    listed = list(stats["categories"])
    labels = [*listed, OTHER]
    training = [*stats["categories"].values(), stats["other_share"]]
    serving_counts = [tally.counts[c] for c in listed]
    serving_counts.append(tally.present - sum(serving_counts))
    serving = shares_of(serving_counts)
    psi, noise = psi_pair(training, serving, tally.present, trained)
    unseen = dict(sorted(tally.unseen.items()))
    drift = Drift(name, "category", psi, noise, labels, training, serving, unseen=unseen)
    drift.unseen_share = round(tally.unseen_total / tally.present, 6) if tally.present else 0.0
    return drift


def psi_pair(
    training: Sequence[float], serving: Sequence[float], n: int, m: int
) -> tuple[float, float]:
    """The PSI and the level sampling noise alone stays under 99.9% of the time."""
    if n == 0:
        return 0.0, 0.0
    t = smoothed(np.asarray(training, dtype=float) * m)
    s = smoothed(np.asarray(serving, dtype=float) * n)
    psi = float(np.sum((s - t) * np.log(s / t)))
    bins = int(np.count_nonzero(np.asarray(training) > 0)) or 1
    noise = chi2_quantile(NOISE_QUANTILE, max(bins - 1, 1)) * (1 / n + 1 / max(m, 1))
    return round(psi, 6), round(noise, 6)


def chi2_quantile(p: float, dof: int) -> float:
    """Wilson-Hilferty's approximation (within a few percent here), sparing scipy's slow import."""
    z = NormalDist().inv_cdf(p)
    return float(dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3)


def smoothed(counts: np.ndarray) -> np.ndarray:
    """Shares with half a count added to every bin, so an empty bin in a small sample does not
    weigh like a vanished population."""
    padded: np.ndarray = counts + 0.5
    shares: np.ndarray = padded / padded.sum()
    return shares


def judge(drift: Drift, limits: Thresholds) -> Drift:
    """Fill in which thresholds this comparison crosses."""
    crossed = []
    drift.psi_limit = max(limits.psi, drift.psi_noise)
    if drift.psi > drift.psi_limit:
        crossed.append(f"PSI {drift.psi:.3f} > {drift.psi_limit:.3f}")
    if abs(drift.missing_change) > limits.missing_change:
        crossed.append(f"missing share {drift.missing_training:.1%} -> {drift.missing_serving:.1%}")
    if drift.unseen and drift.unseen_share > limits.unseen_share:
        names = ", ".join(repr(c) for c in list(drift.unseen)[:5])
        crossed.append(f"unseen categories {names} ({drift.unseen_share:.1%} of rows)")
    drift.crossed = crossed
    return drift


def severity(drift: Drift) -> tuple[int, float]:
    """Worst first: most thresholds crossed, then the PSI as a share of its limit."""
    return (-len(drift.crossed), -drift.psi / drift.psi_limit if drift.psi_limit else 0.0)


def shares_of(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [round(c / total, 6) if total else 0.0 for c in counts]


def bin_labels(edges: Sequence[float]) -> list[str]:
    bounds = ["-inf", *(f"{e:g}" for e in edges), "inf"]
    return [f"[{lo}, {hi})" for lo, hi in itertools.pairwise(bounds)]
