"""Shared measurement pieces for the benchmarks: servers to compare, cold start, memory."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# As main.py does: no onnxruntime usage telemetry from the benchmarks or the servers they start.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from tests.support.servers import Server, start_server  # noqa: E402


@contextlib.contextmanager
def trained_model(*options: str) -> Iterator[Path]:
    """train.py's model (its default, or as `options` ask), trained into a temp folder that
    lasts the block."""
    import train  # scikit-learn: only once a benchmark really starts

    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder) / "model"
        if train.main([*options, "--out", str(model_dir)]) != 0:
            raise SystemExit(f"train.py {' '.join(options)} could not train its model")
        yield model_dir


@dataclass(frozen=True)
class Variant:
    """One way of serving the same model: a handler source and its environment."""

    name: str
    source: Path
    env: Mapping[str, str]

    def body(self, rows: list[list[float]]) -> bytes:
        """A request body this variant accepts for these rows."""
        return json.dumps({"features": rows}).encode()


def variants(model_dir: Path, baseline: str = "main.py") -> list[Variant]:
    """The naive ten-line baseline (bench/baseline/`baseline`), this project on ONNX, and on
    scikit-learn."""
    return [
        Variant(
            "baseline",
            REPO / "bench" / "baseline" / baseline,
            {"BASELINE_MODEL": str(model_dir / "model.joblib")},
        ),
        Variant("onnx", REPO / "main.py", {"MODEL_URI": str(model_dir), "MODEL_RUNTIME": "onnx"}),
        Variant(
            "sklearn", REPO / "main.py", {"MODEL_URI": str(model_dir), "MODEL_RUNTIME": "sklearn"}
        ),
    ]


# No model: what functions-framework alone costs (a reference, not a competitor).
FRAMEWORK_FLOOR = Variant("framework floor", REPO / "bench" / "framework_floor.py", {})


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST JSON; returns (status, body) without raising on HTTP errors."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cold_start(
    variant: Variant,
    body: bytes,
    timeout: float = 120.0,
    preexec: Callable[[], None] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> float:
    """Seconds from spawning the server to its first prediction answered with 200."""
    started = time.perf_counter()
    server = start_server(
        {**variant.env, **(extra_env or {})}, source=variant.source, wait=False, preexec=preexec
    )
    try:
        port = int(server.url.rsplit(":", 1)[1])
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{variant.name} exited early:\n{server.logs()[-2000:]}")
            try:
                status, _ = post(f"http://127.0.0.1:{port}/", body, timeout=timeout)
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.005)
                continue
            if status == 200:
                return time.perf_counter() - started
            raise RuntimeError(f"{variant.name} answered {status}:\n{server.logs()[-2000:]}")
        raise TimeoutError(f"{variant.name}: no answer within {timeout} s")
    finally:
        server.stop()


def process_tree(pid: int) -> list[int]:
    """The pid and all its descendants."""
    found = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for child_pid in child.read_text().split():
            found.extend(process_tree(int(child_pid)))
    return found


def memory_mb(pid: int) -> tuple[float, float, float]:
    """(peak RSS, current RSS, PSS) in MB, summed over the process tree."""
    peak = rss = pss = 0.0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        peak += _kb(status, "VmHWM:")
        rss += _kb(status, "VmRSS:")
        pss += _kb(rollup, "Pss:")
    return peak / 1024, rss / 1024, pss / 1024


def _kb(text: str, key: str) -> float:
    for line in text.splitlines():
        if line.startswith(key):
            return float(line.split()[1])
    return 0.0


def launch(
    variant: Variant,
    extra_env: Mapping[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Server:
    """A warm server for latency measurements (waits for the port)."""
    env = {**variant.env, **(extra_env or {})}
    return start_server(env, source=variant.source, preexec=preexec)


# Servers on the last CPU, the client on the first, when there are two or more: the client's
# own work then never waits for the server's core, nor the server for the client's.
SERVER_CPU = max(os.sched_getaffinity(0))
CLIENT_CPU = min(os.sched_getaffinity(0))


def pinned(cpu: int = SERVER_CPU) -> Callable[[], None]:
    """A preexec function that keeps a server (and its worker processes) on one CPU, as
    `taskset -c CPU` does."""
    return lambda: os.sched_setaffinity(0, {cpu})


def pin_client() -> None:
    """Keep this process on CLIENT_CPU (a no-op on one CPU)."""
    if CLIENT_CPU != SERVER_CPU:
        os.sched_setaffinity(0, {CLIENT_CPU})


@dataclass(frozen=True)
class Call:
    """One request to send again and again: where, what, and the status it must get."""

    port: int
    path: str
    body: bytes | None
    headers: Mapping[str, str]
    method: str = "POST"


def timed(connection: http.client.HTTPConnection, call: Call) -> float:
    """Seconds for one request on a keep-alive connection; the answer must be a 200. A
    connection the server closed while idle (its keep-alive timeout) is opened again first."""
    for attempt in (1, 2):
        started = time.perf_counter()
        try:
            connection.request(call.method, call.path, body=call.body, headers=dict(call.headers))
            response = connection.getresponse()
            answer = response.read()
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            if attempt == 2:
                raise
    seconds = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(
            f"{call.method} {call.path} answered {response.status}: {answer[:300]!r}"
        )
    return seconds


def in_turns(calls: Mapping[str, Call], count: int) -> dict[str, list[float]]:
    """`count` timed requests of each call, one of each in turn over one keep-alive connection
    per call, so the machine's drift hits all alike. Each turn takes the calls in an order of
    its own (shuffled, the same in every run), so no call always follows the same one: a server
    still busy after its answer, on the CPU the servers share, then slows every other call
    alike, not the one after it."""
    connections = {
        name: http.client.HTTPConnection("127.0.0.1", call.port, timeout=60)
        for name, call in calls.items()
    }
    found: dict[str, list[float]] = {name: [] for name in calls}
    try:
        for turn in range(count):
            for name in random.Random(turn).sample(list(calls), len(calls)):
                found[name].append(timed(connections[name], calls[name]))
    finally:
        for connection in connections.values():
            connection.close()
    return found


def machine() -> str:
    """One line on the machine: CPU count and model, Python, and the load average now."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs, {model}, Python {sys.version.split()[0]}, load average {load}"


def sample_rows(model_dir: Path, count: int) -> list[list[float]]:
    """Realistic rows: the training dataset's rows, repeated to `count`."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    source = manifest["training_data"]["source"]
    if not source.startswith("sklearn.datasets."):
        raise SystemExit("benchmarks need a model trained on a built-in dataset")
    import importlib

    loader = getattr(importlib.import_module("sklearn.datasets"), source.rsplit(".", 1)[1])
    data = loader().data.tolist()
    return [data[i % len(data)] for i in range(count)]


def environ_without(*names: str) -> dict[str, str]:
    """os.environ minus some names."""
    return {k: v for k, v in os.environ.items() if k not in names}
