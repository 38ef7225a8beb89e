"""ONNX Runtime 1.12.1, the version BigQuery ML runs, in a virtualenv of its own (Python 3.10).

onnxruntime 1.12.1 has wheels for Python 3.10 and older only, built against NumPy 1, so it
cannot share the project's venv. `build()` makes the venv once under .venv-clients/ (as the
KServe client's is made) from a Python 3.10 on PATH or in pyenv; `python()` finds it when it is
there. `python -m training.bigquery_env` builds it (`make bigquery-check` and `make test` do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ONNXRUNTIME_VERSION = "1.12.1"
PINS = (f"onnxruntime=={ONNXRUNTIME_VERSION}", "numpy<2")
PYTHON_VERSION = "3.10"
ENV_DIR = REPO / ".venv-clients" / f"onnxruntime-{ONNXRUNTIME_VERSION}"
STAMP = ENV_DIR / "installed"
INSTALL_TIMEOUT_SECONDS = 900


class EnvironmentMissing(Exception):
    """ONNX Runtime 1.12.1's environment is not there and cannot be built; says why."""


def python() -> Path | None:
    """The environment's python, when it has been built."""
    executable = ENV_DIR / "bin" / "python"
    if STAMP.is_file() and STAMP.read_text() == "\n".join(PINS) and executable.is_file():
        return executable
    return None


def build() -> Path:
    """The environment's python, building the environment first when needed."""
    found = python()
    if found is not None:
        return found
    base, env = base_python()
    shutil.rmtree(ENV_DIR, ignore_errors=True)
    ENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([base, "-m", "venv", str(ENV_DIR)], check=True, env=env, timeout=120)
    executable = ENV_DIR / "bin" / "python"
    install = [str(executable), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, *PINS], check=True, timeout=INSTALL_TIMEOUT_SECONDS)
    STAMP.write_text("\n".join(PINS))
    return executable


def base_python() -> tuple[str, dict[str, str]]:
    """A Python 3.10 to make the venv with, and the environment to run it in (pyenv's shim
    needs PYENV_VERSION to pick 3.10 when another version is the default)."""
    env = dict(os.environ)
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        versions = [v for v in listed if v.startswith(f"{PYTHON_VERSION}.")]
        if versions:
            env["PYENV_VERSION"] = versions[-1]
            root = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, check=False
            ).stdout.strip()
            candidate = Path(root) / "versions" / versions[-1] / "bin" / f"python{PYTHON_VERSION}"
            if candidate.is_file():
                return str(candidate), env
    found = shutil.which(f"python{PYTHON_VERSION}")
    if found is not None and _runs(found, env):
        return found, env
    raise EnvironmentMissing(
        f"ONNX Runtime {ONNXRUNTIME_VERSION} needs a Python {PYTHON_VERSION} to run in, and "
        f"none was found (install one, e.g. `pyenv install {PYTHON_VERSION}`)"
    )


def _runs(executable: str, env: dict[str, str]) -> bool:
    done = subprocess.run([executable, "-c", ""], env=env, capture_output=True, check=False)
    return done.returncode == 0


def main() -> int:
    """Build the environment (once) and say where it is and how long it took."""
    started = time.perf_counter()
    try:
        executable = build()
    except EnvironmentMissing as exc:
        print(f"bigquery_env: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"ONNX Runtime {ONNXRUNTIME_VERSION} environment: {executable} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
