"""How a deploy stops: a refusal with one line saying why, or a command that failed.

DeployError      "deploy.sh: error: <message>" on stderr, exit status 1
CommandFailed    a gcloud, bq or curl command failed (it said why): its exit status
"""

from __future__ import annotations


class DeployError(Exception):
    """A value, a file or an answer that stops the deploy; the message says what to do."""


class CommandFailed(Exception):
    """A command deploy.sh ran failed; deploy.sh stops with the command's own exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"exit status {status}")
        self.status = status
