"""The types of conftest.py's factory fixtures, for test signatures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# train_model(*train.py arguments) -> the trained model folder
TrainModel = Callable[..., Path]
# make_client(**environment) -> a Flask test client through the real functions-framework app
MakeClient = Callable[..., Any]
# serving_logs() -> the `serving` loggers' JSON lines so far, parsed
Logs = Callable[[], list[dict[str, Any]]]
