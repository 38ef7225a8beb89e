"""The documentation (README.md and docs/*.md) is true: its curl examples, links and layout.

A ```sh block's lines that start with `curl` (with `\\` continuations) are run with bash from
the repository root, with http://127.0.0.1:8080 pointed at a real server of the bundled model/.
Each must answer 2xx with a JSON body. When a ```json block follows the ```sh block directly,
the block must hold one command, and its answer must match: the same keys, equal values, floats
equal once rounded to the digits shown, and the string "..." standing for any value.

Every relative link points to a file that exists, and its #anchor to a heading there. The
README's "Repository layout" names every top-level entry and every serving/ module, nothing
that is absent, and describes each module by the first sentence of its docstring.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import Server

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
README_URL = "http://127.0.0.1:8080"
ANY = "..."
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def curl_examples(text: str) -> list[tuple[str, Any]]:
    """(command, expected JSON or None) for every curl command in a page's sh blocks."""
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


ALL_EXAMPLES = [
    (page.relative_to(REPO).as_posix(), command, expected)
    for page in PAGES
    for command, expected in curl_examples(page.read_text())
]
EXAMPLES = [example for example in ALL_EXAMPLES if README_URL in example[1]]
# The bring-your-own-model walkthrough (docs/models.md) serves its own model on this port: run
# by tests/training/test_bring_your_own.py against that model.
OWN_MODEL_URL = "http://127.0.0.1:8081"
# The deploying page's examples call the deployed function ("$URL"), not a local one.
DEPLOYED = [
    command
    for _, command, _ in ALL_EXAMPLES
    if README_URL not in command and OWN_MODEL_URL not in command
]


def matches(actual: Any, expected: Any, where: str = "answer") -> None:
    """Assert the answer matches the page's example (see the module docstring)."""
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


def test_readme_and_docs_have_curl_examples() -> None:
    in_readme = [example for example in EXAMPLES if example[0] == "README.md"]
    assert any(expected is not None for _, _, expected in in_readme), "README shows one answer"
    assert len(EXAMPLES) >= 10
    assert sum(expected is not None for _, _, expected in EXAMPLES) >= 4


def test_every_other_curl_example_calls_the_deployed_function() -> None:
    assert DEPLOYED, "the deploy section shows how to call the private function"
    for command in DEPLOYED:
        assert '"$URL' in command, command
        assert not re.findall(r"https?://", command), command


@pytest.mark.parametrize(
    ("page", "command", "expected"),
    EXAMPLES,
    ids=[f"{i}-{page}-{c[:50]}" for i, (page, c, _) in enumerate(EXAMPLES)],
)
def test_curl_example(bundled_server: Server, page: str, command: str, expected: Any) -> None:
    assert README_URL in command
    runnable = command.replace(README_URL, bundled_server.url)
    hosts = set(re.findall(r"https?://[^/?\s'\"]+", runnable))
    assert hosts == {bundled_server.url}, "the docs' examples may only call the local function"
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


# ------------------------------------------------------------------------------------------
# Links
# ------------------------------------------------------------------------------------------

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The page without its fenced code blocks."""
    return FENCE.sub("", text)


def anchors(page: Path) -> set[str]:
    """The #anchors GitHub gives the page's headings (lower case, punctuation dropped)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#+ (.+)$", prose(page.read_text()), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    """Every link target in the page's prose that is not a URL with a scheme."""
    targets = LINK.findall(INLINE_CODE.sub("", prose(page.read_text())))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_relative_links_reach_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.is_relative_to(REPO) or not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(REPO)}: {broken}"


def test_links_find_what_is_broken(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A title\n\n## Why `this`?\n\n```sh\n# not a heading\n```\n")
    assert anchors(page) == {"a-title", "why-this"}
    page.write_text("[a](b.md#c) `[d](e.md)` ![f](g.png) [h](https://x.example/i) [j](#k)\n")
    assert relative_links(page) == ["b.md#c", "g.png", "#k"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {target.partition("#")[0] for target in relative_links(README)}
    pages = {page.relative_to(REPO).as_posix() for page in PAGES if page != README}
    assert pages <= linked, f"README.md does not link {sorted(pages - linked)}"


# ------------------------------------------------------------------------------------------
# Repository layout
# ------------------------------------------------------------------------------------------


def layout_rows() -> dict[str, str]:
    """The README's layout tables: each path in a row's first cell -> the row's description."""
    section = README.read_text().split("## Repository layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for first, description in re.findall(r"^\| (.+?) \| (.+) \|$", section, flags=re.MULTILINE):
        for path in re.findall(r"`([^`]+)`", first):
            rows[path] = description
    return rows


def top_level_entries() -> set[str]:
    """The repository's top-level files and folders that git tracks (a local scratch folder is not
    part of the layout)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    entries = set()
    for name in listed:
        first, slash, _ = name.partition("/")
        if (REPO / first).exists():
            entries.add(first + slash)
    return entries


def serving_modules() -> set[str]:
    """Every module of serving/ (a package by its folder) and every folder inside it."""
    found = set()
    for path in (REPO / "serving").rglob("*"):
        relative = path.relative_to(REPO).as_posix()
        if "__pycache__" in path.parts or path == REPO / "serving" / "__init__.py":
            continue
        if path.is_dir():
            found.add(relative + "/")
        elif path.suffix == ".py" and path.name != "__init__.py":
            found.add(relative)
    return found


def first_sentence(module: Path) -> str:
    """The first sentence of a module's docstring, its lines joined."""
    docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
    paragraph = " ".join(docstring.split("\n\n")[0].split())
    end = re.search(r"\.(\s|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def test_layout_lists_every_top_level_entry_and_nothing_absent() -> None:
    listed = {path for path in layout_rows() if "/" not in path.rstrip("/")}
    assert listed == top_level_entries(), (
        f"missing from the layout: {sorted(top_level_entries() - listed)}; "
        f"listed but absent: {sorted(listed - top_level_entries())}"
    )


def test_layout_lists_every_serving_module_and_nothing_absent() -> None:
    listed = {path for path in layout_rows() if path.startswith("serving/") and path != "serving/"}
    assert listed == serving_modules(), (
        f"missing from the layout: {sorted(serving_modules() - listed)}; "
        f"listed but absent: {sorted(listed - serving_modules())}"
    )


def test_layout_describes_each_serving_module_by_its_docstring() -> None:
    wrong = []
    for path, description in layout_rows().items():
        module = REPO / path / "__init__.py" if path.endswith("/") else REPO / path
        in_serving = path.startswith("serving/") and path != "serving/" and module.is_file()
        if in_serving and description != first_sentence(module):
            wrong.append(f"| `{path}` | {first_sentence(module)} |")
    assert not wrong, "layout rows that differ from the module's docstring:\n" + "\n".join(wrong)
