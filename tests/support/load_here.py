"""A stand-in for train.py's cloud load check: the artifact loads in this process.

The real check (training/isolation.py) starts a fresh Python per model that sees only what is
deployed; it has its own tests (tests/training/test_packaging.py). Tests that package many plain
scikit-learn models swap it for this one, which loads each artifact here.
"""

from __future__ import annotations

import io


def loads_here(
    artifact: bytes, code: object = None, *, runtime: str = "sklearn", extra: object = ()
) -> str | None:
    """The artifact loads in this process, with joblib or onnxruntime (None: no problem)."""
    if runtime == "onnx":
        import onnxruntime

        onnxruntime.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    else:
        import joblib

        joblib.load(io.BytesIO(artifact))
    return None
