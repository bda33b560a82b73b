"""Read hostile text exports as bounded, decoded lines (WhatsApp, Signal Markdown, mbox).

A line longer than ``LINE_CAP`` is skipped without being held in memory and reported with
its number; invalid UTF-8 is reported, never silently repaired; UTF-16 exports are
re-encoded as UTF-8 chunk by chunk. Lines are read and decoded a run at a time
(``iter_runs``), which costs far less per line than one read and decode each.
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
_RUN_BYTES: Final = 256 * 1024  # bytes decoded at once; under LINE_CAP (BOM included), so no line within is over-long


@dataclass
class Lines:
    """Consecutive lines of a text export, decoded in one piece and numbered from ``first``,
    without their terminators (LF or CRLF; a lone CR is text).

    ``problem`` is set for a single line that is over 1 MiB (``texts`` then holds its first
    bytes) or not valid UTF-8 (decoded with replacement characters).
    """

    first: int
    texts: list[str]
    problem: str | None = None
    problem_size: int = 0
    pieces: list[str] | None = None  # the texts with their CR, where a line ended in CRLF
    unterminated: bool = False  # the last line ends the file without a line feed
    bom: int = 0  # bytes of a UTF-8 BOM dropped from the first line of the file

    def size(self, index: int) -> int:
        """The bytes line ``first + index`` took in the file, terminator included."""
        if self.problem is not None:
            return self.problem_size
        piece = (self.pieces or self.texts)[index]
        size = len(piece) if piece.isascii() else len(piece.encode())
        if index == 0:
            size += self.bom
        return size if self.unterminated and index == len(self.texts) - 1 else size + 1


def iter_runs(stream: BinaryIO) -> Iterator[Lines]:
    """The stream's lines, many at a time; an over-long or non-UTF-8 line comes alone with its problem."""
    head = stream.read(len(codecs.BOM_UTF8))
    bom = len(head) if head == codecs.BOM_UTF8 else 0  # counted in the first line's size
    carry, number = b"" if bom else head, 0
    while (chunk := carry + stream.read(_RUN_BYTES)) or (bom and not number):
        carry, bom = b"", bom if not number else 0
        cut = chunk.rfind(b"\n") + 1
        if not chunk.endswith(b"\n"):  # complete the last line, unless it runs past the cap
            head_bom = 0 if cut else bom
            tail = chunk[cut:] + stream.readline(max(0, LINE_CAP + 1 - (len(chunk) - cut) - head_bom))
            if len(tail) + head_bom > LINE_CAP and not tail.endswith(b"\n"):
                if cut:
                    yield from _decoded(chunk[:cut], number + 1, bom)
                    number += chunk.count(b"\n", 0, cut)
                number += 1
                yield _over_long(stream, number, tail, head_bom)
                continue
            chunk = chunk[:cut] + tail
        yield from _decoded(chunk, number + 1, bom)
        number += chunk.count(b"\n") + (not chunk.endswith(b"\n"))


def _over_long(stream: BinaryIO, number: int, head: bytes, bom: int) -> Lines:
    """Line ``number``, over the cap: its first bytes, the rest consumed without being held."""
    size = bom + len(head) + _skip_line(stream)
    text = head[: _PEEK_BYTES - bom].decode(errors="replace")
    return Lines(number, [text], f"line {number} is longer than 1 MiB", size)


def _decoded(data: bytes, first: int, bom: int) -> Iterator[Lines]:
    """Whole lines of ``data`` (which ends a line, or the file), numbered from ``first``."""
    unterminated = not data.endswith(b"\n")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        yield from _decoded_lines(data, first, bom)
        return
    pieces = text.split("\n")
    if not unterminated:
        pieces.pop()  # the empty text after the last terminator
    if "\r" not in text:
        yield Lines(first, pieces, unterminated=unterminated, bom=bom)
        return
    texts = [piece[:-1] if piece.endswith("\r") else piece for piece in pieces]
    if unterminated:
        texts[-1] = pieces[-1]  # no line feed: its CR is text
    yield Lines(first, texts, pieces=pieces, unterminated=unterminated, bom=bom)


def _decoded_lines(data: bytes, first: int, bom: int) -> Iterator[Lines]:
    """``_decoded`` for data holding invalid UTF-8: line by line, the valid lines still in runs."""
    terminated = data.endswith(b"\n")
    lines = data.split(b"\n")
    if terminated:
        lines.pop()
    start = 0
    for index, raw in enumerate(lines):
        try:
            raw.decode()
        except UnicodeDecodeError:
            if start < index:
                yield from _decoded(b"\n".join(lines[start:index]) + b"\n", first + start, bom if start == 0 else 0)
            number, ends = first + index, terminated or index < len(lines) - 1
            size = len(raw) + ends + (bom if index == 0 else 0)
            text = (raw[:-1] if ends and raw.endswith(b"\r") else raw).decode(errors="replace")
            yield Lines(number, [text], f"line {number} is not valid UTF-8", size)
            start = index + 1
    if start < len(lines):
        rest = b"\n".join(lines[start:]) + (b"\n" if terminated else b"")
        yield from _decoded(rest, first + start, bom if start == 0 else 0)


def iter_lines(stream: BinaryIO) -> Iterator[RawLine]:
    """Decoded lines without terminators; an over-long or non-UTF-8 line carries a problem."""
    for run in iter_runs(stream):
        for index, text in enumerate(run.texts):
            yield run.first + index, text, run.problem, run.size(index)


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
