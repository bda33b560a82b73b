"""The normalized form itself: one JSON message object per line (``archiver parse`` output).

Lets any tool feed the archiver. Each line is validated field by field; a bad line is
rejected with its line number and the field at fault, and the rest of the file is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import ACCOUNTS, DIRECTIONS, Attachment, Message, SourceRef

MAX_LINE_BYTES = 16 << 20
_REQUIRED = ("source", "conversation", "sender", "sent_at", "body")


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
            try:
                if isinstance(data, str):
                    raise ValueError(data)
                yield message_from_json(data, path, number, context)
            except (ValueError, TypeError, KeyError) as exc:
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
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    except json.JSONDecodeError as exc:
        return f"malformed JSON at column {exc.colno}"
    return data if isinstance(data, dict) else "line is not a JSON object"


def message_from_json(data: dict[str, Any], path: Path, number: int, context: ParseContext) -> Message:
    """A normalized message from its JSON form; ValueError names the field at fault."""
    missing = [f for f in _REQUIRED if not isinstance(data.get(f), str)]
    if missing:
        raise ValueError(f"field(s) {', '.join(missing)} missing or not text")
    return Message(
        source=data["source"],
        conversation=data["conversation"],
        sender=data["sender"],
        sent_at=_instant(data["sent_at"], context),
        body=data["body"],
        recipients=tuple(_strings(data.get("recipients", []), "recipients")),
        attachments=tuple(_attachment(a) for a in data.get("attachments") or []),
        direction=_choice(data, "direction", DIRECTIONS, _direction(data["sender"], context)),
        account=_choice(data, "account", ACCOUNTS, context.account),
        custodian=context.custodian,
        system=bool(data.get("system", False)),
        source_ref=SourceRef(file=path.name, line=number, export_sha256=context.export_sha256),
        flags=tuple(_strings(data.get("flags", []), "flags")),
    )


def _instant(text: Any, context: ParseContext) -> datetime:
    if not isinstance(text, str):
        raise ValueError("sent_at is not text")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"sent_at {text[:40]!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        if context.tz is None:
            raise ValueError(f"sent_at {text[:40]!r} has no UTC offset and no --tz was given")
        moment = moment.replace(tzinfo=context.tz)
    return moment


def _attachment(raw: Any) -> Attachment:
    if not isinstance(raw, dict):
        raise ValueError("an attachment is not an object")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError("attachment size is not a non-negative integer")
    sha256 = raw.get("sha256")
    return Attachment(
        name=raw.get("name"),
        media_type=raw.get("media_type"),
        sha256=sha256,
        size=size,
        missing=bool(raw.get("missing", sha256 is None)),
    )


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of strings")
    return value


def _choice(data: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> Any:
    value = data.get(field) or default
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}")
    return value


def _direction(sender: str, context: ParseContext) -> str:
    return "sent" if context.is_custodian(sender) else "received"
