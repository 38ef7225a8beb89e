"""Every curl example in README.md runs against a real server serving the bundled model/.

A ```sh block's lines that start with `curl` (with `\\` continuations) are run with bash from
the repository root, with http://127.0.0.1:8080 pointed at the test server. Each must answer
2xx with a JSON body. When a ```json block follows the ```sh block directly, the block must
hold one command, and its answer must match: the same keys, equal values, floats equal once
rounded to the digits shown, and the string "..." standing for any value.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Server, start_server

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
README_URL = "http://127.0.0.1:8080"
ANY = "..."
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def curl_examples(text: str) -> list[tuple[str, Any]]:
    """(command, expected JSON or None) for every curl command in the README's sh blocks."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]
    examples: list[tuple[str, Any]] = []
    for index, (language, body, _, end) in enumerate(blocks):
        if language != "sh":
            continue
        commands = [c for c in join_continuations(body) if c.startswith("curl ")]
        if not commands:
            continue
        expected = None
        if index + 1 < len(blocks):
            next_language, next_body, next_start, _ = blocks[index + 1]
            if next_language == "json" and not text[end:next_start].strip():
                assert len(commands) == 1, f"a json answer follows several commands: {commands}"
                expected = json.loads(next_body)
        examples.extend(
            (command, expected if command is commands[-1] else None) for command in commands
        )
    return examples


def join_continuations(block: str) -> list[str]:
    """Shell lines with `\\` continuations joined; comments and blank lines dropped."""
    commands, current = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        stripped = current.strip()
        if stripped and not stripped.startswith("#"):
            commands.append(stripped)
        current = ""
    return commands


ALL_EXAMPLES = curl_examples(README.read_text())
EXAMPLES = [(command, expected) for command, expected in ALL_EXAMPLES if README_URL in command]
# The bring-your-own-model walkthrough serves its own model on this port: run by
# tests/test_bring_your_own.py against that model.
OWN_MODEL_URL = "http://127.0.0.1:8081"
# The deploy section's examples call the deployed function ("$URL"), not a local one.
DEPLOYED = [
    command
    for command, _ in ALL_EXAMPLES
    if README_URL not in command and OWN_MODEL_URL not in command
]


def matches(actual: Any, expected: Any, where: str = "answer") -> None:
    """Assert the answer matches the README's example (see the module docstring)."""
    if expected == ANY:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(expected), f"{where}: keys differ"
        for key, value in expected.items():
            matches(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), f"{where}: lengths differ"
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            matches(got, want, f"{where}[{i}]")
    elif isinstance(expected, float):
        digits = -int(Decimal(repr(expected)).as_tuple().exponent)
        assert round(actual, digits) == expected, f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
        assert type(actual) is type(expected), f"{where}: {actual!r} is not a {type(expected)}"


def test_readme_has_curl_examples() -> None:
    assert len(EXAMPLES) >= 4
    assert sum(expected is not None for _, expected in EXAMPLES) >= 2


def test_every_other_curl_example_calls_the_deployed_function() -> None:
    assert DEPLOYED, "the deploy section shows how to call the private function"
    for command in DEPLOYED:
        assert '"$URL' in command, command
        assert not re.findall(r"https?://", command), command


@pytest.fixture(scope="module")
def bundled_server() -> Iterator[Server]:
    """The bundled model/, served the way README.md's `make serve` does (MODEL_URI unset)."""
    running = start_server({})
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("command", "expected"), EXAMPLES, ids=[f"{i}-{c[:60]}" for i, (c, _) in enumerate(EXAMPLES)]
)
def test_curl_example(bundled_server: Server, command: str, expected: Any) -> None:
    assert README_URL in command
    runnable = command.replace(README_URL, bundled_server.url)
    hosts = set(re.findall(r"https?://[^/?\s'\"]+", runnable))
    assert hosts == {bundled_server.url}, "README examples may only call the local function"
    runnable = "curl -w '\\n%{http_code}' " + runnable.removeprefix("curl ")
    done = subprocess.run(
        ["bash", "-c", runnable], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    assert 200 <= int(status) < 300, done.stdout
    answer = json.loads(body)
    if expected is not None:
        matches(answer, expected)
