"""The Flask glue: read the body within its limit, call the endpoint, answer JSON, log one line."""

from __future__ import annotations

import logging
import time
from typing import Any

import flask

from serving import jsonio
from serving.endpoint import Endpoint, Reply
from serving.errors import PayloadTooLarge, ServingError
from serving.logs import trace_fields

EXECUTION_ID_HEADER = "Function-Execution-Id"
_CHUNK = 64 * 1024
logger = logging.getLogger(__name__)


def handle(request: flask.Request, endpoint: Endpoint) -> flask.Response:
    """Answer one HTTP request with JSON; never an HTML page, never a stack trace."""
    started = time.perf_counter()
    request_id = request.headers.get(EXECUTION_ID_HEADER, "")
    headers: dict[str, str] = {}
    try:
        body = read_body(request, endpoint.settings.max_body_bytes)
        reply = endpoint.handle(request.method, request.path, request.mimetype, body)
    except ServingError as exc:
        reply = Reply(exc.status, _error(exc.message, exc.code, request_id), {"code": exc.code})
        headers = exc.headers
    except Exception:
        logger.exception("unhandled error", extra={"fields": {"request_id": request_id}})
        reply = Reply(500, _error("internal error", "internal", request_id), {"code": "internal"})
    response = flask.Response(
        jsonio.encode(reply.body), reply.status, headers, mimetype="application/json"
    )
    _log(request, endpoint, reply, request_id, time.perf_counter() - started)
    return response


def read_body(request: flask.Request, limit: int) -> bytes:
    """The body, refused with 413 before reading past `limit` bytes."""
    if request.method in ("GET", "HEAD"):
        return b""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    while chunk := request.stream.read(min(_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
    return b"".join(chunks)


def _error(message: str, code: str, request_id: str) -> dict[str, Any]:
    return {"error": message, "code": code, "request_id": request_id}


def _log(
    request: flask.Request, endpoint: Endpoint, reply: Reply, request_id: str, seconds: float
) -> None:
    level = (
        logging.ERROR
        if reply.status >= 500
        else (logging.WARNING if reply.status >= 400 else logging.INFO)
    )
    if not logger.isEnabledFor(level):
        return
    model = endpoint.model.value
    fields = {
        "httpRequest": {
            "requestMethod": request.method,
            "requestUrl": request.path,
            "status": reply.status,
            "latency": f"{seconds:.6f}s",
            "requestSize": str(request.content_length or 0),
            "userAgent": request.user_agent.string,
        },
        "request_id": request_id,
        "model_version": model.manifest.model_version if model else None,
        "latency_ms": round(seconds * 1000, 3),
        **reply.log,
        **trace_fields(request.headers, endpoint.settings.project_id),
    }
    message = f"{request.method} {request.path} {reply.status}"
    if reply.status >= 400:
        message += f": {reply.body.get('error', '')}"
    logger.log(level, message, extra={"fields": fields})
