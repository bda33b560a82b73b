"""The JSON Lines layer of a signal-export chat (``data.json``).

signal-export writes one JSON object per message and line: ``date`` (local time without a
zone), ``sender``, ``body``, ``quote``, ``sticker``, ``reactions``, ``attachments``, and in
newer versions ``edits``. This module tells such a line from the archiver's own normalized JSON
Lines, reads the file line by line without ever holding a line over the cap, decodes each line,
and reads its fields, composing the reactions line as signal-export's Markdown shows it;
``connectors.signal`` turns the records into messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, Final

from connectors._text import MESSAGE_CAP

_JSON_SHAPE_KEYS = ("quote", "sticker", "reactions", "attachments")
_NORMALIZED_KEYS = frozenset({"sent_at", "source", "conversation"})
BLANK: Final = object()  # a blank data.json line, which separates nothing and is skipped


class BadField(Exception):
    """A data.json record whose field has the wrong type or value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def json_or_none(text: str) -> Any:
    """The JSON value of ``text``, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def json_shape(record: Any) -> bool:
    """signal-export's message object, not the archiver's own normalized JSON Lines."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("date"), str)
        and isinstance(record.get("sender"), str)
        and "body" in record
        and sum(key in record for key in _JSON_SHAPE_KEYS) >= 2
        and not _NORMALIZED_KEYS & record.keys()
    )


def is_naive(stamp: Any) -> bool:
    """True for an ISO 8601 time without a zone (signal-export writes the computer's wall clock)."""
    try:
        return isinstance(stamp, str) and datetime.fromisoformat(stamp).tzinfo is None
    except ValueError:
        return False


def json_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Numbered raw lines; None stands for a line over the cap, consumed without being held."""
    number = 0
    while raw := stream.readline(MESSAGE_CAP + 1):
        number += 1
        if len(raw) > MESSAGE_CAP and not raw.endswith(b"\n"):
            while chunk := stream.readline(MESSAGE_CAP):
                if chunk.endswith(b"\n"):
                    break
            yield number, None
        else:
            yield number, raw


def decode_record(number: int, raw: bytes | None) -> Any:
    """A data.json line as a JSON value, or ``BLANK`` for a blank line.

    Raises:
        BadField: the line is over the cap, not UTF-8 or not JSON (the reason names the line).
    """
    if raw is None:
        raise BadField(f"line {number} is longer than 16 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadField(f"line {number} is not valid UTF-8") from None
    text = text.removeprefix("\ufeff") if number == 1 else text
    if not text.strip():
        return BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadField(f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise BadField(f"line {number} is not valid JSON (nested too deeply or malformed)") from None


def text_field(record: dict[str, Any], key: str, required: bool = False) -> str:
    """A text field; absent or null is empty unless required."""
    value = record.get(key)
    if isinstance(value, str):
        return value
    if value is None and not required:
        return ""
    raise BadField(f"field '{key}' is {'missing' if value is None else 'not text'}")


def flag_field(record: dict[str, Any], key: str) -> bool:
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise BadField(f"field '{key}' is not true or false")


def reactions_line(value: Any) -> str:
    """Reactions as signal-export's Markdown shows them: "\\n(- Name: emoji, ... -)"."""
    if not value:
        return ""
    if not isinstance(value, list):
        raise BadField("field 'reactions' is not a list")
    shown = []
    for item in value:
        pair = [item.get("name"), item.get("emoji")] if isinstance(item, dict) else item
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise BadField("a reaction is not a [name, emoji] pair")
        shown.append(f"{pair[0]}: {pair[1]}")
    return "\n(- " + ", ".join(shown) + " -)"
