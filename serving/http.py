"""The Flask glue: read the body within its limit, call the endpoint, answer JSON, log one line.

The only module that imports Flask. A client's strings reach the log line cut short
(serving/errors.py's rule): the request id, method and user agent to 40 characters, the path to
MAX_LOGGED_PATH.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from typing import Any, cast

import flask

from serving import jsonio, logs, prediction_log
from serving.body_deadline import BodyDeadlines
from serving.endpoint import Endpoint
from serving.errors import PayloadTooLarge, RequestError, RequestTimeout, ServingError, clip
from serving.exchange import EXECUTION_ID_HEADER, Reply

_CHUNK = 64 * 1024
# A client's path is cut this short in log lines (the 404 answer cuts it the same way).
MAX_LOGGED_PATH = 200
logger = logging.getLogger(__name__)
_body_deadlines = BodyDeadlines()


def respond(request: flask.Request, endpoint: Endpoint) -> flask.Response:
    """Answer one HTTP request with JSON (or the OIP binary extension's JSON and bytes);
    never an HTML page, never a stack trace."""
    started = time.perf_counter()
    request_id = clip(request.headers.get(EXECUTION_ID_HEADER, ""))
    body_read = False
    try:
        settings = endpoint.settings
        body = read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
        body_read = True
        # werkzeug's Headers reads as a case-insensitive mapping; it is just not typed as one.
        request_headers = cast(Mapping[str, str], request.headers)
        reply = endpoint.answer(
            request.method, request.path, request.mimetype, body, request.args, request_headers
        )
    except ServingError as exc:
        error = _error(exc.client_message(request_id), exc.code, request_id) | exc.answer_fields
        log = {"code": exc.code}
        if not isinstance(exc, RequestError):
            # A server-side error's reason is logged with the request id, never answered.
            log["reason"] = exc.message
        reply = Reply(exc.status, error, log, headers=exc.headers)
    except Exception:
        logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
        reply = Reply(500, _error("internal error", "internal", request_id), {"code": "internal"})
    content = jsonio.encode(reply.json) if reply.raw is None else reply.raw
    # functions-framework reads the whole body after any non-streamed response (its
    # read_request hook): a streamed answer skips that, so an oversized or broken body is
    # never buffered nor read again.
    sent = content if body_read else iter([content])
    response = flask.Response(sent, reply.status, dict(reply.headers), mimetype=reply.media_type)
    _log(request, endpoint, reply, request_id, time.perf_counter() - started)
    if reply.prediction and prediction_log.sampled(endpoint.settings.prediction_log_rate):
        prediction_log.write(request_id, reply.prediction)
    return response


def read_body(request: flask.Request, limit: int, timeout_seconds: float) -> bytes:
    """The body, refused with 413 before reading past `limit` bytes, 400 if it arrives broken,
    408 if it has not all arrived `timeout_seconds` after the function started reading it.

    Every method's body is read (and capped): functions-framework would otherwise read an
    unread GET body whole after the answer. The time bound needs the connection's socket, which
    gunicorn (and werkzeug's development server) put in the WSGI environment.
    """
    connection = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if not isinstance(connection, socket.socket):
        return _read_capped(request, limit)
    with _body_deadlines.watch(connection, timeout_seconds) as deadline:
        try:
            return _read_capped(request, limit)
        except RequestError as exc:
            # A read cut short by the deadline looks like a body that ended early.
            if time.monotonic() >= deadline and not isinstance(exc, PayloadTooLarge):
                raise RequestTimeout(timeout_seconds) from exc
            raise


def _read_capped(request: flask.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    # A body of declared length is read in as few reads as the server gives it (one, with
    # gunicorn): each read costs a copy of what has come so far. A chunked one in steps, so
    # one past the limit is refused a step after it.
    step, end = (declared, declared) if declared is not None else (_CHUNK, limit + 1)
    while size < end and (chunk := _read_chunk(request, min(step, end - size))):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
    if declared is not None and size < declared:
        raise RequestError(
            f"body ended after {size} of the {declared} bytes its Content-Length declares"
        )
    return b"".join(chunks)


def _read_chunk(request: flask.Request, size: int) -> bytes:
    """Up to `size` bytes of the body; a body cut off mid-stream or badly chunked is a 400."""
    try:
        return request.stream.read(size)
    except Exception as exc:
        # The server's own reader raises its own types (gunicorn's NoMoreData,
        # InvalidChunkSize; werkzeug's ClientDisconnected): all mean the client's body broke.
        raise RequestError(
            "body could not be read: it ended early or its chunked encoding is broken"
        ) from exc


def framework_not_found(error: Exception) -> flask.Response:
    """The JSON 404 for paths functions-framework answers itself, before `predict` runs
    (/favicon.ico, /robots.txt, a path holding a newline): no answer is ever an HTML page.

    Register it in main.py with `functions_framework.errorhandler(404)`.
    """
    return _framework_answer(404, "not_found", f"no route {flask.request.path[:200]!r}")


def framework_bad_request(error: Exception) -> flask.Response:
    """The JSON 400 for requests the web framework refuses before `predict` runs, such as a
    Host header with a label over 63 characters (werkzeug would answer an HTML page).

    Register it in main.py with `functions_framework.errorhandler(400)`.
    """
    message = "the request is malformed (its Host header or URL could not be read)"
    return _framework_answer(400, "bad_request", message)


def _framework_answer(status: int, code: str, message: str) -> flask.Response:
    """A JSON error (and its log line) for a request that never reached `predict`."""
    request_id = clip(flask.request.headers.get(EXECUTION_ID_HEADER, ""))
    logger.warning(
        f"{clip(flask.request.method)} {status}: {message}",
        extra={"fields": {"request_id": request_id, "code": code}},
    )
    content = jsonio.encode(_error(message, code, request_id))
    # Streamed: the framework then does not read a body it has not been asked to.
    return flask.Response(iter([content]), status, mimetype="application/json")


def _error(message: str, code: str, request_id: str) -> dict[str, Any]:
    return {"error": message, "code": code, "request_id": request_id}


def _log(
    request: flask.Request, endpoint: Endpoint, reply: Reply, request_id: str, seconds: float
) -> None:
    status = reply.status
    level = logging.ERROR if status >= 500 else (logging.WARNING if status >= 400 else logging.INFO)
    if not logger.isEnabledFor(level):
        return
    # The WSGI environment holds the headers as they arrived: read there, not through the
    # framework's case-insensitive view of them.
    environ = request.environ
    method = clip(request.method)
    path = request.path[:MAX_LOGGED_PATH]
    fields = {
        "httpRequest": {
            "requestMethod": method,
            "requestUrl": path,
            "status": status,
            "latency": f"{seconds:.6f}s",
            "requestSize": str(request.content_length or 0),
            "userAgent": clip(environ.get("HTTP_USER_AGENT", "")),
        },
        "request_id": request_id,
        "model_version": endpoint.model_version,
        "latency_ms": round(seconds * 1000, 3),
        **reply.log,
    }
    if "HTTP_X_CLOUD_TRACE_CONTEXT" in environ or "HTTP_TRACEPARENT" in environ:
        fields.update(logs.trace_fields(request.headers, endpoint.settings.project_id))
    message = f"{method} {path} {status}"
    if status >= 400:
        message += f": {reply.log.get('reason') or reply.json.get('error', '')}"
    logs.log(logger, level, message, fields)
