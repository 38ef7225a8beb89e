"""Training tables: scikit-learn's bundled datasets, or a CSV with numbers, text and gaps.

CSV cells are read by serving.cells' rule for text cells, the one the function applies to CSV
requests: a cell is missing when it is one of its MISSING_MARKERS (empty, NA, null, ...) that
the model did not learn as a category, and text is never stripped. A column whose type is
known (from the model, or --column-type) is read as that type. Otherwise it is numeric when
every other cell is a finite number, integer when those are all whole, none is missing and
int64 holds them, and text otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets

from serving import cells
from serving.schema import Feature

BUILTIN_DATASETS = {
    "breast_cancer": (datasets.load_breast_cancer, "classification"),
    "iris": (datasets.load_iris, "classification"),
    "wine": (datasets.load_wine, "classification"),
    "diabetes": (datasets.load_diabetes, "regression"),
}
# A column this numeric (share of its non-missing cells) with a few words in it is a typo.
MOSTLY_NUMERIC = 0.9


class DataError(Exception):
    """Bad training input: reported as one line, no traceback."""


@dataclass(frozen=True)
class Dataset:
    """Features (a DataFrame, one column per feature), target and where they came from."""

    name: str
    source: str
    features: pd.DataFrame
    target: np.ndarray
    task: str

    @property
    def feature_names(self) -> list[str]:
        return [str(name) for name in self.features.columns]

    @property
    def tabular(self) -> bool:
        """Text columns or gaps: the model is fitted on the DataFrame, not a float matrix."""
        frame = self.features
        return bool(text_columns(frame) or frame.isna().to_numpy().any())

    def with_task(self, task: str) -> Dataset:
        return replace(self, task=task)


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The names of the frame's text (object) columns."""
    return [name for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]


def load_builtin(name: str) -> Dataset:
    """A dataset bundled with scikit-learn (no download)."""
    loader, task = BUILTIN_DATASETS[name]
    bunch = loader()
    names = [str(n) for n in bunch.feature_names]
    return Dataset(
        name=name.replace("_", "-"),
        source=f"sklearn.datasets.load_{name}",
        features=pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=names),
        target=np.asarray(bunch.target),
        task=task,
    )


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The CSV's header and data rows (a spreadsheet's byte-order mark dropped); checks shape."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DataError(f"data file {path} not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not rows or not any(rows[0]):
        raise DataError(f"{path} is empty; expected a header row and data rows")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise DataError(f"column name {repeated[0]!r} appears more than once in the header")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"line {number} has {len(row)} values; the header has {len(header)}")
    return header, body


def load_csv(
    path: Path, target: str, task: str, known: Mapping[str, Feature] | None = None
) -> Dataset:
    """A CSV with a header row: numbers, text and missing cells (`known` columns read as their
    type); rows without a target are dropped (and counted)."""
    header, body = read_rows(path)
    if target not in header:
        raise DataError(f"unknown target column {target!r}; columns: {', '.join(header)}")
    body, labels = with_target(header, body, target)
    target_index = header.index(target)
    names = [h for i, h in enumerate(header) if i != target_index]
    if not names:
        raise DataError(f"{path} has no feature columns besides {target!r}")
    unknown = sorted(set(known or {}) - set(names))
    if unknown:
        raise DataError(f"--column-type {unknown[0]}: {path.name} has no such feature column")
    frame = pd.DataFrame(
        {name: column(body, header.index(name), name, (known or {}).get(name)) for name in names}
    )
    return Dataset(
        name=path.stem,
        source=path.name,
        features=frame,
        target=_target_array(labels, task),
        task=task if task != "auto" else _guess_task(labels),
    )


def with_target(
    header: list[str], body: list[list[str]], target: str
) -> tuple[list[list[str]], list[str]]:
    """The rows whose target cell is not missing, and those cells; the others are dropped and
    counted (a target is never a category spelled like a missing marker)."""
    index = header.index(target)
    labels = [row[index] for row in body]
    kept = [i for i, label in enumerate(labels) if label not in cells.MISSING_MARKERS]
    if len(kept) < len(body):
        print(f"dropped {len(body) - len(kept)} rows whose target {target!r} is empty or NA")
    return [body[i] for i in kept], [labels[i] for i in kept]


