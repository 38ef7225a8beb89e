"""The model's input schema: each feature's name, type, whether it may be missing, its categories.

How a cell becomes a feature's value is serving.cells' rule, which reads these fields.

A manifest without "features" (format 1) describes all-number features by "feature_names" alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

# validate.py reads the markers here; serving.cells owns them.
from serving.cells import MISSING_MARKERS as MISSING_MARKERS

FeatureType = Literal["number", "integer", "boolean", "string"]
FEATURE_TYPES: tuple[str, ...] = get_args(FeatureType)
# The one dtype recorded: a text feature the model was fitted on as a pandas `category` column.
DTYPES = ("category",)


@dataclass(frozen=True)
class Feature:
    """One input column of the model.

    `categories` lists the text values the model learned; `other_categories` says whether the
    model accepts values outside them (train.py finds out by asking the model).
    `marker_categories` are learned categories spelled like a missing marker ("None", "NA",
    ""): in text cells they are that category, not missing. `dtype` is "category" when the
    model was fitted on a pandas category column (rebuilt as one with `categories`), else None.
    """

    name: str
    type: FeatureType = "number"
    nullable: bool = False
    categories: tuple[str, ...] | None = None
    other_categories: bool = True
    marker_categories: tuple[str, ...] = ()
    dtype: str | None = None

    @property
    def is_text(self) -> bool:
        return self.type == "string"

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            entry["categories"] = list(self.categories)
            entry["other_categories"] = self.other_categories
        if self.marker_categories:
            entry["marker_categories"] = list(self.marker_categories)
        if self.dtype is not None:
            entry["dtype"] = self.dtype
        return entry


class Schema(tuple[Feature, ...]):
    """The features in the model's order, with what every request asks of them worked out once:
    their names, and whether all are numbers (the bulk numpy path)."""

    names: tuple[str, ...]
    numeric: bool

    def __new__(cls, features: Iterable[Feature]) -> Schema:
        schema = super().__new__(cls, features)
        schema.names = tuple(feature.name for feature in schema)
        schema.numeric = not any(feature.is_text for feature in schema)
        return schema


def parse_features(raw: Any, feature_names: Sequence[str]) -> Schema:
    """The manifest's "features" list (ValueError when malformed), or numbers by name."""
    if raw is None:
        return Schema(Feature(name) for name in feature_names)
    if not isinstance(raw, list) or [e.get("name") for e in raw] != list(feature_names):
        raise ValueError("features must list every feature of feature_names, in order")
    return Schema(feature_from_json(entry) for entry in raw)


def feature_from_json(entry: dict[str, Any]) -> Feature:
    """One entry of the manifest's \"features\" list; ValueError when malformed."""
    kind = entry.get("type")
    if kind not in FEATURE_TYPES:
        raise ValueError(f"feature {entry['name']!r}: type must be one of {FEATURE_TYPES}")
    categories = entry.get("categories")
    if categories is not None and not all(isinstance(c, str) for c in categories):
        raise ValueError(f"feature {entry['name']!r}: categories must be strings")
    markers = entry.get("marker_categories", [])
    if not isinstance(markers, list) or not all(m in MISSING_MARKERS for m in markers):
        raise ValueError(f"feature {entry['name']!r}: marker_categories must be missing markers")
    dtype = entry.get("dtype")
    if dtype is not None and (dtype not in DTYPES or kind != "string" or categories is None):
        raise ValueError(
            f"feature {entry['name']!r}: dtype may only be {DTYPES[0]}, on text with categories"
        )
    return Feature(
        name=str(entry["name"]),
        type=kind,
        nullable=bool(entry.get("nullable", False)),
        categories=tuple(categories) if categories is not None else None,
        other_categories=bool(entry.get("other_categories", True)),
        marker_categories=tuple(markers),
        dtype=dtype,
    )
