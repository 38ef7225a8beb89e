"""Test-only entry point: the real main.predict, plus one route that lists sys.modules.

Served by a real functions-framework server so tests can see what the serving path imported.
"""

import sys
from pathlib import Path

import flask

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import main


def predict(request: flask.Request) -> flask.Response:
    if request.path == "/__test__/modules":
        return flask.jsonify(sorted(sys.modules))
    return main.predict(request)
