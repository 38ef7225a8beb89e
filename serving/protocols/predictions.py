"""The `{"predictions": ...}` answer: this function's format, Vertex, KServe v1, MLflow, CSV."""

from __future__ import annotations

from typing import Any

from serving.batch import Ask, Batch
from serving.exchange import Reply
from serving.loading import LoadedModel
from serving.prediction import score


def predictions(model: LoadedModel, batch: Batch, ask: Ask, max_rows: int) -> Reply:
    """The first method's output, probabilities when also asked for, and the classes beside
    probabilities or decision values."""
    scored, outputs = score(model, batch, ask.methods, max_rows)
    method = ask.methods[0]
    values = outputs[method].tolist()
    answer: dict[str, Any] = {"prediction": values[0]} if ask.single else {"predictions": values}
    if len(ask.methods) > 1:
        extra = outputs[ask.methods[1]].tolist()
        answer["probabilities"] = extra[0] if ask.single else extra
    if ask.methods != ("predict",):
        answer["classes"] = list(model.manifest.classes or ())
    answer["model_version"] = model.manifest.model_version
    return Reply(200, answer, {"rows": scored.table.n_rows, "method": method}, scored=scored)
