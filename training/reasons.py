"""One line for a library's error message: its first line, in plain Python spelling, never cut
mid-word (train.py prints every failure as one line)."""

from __future__ import annotations

import re
import textwrap

WIDTH = 200
# NumPy 2 spells its scalars np.str_('x'), np.float64(1.0): a message shows 'x' and 1.0.
_NUMPY_REPR = re.compile(r"\bnp\.(?:str_|bytes_|bool|float\d*|u?int\d*|complex\d*)\(([^()]*)\)")


def plain(text: str) -> str:
    """The text with NumPy's scalar reprs written as Python's."""
    return _NUMPY_REPR.sub(r"\1", text)


def one_line(text: object, width: int = WIDTH) -> str:
    """An error (or its text) as one line of at most `width` characters, cut between words."""
    if isinstance(text, BaseException):
        lines = str(text).strip().splitlines()
        text = lines[0] if lines else type(text).__name__
    first = next((line for line in str(text).splitlines() if line.strip()), "")
    return textwrap.shorten(plain(first), width=width, placeholder=" ...")
