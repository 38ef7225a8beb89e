"""Prove, before deploying, that the cloud can unpickle the model.

A fresh Python process is given only what `.gcloudignore` uploads (read with gcloud's rules:
gitignore's, by pathspec) and the user's own code shipped with the model (`--code`), and may
import only the standard library, what requirements.txt installs (its pinned distributions and
everything they require, plus the manifest's own pins of a booster library that stays on
scikit-learn), the uploaded top-level modules and that code. It loads the artifact the way the
function does: it unpickles model.joblib, or opens model.onnx for an XGBoost or LightGBM model
served without its library. A function defined in the training script (`__main__`), a local
module that is neither uploaded nor shipped, or a library missing from requirements.txt is
reported in one line here, not in the cloud.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pathspec

from training.reasons import one_line

REPO = Path(__file__).resolve().parent.parent
IGNORE_FILE = ".gcloudignore"
# The bundled model's folder: the artifact under test stands in for it.
MODEL_FOLDER = "model"

_CHILD = r"""
import importlib.abc, importlib.machinery, importlib.metadata as md, io, json, re, sys, warnings

folder, artifact, code, uploaded, runtime = sys.argv[1:6]
stdlib = [p for p in sys.path if not p.endswith("site-packages") and p != folder]
sys.path[:0] = [code, folder]

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

lines = [*open(folder + "/requirements.txt"), *sys.argv[6:]]  # + the manifest's pins
pinned = [line.split("==")[0].strip() for line in lines
          if line.strip() and not line.startswith("#")]
allowed = closure(pinned)
modules = {m for m, dists in md.packages_distributions().items()
           if any(re.sub(r"[-_.]+", "-", d).lower() in allowed for d in dists)}
modules |= set(sys.stdlib_module_names) | set(json.loads(uploaded)) | set(sys.builtin_module_names)

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
                      "message": str(exc)[:2000]}))
    sys.exit(3)
"""


def uploaded_files(repo: Path | None = None) -> list[str]:
    """The files `gcloud functions deploy` uploads from `repo` (this one by default), as
    .gcloudignore says (gcloud reads it with gitignore's rules: a folder left out is not
    looked into)."""
    repo = repo or REPO
    ignore = repo / IGNORE_FILE
    lines = ignore.read_text().splitlines() if ignore.is_file() else []
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    files = []
    for folder, subfolders, names in os.walk(repo):
        relative = PurePosixPath(Path(folder).relative_to(repo).as_posix())
        subfolders[:] = [d for d in subfolders if not spec.match_file(f"{relative / d}/")]
        files += [str(relative / n) for n in names if not spec.match_file(str(relative / n))]
    return sorted(files)


def top_level_modules(files: list[str]) -> list[str]:
    """The modules the uploaded files make importable from the function's folder."""
    tops = {PurePosixPath(f).parts[0] for f in files if f.endswith(".py")}
    return sorted(top.removesuffix(".py") for top in tops)


def cloud_load_problem(
    artifact: bytes,
    code: Mapping[str, bytes] | None = None,
    *,
    runtime: str = "sklearn",
    extra: Sequence[str] = (),
) -> str | None:
    """None when a deployed function could load `artifact` with the user's `code` files
    (paths inside code/); else why not, in one line.

    `runtime` "onnx" loads it as model.onnx instead of unpickling it; `extra` lists the pins
    ("xgboost==3.2.0") the function installs besides requirements.txt (the manifest's).
    """
    uploaded = [f for f in uploaded_files() if PurePosixPath(f).parts[0] != MODEL_FOLDER]
    with tempfile.TemporaryDirectory() as folder:
        root, shipped = Path(folder) / "function", Path(folder) / "code"
        for name in uploaded:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
        for name, data in (code or {}).items():
            (shipped / name).parent.mkdir(parents=True, exist_ok=True)
            (shipped / name).write_bytes(data)
        shipped.mkdir(exist_ok=True)
        (root / "model.artifact").write_bytes(artifact)
        modules = json.dumps(top_level_modules(uploaded) + top_level_modules(list(code or {})))
        arguments = [str(root), str(root / "model.artifact"), str(shipped), modules, runtime]
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, *arguments, *extra],
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
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"a fresh Python could not load it: {one_line(last)}"
    return explain(found["type"], found["name"], found["message"])


def explain(kind: str, name: str | None, message: str) -> str:
    """Why an unpickling error happened, in terms of what the user can change."""
    if kind == "ModuleNotFoundError":
        return (
            f"it needs the module {name!r}, which the function would not have: ship your own "
            f"code with the model (--code {name}.py, or --code DIR for a package), or add "
            "its library to requirements.txt"
        )
    where = re.search(r"attribute '([^']+)' on <module '([^']+)'", message)
    if kind == "AttributeError" and where:
        attribute, module = where.groups()
        if module.endswith("__main__"):
            return (
                f"it refers to {attribute!r} defined in the training script (__main__), which "
                "the function does not have: define it in a module of your own, fit and save "
                "the model again, and ship that module with --code"
            )
        return f"it refers to {attribute!r} in {module}, which has no such name here"
    return f"a fresh Python could not load it: {kind}: {one_line(message)}"
