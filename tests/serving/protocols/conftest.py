"""`send`, for the tables of test_*_every_format.py: a request to a real server (one for the
package) or in process to the same functions-framework app; `model_name`, the model's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from serving.manifest import MANIFEST_NAME
from tests.support.format_requests import ENV, Answer, Request, Send
from tests.support.servers import REPO, SETTINGS_VARIABLES, Server, start_server


@pytest.fixture(scope="module")
def model_name(classifier_dir: Path) -> str:
    return str(json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["name"])


@pytest.fixture(scope="package")
def tables_server(classifier_dir: Path) -> Iterator[Server]:
    """The real server of every table here: one for the package (the settings never change)."""
    running = start_server({"MODEL_URI": str(classifier_dir), **ENV})
    yield running
    running.stop()


@pytest.fixture(scope="module", params=["real_server", "in_process"])
def send(request: pytest.FixtureRequest, classifier_dir: Path) -> Iterator[Send]:
    """Requests to a real server, or in-process to the same functions-framework app (set up
    per module: it sets the function's environment while it lives)."""
    env = {"MODEL_URI": str(classifier_dir), **ENV}
    if request.param == "real_server":
        server: Server = request.getfixturevalue("tables_server")

        def over_http(call: Request) -> Answer:
            answer = requests.request(
                call.method,
                server.url + call.path,
                data=call.body,
                headers=call.headers,
                timeout=30,
            )
            return Answer(
                answer.status_code,
                _json_or_empty(answer.content),
                {k.lower(): v for k, v in answer.headers.items()},
                answer.content,
            )

        yield over_http
        return
    import functions_framework

    with pytest.MonkeyPatch.context() as patch:
        for name in SETTINGS_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in {**env, "FUNCTION_TARGET": "predict"}.items():
            patch.setenv(name, value)
        app = functions_framework.create_app(target="predict", source=str(REPO / "main.py"))
        client = app.test_client()

        def in_process(call: Request) -> Answer:
            answer = client.open(
                call.path, method=call.method, data=call.body, headers=call.headers
            )
            raw = answer.get_data()
            headers = {k.lower(): v for k, v in answer.headers.items()}
            return Answer(answer.status_code, _json_or_empty(raw), headers, raw)

        yield in_process


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    """The JSON answer; {} for the OIP binary extension's JSON part and bytes."""
    try:
        return dict(json.loads(raw))
    except ValueError:
        return {}
