"""The structure docs/architecture.md describes, held to: which folder may import what, the short
walk every format takes to the runtime, and each body decoded once.

Imports are read from the source (ast), so a module imported only for type checking does not
count; the walks are taken from the stack the runtime sees, for a request of each format sent
in process through functions-framework and main.predict.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving import jsonio
from tests.support.fixture_types import MakeClient

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
SERVING = REPO / "serving"
ARCHITECTURE = REPO / "docs" / "architecture.md"
# serving/'s layers, lowest first: a module imports its own layer's and lower layers' modules.
LAYERS = {
    "base": (
        "errors",
        "cells",
        "schema",
        "batch",
        "jsonio",
        "logs",
        "exchange",
        "settings",
        "storage",
        "gcs",
        "manifest",
    ),
    "model": ("loading", "user_code", "slot", "runtimes", "explain"),
    "data plane": ("validate", "prediction", "prediction_log"),
    "protocols": ("protocols", "html_page", "card", "docs"),
    "endpoint": ("endpoint",),
    "HTTP glue": ("http", "body_deadline"),
}
# Third-party packages and the only serving/ modules that may import them.
ONLY_IN = {
    "flask": {"serving.http"},
    "werkzeug": {"serving.http"},
    "functions_framework": set(),
    "sklearn": {"serving.runtimes.sklearn_runtime"},
    "joblib": {"serving.runtimes.sklearn_runtime"},
    "pandas": {"serving.runtimes.sklearn_runtime"},
    "onnxruntime": {"serving.runtimes.onnx_runtime"},
    "google": {"serving.gcs"},
    "orjson": {"serving.jsonio"},
}
# The repo's other code: never deployed with the function, never imported by it.
NOT_DEPLOYED = ("training", "scoring", "monitoring", "deploying", "tests", "bench")
NOT_DEPLOYED_MODULES = ("main", "train", "score", "monitor")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def serving_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SERVING.rglob("*.py")):
        yield module_name(path), path


def imports(path: Path) -> set[str]:
    """The modules a file imports when it runs (not those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING"
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def layer_of(module: str) -> int | None:
    """The index of a serving/ module's layer (None for serving/__init__)."""
    if module == "serving":
        return None
    first = module.split(".")[1]
    for index, members in enumerate(LAYERS.values()):
        if first in members:
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS: add it (and to the docs)")


def test_every_serving_module_has_a_layer() -> None:
    for module, _ in serving_modules():
        layer_of(module)


def test_no_layer_imports_a_layer_above_it() -> None:
    names = list(LAYERS)
    upward = []
    for module, path in serving_modules():
        own = layer_of(module)
        for imported in imports(path):
            if not imported.startswith("serving.") or own is None:
                continue
            target = layer_of(imported)
            if target is not None and target > own:
                upward.append(f"{module} ({names[own]}) imports {imported} ({names[target]})")
    assert upward == [], "\n".join(upward)


def test_third_party_packages_stay_in_their_modules() -> None:
    misplaced = []
    for module, path in serving_modules():
        for imported in imports(path):
            top = imported.split(".")[0]
            if top in ONLY_IN and module not in ONLY_IN[top]:
                misplaced.append(f"{module} imports {imported}")
    assert misplaced == [], "\n".join(misplaced)


def test_serving_never_imports_the_code_that_is_not_deployed() -> None:
    for module, path in serving_modules():
        for imported in imports(path):
            top = imported.split(".")[0]
            assert top not in NOT_DEPLOYED + NOT_DEPLOYED_MODULES, f"{module} imports {imported}"


def test_main_builds_the_endpoint_and_hands_requests_to_the_http_glue() -> None:
    allowed = ("serving", "serving.http", "serving.endpoint", "serving.settings", "serving.logs")
    for name in imports(REPO / "main.py"):
        if name.startswith("serving"):
            assert name in allowed or name.rsplit(".", 1)[0] in allowed, name


def test_the_rules_checked_here_are_the_ones_the_page_states() -> None:
    page = ARCHITECTURE.read_text()
    for layer, members in LAYERS.items():
        assert f"**{layer}**" in page, layer
        for member in members:
            assert f"`{member}" in page, member
    for package in ONLY_IN:
        assert f"`{package}`" in page, package


# --- the walks ----------------------------------------------------------------------------------


def stack_modules(frames: list[inspect.FrameInfo]) -> list[str]:
    """The modules on the stack from main.predict down to the runtime, each once, in order."""
    names = [frame.frame.f_globals.get("__name__", "") for frame in reversed(frames)]
    start = max(i for i, name in enumerate(names) if name == "main")
    walk: list[str] = []
    for name in names[start:]:
        if not walk or walk[-1] != name:
            walk.append(name)
    return walk


ROW = [1.0] * 30
TENSOR = {"name": "input", "shape": [1, 30], "datatype": "FP64", "data": ROW}


def requests_in_every_format(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(format, path, client.post keyword arguments) for one row in each request format."""
    data = np.asarray([ROW], dtype="<f8").tobytes()
    tensor = {**TENSOR, "parameters": {"binary_data_size": len(data)}}
    del tensor["data"]
    header = json.dumps({"inputs": [tensor]}).encode()
    binary = {
        "data": header + data,
        "headers": {"Inference-Header-Content-Length": str(len(header))},
        "content_type": "application/octet-stream",
    }
    return [
        ("own JSON", "/", {"json": {"features": ROW}}),
        ("Vertex AI", "/", {"json": {"instances": [ROW]}}),
        ("CSV", "/", {"data": ",".join(map(str, ROW)), "content_type": "text/csv"}),
        ("KServe v1", f"/v1/models/{name}:predict", {"json": {"inputs": [ROW]}}),
        ("MLflow split", "/invocations", {"json": {"dataframe_split": {"data": [ROW]}}}),
        ("OIP JSON", f"/v2/models/{name}/infer", {"json": {"inputs": [TENSOR]}}),
        ("OIP binary", f"/v2/models/{name}/infer", binary),
        ("BigQuery", "/", {"json": {"calls": [ROW]}}),
    ]


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_every_format_reaches_the_runtime_through_at_most_six_modules(
    make_client: MakeClient,
    classifier_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    runtime: str,
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir), MODEL_RUNTIME=runtime)
    model = client.get("/").get_json()
    names = model["feature_names"]
    walks: dict[str, list[str]] = {}
    seen: list[list[str]] = []
    from serving.runtimes import onnx_runtime, sklearn_runtime

    served = onnx_runtime.OnnxRuntime if runtime == "onnx" else sklearn_runtime.SklearnRuntime
    original = served.run

    def recorded(self: Any, *args: Any) -> Any:
        """The runtime's `run`, recording the modules that called it (this one left out)."""
        seen.append([*stack_modules(inspect.stack()[1:]), served.__module__])
        return original(self, *args)

    monkeypatch.setattr(served, "run", recorded)
    records = {"json": {"dataframe_records": [dict(zip(names, ROW, strict=True))]}}
    every = [*requests_in_every_format(model["name"]), ("MLflow records", "/invocations", records)]
    for fmt, path, sent in every:
        answer = client.post(path, **sent)
        assert answer.status_code == 200, (fmt, answer.get_data()[:300])
        walks[fmt] = seen.pop()
    expected = ["main", "serving.http", "serving.endpoint", "serving.prediction", served.__module__]
    for fmt, walk in walks.items():
        assert walk == expected, fmt
        assert len(walk) <= 6
    documented = re.findall(r"^\d\. `([\w/.]+)`", ARCHITECTURE.read_text(), flags=re.MULTILINE)
    files = [m.replace(".", "/") + ".py" for m in expected[:-1]]
    assert documented[: len(files)] == files


def test_each_json_body_is_decoded_once(
    make_client: MakeClient, classifier_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    name = client.get("/").get_json()["name"]
    calls = []
    original = jsonio.decode

    def counted(body: bytes) -> Any:
        calls.append(len(body))
        return original(body)

    monkeypatch.setattr(jsonio, "decode", counted)
    for fmt, path, sent in requests_in_every_format(name):
        calls.clear()
        assert client.post(path, **sent).status_code == 200, fmt
        assert len(calls) == (0 if fmt == "CSV" else 1), fmt


# tests/ mirrors the code: a folder of tests has a folder of the same path in the repository.
TESTS = REPO / "tests"
HELPERS = TESTS / "support"


def test_every_tests_folder_mirrors_a_folder_of_the_code() -> None:
    folders = {path.parent for path in TESTS.rglob("test_*.py")}
    unmirrored = sorted(
        str(folder.relative_to(TESTS))
        for folder in folders
        if folder == TESTS or not (REPO / folder.relative_to(TESTS)).is_dir()
    )
    assert unmirrored == [], "test files outside a folder that mirrors the code"
    assert not list(HELPERS.glob("test_*.py")), "tests/support/ holds helpers, not tests"


def test_the_module_to_tests_map_names_existing_test_files() -> None:
    section = ARCHITECTURE.read_text().split("## Which tests cover each module\n", 1)[1]
    named = re.findall(r"`((?:[\w]+/)*test_\w+\.py)`", section.split("\n## ", 1)[0])
    assert named, "the map names no test file"
    missing = sorted({p for p in named if not (TESTS / p.removeprefix("tests/")).is_file()})
    assert missing == [], "the map names test files that are not under tests/"
