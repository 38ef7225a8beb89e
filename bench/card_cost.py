"""What the browser pages (model card, /docs) cost the JSON paths: nothing, measured.

    cd bench && ../.venv/bin/python card_cost.py --baseline 04821e9 --starts 9 --requests 2000
    cd bench && ../.venv/bin/python card_cost.py --baseline a02c3c1 --any-baseline  # any commits

The baseline is the repo at a commit before the pages, "pages" the repo at a commit with them
(HEAD), each unpacked with `git archive` into a temporary folder. Both serve the bundled model
on the ONNX runtime through a real functions-framework server. Cold start (spawn to first
prediction) alternates the two, and which one goes first; then each warm server answers GET /
(JSON metadata, no Accept) and POST / (one row), the requests going to the two servers in
turn, one each, so the machine's load drift hits both alike. Medians, with the ratio pages /
baseline from this same run; the card's own GET / (as a browser asks) is printed for reference.
Both servers run on one CPU (the last) and this client on another (the first), unless --no-pin.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import statistics
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import REPO, Call, Variant, cold_start, in_turns, launch, machine, pin_client, pinned

ROW = {"instances": [[0.0] * 30]}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"


def tree(revision: str, folder: Path) -> Path:
    """The repo at `revision`, unpacked into `folder` (both trees alike: same disk, no
    bytecode cache at first); its main.py."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "main.py"


def alternating(
    ports: dict[str, int], method: str, body: bytes | None, headers: dict[str, str], n: int
) -> dict[str, list[float]]:
    """n requests to each server, one to each in turn, so the machine's drift hits both alike."""
    return in_turns(
        {name: Call(port, "/", body, headers, method) for name, port in ports.items()}, n
    )


def check_variant(name: str, port: int) -> None:
    """Each server runs its own tree: only the pages' one has /docs."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/docs")
    status = connection.getresponse().status
    connection.close()
    if status != (200 if name == "pages" else 404):
        raise RuntimeError(f"{name} answered GET /docs with {status}: not the tree it should be")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a commit before the browser pages")
    parser.add_argument(
        "--pages",
        default="HEAD",
        help="a commit with the pages (HEAD); the baseline again for an A/A control",
    )
    parser.add_argument(
        "--any-baseline",
        action="store_true",
        help="the baseline may have the pages too: a before/after of any two commits",
    )
    parser.add_argument("--starts", type=int, default=9)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the processes")
    args = parser.parse_args()
    preexec: Callable[[], None] | None = None
    if not args.no_pin:
        pin_client()
        preexec = pinned()
    print(f"machine: {machine()}")
    env = {"MODEL_RUNTIME": "onnx"}
    post_body = json.dumps(ROW).encode()
    with tempfile.TemporaryDirectory(prefix="card-cost-") as folder:
        variants = [
            Variant(name, tree(revision, Path(folder) / name), env)
            for name, revision in (("baseline", args.baseline), ("pages", args.pages))
        ]
        starts: dict[str, list[float]] = {v.name: [] for v in variants}
        for turn in range(args.starts):
            # Which goes first alternates, so neither always starts right after the other stops.
            for variant in variants if turn % 2 == 0 else variants[::-1]:
                starts[variant.name].append(cold_start(variant, post_body, preexec=preexec))
        warm: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
        servers = {v.name: launch(v, preexec=preexec) for v in variants}
        try:
            ports = {name: int(s.url.rsplit(":", 1)[1]) for name, s in servers.items()}
            for name, port in ports.items():
                if args.baseline != args.pages and not args.any_baseline:
                    check_variant(name, port)
            alternating(ports, "GET", None, {}, 200)
            json_type = {"Content-Type": "application/json"}
            for label, method, body, headers in (
                ("GET / (JSON)", "GET", None, {}),
                ("POST / (1 row)", "POST", post_body, json_type),
            ):
                for name, series in alternating(
                    ports, method, body, headers, args.requests
                ).items():
                    warm[name][label] = series
            card = alternating(
                {"pages": ports["pages"]}, "GET", None, {"Accept": BROWSER_ACCEPT}, 200
            )["pages"]
        finally:
            for server in servers.values():
                server.stop()
    base, pages = statistics.median(starts["baseline"]), statistics.median(starts["pages"])
    spread = {k: f"{min(v):.3f}-{max(v):.3f}" for k, v in starts.items()}
    print(
        f"cold start, median of {args.starts}: baseline {base:.3f} s ({spread['baseline']}), "
        f"pages {pages:.3f} s ({spread['pages']}), ratio {pages / base:.3f}"
    )
    for label in warm["baseline"]:
        b = statistics.median(warm["baseline"][label]) * 1000
        p = statistics.median(warm["pages"][label]) * 1000
        print(
            f"{label} p50 of {args.requests}: baseline {b:.3f} ms, pages {p:.3f} ms,"
            f" ratio {p / b:.3f}"
        )
    print(f"GET / as a browser (the card) p50 of 200: {statistics.median(card) * 1000:.3f} ms")
    print(f"after: {machine()}")


if __name__ == "__main__":
    main()
