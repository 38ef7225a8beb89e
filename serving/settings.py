"""Settings read once, at start-up, from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.errors import SettingsError

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
RUNTIMES = ("auto", "onnx", "sklearn")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Settings:
    """What the operator can set; see README.md for each variable."""

    model_uri: str = str(BUNDLED_MODEL_DIR)
    model_sha256: str | None = None
    model_runtime: str = "auto"
    max_rows: int = 10_000
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    project_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; a bad value names its variable."""
        defaults = cls()
        return cls(
            model_uri=env.get("MODEL_URI", "").strip() or defaults.model_uri,
            model_sha256=_sha256_or_none(env, "MODEL_SHA256"),
            model_runtime=_choice(env, "MODEL_RUNTIME", RUNTIMES, defaults.model_runtime),
            max_rows=_positive_int(env, "MAX_ROWS", defaults.max_rows),
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", defaults.max_body_bytes),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, defaults.log_level),
            project_id=env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or None,
        )


def _sha256_or_none(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip().lower()
    if not value:
        return None
    if not _SHA256.fullmatch(value):
        raise SettingsError(f"{name} must be 64 hex characters (a sha256), got {value[:80]!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a positive integer, got {raw[:80]!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    value = next((c for c in choices if c.lower() == value.lower()), value)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value[:80]!r}")
    return value
