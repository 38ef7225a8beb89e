"""The SQL of a BigQuery remote function that calls the deployed model, from its manifest:
the CREATE statement (one line) and a SELECT that scores a table.

OUTPUT is `label`, `probabilities` or `probability:CLASS`. One SQL parameter per feature, in
the manifest's order (BigQuery sends the arguments in that order): number -> FLOAT64,
integer -> INT64, boolean -> BOOL, string -> STRING. A feature name becomes a parameter name by
`sql_names`: lower case, each run of characters other than letters, digits and `_` as one `_`,
`_` trimmed from both ends; `f_` in front when that leaves nothing, starts with a digit or is a
reserved word; `_2`, `_3`, ... after a name already taken.
"""

from __future__ import annotations

import re
from typing import Any

SQL_TYPES = {"number": "FLOAT64", "integer": "INT64", "boolean": "BOOL", "string": "STRING"}
OUTPUTS = ("label", "probabilities", "probability")
# GoogleSQL's reserved keywords: not usable as plain parameter or column names.
_RESERVED_WORDS = """
    all and any array as asc assert_rows_modified at between by case cast collate contains
    create cross cube current default define desc distinct else end enum escape except exclude
    exists extract false fetch following for from full group grouping groups hash having if
    ignore in inner intersect interval into is join lateral left like limit lookup merge natural
    new no not null nulls of on or order outer over partition preceding proto qualify range
    recursive respects right rollup rows select set some struct tablesample then to treat true
    unbounded union unnest using when where window with within
"""
RESERVED = frozenset(_RESERVED_WORDS.split())


class RemoteFunctionError(Exception):
    """A manifest or an option that cannot make a remote function; the message says why."""


def features(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(feature name, SQL type) in the model's order; a format 1 manifest is all numbers."""
    raw = manifest.get("features")
    if raw is None:
        raw = [{"name": name, "type": "number"} for name in manifest.get("feature_names") or []]
    found = []
    for entry in raw:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind not in SQL_TYPES or not isinstance(entry.get("name"), str):
            raise RemoteFunctionError(f"manifest feature {entry!r} has no name or known type")
        found.append((entry["name"], SQL_TYPES[kind]))
    if not found:
        raise RemoteFunctionError("the manifest lists no features")
    return found


def sql_names(names: list[str]) -> list[str]:
    """SQL-safe, unique (case-insensitively, as BigQuery compares them) parameter names."""
    taken: set[str] = set()
    safe = []
    for name in names:
        base = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        if not base or base[0].isdigit() or base in RESERVED:
            base = f"f_{base}".rstrip("_")
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        safe.append(candidate)
    return safe


def parse_output(output: str, manifest: dict[str, Any]) -> tuple[str, str | None]:
    """The output kind and, for `probability:CLASS`, the class as the model names it."""
    kind, _, wanted = output.partition(":")
    if kind not in OUTPUTS or (kind == "probability") != bool(wanted):
        raise RemoteFunctionError(
            f"--bigquery-output must be label, probabilities or probability:CLASS, got {output!r}"
        )
    classes = [str(c) for c in manifest.get("classes") or []]
    if kind != "label" and not classes:
        raise RemoteFunctionError(
            f"--bigquery-output {kind} needs a classifier; this model has no classes"
        )
    if wanted and wanted not in classes:
        raise RemoteFunctionError(
            f"--bigquery-output probability:{wanted}: no such class; the classes are "
            f"{', '.join(classes)}"
        )
    return kind, wanted or None


def returns(kind: str, manifest: dict[str, Any]) -> str:
    """The SQL type of one reply: what the function answers for this output."""
    if kind == "probabilities":
        return "JSON"
    if kind == "probability":
        return "FLOAT64"
    classes = manifest.get("classes")
    if not classes:
        return "FLOAT64"
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "FLOAT64"
    return "STRING"


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def sql_string(value: str) -> str:
    """A GoogleSQL string literal, in double quotes (they read well inside shell quotes), on
    one line: quotes, backslashes and every control or line-breaking character escaped."""
    return '"' + "".join(_escaped(c) for c in value) + '"'


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable() or char == " ":
        return char
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def create_sql(
    manifest: dict[str, Any],
    output: str,
    function: str,
    connection: str,
    endpoint: str,
    batch_rows: int,
) -> str:
    kind, wanted = parse_output(output, manifest)
    columns = features(manifest)
    names = sql_names([name for name, _ in columns])
    parameters = ", ".join(
        f"{name} {sql_type}" for name, (_, sql_type) in zip(names, columns, strict=True)
    )
    context = [("output", kind)] + ([("class", wanted)] if wanted is not None else [])
    pairs = ", ".join(f"({sql_string(k)}, {sql_string(v)})" for k, v in context)
    return (
        f"CREATE OR REPLACE FUNCTION `{function}`({parameters}) "
        f"RETURNS {returns(kind, manifest)} REMOTE WITH CONNECTION `{connection}` "
        f"OPTIONS (endpoint = {sql_string(endpoint)}, max_batching_rows = {batch_rows}, "
        f"user_defined_context = [{pairs}])"
    )


def select_sql(manifest: dict[str, Any], function: str) -> str:
    """Mapping comments for renamed features, then a SELECT scoring a table of those columns."""
    columns = [name for name, _ in features(manifest)]
    names = sql_names(columns)
    dataset = function.rsplit(".", 1)[0]
    renamed = [
        f"-- column {safe} holds feature {original!r}"
        for original, safe in zip(columns, names, strict=True)
        if original != safe
    ]
    call = f"`{function}`({', '.join(names)})"
    return "\n".join([*renamed, f"SELECT *, {call} AS prediction FROM `{dataset}.YOUR_TABLE`"])
