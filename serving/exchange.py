"""What a route receives and returns: the Call, the Host it runs on, the Reply; no web framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

# The request id Cloud Functions gives each request; logs and error answers carry it.
EXECUTION_ID_HEADER = "Function-Execution-Id"

if TYPE_CHECKING:
    from serving.loading import LoadedModel
    from serving.prediction_log import Scored
    from serving.settings import Settings
    from serving.slot import LazySlot


@dataclass(frozen=True)
class Call:
    """One request as the routes see it: no web framework types.

    `headers` must read case-insensitively, as the web framework's own do (werkzeug's
    Headers); a plain dict passed in a test must then use the canonical spelling.
    """

    method: str
    path: str
    content_type: str
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str:
        return self.headers.get(EXECUTION_ID_HEADER, "")


@dataclass(frozen=True)
class Reply:
    """A JSON answer, plus fields worth logging (sizes and shapes, never feature values).

    `raw`, when set, is sent instead of the encoded body, as `media_type` (the OIP binary
    extension's JSON part and tensor bytes); `body` then holds the JSON part, for the log.
    """

    status: int
    body: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    media_type: str = "application/json"
    scored: Scored | None = None


class Host(Protocol):
    """What a route needs from the endpoint: its settings and the lazily loaded model."""

    settings: Settings
    model: LazySlot[LoadedModel]
