"""The common ten-line handler we compare against: joblib.load at import, predict per request."""

import os

import functions_framework
import joblib

MODEL = joblib.load(os.environ.get("BASELINE_MODEL", "model/model.joblib"))


@functions_framework.http
def predict(request):
    return {"prediction": MODEL.predict(request.get_json()["features"]).tolist()}
