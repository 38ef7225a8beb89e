"""manifest.json's typed fields read back exactly as train.py writes them, and each malformed
field refused with its reason (an IntegrityError: the model is not loaded)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serving.errors import IntegrityError
from serving.manifest import Manifest
from serving.schema import Feature, feature_from_json

pytestmark = pytest.mark.in_process

FEATURES = [
    Feature("size"),
    Feature("count", "integer", nullable=True),
    Feature("color", "string", categories=("a", "b"), other_categories=False),
    Feature("note", "string", nullable=True),
]
SHA = "0" * 64


def manifest(**changes: Any) -> dict[str, Any]:
    raw = {
        "format": 2,
        "name": "mixed",
        "model_version": "v1",
        "task": "classification",
        "feature_names": [f.name for f in FEATURES],
        "n_features": len(FEATURES),
        "features": [f.to_json() for f in FEATURES],
        "fitted_on": "dataframe",
        "classes": ["x", "y"],
        "artifacts": {"model.joblib": {"sha256": SHA, "bytes": 0, "runtime": "sklearn"}},
    }
    return raw | changes


def parse(raw: dict[str, Any]) -> Manifest:
    return Manifest.parse(json.dumps(raw).encode())


def test_typed_fields_read_back_as_written() -> None:
    parsed = parse(manifest())
    assert tuple(parsed.features) == tuple(FEATURES)
    assert parsed.fitted_on_dataframe is True
    assert parsed.classes == ("x", "y")
    assert parsed.artifacts["model.joblib"].size == 0
    assert parse(manifest(fitted_on="array")).fitted_on_dataframe is False
    assert (
        parse({k: v for k, v in manifest().items() if k != "fitted_on"}).fitted_on_dataframe
        is False
    )


def test_features_default_to_numbers_by_name() -> None:
    parsed = parse({k: v for k, v in manifest().items() if k != "features"})
    assert tuple(parsed.features) == tuple(Feature(f.name) for f in FEATURES)


def test_feature_defaults() -> None:
    assert feature_from_json({"name": "a", "type": "number"}) == Feature("a")
    text = feature_from_json({"name": "t", "type": "string", "categories": ["p"]})
    assert (text.nullable, text.categories, text.other_categories) == (False, ("p",), True)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fitted_on": "frame"}, "fitted_on must be array or dataframe"),
        ({"feature_names": ["a", "a"], "n_features": 2}, "feature_names must not repeat a name"),
        (
            {"feature_names": [], "n_features": 0},
            "feature_names must be non-empty and match n_features",
        ),
        ({"n_features": 3}, "feature_names must be non-empty and match n_features"),
        (
            {"task": "ranking"},
            "task must be one of ('classification', 'regression'), got 'ranking'",
        ),
        ({"format": 3}, "format must be one of (1, 2), got 3"),
        (
            {"artifacts": {"model.joblib": {"sha256": SHA, "bytes": -1, "runtime": "sklearn"}}},
            "artifact 'model.joblib' has a negative size",
        ),
        (
            {"artifacts": {"../x": {"sha256": SHA, "bytes": 1, "runtime": "sklearn"}}},
            "artifact name '../x' must be a plain file name",
        ),
        (
            {"features": [{"name": "size", "type": "float"}] + [f.to_json() for f in FEATURES[1:]]},
            "feature 'size': type must be one of ('number', 'integer', 'boolean', 'string')",
        ),
        (
            {
                "features": [
                    *(f.to_json() for f in FEATURES[:2]),
                    {"name": "color", "type": "string", "categories": ["a", 1]},
                    FEATURES[3].to_json(),
                ]
            },
            "feature 'color': categories must be strings",
        ),
        (
            {"features": [f.to_json() for f in reversed(FEATURES)]},
            "features must list every feature of feature_names, in order",
        ),
    ],
)
def test_each_malformed_field_is_refused_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(IntegrityError) as caught:
        parse(manifest(**changes))
    assert caught.value.message == f"manifest.json is malformed: {reason}"
