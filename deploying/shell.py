"""Running commands, or only printing them with --dry-run, and deploy.sh's own lines.

A command is printed on one line, shell-quoted, ready to paste: a word stays plain when it
holds only letters, digits and `_./:=@%+,-`, else it goes in single quotes. A real run shows
each command on stderr after `+ ` and lets its output through; stdout is kept for what
deploy.sh reports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deploying.errors import CommandFailed

PROGRAM = "deploy.sh"
_PLAIN = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")


def quote(word: str) -> str:
    """One word for a shell: plain when safe, else in single quotes."""
    if _PLAIN.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def command_line(command: Sequence[str]) -> str:
    return " ".join(quote(word) for word in command)


def say(text: str) -> None:
    """Write to stdout now: a command's own output may follow on the same stream."""
    sys.stdout.write(text)
    sys.stdout.flush()


def tell(text: str) -> None:
    """Write to stderr now."""
    sys.stderr.write(text)
    sys.stderr.flush()


def warn(message: str) -> None:
    tell(f"{PROGRAM}: warning: {message}\n")


@dataclass(frozen=True)
class Shell:
    """Runs commands in the caller's environment, or with `dry_run` prints them on stdout."""

    dry_run: bool
    env: Mapping[str, str]

    def has(self, tool: str) -> bool:
        """Whether the tool is on PATH."""
        return shutil.which(tool, path=self.env.get("PATH")) is not None

    def show(self, command: Sequence[str]) -> None:
        """Print a command on stdout, for a dry run's reader."""
        say(command_line(command) + "\n")

    def trace(self, command: Sequence[str]) -> None:
        tell(f"+ {command_line(command)}\n")

    def run(self, command: Sequence[str], *, output_to_stderr: bool = False) -> None:
        """Run a command (its output on stdout, or on stderr), or print it in a dry run."""
        if self.dry_run:
            self.show(command)
            return
        self.trace(command)
        target = sys.stderr if output_to_stderr else None
        try:
            done = subprocess.run(list(command), env=dict(self.env), stdout=target, check=False)
        except OSError as exc:
            tell(f"{PROGRAM}: {command[0]}: {exc.strerror}\n")
            raise CommandFailed(127) from exc
        if done.returncode != 0:
            raise CommandFailed(done.returncode)

    def capture(self, command: Sequence[str]) -> str:
        """A command's stdout, trailing newlines dropped; its failure stops the deploy."""
        try:
            done = subprocess.run(
                list(command), env=dict(self.env), stdout=subprocess.PIPE, text=True, check=False
            )
        except OSError as exc:
            tell(f"{PROGRAM}: {command[0]}: {exc.strerror}\n")
            raise CommandFailed(127) from exc
        if done.returncode != 0:
            raise CommandFailed(done.returncode)
        return done.stdout.rstrip("\n")

    def read(self, command: Sequence[str]) -> bytes | None:
        """A command's stdout as bytes (a file it prints); None when it fails (it says why)."""
        try:
            done = subprocess.run(
                list(command), env=dict(self.env), stdout=subprocess.PIPE, check=False
            )
        except OSError:
            return None
        return done.stdout if done.returncode == 0 else None

    def output(self, command: Sequence[str], *, quiet: bool = False) -> str | None:
        """A command's stdout, trailing newlines dropped; None when it fails. With `quiet`
        its stderr is dropped too."""
        errors = subprocess.DEVNULL if quiet else None
        try:
            found = subprocess.run(
                list(command),
                env=dict(self.env),
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                check=False,
            )
        except OSError:
            return None
        return found.stdout.rstrip("\n") if found.returncode == 0 else None
