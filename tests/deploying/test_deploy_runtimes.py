"""Every runtime deploy.sh accepts is proven: requirements.txt installs into a fresh venv of
that Python, and the function answers each request format the same way.

Slow (a pip install per runtime, about a minute each), so deselected by default; run with
`python -m pytest -m runtimes tests/deploying/test_deploy_runtimes.py`. A runtime is skipped,
with the reason, only when this machine has no interpreter of that version.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.deploy_helpers import DEPLOY_SH, REPO
from tests.support.servers import free_port, stop_process, wait_for_port

SUPPORTED_RUNTIMES = re.search(r"^SUPPORTED_RUNTIMES=\(([^)]*)\)", DEPLOY_SH.read_text(), re.M)
assert SUPPORTED_RUNTIMES is not None
MANIFEST = json.loads((REPO / "model" / "manifest.json").read_text())
ROW = [1.0] * len(MANIFEST["feature_names"])
NAME = MANIFEST["name"]


def interpreter(version: str) -> str | None:
    """A working `python3.X` on PATH, else one pyenv has installed; None when neither."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return found
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    listed = subprocess.run(
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    )
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
    for line in listed.stdout.split():
        candidate = Path(root.stdout.strip(), "versions", line, "bin", f"python{version}")
        if re.fullmatch(rf"{re.escape(version)}\.\d+", line) and candidate.exists():
            return str(candidate)
    return None


@pytest.fixture(params=SUPPORTED_RUNTIMES.group(1).split())
def runtime_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The bundled model served by functions-framework from a fresh venv of that runtime."""
    runtime = str(request.param)
    version = f"{runtime[6]}.{runtime[7:]}"
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (PATH or pyenv) for {runtime}")
    with tempfile.TemporaryDirectory(prefix=f"{runtime}-") as scratch:
        venv = Path(scratch, "venv")
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [
                *(venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check"),
                *("-r", str(REPO / "requirements.txt")),
            ],
            check=True,
            timeout=900,
        )
        port = free_port()
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "XDG_RUNTIME_DIR": scratch}
        env |= {"HOME": scratch, "ORT_DISABLE_TELEMETRY": "1", "NO_GCE_CHECK": "true"}
        process = subprocess.Popen(
            [
                *(venv / "bin" / "functions-framework", "--target", "predict"),
                *("--source", str(REPO / "main.py"), "--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, process, timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process)


@pytest.mark.runtimes
def test_each_runtime_installs_and_answers_every_request_format(runtime_url: str) -> None:
    version = MANIFEST["model_version"]
    own = requests.post(runtime_url, json={"features": ROW}, timeout=60).json()
    v2 = requests.post(
        f"{runtime_url}/v2/models/{NAME}/infer",
        json={"inputs": [{"name": "x", "shape": [1, len(ROW)], "datatype": "FP64", "data": ROW}]},
        timeout=60,
    ).json()
    v1 = requests.post(
        f"{runtime_url}/v1/models/{NAME}:predict", json={"instances": [ROW]}, timeout=60
    ).json()
    mlflow = requests.post(
        f"{runtime_url}/invocations", json={"dataframe_split": {"data": [ROW]}}, timeout=60
    ).json()
    vertex = requests.post(
        runtime_url, json={"instances": [ROW], "parameters": {}}, timeout=60
    ).json()
    csv = requests.post(
        runtime_url,
        data=",".join(map(str, ROW)) + "\n",
        headers={"Content-Type": "text/csv"},
        timeout=60,
    ).json()

    prediction = own["prediction"]
    assert own["model_version"] == version
    assert v2["outputs"][0]["data"] == [prediction]
    assert v2["model_version"] == version
    for answer in (v1, mlflow, vertex, csv):
        assert answer == {"predictions": [prediction], "model_version": version}
