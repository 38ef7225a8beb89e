"""Run a benchmark's seconds-long `--quick` mode as a subprocess, for the smoke tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_quick(script: str, tmp_path: Path, *options: str) -> tuple[dict[str, Any], str]:
    """The figures the script wrote with --json (tmp_path/figures.json), and what it printed;
    `options` are passed after --quick."""
    figures_path = tmp_path / "figures.json"
    output = subprocess.run(
        [sys.executable, script, "--quick", *options, "--json", str(figures_path)],
        cwd=BENCH,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    return json.loads(figures_path.read_text()), output
