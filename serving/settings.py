"""Settings read once, at start-up, from the environment."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from serving.errors import SettingsError
from serving.storage import is_gcs_uri, parse_gcs_uri

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
RUNTIME_CHOICES = ("auto", "onnx", "sklearn")
SHA256 = re.compile(r"[0-9a-f]{64}")  # a pin: lowercase hex, as sha256sum prints it
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    """What the operator can set; see docs/settings.md for each variable."""

    model_uri: str = str(BUNDLED_MODEL_DIR)
    model_sha256: str | None = None
    model_runtime: str = "auto"
    max_rows: int = 10_000
    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    project_id: str | None = None
    model_allow_unpinned: bool = False
    model_generation: int | None = None
    model_fetch_timeout_seconds: float = 10.0
    model_retry_seconds: float = 1.0
    vertex_predict_route: str | None = None
    vertex_health_route: str | None = None
    prediction_log_rate: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; a bad value names its variable."""
        defaults = cls()
        settings = cls(
            model_uri=env.get("MODEL_URI", "").strip() or defaults.model_uri,
            model_sha256=_sha256_or_none(env, "MODEL_SHA256"),
            model_runtime=_choice(env, "MODEL_RUNTIME", RUNTIME_CHOICES, defaults.model_runtime),
            max_rows=_positive_int(env, "MAX_ROWS", defaults.max_rows),
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", defaults.max_body_bytes),
            body_timeout_seconds=_positive_float(
                env, "BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds
            ),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, defaults.log_level),
            project_id=env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or None,
            model_allow_unpinned=_flag(env, "MODEL_ALLOW_UNPINNED"),
            model_generation=_generation(env, "MODEL_GENERATION"),
            model_fetch_timeout_seconds=_positive_float(
                env, "MODEL_FETCH_TIMEOUT_SECONDS", defaults.model_fetch_timeout_seconds
            ),
            model_retry_seconds=_positive_float(
                env, "MODEL_RETRY_SECONDS", defaults.model_retry_seconds
            ),
            vertex_predict_route=_route_or_none(env, "AIP_PREDICT_ROUTE"),
            vertex_health_route=_route_or_none(env, "AIP_HEALTH_ROUTE"),
            prediction_log_rate=_share(env, "PREDICTION_LOG_RATE"),
        )
        return _check_remote(settings)


def _route_or_none(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise SettingsError(f"{name} must be a URL path starting with /, got {value[:80]!r}")
    return value.rstrip("/") or "/"


def _sha256_or_none(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip().lower()
    if not value:
        return None
    if not SHA256.fullmatch(value):
        raise SettingsError(f"{name} must be 64 hex characters (a sha256), got {value[:80]!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _positive(env, name, default, int, "a positive integer")


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    return _positive(env, name, default, float, "a positive number of seconds")


def _positive(
    env: Mapping[str, str], name: str, default: N, parse: Callable[[str], N], what: str
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {what}, got {raw[:80]!r}") from None
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name} must be {what}, got {raw[:80]!r}")
    return value


def _share(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise SettingsError(f"{name} must be a share from 0 to 1, got {raw[:80]!r}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    value = next((c for c in choices if c.lower() == value.lower()), value)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value[:80]!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise SettingsError(f"{name} must be true or false, got {raw[:80]!r}")


def _generation(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    return _positive_int(env, name, 0) if raw else None


def _check_remote(settings: Settings) -> Settings:
    """Refuse a malformed or unpinned gs:// MODEL_URI (unless accepted) and misplaced pins."""
    remote = is_gcs_uri(settings.model_uri)
    if remote:
        try:
            parse_gcs_uri(settings.model_uri)
        except ValueError as exc:
            raise SettingsError(f"MODEL_URI {exc}") from None
    if remote and not settings.model_sha256 and not settings.model_allow_unpinned:
        raise SettingsError(
            f"MODEL_URI {settings.model_uri} is remote but MODEL_SHA256 is not set: pin the "
            "sha256 of its manifest.json, or set MODEL_ALLOW_UNPINNED=true to accept the risk"
        )
    if settings.model_generation is not None and not remote:
        raise SettingsError("MODEL_GENERATION applies only to a gs:// MODEL_URI")
    return settings
