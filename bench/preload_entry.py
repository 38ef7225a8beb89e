"""Bench-only entry point: this project's main.py, but loading the model at import time.

The framework imports the entry module in the gunicorn master before it forks the worker,
so this is the "load before fork" placement that bench/placement.py compares with ours.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main

main.ENDPOINT.model.get()
predict = main.predict
