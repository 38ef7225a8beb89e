"""What every answer must look like: the one JSON error shape, and nothing internal in it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PATH_LEAKS = ("Traceback", 'File "', str(REPO), sys.prefix, "site-packages", "/tmp/")
LIBRARY_LEAKS = ("RuntimeError", "numpy.", "orjson.", "sklearn.", "werkzeug", "gunicorn", "<html")


def assert_error(response: Any, status: int, code: str, request_id: str | None = None) -> str:
    """The one JSON error shape (a Flask test client's response); returns its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "code", "request_id"}
    assert body["code"] == code
    assert body["error"]
    assert "Traceback" not in body["error"]
    if request_id is not None:
        assert body["request_id"] == request_id
    else:
        assert body["request_id"]
    return str(body["error"])


def assert_no_internals(text: str, leaks: tuple[str, ...] = PATH_LEAKS + LIBRARY_LEAKS) -> None:
    """No stack trace, no file path of the server, no library internals."""
    for leak in leaks:
        assert leak not in text, f"{leak!r} in {text[:300]}"


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-request log lines (those with an httpRequest field) among structured lines."""
    return [line for line in lines if "httpRequest" in line]
