"""Routes in every request format: which formats each route takes, the methods it allows,
the GET routes of every protocol and the JSON 404 of the paths the framework answers, on a real
server and in process (`send`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.manifest import MANIFEST_NAME
from tests.support.format_requests import NAMES, WIDTH, Request, Send, assert_refused, build

pytestmark = pytest.mark.in_process


# Each route takes only its own formats.
@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/invocations", "own features"),
        ("/invocations", "BigQuery calls"),
        ("/v1/models/{}:predict", "own features"),
        ("/v1/models/{}:predict", "MLflow split"),
        ("/v1/models/{}:predict", "MLflow records"),
        ("/v1/models/{}:predict", "BigQuery calls"),
    ],
)
def test_a_route_refuses_formats_it_does_not_speak(
    send: Send, model_name: str, path: str, refused: str
) -> None:
    request = build(refused, model_name, 1)
    answer = send(Request("POST", path.format(model_name), request.body, request.headers))
    assert_refused(answer, 400, "invalid_input", "matches no accepted format")


def test_method_not_allowed_lists_the_methods(send: Send) -> None:
    answer = send(Request("POST", "/health", b""))
    assert_refused(answer, 405, "method_not_allowed", "method POST is not allowed here")
    assert "allowed: GET, HEAD" in answer.body["error"]
    assert answer.headers["allow"] == "GET, HEAD"


# The GET routes of every protocol, answered exactly.
def test_get_routes_of_every_protocol(send: Send, model_name: str, classifier_dir: Path) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    ready = {"name": model_name, "ready": True}
    expected = {
        "/health": {"status": "ok", "model_version": version},
        "/ping": {"status": "ok", "model_version": version},
        "/version": {"version": version},
        "/v1/models": {"models": [model_name]},
        f"/v1/models/{model_name}": ready,
        "/v2": {"name": "sklearn-cloud-function", "version": "0.1.0"}
        | {"extensions": ["binary_tensor_data"]},
        "/v2/health/live": {"live": True},
        "/v2/health/ready": {"ready": True},
        f"/v2/models/{model_name}/ready": ready,
        f"/v2/models/{model_name}/versions/{version}/ready": ready,
    }
    for path, body in expected.items():
        answer = send(Request("GET", path, b""))
        assert (answer.status, answer.body) == (200, body), path
    for path in (f"/v1/models/{model_name}x", "/v2/models/other/ready"):
        assert_refused(send(Request("GET", path, b"")), 404, "not_found", "is not served here")
    wrong = send(Request("GET", f"/v2/models/{model_name}/versions/0/ready", b""))
    assert_refused(wrong, 404, "not_found", "version '0'", f"the served version is {version!r}")


def test_oip_model_metadata(send: Send, model_name: str, classifier_dir: Path) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    for path in (f"/v2/models/{model_name}", f"/v2/models/{model_name}/versions/{version}"):
        answer = send(Request("GET", path, b""))
        assert answer.status == 200
        assert answer.body == {
            "name": model_name,
            "versions": [version],
            "platform": "sklearn_classification",
            "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, WIDTH]}],
            "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [-1]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
                {"name": "decision_function", "datatype": "FP64", "shape": [-1]},
                {"name": "explanations", "datatype": "FP64", "shape": [-1, WIDTH + 1]},
            ],
            "parameters": {
                "task": "classification",
                "classes": [0, 1],
                "feature_names": NAMES,
                "per_feature_inputs": answer.body["parameters"]["per_feature_inputs"],
            },
        }


@pytest.mark.parametrize("path", ["/favicon.ico", "/robots.txt"])
def test_paths_the_framework_answers_are_json_404(send: Send, path: str) -> None:
    answer = send(Request("GET", path, b""))
    assert (answer.status, answer.body["code"]) == (404, "not_found")
    assert answer.body["error"] == f"no route {path!r}"
