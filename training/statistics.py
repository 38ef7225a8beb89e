"""What the model saw at training time, frozen in the manifest so drift can be measured later.

Numbers get fixed quantile bins: `edges` are the interior cut points, so bin i holds
edges[i-1] <= x < edges[i], with -inf and +inf at the ends (JSON has no infinity). Text and
booleans get category shares: the top categories, the rest grouped as "(other)". The model's
outputs get class shares (classification) or the same bins as a number (regression).
Everything is rounded and ordered so the same data always gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BINS = 10
TOP_CATEGORIES = 20
OTHER = "(other)"
DIGITS = 6


def training_statistics(
    columns: Mapping[str, Any],
    features: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    task: str,
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Statistics of each feature column and of the model's outputs on the training rows.

    `columns` maps feature name to its values (a pandas DataFrame works); `features` is the
    manifest's typed feature list; `outputs` are the model's predictions on those rows.
    """
    return {
        "rows": len(outputs),
        "features": [feature_statistics(columns[f["name"]], f) for f in features],
        "outputs": output_statistics(outputs, task, classes),
    }


def feature_statistics(values: Any, feature: Mapping[str, Any]) -> dict[str, Any]:
    cells = list(values)
    present = [v for v in cells if not is_missing(v)]
    stats: dict[str, Any] = {
        "name": feature["name"],
        "type": feature["type"],
        "count": len(present),
        "missing_share": share(len(cells) - len(present), len(cells)),
    }
    if feature["type"] in ("number", "integer"):
        stats.update(number_statistics(np.asarray(present, dtype=float)))
    else:
        stats.update(category_statistics([category_key(v) for v in present]))
    return stats


def output_statistics(
    outputs: Sequence[Any], task: str, classes: Sequence[Any] | None
) -> dict[str, Any]:
    if task == "classification":
        counts = Counter(category_key(v) for v in outputs)
        order = [category_key(c) for c in classes] if classes is not None else sorted(counts)
        return {"kind": "classes", "shares": {c: share(counts[c], len(outputs)) for c in order}}
    return {"kind": "values", **number_statistics(np.asarray(outputs, dtype=float))}


def number_statistics(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"mean": None, "std": None, "edges": [], "counts": [0]}
    quantiles = np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1])
    lowest = values.min()
    edges = sorted({rounded(q) for q in quantiles if q > lowest})
    return {
        "mean": rounded(values.mean()),
        "std": rounded(values.std()),
        "edges": edges,
        "counts": bin_counts(values, edges),
    }


def category_statistics(keys: list[str]) -> dict[str, Any]:
    counts = Counter(keys)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top = ranked[:TOP_CATEGORIES]
    rest = sum(n for _, n in ranked[TOP_CATEGORIES:])
    return {
        "categories": {name: share(n, len(keys)) for name, n in top},
        "other_share": share(rest, len(keys)),
    }


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> list[int]:
    """Counts per bin; bin i is edges[i-1] <= x < edges[i] (the ends open to infinity)."""
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    return [int(n) for n in np.bincount(index, minlength=len(edges) + 1)]


def category_key(value: Any) -> str:
    """One spelling per category: 1, 1.0 and True-as-1 differ, but a float that JSON or
    BigQuery turned from an integer label back into 1.0 reads as 1 again."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def is_missing(value: Any) -> bool:
    if value is None or type(value).__name__ == "NAType":
        return True
    try:
        return bool(np.isnan(value))
    except (TypeError, ValueError):
        return False


def share(part: int, whole: int) -> float:
    return round(part / whole, DIGITS) if whole else 0.0


def rounded(value: float) -> float:
    return float(f"{float(value):.{DIGITS}g}")
