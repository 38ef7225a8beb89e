"""Break a model folder on purpose: flip a byte, edit the manifest, drop in a marker pickle."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib

from serving.manifest import MANIFEST_NAME, sha256_hex


class TouchOnLoad:
    """Unpickling this object creates a file: proof that an artifact was deserialised."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def evil_artifact(marker: Path) -> bytes:
    """A joblib pickle that creates `marker` if it is ever deserialised."""
    buffer = io.BytesIO()
    joblib.dump(TouchOnLoad(marker), buffer)
    return buffer.getvalue()


def flip_a_byte(path: Path) -> None:
    """Corrupt a file in place: the middle byte's lowest bit flipped, the size unchanged."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(folder: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """Rewrite folder/manifest.json through `edit`; returns the new manifest's sha256."""
    path = folder / MANIFEST_NAME
    raw = json.loads(path.read_bytes())
    edit(raw)
    path.write_text(json.dumps(raw, indent=2))
    return sha256_hex(path.read_bytes())


def pin(folder: Path, name: str) -> str:
    """Make the manifest pin the current bytes of artifact `name`."""

    def repin(raw: dict[str, Any]) -> None:
        data = (folder / name).read_bytes()
        raw["artifacts"][name].update(sha256=sha256_hex(data), bytes=len(data))

    return edit_manifest(folder, repin)
