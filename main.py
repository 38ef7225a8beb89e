"""Cloud Functions entry point: `predict(request)` hands every request to the serving core."""

import os

import flask
import functions_framework

from serving import logs
from serving.endpoint import Endpoint
from serving.http import framework_bad_request, framework_not_found, respond
from serving.settings import Settings

# onnxruntime otherwise sends usage telemetry from the instance (seen as DNS lookups of a
# Microsoft host after import); set before it can be imported, and an operator may set 0.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
SETTINGS = Settings.from_env(os.environ)
logs.configure(SETTINGS.log_level)
ENDPOINT = Endpoint(SETTINGS)
# The framework answers a few requests itself (/favicon.ico, /robots.txt, a malformed Host
# header): answer those in JSON too.
functions_framework.errorhandler(404)(framework_not_found)
functions_framework.errorhandler(400)(framework_bad_request)


@functions_framework.http
def predict(request: flask.Request) -> flask.Response:
    """Every path and method of the function arrives here."""
    return respond(request, ENDPOINT)
