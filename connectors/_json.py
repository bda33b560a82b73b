"""Stream JSON exports (Telegram ``result.json``, Messenger, Slack, Teams, Signal) item by item.

An export of several GB must never be read whole into memory, so arrays are read with
ijson's incremental parser (C backend, yajl): only one item is built at a time. Malformed
JSON becomes an ``InputError`` naming the file and the byte offset where reading stopped.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson

from archiver.errors import InputError

_CHUNK = 1 << 20
# What the C backend and the pure-Python one raise on broken or truncated input.
_JSON_ERRORS = (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError, ValueError)


class _Counting(io.RawIOBase):
    """Counts the bytes handed to the parser, so an error can say where it happened."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.offset += len(data)
        return len(data)


def stream_items(source: IO[bytes], display: str, prefix: str) -> Iterator[Any]:
    """Each item of the JSON array at ``prefix`` (ijson syntax: ``"messages.item"``).

    Numbers come back as ``int`` or ``float`` (not ``Decimal``). ``display`` names the file
    in errors.

    Raises:
        InputError: the JSON is malformed or truncated (with the byte offset reached).
    """
    counting = _Counting(source)
    try:
        yield from ijson.items(counting, prefix, use_float=True, buf_size=_CHUNK)
    except _JSON_ERRORS as exc:
        raise InputError(display, f"malformed JSON near byte {counting.offset}: {_first_line(exc)}") from None


def stream_pairs(source: IO[bytes], display: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The top-level (or ``prefix``-level) keys of a JSON object with their values, one at a time.

    Raises:
        InputError: the JSON is malformed or truncated.
    """
    counting = _Counting(source)
    try:
        yield from ijson.kvitems(counting, prefix, use_float=True, buf_size=_CHUNK)
    except _JSON_ERRORS as exc:
        raise InputError(display, f"malformed JSON near byte {counting.offset}: {_first_line(exc)}") from None


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
        InputError: the bytes are not valid JSON.
    """
    try:
        return json.loads(data.decode("utf-8-sig"), parse_float=float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(display, f"malformed JSON: {exc}") from None



def _first_line(exc: Exception) -> str:
    """yajl draws a caret under the input on later lines; the first line says what is wrong."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
