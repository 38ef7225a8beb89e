"""Prove, before deploying, that the cloud can unpickle the model.

A fresh Python process is given only what `.gcloudignore` uploads (main.py, serving/, the model)
and may import only the standard library and what requirements.txt installs (its pinned
distributions and everything they require, plus the manifest's own pins of a booster library
that stays on scikit-learn). It loads the artifact the way the function does: it unpickles
model.joblib, or opens model.onnx for an XGBoost or LightGBM model served without its library.
A function defined in the training script (`__main__`), a local module that is not uploaded,
or a library missing from requirements.txt is reported in one line here, not in the cloud.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What .gcloudignore lets through besides model/ (tests/test_deploy.py checks the upload set).
UPLOADED = ("main.py", "requirements.txt", "serving")

_CHILD = r"""
import importlib.abc, importlib.machinery, importlib.metadata as md, io, json, re, sys, warnings

folder, artifact, runtime = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, folder)

def closure(names):
    seen, todo = set(), list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]
                 for r in requires if "extra ==" not in r]
    return seen

lines = [*open(folder + "/requirements.txt"), *sys.argv[4:]]  # + the manifest's pins
pinned = [line.split("==")[0].strip() for line in lines
          if line.strip() and not line.startswith("#")]
allowed = closure(pinned)
modules = {m for m, dists in md.packages_distributions().items()
           if any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists)}
modules |= set(sys.stdlib_module_names) | {"main", "serving"} | set(sys.builtin_module_names)

stdlib = [p for p in sys.path if not p.endswith("site-packages") and p != folder]

class OnlyDeployed(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in modules or top in sys.modules:
            return None
        if importlib.machinery.PathFinder.find_spec(top, stdlib) is None:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        modules.add(top)
        return None

sys.meta_path.insert(0, OnlyDeployed())
try:
    with open(artifact, "rb") as handle:
        data = handle.read()
    if runtime == "onnx":
        import onnxruntime
        onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    else:
        import joblib
        joblib.load(io.BytesIO(data))
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "name": getattr(exc, "name", None),
                      "message": str(exc)[:300]}))
    sys.exit(3)
"""


def cloud_load_problem(
    artifact: bytes, runtime: str = "sklearn", extra: Sequence[str] = ()
) -> str | None:
    """None when a deployed function could load `artifact`; else why not, in one line.

    `runtime` "onnx" loads it as model.onnx instead of unpickling it; `extra` lists the pins
    ("xgboost==3.2.0") the function installs besides requirements.txt (the manifest's).
    """
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in UPLOADED:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, root / name)
        (root / "model.artifact").write_bytes(artifact)
        child = [sys.executable, "-I", "-c", _CHILD, str(root), str(root / "model.artifact")]
        done = subprocess.run(
            [*child, runtime, *extra],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
    if done.returncode == 0:
        return None
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"a fresh Python could not load it: {done.stderr.strip()[-300:]}"
    return explain(found["type"], found["name"], found["message"])


def explain(kind: str, name: str | None, message: str) -> str:
    """Why an unpickling error happened, in terms of what the user can change."""
    if kind == "ModuleNotFoundError":
        return (
            f"it needs the module {name!r}, which the function would not have: add its "
            "library to requirements.txt, or move your code into an uploaded module"
        )
    where = re.search(r"attribute '([^']+)' on <module '([^']+)'", message)
    if kind == "AttributeError" and where:
        attribute, module = where.groups()
        if module.endswith("__main__"):
            return (
                f"it refers to {attribute!r} defined in the training script (__main__), which "
                "the function does not have: define it in a module and upload that module"
            )
        return f"it refers to {attribute!r} in {module}, which has no such name here"
    return f"a fresh Python could not load it: {kind}: {message}"
