"""Reference only: a functions-framework handler that reads the body and answers a constant.

What the framework itself costs per request and at start, with no model at all; the floor
under every other variant's figures.
"""

import flask
import functions_framework


@functions_framework.http
def predict(request: flask.Request) -> dict[str, list[int]]:
    request.get_data()
    return {"prediction": [0]}
