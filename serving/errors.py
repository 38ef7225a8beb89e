"""The project's exceptions (each carries its HTTP status and a stable code), and the echo rule.

    ServingError (500, internal)
    ├── RequestError (400, bad_request)
    │   ├── InvalidJSON (400, invalid_json)
    │   ├── InvalidInput (400, invalid_input)
    │   │   └── NotFinite (400, not_finite: a value overflowed inside the model)
    │   ├── NoExplanations (400, no_explanations: the model has no exact explanation)
    │   ├── TooManyRows (422, too_many_rows)
    │   ├── NotFound (404, not_found)
    │   ├── MethodNotAllowed (405, method_not_allowed)
    │   ├── RequestTimeout (408, request_timeout)
    │   ├── PayloadTooLarge (413, payload_too_large)
    │   └── UnsupportedMediaType (415, unsupported_media_type)
    ├── ModelUnavailable (503, model_unavailable)
    │   └── IntegrityError (503, integrity_check_failed)
    │       └── ArtifactTooLarge (a file holds more bytes than expected)
    └── SettingsError (500, bad_settings; raised at start-up, never per request)

The base defaults to 500, so a forgotten subclass never blames the client. Only a client's
own mistake (RequestError) is explained in the answer; a server-side error's message is for the
log, and the client is told the stable code and what to do (`client_message`).

One rule for what a client sent: no feature value reaches an answer or a log line (except a text
value refused as an unknown category, so that the caller can find it), and no client string
longer than ECHO_CHARS does: `echo` quotes one in a message, `clip` cuts a header's value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ECHO_CHARS = 40


def echo(value: Any) -> str:
    """A client's value quoted for a message as Python spells it (never a NumPy repr such as
    `np.str_('x')`), cut to ECHO_CHARS characters."""
    if isinstance(value, np.generic):
        value = value.item()
    return clip(repr(value))


def clip(text: str) -> str:
    """A client's string (a request id, a user agent) cut to ECHO_CHARS characters."""
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 3] + "..."


class ServingError(Exception):
    """Base error: a server fault unless a subclass says otherwise."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # Fields a request format adds to the error answer (BigQuery's errorMessage).
        self.answer_fields: dict[str, str] = {}

    def client_message(self, request_id: str) -> str:
        """What the client is told; the message itself goes to the log only."""
        return f"internal error; {_ask_operator(request_id)}"


def _ask_operator(request_id: str) -> str:
    where = f"request {request_id}" if request_id else "the time of this request"
    return f"retry later, or ask the operator to check the logs for {where}"


class RequestError(ServingError):
    status = 400
    code = "bad_request"

    def client_message(self, request_id: str) -> str:
        """The message itself: it says what arrived and what was expected."""
        return self.message


class InvalidJSON(RequestError):
    code = "invalid_json"


class InvalidInput(RequestError):
    code = "invalid_input"


class NotFinite(InvalidInput):
    """A model output that is not finite; `row` counts from 1."""

    code = "not_finite"

    def __init__(self, row: int | None = None) -> None:
        where = f"its output for row {row}" if row is not None else "an output"
        super().__init__(
            f"a value overflows the model's arithmetic: {where} is not a finite number; "
            "send values within the range the model was trained on"
        )


class NoExplanations(RequestError):
    code = "no_explanations"

    def __init__(self, reason: str) -> None:
        super().__init__(f"this model has no explanations: {reason}")


class TooManyRows(RequestError):
    status = 422
    code = "too_many_rows"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"method {clip(method)} is not allowed here; allowed: {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )


class RequestTimeout(RequestError):
    """The body did not arrive in time; the connection closes, since its rest never comes."""

    status = 408
    code = "request_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the request body did not arrive within {seconds:g} s (BODY_TIMEOUT_SECONDS); "
            "send the whole body without pausing",
            headers={"Connection": "close"},
        )


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class ModelUnavailable(ServingError):
    status = 503
    code = "model_unavailable"

    def client_message(self, request_id: str) -> str:
        """No storage path nor internal reason: those are in the log, under the request id."""
        return f"the model is unavailable; {_ask_operator(request_id)}"


class IntegrityError(ModelUnavailable):
    code = "integrity_check_failed"


class ArtifactTooLarge(IntegrityError):
    """A model file holds more bytes than its manifest entry (or cap) allows: not loaded.

    Built with `for_file`: like every ModelUnavailable it keeps the (message, headers)
    constructor, with which the slot raises it again during its backoff window.
    """

    @classmethod
    def for_file(cls, name: str, max_bytes: int) -> ArtifactTooLarge:
        return cls(f"{name} holds more than the {max_bytes} bytes expected; not loaded")


class SettingsError(ServingError, ValueError):
    code = "bad_settings"
