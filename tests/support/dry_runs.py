"""deploy.sh's answers for every case of tests/support/dry_run_cases.py, kept as golden files.

Each case runs deploy.sh (or the CLI in-process) in a scratch folder: a serving source like
the `serving_source` fixture's, and a home folder standing in for the repo (deploy.sh, serving/
and deploying/ linked in; its own small model). Paths in the answers become placeholders, so
tests/deploying/golden/dry_runs.json holds no machine path and compares byte for byte.

    python -m tests.support.dry_runs           # run ./deploy.sh for every case, show diffs
    python -m tests.support.dry_runs --write   # rewrite the golden file from ./deploy.sh
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.deploy_helpers import NEVER_UPLOADED, REPO, SERVING_FILES, write_tree
from tests.support.dry_run_cases import CASES, MANIFESTS, Case
from tests.support.servers import offline_gcloud_env

GOLDEN = Path(__file__).resolve().parents[1] / "deploying" / "golden" / "dry_runs.json"
# What the home folder links from the repo: the program and the code it imports.
LINKED = ("deploy.sh", "deploying", "serving")


@dataclass
class Scratch:
    """The folders one case runs in, and how to turn its paths into placeholders and back."""

    root: Path

    @property
    def places(self) -> dict[str, str]:
        """Placeholder -> path, the longest path first (they nest)."""
        return {
            "{SOURCE}": str(self.root / "serving repo"),
            "{HOME}": str(self.root / "home"),
            "{TMP}": str(self.root),
        }

    def fill(self, text: str) -> str:
        for placeholder, path in self.places.items():
            text = text.replace(placeholder, path)
        return text

    def blank(self, text: str) -> str:
        for placeholder, path in self.places.items():
            text = text.replace(path, placeholder)
        return text


def _python_shim(bin_dir: Path) -> None:
    """A `python3` on PATH that is this interpreter (deploy.sh's own calls need one)."""
    shim = bin_dir / "python3"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)


def _tools_dir(root: Path, with_gcloud: bool) -> str:
    """PATH for the case: python3, and every tool of this PATH, gcloud and bq only if asked."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    _python_shim(bin_dir)
    if with_gcloud:
        return f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    for tool in ("bash", "sha256sum", "env", "sh"):
        found = shutil.which(tool)
        if found is not None:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@contextmanager
def scratch_for(case: Case) -> Iterator[tuple[Scratch, dict[str, str]]]:
    """The case's folders and environment, set up; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="deploy-golden-") as name:
        scratch = Scratch(Path(name))
        source = scratch.root / "serving repo"
        write_tree(source, SERVING_FILES)
        write_tree(source, {relative: "junk\n" for relative in NEVER_UPLOADED})
        shutil.copy(REPO / ".gcloudignore", source / ".gcloudignore")
        home = scratch.root / "home"
        home.mkdir()
        for linked in LINKED:
            (home / linked).symlink_to(REPO / linked)
        write_tree(
            home,
            {relative: SERVING_FILES[relative] for relative in ("main.py", "requirements.txt")},
        )
        shutil.copy(REPO / ".gcloudignore", home / ".gcloudignore")
        for filename, manifest in MANIFESTS.items():
            (scratch.root / filename).write_text(json.dumps(manifest, indent=2) + "\n")
        write_tree(home, {"model/manifest.json": (scratch.root / "numeric.json").read_text()})
        for relative in case.remove:
            (source / relative).unlink()
        for path, text in case.files.items():
            content = (scratch.root / text[1:]).read_text() if text.startswith("@") else text
            write_tree(Path(scratch.fill(path)).parent, {Path(scratch.fill(path)).name: content})
        user_home = scratch.root / "user"
        user_home.mkdir()
        env = {
            "PATH": _tools_dir(scratch.root, case.gcloud),
            "HOME": str(user_home),
            "LANG": "C.UTF-8",
            **offline_gcloud_env(scratch.root / "gcloud-config"),
            **{key: scratch.fill(value) for key, value in case.env.items()},
        }
        if case.gcloud_project is not None:
            subprocess.run(
                ["gcloud", "config", "set", "project", case.gcloud_project],
                env=env,
                capture_output=True,
                timeout=60,
                check=True,
            )
        yield scratch, env


Answer = dict[str, object]
Runner = Callable[[list[str], dict[str, str], Scratch], tuple[int, str, str]]


def run_script(args: list[str], env: dict[str, str], scratch: Scratch) -> tuple[int, str, str]:
    """deploy.sh itself, as a user runs it (from the scratch folder)."""
    result = subprocess.run(
        [str(scratch.root / "home" / "deploy.sh"), *args],
        env=env,
        cwd=scratch.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def answer(case: Case, runner: Runner = run_script) -> Answer:
    """What deploy.sh answered the case: exit status, stdout and stderr, paths as placeholders."""
    with scratch_for(case) as (scratch, env):
        status, out, err = runner([scratch.fill(arg) for arg in case.args], env, scratch)
        return {"status": status, "stdout": scratch.blank(out), "stderr": scratch.blank(err)}


def load_golden() -> dict[str, Answer]:
    answers: dict[str, Answer] = json.loads(GOLDEN.read_text())
    return answers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the golden file")
    parser.add_argument("cases", nargs="*", help="case ids (default: all)")
    options = parser.parse_args(argv)
    chosen = [case for case in CASES if not options.cases or case.id in options.cases]
    answers = {case.id: answer(case) for case in chosen}
    if options.write:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {len(answers)} answers to {GOLDEN.relative_to(REPO)}")
        return 0
    golden = load_golden()
    differing = 0
    for case_id, got in answers.items():
        expected = golden.get(case_id)
        if got != expected:
            differing += 1
            before = json.dumps(expected, indent=1, ensure_ascii=False).splitlines()
            after = json.dumps(got, indent=1, ensure_ascii=False).splitlines()
            print("\n".join(difflib.unified_diff(before, after, case_id, case_id, lineterm="")))
    print(f"{len(answers) - differing} of {len(answers)} cases answer as the golden file says")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
