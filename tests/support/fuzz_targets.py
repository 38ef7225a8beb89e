"""What a fuzz case is and what it must get: the three servers it is sent to, the case and its
expectation, valid rows of each model, and the oracle that holds an answer to the expectation.

Three servers: the breast-cancer classifier ("main": 30 plain numbers, ONNX) and "digits",
trained on a CSV whose header is 0,1,2,3,4 (two integer features, two numbers, one text feature
that takes any text, every one nullable), served on the ONNX runtime ("digits") and on the
scikit-learn one ("digits-sklearn"). The strategies: tests/support/fuzz_known.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tests.support.csv_data import write_csv

MAIN, DIGITS, DIGITS_SKLEARN = "main", "digits", "digits-sklearn"
# Each target's runtime (None: as the model folder chooses).
RUNTIMES: dict[str, str | None] = {MAIN: None, DIGITS: None, DIGITS_SKLEARN: "sklearn"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
N_FEATURES = 30
DIGIT_NAMES = ("0", "1", "2", "3", "4")
# The 40 characters serving/validate.py echoes, plus the message around them: every error
# answer stays under this many bytes, whatever the client sent.
MAX_ERROR_BYTES = 2048
# Small enough that the fuzzer reaches both sides of them cheaply.
FUZZ_MAX_BODY_BYTES = 32 * 1024
FUZZ_MAX_ROWS = 50
HUGE = (1e308, -1e308, 1.7976931348623157e308, 9e307)


@dataclass(frozen=True)
class Expect:
    """What a generated request must get: one of `statuses`; `code` for an error status;
    `rows` answers for a 200; a BigQuery `errorMessage` beside a 400 or 422; nowhere `unechoed`;
    `header`."""

    statuses: tuple[int, ...]
    code: str | None = None
    rows: int | None = None
    bigquery: bool = False
    # Text the answer must not hold (a feature value, or a client string past 40 characters).
    unechoed: str | None = None
    # A header the answer must carry: (lower-case name, value).
    header: tuple[str, str] | None = None
    # Text the error message must hold (the row and feature a bad cell is in).
    says: str | None = None


@dataclass(frozen=True)
class Case:
    """One hostile request: what is sent, to which server, how it is framed on the wire, and
    (when the generator knows it) what it must get."""

    method: str
    path: str
    content_type: str | None
    body: bytes
    framing: str
    headers: tuple[tuple[str, str], ...] = ()
    target: str = MAIN
    host: str = "127.0.0.1"
    expect: Expect | None = None
    kind: str = ""  # the input class, for the figures

    def describe(self) -> str:
        head = self.body[:120]
        extra = "".join(f" {name}: {value[:80]}" for name, value in self.headers)
        host = f" Host: {self.host[:80]}" if self.host != "127.0.0.1" else ""
        return (
            f"[{self.target}] {self.method} {self.path[:120]} [{(self.content_type or '')[:60]}]"
            f"{host}{extra} {self.framing} {head!r} expect {self.expect}"
        )


@dataclass(frozen=True)
class Served:
    """The name, version and feature names of the model a target serves."""

    name: str
    version: str
    features: tuple[str, ...] = field(default=())


# Filled when the servers start (tests/serving/test_fuzz.py's fixture, bench/fuzz.py): strategies
# read it while drawing, for the served version and feature names, which training decides.
SERVED: dict[str, Served] = {}


def register(target: str, model_dir: Path) -> None:
    """Record what `target` serves, from its manifest."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    SERVED[target] = Served(
        manifest["name"], manifest["model_version"], tuple(manifest["feature_names"])
    )


def digits_csv(path: Path) -> Path:
    """The training data of the "digits" model: numeric-looking names, a text column, gaps."""
    rows = [
        [
            i % 7,
            (i * 3) % 5,
            "" if i % 9 == 0 else (i * 5) % 11 / 2,
            i % 4 - 1.5,
            "abc"[i % 3],
            "yes" if (i % 3 == 0) ^ (i % 7 > 3) else "no",
        ]
        for i in range(60)
    ]
    return write_csv(path, [*DIGIT_NAMES, "y"], rows)


def digits_train_args(data: Path) -> list[str]:
    """train.py's arguments for the "digits" model (add --out)."""
    return ["--data", str(data), "--target", "y", "--name", "digits", "--version", "fuzz-1"]


