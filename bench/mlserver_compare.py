"""MLServer 1.7 and this function side by side on the same model: 1,000 rows and one row.

    cd bench && ../.venv/bin/python mlserver_compare.py                 # ~2 minutes
    cd bench && ../.venv/bin/python mlserver_compare.py --baseline 855bfb8   # and a commit's tree
    cd bench && ../.venv/bin/python mlserver_compare.py --quick         # a smoke run

MLServer runs in its own venv (.venv-clients/mlserver, gitignored, created once: MLServer 1.7.1,
mlserver-sklearn 1.7.1, uvloop 0.21.0, and this project's scikit-learn, joblib, scipy and numpy
pins, so it unpickles the same model.joblib), with inference in its main process
(`"parallel_workers": 0`) and no metrics server (`"metrics_endpoint": null`). It serves the
bundled model's model.joblib; the function serves the bundled model folder on ONNX (and, with
--baseline, the function at that commit too, unpacked with `git archive`). Each server is
pinned to one CPU (the last), the client to another (the first).

Requests, over one keep-alive connection per server, one to each server in turn (in an order
shuffled each turn: MLServer stays busy after its answer, on the CPU the servers share, and
would otherwise slow whichever request always came next), in rounds:
- MLServer's own: `POST /v2/models/{name}/infer`, one FP64 input of shape [n, 30], data flat.
- the function's rows request: `POST /` with `{"instances": rows}`.
- the function's OIP JSON request: MLServer's very body, sent to the function.
All must answer the same labels. Medians, and each one's ratio to MLServer's in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from card_cost import tree
from common import (
    REPO,
    Call,
    Variant,
    in_turns,
    launch,
    machine,
    pin_client,
    pinned,
    sample_rows,
)

from tests.support.servers import free_port, stop_process

MLSERVER = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0"]
# The model's own libraries, pinned as the function pins them, so the same file unpickles.
SHARED_PINS = ("scikit-learn", "joblib", "scipy", "numpy")
VENV = REPO / ".venv-clients" / "mlserver"
BUNDLED = REPO / "model"


def pins() -> list[str]:
    """MLServer's packages, and requirements.txt's pins of the model's libraries."""
    lines = (REPO / "requirements.txt").read_text().splitlines()
    shared = [line for line in lines if line.split("==")[0] in SHARED_PINS]
    return [*MLSERVER, *shared]


def mlserver_venv() -> Path:
    """The `mlserver` command of the venv, created and installed once (a minute or two)."""
    stamp = VENV / "installed"
    wanted = "\n".join(pins())
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *pins()],
            check=True,
            timeout=1800,
        )
        stamp.write_text(wanted)
    return VENV / "bin" / "mlserver"


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


@contextmanager
def mlserver(model_file: Path, name: str, folder: Path) -> Iterator[int]:
    """MLServer serving `model_file` as `name` on a free port (pinned); yields the port."""
    port = free_port()
    (folder / name).mkdir(parents=True)
    (folder / name / "model.joblib").write_bytes(model_file.read_bytes())
    (folder / name / "model-settings.json").write_text(
        json.dumps(
            {
                "name": name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "v1"},
            }
        )
    )
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "parallel_workers": 0,
                "metrics_endpoint": None,
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": free_port(),
                "debug": False,
            }
        )
    )
    log = (folder / "mlserver.log").open("wb")
    process = subprocess.Popen(
        [str(mlserver_venv()), "start", str(folder)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "XDG_RUNTIME_DIR": str(folder)},
        preexec_fn=pinned(),
    )
    try:
        deadline = time.monotonic() + 120
        while not ready(f"http://127.0.0.1:{port}/v2/models/{name}/ready"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "mlserver.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"MLServer did not become ready:\n{tail}")
            time.sleep(0.1)
        yield port
    finally:
        stop_process(process)
        log.close()


def oip_body(rows: list[list[float]]) -> bytes:
    """MLServer's idiom: one FP64 input of shape [n, width], its data flat."""
    flat = [value for row in rows for value in row]
    tensor = {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64"}
    return json.dumps({"inputs": [tensor | {"data": flat}]}).encode()


def labels(port: int, call: Call) -> list[int]:
    """The labels a server answers to `call`, in either idiom."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{call.path}", data=call.body, headers=dict(call.headers)
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        document = json.load(answer)
    if "predictions" in document:
        return [int(label) for label in document["predictions"]]
    return [int(label) for label in document["outputs"][0]["data"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="also serve the function at this commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="per round, 1,000 rows")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests = 1, 5
    pin_client()
    print(f"machine: {machine()}")
    manifest = json.loads((BUNDLED / "manifest.json").read_text())
    name = manifest["name"]
    rows = sample_rows(BUNDLED, 1000)
    json_type = {"Content-Type": "application/json"}
    figures: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlserver-")))
        functions = {"function": REPO / "main.py"}
        if args.baseline:
            functions[f"function at {args.baseline}"] = tree(args.baseline, folder / "baseline")
        ports = {"MLServer": stack.enter_context(mlserver(BUNDLED / "model.joblib", name, folder))}
        for label, source in functions.items():
            server = launch(Variant(label, source, {"MODEL_RUNTIME": "onnx"}), preexec=pinned())
            stack.callback(server.stop)
            ports[label] = int(server.url.rsplit(":", 1)[1])
        for count in (1000, 1):
            oip = oip_body(rows[:count])
            calls = {
                "MLServer": Call(ports["MLServer"], f"/v2/models/{name}/infer", oip, json_type)
            }
            for label in functions:
                instances = json.dumps({"instances": rows[:count]}).encode()
                calls[f"{label}, rows"] = Call(ports[label], "/", instances, json_type)
                calls[f"{label}, OIP JSON"] = Call(
                    ports[label], calls["MLServer"].path, oip, json_type
                )
            answers = {label: labels(call.port, call) for label, call in calls.items()}
            if len({json.dumps(answer) for answer in answers.values()}) != 1:
                raise SystemExit(f"the servers disagree on {count} rows")
            per_round = args.requests if count > 1 else args.requests * 10
            in_turns(calls, max(per_round // 10, 2))  # warm-up
            timings: dict[str, list[float]] = {label: [] for label in calls}
            for _ in range(args.rounds):
                for label, found in in_turns(calls, per_round).items():
                    timings[label] += found
            base = statistics.median(timings["MLServer"])
            figures[f"{count} rows"] = {
                label: statistics.median(found) * 1000 for label, found in timings.items()
            }
            print(f"{count:,} row{'s' if count > 1 else ''}, median of {len(timings['MLServer'])}:")
            for label, found in timings.items():
                median = statistics.median(found)
                print(f"  {label:<40} {median * 1000:8.3f} ms  x{median / base:.3f}")
    print(f"after: {machine()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
