"""What passes between the layers: the Request, the Inference its format reads from it, the Reply.

No web framework type crosses here: the HTTP glue (serving/http.py) hands the endpoint the
request's method, path, media type, body, query and headers, which become the Request, and
sends the Reply; everything between takes and returns these plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from serving.errors import clip

# The request id Cloud Functions gives each request; logs and error answers carry it.
EXECUTION_ID_HEADER = "Function-Execution-Id"

if TYPE_CHECKING:
    from serving.batch import Batch, Method
    from serving.prediction import Prediction


@dataclass(slots=True)
class Request:
    """One request as the routes see it.

    `headers` must read case-insensitively, as the web framework's own do (werkzeug's
    Headers); a plain dict passed in a test must then use the canonical spelling.
    """

    method: str
    path: str
    media_type: str
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str:
        """The platform's id for this request, cut short (a client may send its own)."""
        return clip(self.headers.get(EXECUTION_ID_HEADER, ""))


@dataclass(slots=True)
class Reply:
    """A JSON answer, plus fields worth logging (sizes and shapes, never feature values).

    `raw`, when set, is sent instead of the encoded `json`, as `media_type` (an HTML page, a
    file, the OIP binary extension's JSON part and tensor bytes); `json` then holds what is
    logged of it. `prediction` is what the request's rows got, for the prediction log.
    """

    status: int
    json: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    media_type: str = "application/json"
    prediction: Prediction | None = None


@dataclass(slots=True)
class Inference:
    """A request body as its format reads it: the rows, the estimator methods to run, whether
    their explanations are asked for, and how to answer once the data plane has predicted (in
    that format's idiom)."""

    batch: Batch
    methods: tuple[Method, ...]
    answer: Callable[[Prediction], Reply]
    explain: bool = False
