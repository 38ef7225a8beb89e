"""Score a parsed batch: the one validation step, then one runtime pass for all outputs asked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.batch import Batch, Method, Table
from serving.errors import InvalidInput, NotFinite
from serving.loading import LoadedModel
from serving.prediction_log import Scored
from serving.validate import validate


def score(
    model: LoadedModel, batch: Batch, methods: tuple[Method, ...], max_rows: int
) -> tuple[Scored, dict[Method, np.ndarray]]:
    """Validate the batch against the model's schema, then predict: what was scored (for
    the prediction log, when sampled), and the outputs."""
    table = validate(batch, model.manifest.features, max_rows)
    outputs = run(model, table, methods)
    return Scored(table, outputs.get("predict"), model.manifest), outputs


def run(model: LoadedModel, table: Table, methods: Sequence[Method]) -> dict[Method, np.ndarray]:
    """Each method's output for the rows, from one pass of the runtime.

    Outputs that are not finite (a huge input that overflowed inside the model) are refused
    with a 400 naming the row, never answered as null or as a label made from them.
    """
    wanted = tuple(dict.fromkeys(methods))
    if model.manifest.classes is None and wanted != ("predict",):
        what = "probabilities are" if "predict_proba" in wanted else "decision values are"
        raise InvalidInput(
            f"{what} only available for classifiers; this model's task is {model.manifest.task}"
        )
    with np.errstate(all="ignore"):
        outputs = model.runtime.run(table, wanted)
    for values in outputs.values():
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            row = int(np.argwhere(~np.isfinite(values))[0][0])
            raise NotFinite(row)
    return {method: outputs[method] for method in wanted}