# ---------------------------------------------------------------- rows


@st.composite
def main_row(draw: st.DrawFn, huge: bool = False) -> list[Any]:
    """30 numbers (floats, or some integers) at one of three scales; with `huge`, some cells
    near the largest float. Drawn from a seed: 30 cells drawn one by one cost the fuzzer more
    time than the server takes to answer them."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e3, 1e6]))
    row: list[Any] = (rng.uniform(-1, 1, N_FEATURES) * scale).tolist()
    if draw(st.booleans()):
        row = [int(v) if rng.random() < 0.5 else v for v in row]
    if huge:
        count = draw(st.integers(1, N_FEATURES))
        for index in rng.choice(N_FEATURES, size=count, replace=False):
            row[index] = HUGE[int(rng.integers(len(HUGE)))]
    return row


def digits_row() -> st.SearchStrategy[list[Any]]:
    """A valid "digits" row: integers, numbers, text; any cell may be missing (null or NaN)."""
    integer = st.one_of(st.integers(-50, 50), st.none())
    number = st.one_of(st.floats(-1e3, 1e3), st.none(), st.just(math.nan))
    text = st.one_of(st.sampled_from(["a", "b", "c", "never seen", "é"]), st.none())
    return st.tuples(integer, integer, number, number, text).map(list)


def some_rows(target: str, huge: bool = False) -> st.SearchStrategy[list[list[Any]]]:
    row = main_row(huge) if target == MAIN else digits_row()
    return st.lists(row, min_size=1, max_size=3)


def plain_rows(target: str, count: int) -> list[list[Any]]:
    """`count` short valid rows (many of them still fit under the fuzz body limit)."""
    return [[1] * N_FEATURES] * count if target == MAIN else [[1, 2, 0.5, None, "a"]] * count


def success(rows: int, huge: bool = False, bigquery: bool = False) -> Expect:
    """200 with `rows` answers; with huge numbers, a 400 `not_finite` is right as well."""
    if huge:
        return Expect((200, 400), "not_finite", rows, bigquery)
    return Expect((200,), rows=rows, bigquery=bigquery)


def json_case(
    path: str, body: Any, expect: Expect, target: str = MAIN, content_type: str = "application/json"
) -> Case:
    text = json.dumps(body, allow_nan=True, ensure_ascii=False).encode()
    return Case("POST", path, content_type, text, "length", target=target, expect=expect)


# ---------------------------------------------------------------- the oracle


def check_expected(
    case: Case,
    status: int,
    payload: dict[str, Any] | None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    """The exact status the generator expects, the code beside an error, what its message says,
    the row count of a 200 answer, BigQuery's errorMessage beside its 400s and 422s, no echo
    of what must not be, and the header that must be there."""
    expect = case.expect
    if expect is None:
        return
    assert status in expect.statuses, f"{status} {payload} for {case.describe()}"
    if expect.unechoed is not None:
        assert expect.unechoed.encode() not in body.lower(), f"{body[:300]!r} {case.describe()}"
    if expect.header is not None:
        name, value = expect.header
        assert (headers or {}).get(name) == value, f"{headers} for {case.describe()}"
    if payload is None:
        return
    if status >= 400 and expect.code is not None:
        assert payload["code"] == expect.code, f"{payload} for {case.describe()}"
    if status >= 400 and expect.says is not None:
        assert expect.says in payload["error"], f"{payload} for {case.describe()}"
    if status in (400, 422) and expect.bigquery:
        assert payload.get("errorMessage"), f"{payload} for {case.describe()}"
    if status == 200 and expect.rows is not None:
        assert answered_rows(payload) == expect.rows, f"{payload} for {case.describe()}"


def answered_rows(payload: dict[str, Any]) -> int:
    """How many rows a prediction answer holds, in whichever format it came."""
    if "prediction" in payload:
        return 1
    if "predictions" in payload:
        return len(payload["predictions"])
    if "replies" in payload:
        return len(payload["replies"])
    return int(payload["outputs"][0]["shape"][0])


def all_finite(value: Any) -> bool:
    """No null and no NaN or infinity anywhere in a prediction answer."""
    if value is None:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(all_finite(item) for item in value.values())
    return True
