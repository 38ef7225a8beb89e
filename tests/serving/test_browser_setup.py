"""`make test` installs Chromium for the browser tests only where it can (as root, as CI runs);
anyone else gets one line saying how, and the browser tests skip themselves for that reason
(issue 26 item 10). The Makefile runs for real, with a stand-in apt-get on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import browser

REPO = Path(__file__).resolve().parents[2]


def make_browser(tmp_path: Path, user_id: int, present: bool) -> tuple[str, list[str]]:
    """`make -s browser` as that user, with Chromium there or not: (its output, the apt-get
    commands it ran)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "apt-get-calls"
    fake = bin_dir / "apt-get"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    fake.chmod(0o755)
    there = "/bin/sh" if present else str(tmp_path / "absent")
    done = subprocess.run(
        [
            "make",
            "-s",
            "browser",
            f"CHROMIUM={there}",
            f"CHROMEDRIVER={there}",
            f"USER_ID={user_id}",
        ],
        cwd=REPO,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ran = calls.read_text().splitlines() if calls.exists() else []
    return done.stdout, ran


def test_a_user_without_chromium_is_told_how_in_one_line(tmp_path: Path) -> None:
    output, ran = make_browser(tmp_path, user_id=1000, present=False)
    assert ran == []
    assert output.count("\n") == 1
    assert "sudo make browser" in output


def test_root_without_chromium_installs_it(tmp_path: Path) -> None:
    _, ran = make_browser(tmp_path, user_id=0, present=False)
    assert ran == ["update", "install -y chromium chromium-driver"]


@pytest.mark.parametrize("user_id", [0, 1000])
def test_with_chromium_there_nothing_is_said_or_installed(tmp_path: Path, user_id: int) -> None:
    assert make_browser(tmp_path, user_id, present=True) == ("", [])


def test_the_browser_tests_skip_saying_how_or_fail_as_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    reason = browser.missing_chromium(is_root=False)
    assert reason is not None
    assert "sudo make browser" in reason
    assert browser.missing_chromium(is_root=True) is not None
    monkeypatch.setattr(browser, "CHROMIUM", Path("/bin/sh"))
    monkeypatch.setattr(browser, "CHROMEDRIVER", Path("/bin/sh"))
    assert browser.missing_chromium(is_root=False) is None
