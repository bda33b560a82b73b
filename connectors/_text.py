"""Read hostile text exports as bounded, decoded lines (WhatsApp, Signal Markdown, mbox).

A line longer than ``LINE_CAP`` is skipped without being held in memory and reported with
its number; invalid UTF-8 is reported, never silently repaired; UTF-16 exports are
re-encoded as UTF-8 chunk by chunk.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from connectors._limits import MESSAGE_CAP

LINE_CAP: Final = 1024**2
UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_PEEK_BYTES: Final = 512  # enough of an over-long line to tell whether it opens a message
_CHUNK: Final = 64 * 1024

RawLine = tuple[int, str, str | None, int]  # number, text, problem, size in bytes


def iter_lines(stream: BinaryIO) -> Iterator[RawLine]:
    """Decoded lines without terminators; an over-long or non-UTF-8 line carries a problem."""
    readline = stream.readline
    number = 0
    while raw := readline(LINE_CAP + 1):
        number += 1
        size = len(raw)
        problem = None
        if size > LINE_CAP and not raw.endswith(b"\n"):
            size += _skip_line(stream)
            raw = raw[:_PEEK_BYTES]
            problem = f"line {number} is longer than 1 MiB"
        elif raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode(errors="replace")
            problem = problem or f"line {number} is not valid UTF-8"
        yield number, text, problem, size


def _skip_line(stream: BinaryIO) -> int:
    """Consume the rest of an over-long line without holding it; return its size."""
    skipped = 0
    while chunk := stream.readline(LINE_CAP):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


class Utf16AsUtf8(io.RawIOBase):
    """Raw stream that re-encodes a UTF-16 stream as UTF-8, chunk by chunk.

    Lone surrogates pass through and so become invalid UTF-8: their lines are rejected
    downstream instead of being silently repaired.
    """

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self._decoder = codecs.getincrementaldecoder("utf-16")("surrogatepass")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            chunk = self._inner.read(_CHUNK)
            self._done = not chunk
            try:
                text = self._decoder.decode(chunk, final=self._done)
            except UnicodeDecodeError:  # an odd trailing byte
                text = "\udcff"
            self._pending = text.encode("utf-8", "surrogatepass")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


def decode_head(data: bytes) -> str:
    """The first bytes of a text export, decoded for sniffing (UTF-16 by its BOM, else UTF-8)."""
    encoding = "utf-16" if data[:2] in UTF16_BOMS else "utf-8"
    return data.decode(encoding, "replace")


def utf8_stream(stream: io.BufferedReader) -> io.BufferedReader:
    """``stream``, with UTF-16 (by its BOM: some phones and editors save it) re-encoded as UTF-8."""
    if stream.peek(2)[:2] in UTF16_BOMS:
        return io.BufferedReader(Utf16AsUtf8(stream))
    return stream


@dataclass
class Block:
    """One message of a text export being collected: its header line (``None`` for stray lines
    before the first header) and its continuation lines, refused past ``MESSAGE_CAP``."""

    line: int
    header: re.Match[str] | None
    size: int
    extra: list[str] = field(default_factory=list)
    problem: str | None = None
    problem_line: int = 0

    def fail(self, line: int, reason: str) -> None:
        if self.problem is None:
            self.problem, self.problem_line = reason, line
            self.extra.clear()  # a rejected message keeps no text in memory

    def add(self, line: int, text: str, problem: str | None, size: int) -> None:
        if self.problem is not None:
            return
        self.size += size
        if problem is not None:
            self.fail(line, problem)
        elif self.size > MESSAGE_CAP:
            self.fail(self.line, f"message at line {self.line} is longer than 16 MiB")
        else:
            self.extra.append(text)