def frame_from_rows(
    header: list[str], body: list[list[str]], known: Mapping[str, Feature] | None = None
) -> pd.DataFrame:
    """Every column of CSV rows, typed by the rule in this module's docstring; `known` gives
    the columns whose type (and learned marker categories) is already known."""
    known = known or {}
    return pd.DataFrame(
        {name: column(body, i, name, known.get(name)) for i, name in enumerate(header)}
    )


def column(body: list[list[str]], index: int, name: str, known: Feature | None = None) -> pd.Series:
    """One CSV column as int64, float64 (NaN = missing) or text (object, NaN = missing)."""
    text = np.array([row[index] for row in body], dtype=str)
    if known is not None:
        return typed_column(text, known)
    missing = cells.missing_text(text)
    present = [(line, cell) for line, cell in enumerate(text.tolist(), 2) if not missing[line - 2]]
    numbers = [cells.number_from_text(cell) for _, cell in present]
    words = [(line, cell) for (line, cell), n in zip(present, numbers, strict=True) if n is None]
    if words and len(present) - len(words) >= MOSTLY_NUMERIC * len(present):
        line, cell = words[0]
        raise DataError(
            f"column {name!r} is numeric except line {line} ({cell[:40]!r}); fix the cell, "
            "leave it empty for a missing value, or pass --column-type to say what it is"
        )
    if words:
        return typed_column(text, Feature(name, "string", nullable=True))
    try:
        return typed_column(text, Feature(name, "integer", nullable=False))
    except DataError as exc:
        if "non-finite" in str(exc):
            raise
        return typed_column(text, Feature(name, "number", nullable=True))


def typed_column(text: np.ndarray, feature: Feature) -> pd.Series:
    """A column of CSV cells read as the feature's type by serving.cells' rule."""
    try:
        values = cells.column(text, feature, "text")
    except cells.CellError as exc:
        if "finite" in exc.reason:
            raise DataError(f"column {feature.name!r} has non-finite values (inf)") from None
        raise DataError(f"line {exc.row + 1}, column {exc.feature!r}: {exc.reason}") from None
    if feature.is_text:
        # object, not pandas' own string dtype: scikit-learn and skl2onnx read object text.
        return pd.Series(np.where(values == None, np.nan, values), dtype=object)  # noqa: E711
    if feature.type == "integer":
        return pd.Series(cells.integer_column(values, feature.name))
    if feature.type == "boolean" and not np.isnan(values).any():
        return pd.Series(values.astype(np.bool_))
    return pd.Series(values)


def _as_numbers(labels: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(v) for v in labels])
    except ValueError:
        return None


def _guess_task(labels: list[str]) -> str:
    numbers = _as_numbers(labels)
    if numbers is None:
        return "classification"
    is_integer = bool(np.all(numbers == np.round(numbers)))
    return "classification" if is_integer and len(set(numbers)) <= 20 else "regression"


def _target_array(labels: list[str], task: str) -> np.ndarray:
    numbers = _as_numbers(labels)
    if numbers is None:
        if task == "regression":
            raise DataError("--task regression needs a numeric target column")
        return np.array(labels)
    if task != "regression" and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return numbers


def fingerprint(features: pd.DataFrame, target: np.ndarray) -> str:
    """sha256 of the exact training table: feature names, values and target.

    An all-number table hashes as its float64 matrix, as train.py always did.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in features.columns]).encode())
    if not text_columns(features):
        digest.update(np.ascontiguousarray(features.to_numpy(np.float64)).tobytes())
    else:
        cells = [[None if pd.isna(v) else v for v in row] for row in features.to_numpy().tolist()]
        digest.update(json.dumps(cells).encode())
    digest.update(json.dumps(target.tolist()).encode())
    return digest.hexdigest()
