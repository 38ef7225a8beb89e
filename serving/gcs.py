"""Model files from a Cloud Storage folder, read whole into memory with google-cloud-storage.

Imported only when MODEL_URI is gs://. Credentials come from Application Default Credentials
(the function's service account); this module never sees a key. Every failure of the client
library becomes a ModelUnavailable with a short reason; the original stays as its __cause__.
"""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Mapping
from typing import Any

import requests
import urllib3
from google.api_core import exceptions as api_errors
from google.api_core.retry import Retry
from google.auth import exceptions as auth_errors
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption
from google.cloud.storage.retry import DEFAULT_RETRY

from serving.errors import ArtifactTooLarge, IntegrityError, ModelUnavailable

# Not urllib3's TimeoutError: its NewConnectionError (connection refused) subclasses it.
_TIMEOUTS = (requests.Timeout, urllib3.exceptions.ReadTimeoutError, socket.timeout)
_UNREACHABLE = (requests.ConnectionError, auth_errors.TransportError, ConnectionError)
_INTERRUPTED = (
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    http.client.IncompleteRead,
)


class GcsStore:
    """The objects under gs://BUCKET/PREFIX/, each downloaded once, whole, into memory.

    `timeout` bounds each HTTP request (connect and each read) and the client's own retries
    of transient errors. `generations` pins objects by name to one GCS generation.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        timeout: float,
        generations: Mapping[str, int] | None = None,
    ) -> None:
        self.bucket_name = bucket
        self.prefix = prefix
        self.timeout = timeout
        self.generations = dict(generations or {})
        self.description = f"gs://{bucket}/{prefix}"
        self._retry: Retry = DEFAULT_RETRY.with_timeout(timeout)
        try:
            # project=None: reading objects needs no project, so none is looked up.
            client = storage.Client(project=None)
        except auth_errors.GoogleAuthError as exc:
            raise ModelUnavailable("no Application Default Credentials for Cloud Storage") from exc
        self._bucket = client.bucket(bucket)

    def uri(self, name: str) -> str:
        """The gs:// URI of one file of the folder."""
        return f"{self.description}{name}"

    def read(self, name: str, max_bytes: int) -> bytes:
        """The object's bytes, complete and checksum-verified by the client, or ModelUnavailable.

        The bytes are held once, in memory (no temp file: /tmp is memory on Cloud Functions);
        the client raises on a short or corrupt transfer, so a partial download never reaches
        the caller, and the download stops as soon as it passes `max_bytes`.
        """
        blob = self._bucket.blob(self.prefix + name, generation=self.generations.get(name))
        buffer = _CappedBuffer(max_bytes)
        try:
            blob.download_to_file(buffer, timeout=self.timeout, retry=self._retry, checksum="auto")
        except _TooLarge:
            raise ArtifactTooLarge.for_file(self.uri(name), max_bytes) from None
        except Exception as exc:
            raise self._translate(exc, name) from exc
        return buffer.getvalue()

    def _translate(self, exc: Exception, name: str) -> ModelUnavailable:
        """A short reason for a client library failure: no URLs, tokens or stack traces."""
        uri = self.uri(name)
        if isinstance(exc, api_errors.RetryError) and isinstance(exc.cause, Exception):
            exc = exc.cause
        if isinstance(exc, DataCorruption):
            return IntegrityError(f"download of {uri} was corrupt (checksum mismatch)")
        if isinstance(exc, api_errors.NotFound):
            return ModelUnavailable(self._not_found(name))
        if isinstance(exc, api_errors.Forbidden | api_errors.Unauthorized):
            return ModelUnavailable(f"permission denied reading {uri}")
        if isinstance(exc, auth_errors.RefreshError):
            return ModelUnavailable("could not get a token from Application Default Credentials")
        if _caused_by(exc, _TIMEOUTS):
            return ModelUnavailable(f"storage timed out after {self.timeout:g} s reading {uri}")
        if _caused_by(exc, _INTERRUPTED):
            return ModelUnavailable(f"download of {uri} was interrupted")
        if _caused_by(exc, _UNREACHABLE):
            return ModelUnavailable(f"storage unreachable reading {uri}")
        if isinstance(exc, api_errors.GoogleAPICallError) and exc.code is not None:
            return ModelUnavailable(f"storage answered HTTP {int(exc.code)} reading {uri}")
        return ModelUnavailable(f"could not read {uri} from storage")

    def _not_found(self, name: str) -> str:
        """Object or bucket? Asks for the bucket once; unknown (e.g. no permission) = object."""
        try:
            bucket_exists = bool(self._bucket.exists(timeout=self.timeout, retry=None))
        except Exception:
            bucket_exists = True
        if not bucket_exists:
            return f"bucket {self.bucket_name} not found"
        generation = self.generations.get(name)
        if generation is not None:
            return f"{self.uri(name)} generation {generation} not found (MODEL_GENERATION)"
        return f"{self.uri(name)} not found"


class _TooLarge(Exception):
    """Raised from inside the client's download loop to stop it."""


class _CappedBuffer(io.BytesIO):
    """An in-memory file that refuses to grow past `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise _TooLarge
        return super().write(data)


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether exc, or an exception it wraps (cause, context or first argument), is of kinds."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        pending += [current.__cause__, current.__context__, *current.args[:1]]
    return False
