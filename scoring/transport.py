"""Call the function: identity token for https, retries with backoff and jitter, no redirects."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

RETRIED_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
TOKEN_LIFETIME_S = 45 * 60  # Google identity tokens last an hour; fetch a new one well before.


class Refused(Exception):
    """The function answered a 4xx or a redirect: retrying would not help."""


class BadAnswer(Exception):
    """A 200 that is not the answer to what was asked (not JSON, the wrong shape or size)."""


class GaveUp(Exception):
    """Retries were exhausted on 429, 5xx or dropped connections."""


class Stopped(Exception):
    """The run is stopping (interrupted or failed elsewhere): no more attempts."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, bounded in attempts and in each wait."""

    attempts: int = 8
    base_s: float = 0.5
    cap_s: float = 30.0

    def wait_s(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**attempt)
        jittered = random.uniform(ceiling / 2, ceiling)
        return min(max(jittered, retry_after or 0.0), max(self.cap_s, 120.0))


def audience(url: str) -> str:
    """The identity token's audience: the service's root URL (scheme and host)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class IdentityToken:
    """A Google identity token for one audience, fetched lazily and refreshed before expiry."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self._lock = threading.Lock()
        self._token = ""
        self._fetched = 0.0

    def header(self) -> dict[str, str]:
        with self._lock:
            if not self._token or time.monotonic() - self._fetched > TOKEN_LIFETIME_S:
                import google.auth.transport.requests
                import google.oauth2.id_token

                request = google.auth.transport.requests.Request()
                self._token = google.oauth2.id_token.fetch_id_token(request, self.audience)
                self._fetched = time.monotonic()
            return {"Authorization": f"Bearer {self._token}"}


def auth_headers_for(url: str) -> Callable[[], dict[str, str]]:
    """An identity token for https URLs (private functions); nothing for plain http."""
    if urlsplit(url).scheme != "https":
        return dict
    return IdentityToken(audience(url)).header


class Sender:
    """Sends CSV bodies to one URL over a pooled session, one call per thread at a time."""

    def __init__(
        self, url: str, pool_size: int, backoff: Backoff, timeout_s: float = 300.0
    ) -> None:
        self.url = url
        self.stop = threading.Event()
        self.backoff = backoff
        self.timeout_s = timeout_s
        self.auth_headers = auth_headers_for(url)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def post_csv(self, body: bytes, params: dict[str, str]) -> Any:
        """The JSON answer to one CSV body; retries what may pass, raises on what will not."""
        return self._call("POST", body, params, {"Content-Type": "text/csv"})

    def metadata(self) -> Any:
        """The function's GET / answer: the model it serves."""
        return self._call("GET", None, {}, {"Accept": "application/json"})

    def _call(
        self, method: str, body: bytes | None, params: dict[str, str], headers: dict[str, str]
    ) -> Any:
        last = ""
        for attempt in range(self.backoff.attempts):
            if self.stop.is_set():
                raise Stopped
            retry_after = None
            try:
                response = self.session.request(
                    method,
                    self.url,
                    data=body,
                    params=params,
                    headers={**headers, **self.auth_headers()},
                    timeout=self.timeout_s,
                    allow_redirects=False,  # requests would send the rows again as a GET
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    return _json(response)
                if 300 <= response.status_code < 400:
                    location = response.headers.get("Location", "(no Location)")
                    raise Refused(
                        f"HTTP {response.status_code} redirect to {location[:200]}, not followed: "
                        "give --url the function's own URL"
                    )
                if response.status_code not in RETRIED_STATUSES:
                    raise Refused(f"HTTP {response.status_code}: {_message(response)}")
                last = f"HTTP {response.status_code}: {_message(response)}"
                retry_after = _retry_after(response)
            if attempt + 1 < self.backoff.attempts and self.stop.wait(
                self.backoff.wait_s(attempt, retry_after)
            ):
                raise Stopped
        raise GaveUp(f"{self.backoff.attempts} attempts, last: {last}")

    def close(self) -> None:
        self.session.close()


def _json(response: requests.Response) -> Any:
    """A 200's JSON body; anything else (an HTML page from a proxy, say) is a bad answer."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type") or "no Content-Type"
        start = response.text[:60].strip()
        raise BadAnswer(f"HTTP 200 with a body that is not JSON ({kind}): {start!r}") from None


def _message(response: requests.Response) -> str:
    """The server's error message: the JSON `error` field, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body)[:300]


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from Google front ends: ignored)."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
