"""monitor.py's peak memory and speed on a large log file, as JSON lines and as gcloud's array.

    python bench/monitor_memory.py              # 1 GB of each, the run in BENCHMARKS.md
    python bench/monitor_memory.py --quick      # a few MB of each (CI smoke run)

The penguin demo's model and log entries (monitoring/demo.py: held-out rows and the same rows
shifted) are repeated, each with its own request id, into a temporary folder until the file
reaches the size asked for; the same entries are also written as `gcloud logging read
--format=json` prints them (one JSON array of LogEntry objects). monitor.py reads each in a
fresh process; its peak RSS comes from the kernel's accounting of that process (wait4). This
script stays lean (the demo is written by a subprocess): a child's peak RSS counts the parent's
pages it was forked with.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def entries(folder: Path) -> Iterator[dict[str, Any]]:
    """The demo's log entries, repeated without end, each with a request id of its own."""
    lines = [
        json.loads(line)
        for name in ("held_out.jsonl", "shifted.jsonl")
        for line in (folder / name).read_text().splitlines()
    ]
    count = 0
    while True:
        for entry in lines:
            entry["prediction_log"]["request_id"] = f"req-{count}"
            count += 1
            yield entry


def write_logs(folder: Path, size: int) -> tuple[Path, Path, int]:
    """The same entries as JSON lines and as a gcloud array, each at least `size` bytes."""
    lines, array = folder / "logs.jsonl", folder / "gcloud.json"
    written = count = 0
    with lines.open("w") as plain, array.open("w") as gcloud:
        gcloud.write("[\n")
        for entry in entries(folder):
            line = json.dumps(entry)
            plain.write(line + "\n")
            labels = entry.pop("logging.googleapis.com/labels")
            record = {"jsonPayload": entry, "labels": labels, "severity": "INFO"}
            gcloud.write(("  " if count == 0 else ",\n  ") + json.dumps(record))
            entry["logging.googleapis.com/labels"] = labels
            written += len(line) + 1
            count += 1
            if written >= size:
                break
        gcloud.write("\n]\n")
    return lines, array, count


def measure(monitor: Path, logs: Path, model: Path) -> dict[str, Any]:
    """Seconds, peak RSS and exit status of one monitor.py run on `logs`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(monitor), "--logs", str(logs), "--model", str(model)],
        cwd=monitor.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    stdout = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    size = logs.stat().st_size
    return {
        "input_mb": round(size / 1e6, 1),
        "seconds": round(seconds, 1),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "exit_status": process.returncode,
        "first_line": stdout.decode().splitlines()[0] if stdout else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few MB: a smoke run")
    parser.add_argument("--gb", type=float, default=1.0, help="size of each log file")
    parser.add_argument("--monitor", type=Path, default=REPO / "monitor.py", help="to compare")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    size = int((0.005 if args.quick else args.gb) * 1e9)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        subprocess.run([sys.executable, "-m", "monitoring.demo", scratch], cwd=REPO, check=True)
        lines, array, count = write_logs(folder, size)
        figures = {
            "entries": count,
            "json_lines": measure(args.monitor, lines, folder / "model"),
            "gcloud_array": measure(args.monitor, array, folder / "model"),
        }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
