"""The common ten-line handler for a DataFrame model: JSON rows into pandas, predict per request."""

import os

import functions_framework
import joblib
import pandas as pd

MODEL = joblib.load(os.environ.get("BASELINE_MODEL", "model/model.joblib"))


@functions_framework.http
def predict(request):
    return {"predictions": MODEL.predict(pd.DataFrame(request.get_json()["instances"])).tolist()}
