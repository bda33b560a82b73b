"""What every connector's hostile-input tests share: mutations of valid exports, and the check
that a connector either refuses a file (InputError) or reads it into storable messages."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

from archiver.connector import Connector, ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import Message

# (kind, position, value): 0 flips a byte, 1 inserts one, 2 cuts the file there.
EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """``data`` with each edit applied: a byte changed, a byte inserted, or the rest cut off."""
    buffer = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(buffer) + 1)
        if kind == 0 and at < len(buffer):
            buffer[at] ^= value or 1
        elif kind == 1:
            buffer.insert(at, value)
        else:
            del buffer[at:]
    return bytes(buffer)


def read_or_refused(connector: Connector, path: Path, context: ParseContext) -> None:
    """Sniff answers yes or no; parse refuses the file (InputError) or yields only messages and
    rejections, and every message can be stored (its JSON and id encode: no lone surrogates)."""
    assert connector.sniff(path) in (True, False)
    try:
        items = list(connector.parse(path, context))
    except InputError:
        return
    for item in items:
        assert isinstance(item, Message | Rejection)
        if isinstance(item, Message):
            json.dumps(item.to_json(), ensure_ascii=False).encode()
            item.content_key()
