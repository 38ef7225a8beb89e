"""Hostile HTTP against a real server: arbitrary bodies, types, framings and methods.

The server must never answer 5xx, never hang, always answer JSON with a short message, and keep
serving; where the generator knows the right status (tests/support/fuzz_known.py), it must be that
one.
CI runs FUZZ_EXAMPLES cases (a few hundred); bench/fuzz.py runs >= 10,000. The strategies and
the properties every answer must have are in tests/support/fuzz_cases.py.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.support.fuzz_cases import (
    MAX_LOG_LINE,
    N_FEATURES,
    TIMEOUT,
    cases,
    check,
    encode,
    fuzz_env,
    send,
    valid_row,
)
from tests.support.fuzz_targets import DIGITS, DIGITS_SKLEARN, MAIN, Case, register
from tests.support.servers import Server, error_lines, longest_line

# Hypothesis keeps caches beside the working directory by default: never in the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hypothesis-sklearn-cloud-function")
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def fuzz_server(serve: Callable[..., Server], classifier_dir: Path) -> Server:
    """A real server with a small body limit, shared by the fuzz cases."""
    register(MAIN, classifier_dir)
    return serve(fuzz_env(classifier_dir))


@pytest.fixture(scope="module")
def fuzz_servers(
    serve: Callable[..., Server], fuzz_server: Server, digits_dir: Path
) -> dict[str, Server]:
    """The main server and two serving "digits" (numeric-looking names, text, gaps), on the
    ONNX runtime and on the scikit-learn one."""
    servers = {MAIN: fuzz_server}
    for target in (DIGITS, DIGITS_SKLEARN):
        register(target, digits_dir)
        servers[target] = serve(fuzz_env(digits_dir, target))
        warm_up(servers[target])
    return servers


def warm_up(server: Server) -> None:
    """Have the server load its model now, in the background: the scikit-learn runtime's
    imports take seconds, which the first cases sent to the main server can overlap."""

    def health() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{server.url}/health", timeout=TIMEOUT)

    threading.Thread(target=health, daemon=True).start()


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_hostile_requests_get_json_4xx_or_2xx(fuzz_servers: dict[str, Server], case: Case) -> None:
    server = fuzz_servers[case.target]
    check(case, send(server.url, case))
    assert server.process.poll() is None, "the server exited"


def test_server_keeps_serving_and_logged_no_error_after_fuzzing(
    fuzz_servers: dict[str, Server],
) -> None:
    """Runs after the fuzz cases (same module servers): still predicts, nothing logged as error,
    no log line longer than a few KB whatever the client sent."""
    main = fuzz_servers[MAIN]
    response = requests.post(main.url, json={"features": valid_row()}, timeout=TIMEOUT)
    assert response.status_code == 200
    for server in fuzz_servers.values():
        assert error_lines(server.logs()) == []
        assert longest_line(server.logs()) < MAX_LOG_LINE


def test_numbers_json_cannot_hold_are_refused(fuzz_server: Server) -> None:
    """Sanity for the strategies: NaN and Infinity literals really reach the server. NaN is
    how MLflow's client writes a missing value: read as one, which this model refuses."""
    for value, code in (
        (math.nan, "invalid_input"),
        (math.inf, "invalid_json"),
        (-math.inf, "invalid_json"),
    ):
        body = encode({"features": [value] * N_FEATURES}, utf8=True)
        answer = send(fuzz_server.url, Case("POST", "/", "application/json", body, "length"))
        assert answer.status == 400
        assert json.loads(answer.body)["code"] == code


@pytest.mark.parametrize("path", ["/", "/v2/models/breast-cancer/infer"])
def test_a_per_feature_input_with_no_rows_is_400(fuzz_server: Server, path: str) -> None:
    """Found by the fuzzer: an input named after a feature whose shape holds a 0."""
    tensor = {"name": "mean radius", "shape": [0, 3], "datatype": "FP64", "data": []}
    body = json.dumps({"inputs": [tensor]}).encode()
    answer = send(fuzz_server.url, Case("POST", path, "application/json", body, "length"))
    assert answer.status == 400, answer.body
    assert json.loads(answer.body)["code"] == "invalid_input"
