"""What the function must answer, checked before a row is written: the model it describes at
GET /, and for each chunk as many labels (or probability rows) as rows were sent, of the shape
and classes that model has."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoring.transport import BadAnswer

SHOWN = 40  # characters of a wrong value quoted in a message
ROUNDING = 1e-9  # a probability computed in floating point may pass 1 by its last bits


@dataclass(frozen=True)
class Model:
    """The model the function serves, as GET / describes it."""

    feature_names: tuple[str, ...]
    task: str
    classes: tuple[Any, ...] | None

    @classmethod
    def from_metadata(cls, answer: Any) -> Model:
        if not isinstance(answer, dict):
            raise BadAnswer(f"GET / answered {_kind(answer)}, not the model's description")
        if answer.get("loaded") is False:
            raise BadAnswer(f"the function has no model loaded: {_show(answer.get('reason'))}")
        names, task, classes = (answer.get(k) for k in ("feature_names", "task", "classes"))
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            raise BadAnswer("GET / answered no feature_names: is --url this function's URL?")
        if task == "classification" and isinstance(classes, list) and classes:
            return cls(tuple(names), task, tuple(classes))
        if task == "regression":
            return cls(tuple(names), task, None)
        raise BadAnswer(f"GET / answered task {_show(task)} with classes {_show(classes)}")


def labels(answer: Any, first_row: int, count: int, model: Model) -> list[Any]:
    """The answer's labels (one of the model's classes) or values (numbers), one per row."""
    values = _predictions(answer, count)
    if model.classes is not None:
        classes = model.classes
        if not _all_within(values, classes):
            _refuse(values, first_row, lambda v: _is_scalar(v) and v in classes, _not_a_class)
    elif not _all_numbers(values):
        _refuse(values, first_row, _is_number, lambda v: f"expected a number, got {_show(v)}")
    return values


def probabilities(answer: Any, first_row: int, count: int, model: Model) -> list[list[float]]:
    """The answer's probability rows: one number in [0, 1] per class, in the model's order."""
    values = _predictions(answer, count)
    classes = model.classes or ()

    def one_per_class(row: Any) -> bool:
        return isinstance(row, list) and len(row) == len(classes) and _all_shares(row)

    if not (
        set(map(type, values)) <= {list}
        and set(map(len, values)) <= {len(classes)}
        and _all_shares(list(itertools.chain.from_iterable(values)))
    ):
        _refuse(
            values,
            first_row,
            one_per_class,
            lambda v: f"expected {len(classes)} probabilities (one per class), got {_show(v)}",
        )
    if answer.get("classes") != list(classes):
        raise BadAnswer(
            f"classes {_show(answer.get('classes'))} where the model has {_show(list(classes))}"
        )
    return values


def explanations(
    answer: Any, first_row: int, count: int, features: tuple[str, ...], outputs: list[str] | None
) -> list[list[float]]:
    """Each row's explanation as numbers: per output (each class of `outputs`, or the one
    value), one contribution per feature in the model's order, then the base value."""
    explained = answer.get("explanations") if isinstance(answer, dict) else None
    rows = explained.get("rows") if isinstance(explained, dict) else None
    if not isinstance(rows, list):
        raise BadAnswer("the answer has no explanations (rows)")
    if len(rows) != count:
        raise BadAnswer(f"{count} rows sent, {len(rows)} explanations back")
    cells = []
    for row_number, row in enumerate(rows, first_row):
        try:
            values = _explained_row(row, features, outputs)
        except (KeyError, TypeError):
            values = []
        if len(values) != (len(features) + 1) * len(outputs or [None]) or not _all_numbers(values):
            raise BadAnswer(f"row {row_number}: an explanation without a number per feature")
        cells.append(values)
    return cells


def _explained_row(row: Any, features: tuple[str, ...], outputs: list[str] | None) -> list[Any]:
    if outputs is None:
        return [*(row["contributions"][f] for f in features), row["base_value"]]
    return [
        value
        for label in outputs
        for value in (*(row["contributions"][label][f] for f in features), row["base_value"][label])
    ]


def _all_within(values: list[Any], classes: tuple[Any, ...]) -> bool:
    """Whether every value is one of the classes, as sets (in C); False when one cannot be
    hashed, so that each is then looked at on its own."""
    try:
        return set(values) <= set(classes)
    except TypeError:
        return False


def _all_numbers(values: list[Any]) -> bool:
    return set(map(type, values)) <= {int, float} and all(map(math.isfinite, values))


def _all_shares(values: list[Any]) -> bool:
    """Whether every value is a number from 0 to 1 (give or take the last bits)."""
    return _all_numbers(values) and (
        not values or (min(values) >= -ROUNDING and max(values) <= 1 + ROUNDING)
    )


def _not_a_class(value: Any) -> str:
    return f"{_show(value)} is not one of the model's classes"


def _refuse(
    values: list[Any], first_row: int, good: Callable[[Any], bool], why: Callable[[Any], str]
) -> None:
    """Raise for the first value that is not `good`, naming its row (none: the values pass)."""
    for row, value in enumerate(values, first_row):
        if not good(value):
            raise BadAnswer(f"row {row}: {why(value)}")


def _predictions(answer: Any, count: int) -> list[Any]:
    if not isinstance(answer, dict):
        raise BadAnswer(f"expected a JSON object with predictions, got {_kind(answer)}")
    values = answer.get("predictions")
    if not isinstance(values, list):
        raise BadAnswer(f"the answer has no predictions list (keys: {_show(sorted(answer))})")
    if len(values) != count:
        raise BadAnswer(f"{count} rows sent, {len(values)} predictions back")
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind(value: Any) -> str:
    return "a JSON list" if isinstance(value, list) else _show(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
