"""Training tables: scikit-learn's bundled datasets, or a CSV with numbers, text and gaps.

A CSV cell is missing when it is one of serving.schema.MISSING_MARKERS (empty, NA, null, ...),
the same rule the function applies to CSV requests. A column is numeric when every other cell
is a finite number, integer when those are all whole and none is missing, and text otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets

from serving.schema import MISSING_MARKERS

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


def load_csv(path: Path, target: str, task: str) -> Dataset:
    """A CSV with a header row: numbers, text and missing cells; rows without a target are
    dropped (and counted)."""
    header, body = read_rows(path)
    if target not in header:
        raise DataError(f"unknown target column {target!r}; columns: {', '.join(header)}")
    target_index = header.index(target)
    labels = [row[target_index].strip() for row in body]
    kept = [i for i, label in enumerate(labels) if label not in MISSING_MARKERS]
    if len(kept) < len(body):
        print(f"dropped {len(body) - len(kept)} rows whose target {target!r} is empty or NA")
    body, labels = [body[i] for i in kept], [labels[i] for i in kept]
    names = [h for i, h in enumerate(header) if i != target_index]
    if not names:
        raise DataError(f"{path} has no feature columns besides {target!r}")
    frame = pd.DataFrame({name: column(body, header.index(name), name) for name in names})
    return Dataset(
        name=path.stem,
        source=path.name,
        features=frame,
        target=_target_array(labels, task),
        task=task if task != "auto" else _guess_task(labels),
    )


def frame_from_rows(header: list[str], body: list[list[str]]) -> pd.DataFrame:
    """Every column of CSV rows, typed by the rule in this module's docstring."""
    return pd.DataFrame({name: column(body, i, name) for i, name in enumerate(header)})


def column(body: list[list[str]], index: int, name: str) -> pd.Series:
    """One CSV column as int64, float64 (NaN = missing) or text (object, NaN = missing)."""
    cells = [row[index].strip() for row in body]
    present = [
        (line, cell) for line, cell in enumerate(cells, start=2) if cell not in MISSING_MARKERS
    ]
    numbers, words = [], []
    for line, cell in present:
        try:
            numbers.append(float(cell))
        except ValueError:
            words.append((line, cell))
    if words and len(numbers) >= MOSTLY_NUMERIC * len(present):
        line, cell = words[0]
        raise DataError(
            f"column {name!r} is numeric except line {line} ({cell[:40]!r}); fix the cell, "
            "or leave it empty for a missing value"
        )
    if words:
        # object, not pandas' own string dtype: scikit-learn and skl2onnx read object text.
        return pd.Series([c if c not in MISSING_MARKERS else np.nan for c in cells], dtype=object)
    values = np.array([float(c) if c not in MISSING_MARKERS else np.nan for c in cells])
    if np.isinf(values).any():
        raise DataError(f"column {name!r} has non-finite values (inf)")
    whole = not np.isnan(values).any() and bool(np.all(values == np.round(values)))
    return pd.Series(values.astype(np.int64) if whole and values.size else values)


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
