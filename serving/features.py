"""The manifest's typed features, with the fallback for manifests written before the schema.

One helper so the switch to `manifest.features` (serving/schema.py) is a one-line change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TYPES = ("number", "integer", "boolean", "string")


@dataclass(frozen=True)
class Feature:
    """One input column as the manifest declares it."""

    name: str
    type: str = "number"
    nullable: bool = False
    categories: tuple[str, ...] | None = None


def features_of(raw: Mapping[str, Any], feature_names: Sequence[str]) -> tuple[Feature, ...]:
    """The manifest's "features" list; without one, every named feature is a plain number."""
    declared = raw.get("features")
    if not isinstance(declared, list):
        return tuple(Feature(str(name)) for name in feature_names)
    found: list[Feature] = []
    for item in declared:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        categories = item.get("categories")
        found.append(
            Feature(
                name=str(item.get("name", "")),
                type=kind if kind in TYPES else "number",
                nullable=bool(item.get("nullable", False)),
                categories=tuple(str(c) for c in categories)
                if isinstance(categories, list) and kind == "string"
                else None,
            )
        )
    return tuple(found)


def example_row(raw: Mapping[str, Any], features: Sequence[Feature]) -> dict[str, Any]:
    """One valid row: the manifest's "example" where it names a feature, else a neutral value
    (0 for numbers, false, the first category, an empty string)."""
    given = raw.get("example")
    example = given if isinstance(given, dict) else {}
    row: dict[str, Any] = {}
    for feature in features:
        if feature.name in example:
            row[feature.name] = example[feature.name]
        elif feature.type == "boolean":
            row[feature.name] = False
        elif feature.type == "string":
            row[feature.name] = feature.categories[0] if feature.categories else ""
        else:
            row[feature.name] = 0
    return row
