"""skl2onnx's LinearSVC converter, made to convert in float64 inside a Pipeline.

Two gaps of skl2onnx 1.20 stop a Pipeline ending in LinearSVC: skl2onnx gives every classifier
in a Pipeline `zipmap=False`, but registers LinearSVC's converter without that option ("Option
'zipmap' not in [...]"); and its float64 path only writes probabilities (a logistic or softmax
of the scores), which LinearSVC has not ("post_transform 'NONE' is not supported with double").
The same converter is registered again accepting the option (it never adds a ZipMap) and always
asked for `raw_scores`: LinearSVC's second output is then its decision values, which is what
scikit-learn's `decision_function` gives, and train.py serves them as such.
"""

from __future__ import annotations

from typing import Any


def register() -> None:
    """Re-register LinearSVC's converter as described above (idempotent)."""
    from skl2onnx.common._registration import register_converter

    register_converter(
        "SklearnLinearSVC",
        convert_linear_svc,
        overwrite=True,
        options={
            "zipmap": [False, True, "columns"],
            "nocl": [True, False],
            "output_class_labels": [False, True],
            "raw_scores": [True, False],
        },
    )


def convert_linear_svc(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's linear classifier converter, asked for the decision values."""
    from skl2onnx.operator_converters.linear_classifier import (
        convert_sklearn_linear_classifier,
    )

    container.add_options(id(operator.raw_operator), {"raw_scores": True})
    convert_sklearn_linear_classifier(scope, operator, container)
