"""Microsoft Teams chat messages in the Microsoft Graph ``chatMessage`` shape.

This is what Graph (``GET /chats/{id}/messages``, ``/teams/{id}/channels/{id}/messages``) and
tools built on it (eDiscovery exports, PowerShell ``Invoke-MgGraphRequest | ConvertTo-Json``)
write: one Graph page ``{"@odata.context": ..., "value": [chatMessage, ...]}``, a bare JSON
array of chatMessages, or JSON Lines holding one chatMessage (or one Graph page) per line.
UTF-8 (a BOM allowed) and UTF-16 with a BOM (Windows PowerShell's default) are read. The file
is streamed: one message is in memory at a time.

Kept, per message: ``createdDateTime`` (an offset is required; Graph's ``0001-01-01`` "no
value" sentinel and anything before 1970 are rejected), the sender (``from.user`` or
``from.application`` display name, else its id), the body (HTML bodies become readable text:
see ``_html_text``; a channel post's ``subject`` is its first line), ``chatId`` as the
conversation (else the channel id), and the flags: edited (``lastEditedDateTime``), deleted
(``deletedDateTime``), attachment missing, and always recipients unknown, since a message
does not list the chat's members. Attachments: an attachment whose ``content`` is inline
(cards, quoted replies) is archived as those bytes with its ``contentType``; a file
(``reference``) only has a link, so it is a missing attachment; pictures in the body that
point at ``hostedContents`` are archived from the message's ``hostedContents[].contentBytes``
when the export includes them, else recorded missing; other pictures (stickers, GIFs) are
missing attachments named after their URL. No URL is ever fetched.

System messages (``messageType`` other than ``message``, or an ``eventDetail``) are marked
system, and their body is a short sentence built from the event: its ``@odata.type`` in words
("Members added", "Chat renamed"), then the new name or the members' names, then who did it,
e.g. ``Chat renamed: "Graph Members" (by Robin Kline)``.

Deliberately not kept: reactions, mentions (their names are in the body text), replies'
``replyToId`` threading, ``messageHistory``, policy-violation details, the rest of
``eventDetail`` (call participants, durations), and the edit history (Graph keeps only the
final text, which is what is archived). Messages come out in file order (Graph lists newest
first).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import io
import json
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar, Final
from urllib.parse import unquote, urlsplit

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection
from archiver.model import (
    FLAG_ATTACHMENT_MISSING,
    FLAG_DELETED,
    FLAG_EDITED,
    FLAG_RECIPIENTS_UNKNOWN,
    Attachment,
    Message,
    SourceRef,
    parse_instant,
)
from connectors._html_text import html_to_text
from connectors._json import stream_items
from connectors._limits import ATTACHMENT_CAP, MESSAGE_CAP, SNIFF_BYTES, SNIFF_ERRORS
from connectors._text import UTF16_BOMS, Utf16AsUtf8

LINE_CAP: Final = 2 * MESSAGE_CAP  # a JSON Lines line holds a 16 MiB body plus its escaping and fields
EARLIEST_YEAR: Final = 1970  # Graph writes 0001-01-01 for "no value"; Teams did not exist before 2017

_CONTEXT_RE: Final = re.compile(r'"@odata\.context"\s*:\s*"[^"]*(?:chats|channels)[^"]*/messages')
_HOSTED_RE: Final = re.compile(r"/hostedContents/([^/?#]+)")
_CAMEL_RE: Final = re.compile(r"(?<!^)(?=[A-Z])")
_NAME_KEYS: Final = ("chatDisplayName", "channelDisplayName", "teamDisplayName")


class TeamsConnector:
    """Reads Microsoft Teams chat and channel messages exported as Graph ``chatMessage`` JSON."""

    name: ClassVar[str] = "teams"
    description: ClassVar[str] = (
        "Microsoft Teams messages as Microsoft Graph chatMessage JSON (.json Graph page or array, or .jsonl)"
    )

    def sniff(self, path: Path) -> bool:
        """True when the head is JSON showing Graph's chatMessage keys or a messages @odata.context."""
        try:
            with _open_text(path) as stream:
                head = stream.read(SNIFF_BYTES).decode("utf-8", "replace")
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False
        if not head.lstrip().startswith(("{", "[")):
            return False
        if _CONTEXT_RE.search(head):
            return True
        return all(f'"{key}"' in head for key in ("messageType", "createdDateTime", "from"))

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each chatMessage in file order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, not JSON, truncated or holds no chat messages.
        """
        path = Path(path)
        check_export_file(path)
        if path.stat().st_size == 0:
            raise InputError(str(path), "empty file")
        reader = _Reader(path, context)
        count = 0
        for number, raw in _raw_messages(path):
            count += 1
            yield reader.item(number, raw)
        if count == 0:
            raise InputError(str(path), "not a Teams export: no chatMessage objects (no 'value' list or array)")


def _open_text(path: Path) -> io.BufferedReader:
    """The file as a UTF-8 byte stream: a UTF-8 BOM skipped, UTF-16 transcoded."""
    raw = open(path, "rb")  # the caller closes the returned stream, which closes this one
    head = raw.peek(3)[:3]
    if head[:2] in UTF16_BOMS:
        return io.BufferedReader(Utf16AsUtf8(raw))
    if head == codecs.BOM_UTF8:
        raw.read(3)
    return raw


def _raw_messages(path: Path) -> Iterator[tuple[int, Any]]:
    """Each raw chatMessage with its position: JSON Lines line number, or item number."""
    display = str(path)
    if _is_json_lines(path):
        with _open_text(path) as stream:
            yield from _json_lines(stream)
        return
    with _open_text(path) as stream:
        first = stream.peek(SNIFF_BYTES).lstrip()[:1]
        prefix = "item" if first == b"[" else "value.item"
        yield from enumerate(stream_items(stream, display, prefix), start=1)


def _is_json_lines(path: Path) -> bool:
    """True when the first non-blank line is a whole JSON object (one message or page per line)."""
    with _open_text(path) as stream:
        line = b""
        while not line.strip():
            line = stream.readline(LINE_CAP + 1)
            if not line:
                return False
    if not line.lstrip().startswith(b"{") or (len(line) > LINE_CAP and not line.endswith(b"\n")):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _json_lines(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    """Each message of a JSON Lines file; a bad line yields its reason as a string."""
    number = 0
    while raw := stream.readline(LINE_CAP + 1):
        number += 1
        if len(raw) > LINE_CAP and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # consume the over-long line without holding it
                raw = stream.readline(LINE_CAP)
            yield number, f"line {number} is longer than {LINE_CAP // 1024**2} MiB"
            continue
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            yield number, f"line {number} is not valid JSON: {str(exc)[:80]}"
            continue
        if isinstance(value, dict) and isinstance(value.get("value"), list) and "messageType" not in value:
            for item in value["value"]:  # a Graph page saved as one line
                yield number, item
        else:
            yield number, value


@dataclass(frozen=True)
class _Body:
    text: str
    attachments: tuple[Attachment, ...]


class _Reader:
    """Turns raw chatMessage objects into messages or rejections."""

    def __init__(self, path: Path, context: ParseContext) -> None:
        self._display = str(path)
        self._file = path.name
        self._fallback_conversation = f"Teams export {path.name}"
        self._context = context

    def item(self, number: int, raw: Any) -> ParsedItem:
        """One message, or the Rejection saying why item ``number`` cannot be archived."""
        if isinstance(raw, str):
            return Rejection(self._display, number, raw)
        if not isinstance(raw, dict):
            return Rejection(self._display, number, "not a chatMessage object")
        try:
            return self._message(number, raw)
        except _Reject as exc:
            return Rejection(self._display, number, str(exc))

    def _message(self, number: int, raw: dict[str, Any]) -> Message:
        sent_at = _created(raw.get("createdDateTime"))
        sender, handle = _identity(raw.get("from"))
        event = raw.get("eventDetail")
        system = raw.get("messageType", "message") != "message" or isinstance(event, dict)
        body = _body(raw)
        text = _event_text(event) if isinstance(event, dict) else body.text
        subject = raw.get("subject")
        if isinstance(subject, str) and subject and not system:
            text = f"{subject}\n{text}" if text else subject
        context = self._context
        flags = [FLAG_ATTACHMENT_MISSING] if any(a.missing for a in body.attachments) else []
        flags += [FLAG_DELETED] if raw.get("deletedDateTime") else []
        flags += [FLAG_EDITED] if raw.get("lastEditedDateTime") else []
        sent = bool(sender) and (context.is_custodian(sender) or bool(handle) and context.is_custodian(handle))
        return Message(
            source=TeamsConnector.name,
            conversation=self._conversation(raw),
            sender=sender,
            sent_at=sent_at,
            body=text,
            recipients=(),
            attachments=body.attachments,
            direction="sent" if sent else "received",
            account=context.account,
            custodian=context.custodian,
            system=system,
            source_ref=SourceRef(self._file, number, None, context.export_sha256),
            flags=(*flags, FLAG_RECIPIENTS_UNKNOWN),
        )

    def _conversation(self, raw: dict[str, Any]) -> str:
        chat = raw.get("chatId")
        if isinstance(chat, str) and chat:
            return chat
        channel = raw.get("channelIdentity")
        if isinstance(channel, dict) and isinstance(channel.get("channelId"), str) and channel["channelId"]:
            return str(channel["channelId"])
        return self._fallback_conversation


class _Reject(Exception):
    """Why one message cannot be archived (becomes a Rejection)."""


def _created(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Reject("no createdDateTime")
    try:
        moment = parse_instant(value)
    except ValueError:
        raise _Reject("createdDateTime is not an ISO 8601 time with an offset") from None
    if moment.year < EARLIEST_YEAR:
        raise _Reject("createdDateTime is Graph's placeholder for no time")
    return moment


def _identity(value: Any) -> tuple[str, str]:
    """The sender's display name (or id) and id from a Graph identitySet; empty for none."""
    if not isinstance(value, dict):
        return "", ""
    for kind in ("user", "application", "device"):
        who = value.get(kind)
        if isinstance(who, dict):
            name, ident = who.get("displayName"), who.get("id")
            handle = ident if isinstance(ident, str) else ""
            return (name if isinstance(name, str) and name else handle), handle
    return "", ""


