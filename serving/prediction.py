"""The data plane: a request's rows validated, then predicted in one runtime pass.

Every format reaches the model through `predict`: the one validation step (serving/validate.py),
the one check of what the model offers (`Runtime.offers`), one pass of the runtime for every
method asked, and the one check that its outputs are finite. Explanations, when asked for, are
computed from the same checked rows (serving/explain, imported only then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.batch import Batch, Method, Table
from serving.errors import NoExplanations, NotFinite
from serving.loading import LoadedModel
from serving.manifest import Manifest
from serving.runtimes import Runtime
from serving.validate import validate

if TYPE_CHECKING:
    from serving.explain.explanation import Explanation


@dataclass(slots=True)
class Prediction:
    """What one request's rows got: the checked Table, each method's output, and the manifest
    of the model that answered (the prediction log reads all three)."""

    table: Table
    outputs: dict[Method, np.ndarray]
    manifest: Manifest
    explanation: Explanation | None = None

    @property
    def log(self) -> dict[str, Any]:
        """What a request's log line says of it: sizes and names, never a value."""
        log: dict[str, Any] = {"rows": self.table.n_rows, "methods": list(self.outputs)}
        if self.explanation is not None:
            log["explained"] = True
        return log


def predict(
    model: LoadedModel,
    batch: Batch,
    methods: tuple[Method, ...],
    max_rows: int,
    explain: bool = False,
) -> Prediction:
    """The batch checked against the model's schema, then each method's output for its rows,
    and their explanations when `explain` (a 400 `no_explanations` where the model has none).

    Outputs that are not finite (a huge input that overflowed inside the model) are refused
    with a 400 naming the row, never answered as null or as a label made from them.
    """
    status = model.manifest.explanation_status() if explain else None
    if status is not None and not status["available"]:
        raise NoExplanations(status["reason"])
    table = validate(batch, model.manifest.features, max_rows)
    wanted = tuple(dict.fromkeys(methods))
    model.runtime.offers(wanted)
    prediction = Prediction(table, run(model.runtime, table, wanted), model.manifest)
    if explain:
        from serving.explain.explanation import explain as explain_rows  # only when asked

        prediction.explanation = explain_rows(model, table)
    return prediction


def run(runtime: Runtime, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
    """One pass of the runtime for `methods` (which it offers) on checked rows; an output that
    is not finite is refused (NotFinite, naming its row), as every answer is."""
    with np.errstate(all="ignore"):
        outputs = runtime.run(table, methods)
    for values in outputs.values():
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise NotFinite(int(np.argwhere(~np.isfinite(values))[0][0]) + 1)
    return {method: outputs[method] for method in methods}
