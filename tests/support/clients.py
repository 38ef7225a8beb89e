"""Real client libraries pointed at a test server: MLflow's scoring-server client, tritonclient."""

from __future__ import annotations

import warnings
from typing import Any

import tritonclient.http as triton

from tests.support.servers import Server


def mlflow_client(server: Server) -> Any:
    """MLflow's own scoring-server client; its import warns about its own type hints."""
    with warnings.catch_warnings():
        # mlflow.types.responses warns at import (AnyType); not ours, and harmless here.
        warnings.filterwarnings("ignore", message=".*inferred as AnyType", category=UserWarning)
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient
    host, port = server.url.removeprefix("http://").split(":")
    return ScoringServerClient(host, port)


def triton_client(server: Server) -> triton.InferenceServerClient:
    """tritonclient's HTTP client for the server (it takes host:port, no scheme)."""
    return triton.InferenceServerClient(url=server.url.removeprefix("http://"))
