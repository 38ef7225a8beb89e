"""Prediction log entries read back from the BigQuery table a Cloud Logging sink writes.

The sink turns jsonPayload into a nested RECORD column, so the payload is
`jsonPayload.prediction_log` with fields model_version, request_id, rows (REPEATED RECORD),
outputs (REPEATED) and truncated. Keys are renamed on the way (lower case, characters other than
letters and digits as '_'), so the rows' feature names are mapped back by that rule. The query
asks BigQuery for each payload as one JSON string, which keeps the reading independent of the
table's inferred column types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from monitoring.entries import LogReadError

TABLE = re.compile(r"^([A-Za-z0-9_.:-]+)\.([A-Za-z0-9_]+)\.([A-Za-z0-9_$*-]+)$")


def query_for(table: str) -> str:
    return (
        "SELECT TO_JSON_STRING(jsonPayload.prediction_log) AS prediction_log "
        f"FROM `{table}` WHERE jsonPayload.prediction_log.model_version IS NOT NULL"
    )


def read_bigquery(table: str, endpoint: str | None = None) -> Iterator[dict[str, Any]]:
    """The payloads in PROJECT.DATASET.TABLE; `endpoint` points the client at an emulator."""
    match = TABLE.match(table)
    if not match:
        raise LogReadError(f"--bigquery expects PROJECT.DATASET.TABLE, got {table!r}")
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import bigquery

    options: dict[str, Any] = {"project": match.group(1)}
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        options["client_options"] = {"api_endpoint": endpoint}
        options["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        client = bigquery.Client(**options)
        rows = client.query_and_wait(query_for(table))
        for row in rows:
            yield json.loads(row["prediction_log"])
    except exceptions.GoogleAPICallError as exc:
        raise LogReadError(f"BigQuery could not read {table}: {exc.message}") from exc
    except DefaultCredentialsError as exc:
        raise LogReadError(f"no Google credentials for BigQuery: {exc}") from exc
