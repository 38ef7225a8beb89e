"""KServe's own Python client, protocols v1 and v2 (binary and JSON), against a real server.

The `kserve` package cannot share this project's venv (it pins pandas < 3 and protobuf < 7),
so it is installed into its own venv, once, under .venv-clients/ (a few minutes), and runs in
its own process. Deselected by default for that install; run with `make client-tests`
(`pytest -m clients`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from tests.support.servers import REPO, Server

KSERVE = "kserve==0.21.0"
CLIENT_VENV = REPO / ".venv-clients" / "kserve"
ENTRY = Path(__file__).resolve().parents[2] / "support" / "kserve_client_entry.py"


@pytest.fixture(scope="module")
def kserve_python() -> Path:
    python = CLIENT_VENV / "bin" / "python"
    if not (CLIENT_VENV / "installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLIENT_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", KSERVE],
            check=True,
            timeout=900,
        )
        (CLIENT_VENV / "installed").write_text(KSERVE)
    return python


@pytest.mark.clients
def test_kserve_client_gets_what_the_function_answers(
    kserve_python: Path, bundled_server: Server
) -> None:
    data = load_breast_cancer()
    # Three rows of each class.
    rows = [row.tolist() for label in (0, 1) for row in data.data[data.target == label][:3]]
    with urllib.request.urlopen(bundled_server.url, timeout=30) as answer:
        model_name = json.load(answer)["name"]
    request = urllib.request.Request(
        bundled_server.url,
        data=json.dumps({"instances": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        expected = json.load(answer)["predictions"]
    done = subprocess.run(
        [str(kserve_python), str(ENTRY), bundled_server.url, model_name, json.dumps(rows)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout)
    assert answers == {"v2_binary": expected, "v2_json": expected, "v1": expected}
    assert len(set(expected)) > 1
