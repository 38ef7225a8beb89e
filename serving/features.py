"""The model card's view of the typed features, and a valid example row to prefill its form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serving.schema import Feature, feature_from_json

__all__ = ["Feature", "example_row", "features_of"]


def features_of(raw: Mapping[str, Any], feature_names: Sequence[str]) -> tuple[Feature, ...]:
    """The manifest's "features" list; without one, every named feature is a plain number.

    Entries that do not parse are skipped: the card shows what it can.
    """
    declared = raw.get("features")
    if not isinstance(declared, list):
        return tuple(Feature(str(name)) for name in feature_names)
    found = []
    for entry in declared:
        try:
            found.append(feature_from_json(entry))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
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
