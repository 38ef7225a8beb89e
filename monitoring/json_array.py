"""The items of one large JSON array, decoded one at a time as the file is read block by block.

`gcloud logging read --format=json` prints every entry in a single array; the stdlib json module
has no streaming parser, but its decoder's `raw_decode` reads one value from a position in a
string. So the file is read in blocks, each item decoded where it starts, and the text before
it dropped: memory holds a block and the largest item, never the array.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

BLOCK = 1 << 20
WHITESPACE = " \t\r\n"


class NotAnArray(ValueError):
    """The text is not one JSON array (or ends before its closing bracket)."""


def array_items(stream: IO[str], on_read: Callable[[str], object] = len) -> Iterator[Any]:
    """Each item of the JSON array in `stream`; `on_read` sees every block as it is read."""
    return _Reader(stream, on_read).items()


class _Reader:
    def __init__(self, stream: IO[str], on_read: Callable[[str], object]) -> None:
        self.stream, self.on_read = stream, on_read
        self.text, self.position, self.ended = "", 0, False
        self.dropped = 0  # characters read and let go before `text`
        self.decoder = json.JSONDecoder()

    def items(self) -> Iterator[Any]:
        self._expect("[")
        if self._next() == "]":
            return
        while True:
            yield self._item()
            if self._expect(",]") == "]":
                return

    def _item(self) -> Any:
        self._next()
        size = BLOCK
        while True:
            try:
                item, end = self.decoder.raw_decode(self.text, self.position)
            except json.JSONDecodeError as exc:
                if self.ended:
                    raise NotAnArray(f"{exc.msg} at character {self.dropped + exc.pos}") from None
            else:
                # A number cut at a block's end decodes too ("-3" of "-3.5e+10", leaving at
                # most "e+"): an item that close to the end is decoded again with more text.
                if end + len("e+") < len(self.text) or self.ended:
                    self.position = end
                    return item
            self._read(size)
            size *= 2  # an item longer than a block: fewer, longer reads

    def _expect(self, allowed: str) -> str:
        found = self._next()
        if not found or found not in allowed:
            wanted = " or ".join(repr(c) for c in allowed)
            raise NotAnArray(
                f"expected {wanted}, found {found!r}" if found else "it ends before its last ']'"
            )
        self.position += 1
        return found

    def _next(self) -> str:
        """The next character that is not whitespace, reading on as needed ('' at the end)."""
        while True:
            while self.position < len(self.text) and self.text[self.position] in WHITESPACE:
                self.position += 1
            if self.position < len(self.text) or self.ended:
                return self.text[self.position : self.position + 1]
            self._read(BLOCK)

    def _read(self, size: int) -> None:
        more = self.stream.read(size)
        self.on_read(more)
        self.dropped += self.position
        self.text, self.position = self.text[self.position :] + more, 0
        self.ended = not more
