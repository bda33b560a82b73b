"""The normalized form itself: one JSON message object per line (``archiver parse`` output).

Lets any tool feed the archiver. Each line is validated field by field; a bad line is
rejected with its line number and the field at fault, and the rest of the file is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import ACCOUNTS, DIRECTIONS, Attachment, Message, SourceRef
from connectors._json import MAX_DEPTH
from connectors._limits import SENT_YEARS

MAX_LINE_BYTES = 16 << 20
_REQUIRED = ("source", "conversation", "sender", "sent_at", "body")
_STRING_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled: linear on a 16 MiB string
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class FieldError(ValueError):
    """A field of a JSON line is unusable; the message names the field and the fault, never the value."""


class JsonlConnector:
    """Normalized messages as JSON Lines."""

    name: ClassVar[str] = "jsonl"
    description: ClassVar[str] = "normalized messages, one JSON object per line (.jsonl)"

    def sniff(self, path: Path) -> bool:
        try:
            with path.open("rb") as handle:
                head = handle.readline(64 * 1024).lstrip(b"\xef\xbb\xbf").strip()
        except OSError:
            return False
        if not head.startswith(b"{"):
            return False
        try:
            first = json.loads(head)
        except ValueError:
            return False
        return isinstance(first, dict) and "sent_at" in first and "body" in first

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        for number, data in json_objects(path):
            if isinstance(data, str):
                yield Rejection(str(path), number, data)
                continue
            try:
                yield message_from_json(data, path, number, context)
            except FieldError as exc:
                yield Rejection(str(path), number, f"not a valid message: {exc}")


def json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each non-blank line's JSON object with its line number, or the reason it is not one."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(_lines(handle), start=1):
            if raw is None:
                yield number, f"line is longer than {MAX_LINE_BYTES >> 20} MiB"
            elif raw.strip():
                yield number, _object(raw)


def _lines(handle: Any) -> Iterator[bytes | None]:
    """Lines of at most MAX_LINE_BYTES; None stands for a longer line, consumed in pieces."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield line


def _object(raw: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one (the line's text never enters the reason)."""
    if _depth(raw) > MAX_DEPTH:
        return f"JSON nests deeper than {MAX_DEPTH} levels"
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    except json.JSONDecodeError as exc:
        return f"malformed JSON at column {exc.colno}"
    except ValueError:  # what json.loads lets through: int() refuses numbers over 4300 digits
        return "a number has more digits than can be read"
    except RecursionError:  # the depth scan makes this unreachable in practice; kept as the last guard
        return f"JSON nests deeper than {MAX_DEPTH} levels"
    return data if isinstance(data, dict) else "line is not a JSON object"


def _depth(raw: bytes) -> int:
    """How deep the line's arrays and objects nest (brackets inside strings do not count).

    Cheap on any line: strings are cut out by one regex and, unless there are more brackets
    than the limit allows, no loop runs; the loop stops as soon as the limit is passed.
    """
    brackets = _STRING_RE.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_DEPTH:
        return len(brackets)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            break
    return depth


def message_from_json(data: dict[str, Any], path: Path, number: int, context: ParseContext) -> Message:
    """A normalized message from its JSON form; FieldError names the field at fault, never its value."""
    missing = [f for f in _REQUIRED if not isinstance(data.get(f), str)]
    if missing:
        raise FieldError(f"{', '.join(missing)}: missing or not a string")
    return Message(
        source=_text(data, "source"),
        conversation=_text(data, "conversation"),
        sender=_text(data, "sender"),
        sent_at=_instant(data["sent_at"], context),
        body=_text(data, "body"),
        recipients=tuple(_strings(data.get("recipients", []), "recipients")),
        attachments=tuple(_attachment(a, i) for i, a in enumerate(_list(data.get("attachments"), "attachments"))),
        direction=_choice(data, "direction", DIRECTIONS, _direction(data["sender"], context)),
        account=_choice(data, "account", ACCOUNTS, context.account),
        custodian=context.custodian,
        system=bool(data.get("system", False)),
        source_ref=SourceRef(file=path.name, line=number, export_sha256=context.export_sha256),
        flags=tuple(_strings(data.get("flags", []), "flags")),
    )


def _text(data: dict[str, Any], field: str) -> str:
    """A text field that can be stored: a lone surrogate (``"\\ud800"``) has no UTF-8 form."""
    value = data[field]
    if not _encodable(value):
        raise FieldError(f"{field}: not valid Unicode (a lone surrogate)")
    return str(value)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _instant(text: str, context: ParseContext) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FieldError("sent_at: not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        if context.tz is None:
            raise FieldError("sent_at: no UTC offset, and no --tz was given")
        moment = moment.replace(tzinfo=context.tz)
    if moment.year not in SENT_YEARS:
        raise FieldError(f"sent_at: outside the years {SENT_YEARS[0]}-{SENT_YEARS[-1]}")
    return moment


def _attachment(raw: Any, index: int) -> Attachment:
    field = f"attachments[{index}]"
    if not isinstance(raw, dict):
        raise FieldError(f"{field}: not an object")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise FieldError(f"{field}.size: not a non-negative integer")
    for name in ("name", "media_type", "sha256"):
        if raw.get(name) is not None and not (isinstance(raw[name], str) and _encodable(raw[name])):
            raise FieldError(f"{field}.{name}: not a string")
    sha256 = raw.get("sha256")
    return Attachment(
        name=raw.get("name"),
        media_type=raw.get("media_type"),
        sha256=sha256,
        size=size,
        missing=bool(raw.get("missing", sha256 is None)),
    )


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"{field}: not a list")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _encodable(v) for v in value):
        raise FieldError(f"{field}: not a list of strings")
    return value


def _choice(data: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> Any:
    value = data.get(field) or default
    if value not in allowed:
        raise FieldError(f"{field}: not one of {', '.join(allowed)}")
    return value


def _direction(sender: str, context: ParseContext) -> str:
    return "sent" if context.is_custodian(sender) else "received"
