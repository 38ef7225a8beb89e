"""The project's exceptions: each carries its HTTP status and a stable code.

    ServingError (500, internal)
    ├── RequestError (400, bad_request)
    │   ├── InvalidJSON (400, invalid_json)
    │   ├── InvalidInput (400, invalid_input)
    │   │   └── NotFinite (400, not_finite: a value overflowed inside the model)
    │   ├── TooManyRows (422, too_many_rows)
    │   ├── NotFound (404, not_found)
    │   ├── MethodNotAllowed (405, method_not_allowed)
    │   ├── RequestTimeout (408, request_timeout)
    │   ├── PayloadTooLarge (413, payload_too_large)
    │   └── UnsupportedMediaType (415, unsupported_media_type)
    ├── ModelUnavailable (503, model_unavailable)
    │   └── IntegrityError (503, integrity_check_failed)
    └── SettingsError (500, bad_settings; raised at start-up, never per request)

The base defaults to 500, so a forgotten subclass never blames the client.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base error: a server fault unless a subclass says otherwise."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        # Fields a request format adds to the error body (BigQuery's errorMessage).
        self.body_fields: dict[str, str] = {}


class RequestError(ServingError):
    status = 400
    code = "bad_request"


class InvalidJSON(RequestError):
    code = "invalid_json"


class InvalidInput(RequestError):
    code = "invalid_input"


class NotFinite(InvalidInput):
    code = "not_finite"

    def __init__(self, row: int | None = None) -> None:
        where = f"its output for row {row}" if row is not None else "an output"
        super().__init__(
            f"a value overflows the model's arithmetic: {where} is not a finite number; "
            "send values within the range the model was trained on"
        )


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
            f"method {method} is not allowed here; allowed: {', '.join(allowed)}",
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


class IntegrityError(ModelUnavailable):
    code = "integrity_check_failed"


class SettingsError(ServingError, ValueError):
    code = "bad_settings"
