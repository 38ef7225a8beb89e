"""Answer a body whose format was detected: that format's parser, then its answer's idiom."""

from __future__ import annotations

from collections.abc import Mapping

from serving.batch import Ask
from serving.exchange import Reply
from serving.loading import LoadedModel
from serving.payload import check_method, parse_predict
from serving.protocols import bigquery, mlflow, oip_v2
from serving.protocols.csv_body import parse_csv
from serving.protocols.detect import Body
from serving.protocols.predictions import predictions
from serving.protocols.row_inputs import parse_inputs


def answer(model: LoadedModel, body: Body, query: Mapping[str, str], max_rows: int) -> Reply:
    """OIP v2 tensors and BigQuery calls answer in their own idiom; every other format
    answers `{"predictions": ...}`. CSV takes its `predict_method` from the query string."""
    match body.format:
        case "tensors":
            return oip_v2.infer(model, body.value, max_rows)
        case "calls":
            return bigquery.answer(model, body.value, max_rows)
        case "csv":
            ask = Ask((check_method(query.get("predict_method", "predict")),))
            batch = parse_csv(body.value, model.manifest.feature_names)
        case "features" | "instances":
            batch, ask = parse_predict(body.value, body.format)
        case "inputs":
            batch, ask = parse_inputs(body.value)
        case "dataframe_split" | "dataframe_records":
            batch, ask = mlflow.parse_dataframe(body.value, body.format)
    return predictions(model, batch, ask, max_rows)
