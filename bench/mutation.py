"""Mutation testing with mutmut: how many small changes to serving/ and the parity gate the
tests catch.

Never part of CI (it runs the in-process tests once per mutant). The run works in a copy of
the repository, so the checkout never sees mutmut's `mutants/` folder; what is mutated is
[tool.mutmut] in pyproject.toml, and the tests that run are those marked `in_process` (its
`-m in_process`; a test module joins with `pytestmark = pytest.mark.in_process`). The two
models the tests share are trained once here, before any mutation, and handed to every pytest
session (TEST_CLASSIFIER_DIR, TEST_REGRESSOR_DIR), so a mutant costs its tests, not a training
run.

    python -m bench.mutation                       # the whole run; a table per module
    python -m bench.mutation --time-box 1800       # stop after 30 minutes, report what ran
    python -m bench.mutation --recheck DIR         # after adding tests: copy tests/ into the
                                                   # run in DIR, re-run what was not caught
                                                   # (or not checked in the time box)
    python -m bench.mutation --recheck DIR --module serving.card   # only that module's
    python -m bench.mutation --resume DIR          # a run its time box stopped: only the
                                                   # mutants not checked yet, same tests

A mutant is killed when a test fails (or it times out); survived when every test mapped to
its function passes; "no tests" when no selected test calls that function. The kill rate
counts "no tests" as survivors and leaves unchecked mutants (a time box) out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LEFT_OUT = ("*.png", ".git", ".venv", "mutants", "__pycache__", ".*_cache")
# training/export.py's comparison: what "the parity gate" means here.
GATE = ("check_parity", "check_decision_parity", "parity_holds", "distance")
CAUGHT = ("killed", "timeout", "segfault", "caught by type check")
NOT_CAUGHT = ("survived", "no tests", "suspicious")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--workdir", type=Path, help="where to copy the repository (new folder)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--time-box", type=float, default=3600.0, help="seconds (default 3600)")
    parser.add_argument("--recheck", type=Path, help="the copy of an earlier run to re-check")
    parser.add_argument(
        "--module", action="append", help="with --recheck: only this module's mutants (repeat)"
    )
    parser.add_argument("--resume", type=Path, help="the copy of a run its time box stopped")
    args = parser.parse_args(argv)
    if args.recheck or args.resume:
        work = args.recheck or args.resume
        env = {**os.environ, **shared_models(work), "ORT_DISABLE_TELEMETRY": "1"}
        again = ("not checked",) if args.resume else (*NOT_CAUGHT, "not checked")
        before = results(work, env)
        names = sorted(
            name
            for name, status in before.items()
            if status in again and (not args.module or module_of(name) in args.module)
        )
        if args.recheck:
            shutil.copytree(REPO / "tests", work / "tests", dirs_exist_ok=True)
            shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")
    else:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="mutation-")) / "repo"
        if work.exists():
            parser.error(f"{work} exists; give a new folder")
        shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(*LEFT_OUT))
        train_shared_models(work)
        env = {**os.environ, **shared_models(work), "ORT_DISABLE_TELEMETRY": "1"}
        names, before = [], {}
    started = time.monotonic()
    finished = run_mutmut(work, env, args.max_children, args.time_box, names)
    seconds = time.monotonic() - started
    # A changed test selection makes mutmut forget earlier verdicts: a mutant the recheck did not
    # run keeps the one it had (more tests cannot revive a killed mutant).
    statuses = {
        name: before.get(name, status) if status == "not checked" else status
        for name, status in results(work, env).items()
    }
    report(statuses, seconds, finished, args.max_children)
    survivors = sorted(name for name, status in statuses.items() if status in NOT_CAUGHT)
    (work / "survivors.txt").write_text("".join(f"{name}\n" for name in survivors))
    print(f"survivors listed in {work / 'survivors.txt'}; `mutmut show NAME` there shows one")
    return 0


SHARED_MODELS = {"TEST_CLASSIFIER_DIR": (), "TEST_REGRESSOR_DIR": ("--dataset", "diabetes")}


def shared_models(work: Path) -> dict[str, str]:
    """Where the run's shared models are, beside its copy of the repository."""
    return {variable: str(work.parent / variable.lower()) for variable in SHARED_MODELS}


def train_shared_models(work: Path) -> None:
    """The classifier and regressor the tests share, trained once by the unmutated train.py."""
    for variable, options in SHARED_MODELS.items():
        command = [sys.executable, "train.py", *options, "--out", shared_models(work)[variable]]
        subprocess.run(command, cwd=work, check=True, stdout=subprocess.DEVNULL)


def run_mutmut(
    work: Path, env: dict[str, str], children: int, time_box: float, names: list[str]
) -> bool:
    """Run mutmut in the copy (only the named mutants, if any); False when the time box ended
    it first."""
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *names]
    with (work / "mutmut.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=time_box)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
            return False
    if process.returncode != 0:
        tail = (work / "mutmut.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"mutmut exited with {process.returncode}:\n{tail}")
    return True


def results(work: Path, env: dict[str, str]) -> dict[str, str]:
    """Every mutant's status, by name, from `mutmut results --all true`."""
    command = [sys.executable, "-m", "mutmut", "results", "--all", "true"]
    listing = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=True)
    statuses = {}
    for line in listing.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status
    return statuses


def module_of(mutant: str) -> str:
    """`serving.validate.x_check_rows__mutmut_3` -> `serving.validate`; training/export.py's
    mutants split into the parity gate's comparison and the rest (conversion, not the gate)."""
    module, _, rest = re.split(r"\.(x[_ǁ])", mutant, maxsplit=1)
    if module != "training.export":
        return module
    function = rest.rsplit("__mutmut_", 1)[0]
    return f"{module} {'gate' if function in GATE else '(not the gate)'}"


def kill_rate(counts: Counter[str]) -> float:
    caught = sum(counts[s] for s in CAUGHT)
    judged = caught + sum(counts[s] for s in NOT_CAUGHT)
    return 100.0 * caught / judged if judged else 0.0


def report(statuses: dict[str, str], seconds: float, finished: bool, children: int) -> None:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, status in statuses.items():
        by_module[module_of(name)][status] += 1
    columns = ("killed", "timeout", "survived", "no tests", "not checked")
    print(f"{'module':34} {'mutants':>7} " + " ".join(f"{c:>11}" for c in columns) + "   killed")
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for module in sorted(by_module):
        counts = by_module[module]
        totals[module.split(".")[0] if module.startswith("serving.") else module].update(counts)
        cells = " ".join(f"{counts[c]:>11}" for c in columns)
        print(f"{module:34} {counts.total():>7} {cells}   {kill_rate(counts):5.1f} %")
    for package, counts in sorted(totals.items()):
        print(f"{package + '/ in all':34} {counts.total():>7}   killed {kill_rate(counts):5.1f} %")
    machine = {
        "cpus": os.cpu_count(),
        "max_children": children,
        "python": platform.python_version(),
        "mutmut": version("mutmut"),
        "processor": platform.processor() or platform.machine(),
    }
    state = "finished" if finished else "stopped by the time box"
    print(f"{state} after {seconds / 60:.1f} min on {json.dumps(machine)}")


if __name__ == "__main__":
    sys.exit(main())
