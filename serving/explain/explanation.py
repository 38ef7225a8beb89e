"""Explain checked rows with the loaded model: each input feature's share of the raw output.

The runtime gives the rows as the final estimator reads them (ONNX: the graph's
`estimator_input` output; scikit-learn: the pipeline's transformers), and the explainer read
from explanations.npz turns them into contributions per input feature. The manifest's
"explanations" entry says what they are in: "probability", "margin" (log-odds per class, or the
log of a log-link regressor's value) or "value", and which class each output column is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.batch import Table
from serving.errors import ModelUnavailable, NoExplanations
from serving.loading import LoadedModel


@dataclass(frozen=True)
class Explanation:
    """Per row: base_value[k] + contributions[row, :, k].sum() is output k of the raw output."""

    method: str
    output: str
    outputs: tuple[Any, ...] | None
    features: tuple[str, ...]
    base_value: np.ndarray
    contributions: np.ndarray

    def header(self) -> dict[str, Any]:
        """What the numbers are: the method, the output space, and the class of each output."""
        header: dict[str, Any] = {"method": self.method, "output": self.output}
        if self.outputs is not None:
            header["classes" if len(self.outputs) > 1 else "class"] = (
                list(self.outputs) if len(self.outputs) > 1 else self.outputs[0]
            )
        return header

    def rows(self) -> list[dict[str, Any]]:
        """One object per row: its base value and one contribution per feature (per class
        when there are several outputs)."""
        base = self.base_value.tolist()
        values = self.contributions.tolist()
        if len(base) == 1:
            return [
                {
                    "base_value": base[0],
                    "contributions": dict(zip(self.features, (c[0] for c in row), strict=True)),
                }
                for row in values
            ]
        labels = [str(label) for label in self.outputs or range(len(base))]
        return [
            {
                "base_value": dict(zip(labels, base, strict=True)),
                "contributions": {
                    label: {f: row[j][k] for j, f in enumerate(self.features)}
                    for k, label in enumerate(labels)
                },
            }
            for row in values
        ]


def explain(model: LoadedModel, table: Table) -> Explanation:
    """The explanation of every row of the table; NoExplanations (400) with the model's reason
    when it has none. The explainer is read and verified on the first call."""
    status = model.manifest.explanation_status()
    if not status["available"]:
        raise NoExplanations(status["reason"])
    if model.explainer is None:
        raise ModelUnavailable("the loaded model has no explainer slot")
    explainer = model.explainer.get()
    contributions = explainer.explain(model.runtime.estimator_input(table))
    outputs = status["outputs"]
    return Explanation(
        method=str(status["method"]),
        output=str(status["output"]),
        outputs=tuple(outputs) if isinstance(outputs, list) else None,
        features=model.manifest.feature_names,
        base_value=explainer.base_value,
        contributions=contributions,
    )
