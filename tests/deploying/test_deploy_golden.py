"""deploy.sh answers every option combination the deploy tests use (and its word rules) byte
for byte as tests/deploying/golden/dry_runs.json records: the Bash script's answers, kept through
its rewrite in Python. Run in-process; `python -m tests.support.dry_runs` runs
./deploy.sh.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil

import pytest

from deploying.cli import main
from tests.support.deploy_helpers import DEPLOY_SH
from tests.support.dry_run_cases import CASES, Case
from tests.support.dry_runs import Scratch, answer, load_golden

GOLDEN = load_golden()
RUNTIMES = re.search(r"^SUPPORTED_RUNTIMES=\(([^)]*)\)", DEPLOY_SH.read_text(), re.M)
assert RUNTIMES is not None


def in_process(args: list[str], env: dict[str, str], scratch: Scratch) -> tuple[int, str, str]:
    """deploying.cli.main as deploy.sh calls it, from the scratch folder."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(scratch.root),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        status = main(args, env, RUNTIMES.group(1).split(), str(scratch.root / "home"))
    return status, out.getvalue(), err.getvalue()


def test_every_case_has_a_golden_answer() -> None:
    assert [case.id for case in CASES] == list(GOLDEN)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_answers_as_the_golden_file_says(case: Case) -> None:
    if case.gcloud and shutil.which("gcloud") is None:
        pytest.skip("the case runs with the gcloud CLI (google-cloud-cli), not installed here")

    assert answer(case, in_process) == GOLDEN[case.id]
