"""Stream JSON exports (Telegram ``result.json``, Messenger, Slack, Teams, Signal) item by item.

An export of several GB must never be read whole into memory, so JSON is read with ijson's
event parser (C backend, yajl): only one item is built at a time. Hostile JSON is bounded
three ways: one value (a string, a number) longer than ``TOKEN_CAP`` is refused before it is
held; nesting deeper than ``MAX_DEPTH`` is refused (ijson's prefix-building functions would
otherwise grow a path string per level until memory runs out); and malformed or truncated
JSON becomes an ``InputError`` naming the file and the byte offset where reading stopped.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import ijson

from archiver.errors import InputError

TOKEN_CAP: Final = 64 * 1024**2
MAX_DEPTH: Final = 64  # real exports nest fewer than 10 levels
READ_CHUNK: Final = 64 * 1024  # small, so the size of one value is measured to within 64 KiB
_OPENS: Final = frozenset({"start_map", "start_array"})
_CLOSES: Final = frozenset({"end_map", "end_array"})
# What the C backend and the pure-Python one raise on broken or truncated input.
_JSON_ERRORS = (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError)


class Meter(io.RawIOBase):
    """Counts the bytes handed to the parser, and refuses one JSON value too long to hold:
    after ``TOKEN_CAP`` bytes without an event (``mark`` is where the last one ended)."""

    def __init__(self, inner: IO[bytes], display: str) -> None:
        super().__init__()
        self._inner = inner
        self._display = display
        self.offset = 0
        self.mark = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self.offset += len(data)
        if self.offset - self.mark > TOKEN_CAP:
            raise InputError(self._display, f"one JSON value after byte {self.mark} is longer than "
                                            f"{TOKEN_CAP >> 20} MiB")
        return len(data)


def events(meter: Meter, display: str, max_depth: int | None = MAX_DEPTH) -> Iterator[tuple[str, Any]]:
    """ijson's basic events (no paths), with the nesting depth capped (``None``: the caller caps it).

    Raises:
        InputError: malformed or truncated JSON, a value longer than ``TOKEN_CAP``, or
            nesting deeper than ``max_depth``, with the byte offset.
    """
    depth = 0
    try:
        for event, value in ijson.basic_parse(meter, buf_size=READ_CHUNK, use_float=True):
            meter.mark = meter.offset
            if event in _OPENS:
                depth += 1
                if max_depth is not None and depth > max_depth:
                    raise InputError(display, f"JSON nests deeper than {max_depth} levels near byte {meter.offset}")
            elif event in _CLOSES:
                depth -= 1
            yield event, value
    except _JSON_ERRORS as exc:
        raise InputError(display, f"malformed JSON near byte {meter.offset}: {_first_line(exc)}") from None


def stream_items(source: IO[bytes], display: str, prefix: str) -> Iterator[Any]:
    """Each item of the JSON array at ``prefix`` (ijson syntax: ``"messages.item"``).

    Numbers come back as ``int`` or ``float`` (not ``Decimal``). ``display`` names the file
    in errors.

    Raises:
        InputError: the JSON is malformed, truncated, too deep or holds a value too long.
    """
    yield from ijson.items(ijson.parse(events(Meter(source, display), display)), prefix)


def stream_pairs(source: IO[bytes], display: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The keys of the JSON object at ``prefix`` (top level by default) with their values, one at a time.

    Raises:
        InputError: the JSON is malformed, truncated, too deep or holds a value too long.
    """
    yield from ijson.kvitems(ijson.parse(events(Meter(source, display), display)), prefix)


def read_small(path: Path, limit: int) -> Any:
    """Parse a JSON file expected to be small (a Slack day file, a Teams page), whole.

    Raises:
        InputError: the file is larger than ``limit`` bytes, unreadable or malformed.
    """
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(str(path), f"is {size} bytes, more than the {limit} allowed for this kind of file")
        with path.open("rb") as handle:
            return load_bytes(handle.read(), str(path))
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None


def load_bytes(data: bytes, display: str) -> Any:
    """Parse JSON bytes (UTF-8, a BOM allowed).

    Raises:
        InputError: the bytes are not valid JSON, or nest too deep for the parser.
    """
    try:
        return json.loads(data.decode("utf-8-sig"), parse_float=float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(display, f"malformed JSON: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    """yajl draws a caret under the input on later lines; the first line says what is wrong."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
