"""The data plane: a request's rows validated, then predicted in one runtime pass.

Every format reaches the model through `predict`: the one validation step (serving/validate.py),
the one check of what the model offers (`Runtime.offers`), one pass of the runtime for every
method asked, and the one check that its outputs are finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.batch import Batch, Method, Table
from serving.errors import NotFinite
from serving.loading import LoadedModel
from serving.manifest import Manifest
from serving.runtimes import Runtime
from serving.validate import validate


@dataclass(slots=True)
class Prediction:
    """What one request's rows got: the checked Table, each method's output, and the manifest
    of the model that answered (the prediction log reads all three)."""

    table: Table
    outputs: dict[Method, np.ndarray]
    manifest: Manifest

    @property
    def log(self) -> dict[str, Any]:
        """What a request's log line says of it: sizes and names, never a value."""
        return {"rows": self.table.n_rows, "methods": list(self.outputs)}


def predict(
    model: LoadedModel, batch: Batch, methods: tuple[Method, ...], max_rows: int
) -> Prediction:
    """The batch checked against the model's schema, then each method's output for its rows.

    Outputs that are not finite (a huge input that overflowed inside the model) are refused
    with a 400 naming the row, never answered as null or as a label made from them.
    """
    table = validate(batch, model.manifest.features, max_rows)
    wanted = tuple(dict.fromkeys(methods))
    model.runtime.offers(wanted)
    return Prediction(table, run(model.runtime, table, wanted), model.manifest)


def run(runtime: Runtime, table: Table, methods: tuple[Method, ...]) -> dict[Method, np.ndarray]:
    """One pass of the runtime for `methods` (which it offers) on checked rows; an output that
    is not finite is refused (NotFinite, naming its row), as every answer is."""
    with np.errstate(all="ignore"):
        outputs = runtime.run(table, methods)
    for values in outputs.values():
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            row = int(np.argwhere(~np.isfinite(values))[0][0])
            raise NotFinite(row)
    return {method: outputs[method] for method in methods}