def _body(raw: dict[str, Any]) -> _Body:
    body = raw.get("body")
    content = body.get("content") if isinstance(body, dict) else None
    content = content if isinstance(content, str) else ""
    if len(content) > MESSAGE_CAP:
        raise _Reject(f"body is longer than {MESSAGE_CAP // 1024**2} MiB")
    images: tuple[str, ...] = ()
    if isinstance(body, dict) and str(body.get("contentType", "")).casefold() == "html":
        converted = html_to_text(content)
        content, images = converted.text, converted.images
    hosted = _hosted_contents(raw.get("hostedContents"))
    return _Body(content, (*_pictures(images, hosted), *_attachments(raw.get("attachments"))))


def _hosted_contents(value: Any) -> dict[str, Attachment]:
    """The inline pictures the export carries, by hostedContents id."""
    found: dict[str, Attachment] = {}
    for entry in value if isinstance(value, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        media_type = entry.get("contentType") if isinstance(entry.get("contentType"), str) else None
        data = entry.get("contentBytes")
        if not isinstance(data, str):
            continue
        if len(data) > ATTACHMENT_CAP * 4 // 3 + 4:
            raise _Reject(f"an inline picture is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Reject("an inline picture's contentBytes is not valid base64") from None
        digest = hashlib.sha256(content).hexdigest()
        found[entry["id"]] = Attachment(None, media_type, digest, len(content), content=content)
    return found


def _pictures(sources: tuple[str, ...], hosted: dict[str, Attachment]) -> list[Attachment]:
    found = []
    for source in sources:
        match = _HOSTED_RE.search(source)
        if match is not None:
            found.append(hosted.get(match[1]) or hosted.get(unquote(match[1])) or Attachment(None, missing=True))
        else:
            name = PurePosixPath(unquote(urlsplit(source).path)).name or None
            found.append(Attachment(name, _guess(name), missing=True))
    return found


def _attachments(value: Any) -> list[Attachment]:
    """Graph attachments: inline content is archived as bytes, links are missing files."""
    found = []
    for entry in value if isinstance(value, list) else ():
        if not isinstance(entry, dict):
            raise _Reject("an attachment is not an object")
        name = next((entry[k] for k in ("name", "id") if isinstance(entry.get(k), str) and entry[k]), None)
        kind = entry.get("contentType") if isinstance(entry.get("contentType"), str) else None
        media_type = _guess(name) if kind == "reference" else kind
        content = entry.get("content")
        if isinstance(content, str) and content:
            data = content.encode("utf-8", "surrogatepass")
            if len(data) > ATTACHMENT_CAP:
                raise _Reject(f"an attachment is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit")
            found.append(Attachment(name, media_type, hashlib.sha256(data).hexdigest(), len(data), content=data))
        else:
            found.append(Attachment(name, media_type, missing=True))
    return found


def _guess(name: str | None) -> str | None:
    return mimetypes.guess_type(name, strict=False)[0] if name else None


def _event_text(event: dict[str, Any]) -> str:
    """A short sentence for a system event: its type in words, the name or members, who did it."""
    kind = str(event.get("@odata.type") or "event").rsplit(".", 1)[-1].removesuffix("EventMessageDetail")
    words = _CAMEL_RE.sub(" ", kind).lower().strip() or "event"
    text = words[0].upper() + words[1:]
    name = next((event[k] for k in _NAME_KEYS if isinstance(event.get(k), str) and event[k]), None)
    if name is not None:
        text += f': "{name}"'
    members = event.get("members")
    if isinstance(members, list):
        names = [_identity_name(m) for m in members]
        if any(names):
            text += ": " + ", ".join(n for n in names if n)
    initiator = _identity(event.get("initiator"))[0]
    return f"{text} (by {initiator})" if initiator else text


def _identity_name(member: Any) -> str:
    """A members[] entry is a teamworkUserIdentity (id, displayName), not an identitySet."""
    if not isinstance(member, dict):
        return ""
    name, ident = member.get("displayName"), member.get("id")
    return name if isinstance(name, str) and name else ident if isinstance(ident, str) else ""
