"""Telegram Desktop "Export chat history" / "Export Telegram data" as machine-readable JSON.

The format. Telegram Desktop writes ``result.json`` in one of two shapes: one chat (top-level
``name``, ``type``, ``id``, ``messages``), or the whole account (``personal_information``,
``contacts``, ``chats.list[]`` and ``left_chats.list[]``, each chat with its own ``messages``).
Media sit in folders beside it (``photos/``, ``files/``, ``chats/chat_001/...``) and are
referenced by relative path. Officers bring ``result.json`` alone or the export folder zipped.

Streaming. The file is read with ijson's event parser (``basic_parse``: it builds no prefix
strings, so hostile deep nesting costs nothing) and only one message is held at a time, so a
huge chat or account export stays in flat memory. A message over 16 MiB or nested deeper than
64 levels is rejected; a single JSON value over 64 MiB (which the parser would have to hold
whole), or such nesting outside a message, refuses the rest of the file.

What is kept. The sender (``from``, or ``from_id`` for a deleted account), the time
(``date_unixtime`` as UTC; ``date`` read in ``--tz`` only for exports that predate
``date_unixtime``), the text as the reader sees it (a list of text pieces and entities is
concatenated from their visible ``text``), edits as FLAG_EDITED (the export holds only the
final text), and the files of ``photo``, ``file`` and ``contact_vcard`` with their bytes when
the export has them, else as missing attachments (FLAG_ATTACHMENT_MISSING); a ``thumbnail`` is
kept as well when its bytes are in the export. Service messages (calls, joins, pins, group
changes) have no text in the export, so their body is composed from the action's fields, e.g.
"Alice: phone_call (duration 56 s, discard_reason hangup)", and they are system messages. A
location, shared contact or poll without text gets a composed body too ("location: 38.9, -77.0").

Who. A message is "sent" when its sender is one of the custodian's names, the account owner
of an account export (``personal_information.user_id``), or in Saved Messages. In a personal
chat the recipient is the other side (the peer is known by the chat's name or id; a sender who
is neither custodian nor peer leaves it FLAG_RECIPIENTS_UNKNOWN). Groups and channels list no
members in the export, so their recipients are everyone seen so far (senders, actors, people
named in invites, less removals) plus the custodian, flagged FLAG_RECIPIENTS_UNKNOWN. Saved
Messages have none. Without ``--tz``, the first message that has only a local ``date`` refuses
the rest of the file with an InputError saying so.

Not kept. Reply links (``reply_to_message_id``), forward origins (``forwarded_from``,
``saved_from``; the sender stays the one who forwarded), ``via_bot``, post signatures
(``author``), reactions, inline buttons, the formatting and hidden link targets of
``text_entities``, sticker emoji, media sizes and durations. Telegram exports contain no
deleted messages, so FLAG_DELETED is never set. ``source_ref.line`` is the message's number
in the file (1 = the first message of the first chat), since a JSON parser gives no lines.
The HTML export is not read: the officer is asked to export again as "Machine-readable JSON".
"""

from __future__ import annotations

import bisect
import codecs
import hashlib
import io
import json
import mimetypes
import posixpath
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar, Final
from zoneinfo import ZoneInfo

import ijson

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Attachment, Message, SourceRef
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, entry_escapes, is_zip
from connectors._json import Meter, events
from connectors._limits import ATTACHMENT_CAP, MESSAGE_CAP, SNIFF_BYTES, SNIFF_ERRORS
from connectors._text import utf8_stream

MAX_DEPTH: Final = 64  # a real export nests about 8 levels
MAX_PARTICIPANTS: Final = 4096
RESULT_JSON: Final = "result.json"
NOT_TELEGRAM: Final = "not a Telegram Desktop export"
TZ_REQUIRED: Final = (
    "this Telegram export predates 'date_unixtime' and carries local times without a zone; give "
    "--tz ZONE (an IANA name such as America/New_York) or set timezone in archiver.yaml"
)
HTML_EXPORT: Final = (
    "is Telegram's HTML export, which the archiver does not read; in Telegram Desktop export the chat "
    "again and choose Format: 'Machine-readable JSON'"
)

HTML_PAGE: Final = "messages.html"
HTML_MARKS: Final = (b"<title>Exported Data</title>", b'class="page_wrap"')  # Telegram Desktop's page head

_CHAT_PATHS: Final[tuple[list[str | None], ...]] = ([], ["chats", "list", "item"], ["left_chats", "list", "item"])
_PERSONAL: Final = frozenset({"personal_chat", "bot_chat"})
_SAVED: Final = "saved_messages"
_GROUPS: Final = frozenset({"private_group", "private_supergroup", "public_supergroup", "private_channel",
                            "public_channel"})  # fmt: skip
_CHAT_TYPES: Final = _PERSONAL | _GROUPS | {_SAVED}
_MESSAGE_TYPES: Final = frozenset({"message", "service"})
_FILE_FIELDS: Final = ("photo", "file", "contact_vcard")
_FIXED_MEDIA_TYPES: Final = {"photo": "image/jpeg", "contact_vcard": "text/vcard"}
# Fields of a service message that its composed body does not repeat: its identity, its
# sender and time, and the media kept as attachments.
_NOT_DETAILS: Final = frozenset({
    "id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "actor", "actor_id", "from", "from_id",
    "action", "text", "text_entities", "thumbnail", "photo_file_size", "file_size", "thumbnail_file_size",
    "width", "height", "mime_type", "file_name", "media_type", *_FILE_FIELDS,
})  # fmt: skip
_DEPTH_CHANGE: Final = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
_UNIX_RE = re.compile(r"-?[0-9]{1,12}")


class TelegramConnector:
    """Reads Telegram Desktop's machine-readable JSON export (one chat or the whole account)."""

    name: ClassVar[str] = "telegram"
    description: ClassVar[str] = (
        "Telegram Desktop 'Export chat history' / 'Export Telegram data' as machine-readable JSON "
        "(result.json, or the export folder zipped)"
    )

    def sniff(self, path: Path) -> bool:
        """True when the head of the JSON (or of a zip's result.json) shows Telegram Desktop's keys."""
        try:
            return _looks_like_telegram(_head(Path(path)))
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def unreadable_reason(self, path: Path) -> str | None:
        """Why a Telegram export this connector does not read is refused: the HTML export, alone or zipped."""
        try:
            return HTML_EXPORT if _is_html_export(Path(path)) else None
        except SNIFF_ERRORS:
            return None

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in export order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, not a Telegram Desktop JSON export (the HTML export
                included), malformed JSON, an unsafe or broken zip, or it needs ``--tz``.
        """
        with _open_export(Path(path)) as export, export.open_json() as stream:
            meter = Meter(stream, export.display)
            walker = _Walker(meter, export.display)
            reader = _Reader(export, context, walker)
            for chat, number, value in walker.items(events(meter, export.display, max_depth=None)):
                yield reader.item(chat, number, value)


# --- the export: a result.json on disk, or inside a zip -----------------------------------


@dataclass
class _Export:
    """Where result.json and its media live."""

    path: Path
    display: str  # how errors name the JSON: the path, or "archive.zip!member"
    entry: str | None = None
    archive: SafeZip | None = None
    members: frozenset[str] = frozenset()

    @property
    def title(self) -> str:
        """A conversation name for a chat the export leaves unnamed."""
        return self.path.stem

    @contextmanager
    def open_json(self) -> Iterator[BinaryIO]:
        """A binary UTF-8 stream over result.json (BOM skipped, UTF-16 re-encoded)."""
        if self.archive is not None and self.entry is not None:
            raw: io.BufferedReader = self.archive.open(self.entry)
        else:
            raw = open(self.path, "rb")
        try:
            stream = _utf8(raw)
            if _starts_like_html(stream):
                raise InputError(self.display, HTML_EXPORT)
            yield stream
        finally:
            raw.close()

    def read_media(self, ref: str) -> bytes | None:
        """The bytes of a file the export references, or None when the export lacks it.

        Raises:
            _BadItem: the path leaves the export, is a link, is too large or unreadable.
        """
        if not ref.strip() or entry_escapes(ref):
            raise _BadItem("a file path leaves the export folder")
        if self.archive is None:
            return _read_beside(self.path.parent, ref)
        base = posixpath.dirname(self.entry or "")
        member = f"{base}/{ref}" if base else ref
        if member not in self.members:
            return None
        try:
            return self.archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise _BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit") from None
        except InputError as exc:
            raise _BadItem(f"its file cannot be read: {exc.cause}") from None


@contextmanager
def _open_export(path: Path) -> Iterator[_Export]:
    """The export behind ``path``: a result.json, or a zip holding one and its media."""
    check_export_file(path)
    if not is_zip(path):
        if path.stat().st_size == 0:
            raise InputError(str(path), "empty file")
        yield _Export(path, str(path))
        return
    with SafeZip(path) as archive:
        entry = _result_member(archive)
        if archive.size(entry) == 0:
            raise InputError(archive.member(entry), "empty file")
        yield _Export(path, archive.member(entry), entry, archive, frozenset(archive.names()))


def _result_member(archive: SafeZip) -> str:
    """The export's own result.json: the shallowest one (a deeper one is a file sent in a chat)."""
    names = archive.names()
    found = [n for n in names if PurePosixPath(n).name == RESULT_JSON]
    if not found:
        if _holds_html_export(names):
            raise InputError(archive.file, HTML_EXPORT)
        raise InputError(archive.file, f"zip holds no Telegram {RESULT_JSON}")
    depth = min(n.count("/") for n in found)
    top = [n for n in found if n.count("/") == depth]
    if len(top) > 1:
        raise InputError(archive.file, f"zip holds several Telegram exports ({', '.join(top)}); zip one at a time")
    return top[0]


def _read_beside(folder: Path, ref: str) -> bytes | None:
    """A media file under ``folder`` (result.json's own folder), never through a link."""
    target = folder
    for part in PurePosixPath(ref).parts:
        target = target / part
        if target.is_symlink():
            raise _BadItem("its file is a symbolic link")
    try:
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > ATTACHMENT_CAP:
            raise _BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit")
        with open(target, "rb") as handle:
            content = handle.read(ATTACHMENT_CAP + 1)
    except FileNotFoundError:
        return None  # the officer brought result.json without its media folders
    except OSError as exc:
        raise _BadItem(f"its file cannot be read ({exc.strerror})") from None
    if len(content) > ATTACHMENT_CAP:
        raise _BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit")
    return content


def _utf8(raw: io.BufferedReader) -> io.BufferedReader:
    """The stream as UTF-8 without a BOM: Telegram writes UTF-8, an editor may have re-saved it."""
    raw = utf8_stream(raw)
    if raw.peek(3)[:3] == codecs.BOM_UTF8:
        raw.read(3)
    return raw


def _starts_like_html(stream: io.BufferedReader) -> bool:
    return stream.peek(1024).lstrip()[:1] == b"<"


def _holds_html_export(names: list[str]) -> bool:
    return any(PurePosixPath(n).name == HTML_PAGE for n in names)


def _is_html_export(path: Path) -> bool:
    """Telegram Desktop's HTML export: its page's head, or a zip of the folder without a result.json."""
    if is_zip(path):
        with SafeZip(path) as archive:
            names = archive.names()
        return _holds_html_export(names) and not any(PurePosixPath(n).name == RESULT_JSON for n in names)
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" and all(mark in head for mark in HTML_MARKS)


def _head(path: Path) -> bytes:
    if is_zip(path):
        with SafeZip(path) as archive, archive.open(_result_member(archive)) as stream:
            return stream.read(SNIFF_BYTES)
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def _looks_like_telegram(head: bytes) -> bool:
    """Walk the head's JSON events until Telegram's keys show (a cut-off head is expected)."""
    stream = _utf8(io.BufferedReader(io.BytesIO(head)))
    if _starts_like_html(stream):
        return False
    meter = Meter(stream, "head")
    walker = _Walker(meter, "head")
    try:
        for _item in walker.items(events(meter, "head", max_depth=None)):
            if walker.telegram:
                return True
    except InputError:
        pass  # the head ends mid-JSON, or the JSON is not Telegram's
    return walker.telegram


# --- JSON events ---------------------------------------------------------------------------


@dataclass
class _Chat:
    """The chat whose messages are being read, as far as its fields have been seen."""

    number: int  # 0 for a single-chat export's root, then 1, 2, ... in an account export
    name: str | None = None
    kind: str | None = None
    chat_id: str | None = None
    members: _Members | None = None


@dataclass(frozen=True)
class _Refused:
    """A message that was not built, and why."""

    reason: str


class _Walker:
    """Turns parser events into (chat, item number, message value), building one message at a time.

    Outside messages it only tracks where it is (the keys of the open containers) and picks up
    the chat fields and the account owner; a message is built by ``_read_message``, which stops
    keeping it once it grows past MESSAGE_CAP or MAX_DEPTH.
    """

    def __init__(self, meter: Meter, display: str) -> None:
        self._meter = meter
        self._display = display
        self._keys: list[str | None] = []  # per open container: its current key ("item" in a list)
        self._started = False
        self.telegram = False  # evidence seen that this is Telegram Desktop's result.json
        self.owner: dict[str, Any] = {}  # personal_information: user_id, first_name, last_name
        self.chat = _Chat(0)
        self._chats = 0
        self._number = 0

    def items(self, events: Iterator[tuple[str, Any]]) -> Iterator[tuple[_Chat, int, Any]]:
        """Each message (or the reason it was not built) with its chat and number in the file.

        Raises:
            InputError: the JSON is not a Telegram Desktop export or nests too deeply.
        """
        meter = self._meter
        events = iter(events)
        for event, value in events:
            meter.mark = meter.offset
            if event == "map_key":
                self._key(value)
            elif event in ("end_map", "end_array"):
                self._keys.pop()
            elif self._at_message():
                self._number += 1
                yield self.chat, self._number, self._checked(self._read_message(events, event, value))
            elif event in ("start_map", "start_array"):
                self._open(event)
            else:
                self._scalar(value)
        if not self.telegram:
            raise InputError(self._display, f"{NOT_TELEGRAM}: no Telegram chat, message or account data found")

    def _key(self, key: str) -> None:
        keys = self._keys
        keys[-1] = key
        if len(keys) == 2 and keys[0] in ("chats", "left_chats") and key == "list":
            self.telegram = True

    def _at_message(self) -> bool:
        keys = self._keys
        return len(keys) >= 2 and keys[-2] == "messages" and keys[-1] == "item" and keys[:-2] in _CHAT_PATHS

    def _open(self, event: str) -> None:
        keys = self._keys
        if not self._started:
            self._started = True
            if event != "start_map":
                raise InputError(self._display, f"{NOT_TELEGRAM}: the JSON is a list, not result.json's object")
        if len(keys) >= MAX_DEPTH:
            raise InputError(self._display, f"JSON nests deeper than {MAX_DEPTH} levels near byte {self._meter.offset}")
        if event == "start_map" and keys in _CHAT_PATHS:
            if keys:  # a chat of an account export; the root is the chat of a single-chat export
                self._chats += 1
            self.chat = _Chat(self._chats)
        keys.append(None if event == "start_map" else "item")

    def _scalar(self, value: Any) -> None:
        keys = self._keys
        if not self._started:
            raise InputError(self._display, f"{NOT_TELEGRAM}: the JSON is a single value, not an object")
        if len(keys) == 2 and keys[0] == "personal_information" and isinstance(keys[1], str):
            self.owner[keys[1]] = value
            self.telegram = self.telegram or keys[1] == "user_id"
        elif keys and keys[:-1] in _CHAT_PATHS:
            self._chat_field(keys[-1], value)

    def _chat_field(self, key: str | None, value: Any) -> None:
        chat = self.chat
        if key == "name" and isinstance(value, str):
            chat.name = value
        elif key == "type" and isinstance(value, str):
            chat.kind = value
            self.telegram = self.telegram or value in _CHAT_TYPES
        elif key == "id" and isinstance(value, str | int) and not isinstance(value, bool):
            chat.chat_id = str(value)

    def _read_message(self, events: Iterator[tuple[str, Any]], event: str, value: Any) -> Any:
        """One message from its first event to its last; past the caps it is read on but not kept."""
        builder = ijson.ObjectBuilder()
        builder.event(event, value)
        depth = _DEPTH_CHANGE.get(event, 0)
        meter, start, room = self._meter, self._meter.offset, MAX_DEPTH - len(self._keys)
        if not depth:
            return builder.value  # a bare value where a message object belongs
        add, problem = builder.event, None
        for event, value in events:  # a tight loop: this is where a multi-GB export spends its time
            meter.mark = meter.offset
            depth += _DEPTH_CHANGE.get(event, 0)
            if problem is None:
                if meter.offset - start > MESSAGE_CAP:
                    problem = f"is larger than {MESSAGE_CAP >> 20} MiB"
                elif depth > room:
                    problem = f"nests deeper than {MAX_DEPTH} levels"
                else:
                    add(event, value)
            if not depth:
                break
        return builder.value if problem is None else _Refused(problem)

    def _checked(self, value: Any) -> Any:
        """The message; the first one must look like Telegram's unless the chat already did."""
        if not self.telegram and not isinstance(value, _Refused):
            if not _looks_like_message(value):
                raise InputError(self._display, f"{NOT_TELEGRAM}: its first message has no Telegram 'type' and 'date'")
            self.telegram = True
        return value


def _looks_like_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in _MESSAGE_TYPES
        and ("date" in value or "date_unixtime" in value)
    )


# --- one message ---------------------------------------------------------------------------


class _BadItem(ValueError):
    """One message cannot be archived; the text says why (never the message's content)."""


class _Members:
    """Who is known to be in a group so far, kept sorted (the custodian under one name)."""

    def __init__(self, owner: str) -> None:
        self._names = [owner]

    def _find(self, key: str) -> int | None:
        index = bisect.bisect_left(self._names, key)
        return index if index < len(self._names) and self._names[index] == key else None

    def others(self, key: str) -> tuple[str, ...]:
        index = self._find(key)
        names = self._names
        return tuple(names) if index is None else tuple(names[:index] + names[index + 1 :])

    def join(self, key: str) -> None:
        if key and len(self._names) < MAX_PARTICIPANTS and self._find(key) is None:
            bisect.insort(self._names, key)

    def leave(self, key: str) -> None:
        index = self._find(key)
        if index is not None:
            del self._names[index]


@dataclass
class _Draft:
    """What one message says, before it becomes a Message."""

    sender: str
    sender_id: str | None
    sent_at: datetime
    body: str
    system: bool
    attachments: tuple[Attachment, ...]


class _Reader:
    """Normalizes each message value the walker builds."""

    def __init__(self, export: _Export, context: ParseContext, walker: _Walker) -> None:
        self._export = export
        self._context = context
        self._walker = walker
        self._tz: ZoneInfo | None = context.tz

    def item(self, chat: _Chat, number: int, value: Any) -> ParsedItem:
        """The message, or a Rejection naming its number in the file and the reason."""
        where = f"message {number} in the file{_telegram_id(value)}"
        if isinstance(value, _Refused):
            return Rejection(self._export.display, number, f"{where} {value.reason}")
        try:
            if not isinstance(value, dict):
                raise _BadItem("is not a JSON object")
            return self._message(chat, number, value)
        except _BadItem as exc:
            return Rejection(self._export.display, number, f"{where}: {exc}")
        except (ValueError, TypeError, KeyError) as exc:  # a shape no check foresaw: its text may quote the value
            return Rejection(self._export.display, number, f"{where}: has an unexpected shape ({type(exc).__name__})")

    def _message(self, chat: _Chat, number: int, value: dict[str, Any]) -> Message:
        draft = self._draft(value, number)
        conversation, owner = self._conversation(chat), self._owner_name()
        # Checked before the sender joins the group, so no later recipient list carries bad text.
        _check_text(conversation, owner, draft.sender, draft.body,
                    *(text for a in draft.attachments for text in (a.name, a.media_type) if text))  # fmt: skip
        key = self._key(draft.sender, draft.sender_id)
        recipients, unknown = self._recipients(chat, key, draft.sender_id)
        self._track(chat, key, value, draft.system)
        context = self._context
        return Message(
            source=TelegramConnector.name,
            conversation=conversation,
            sender=draft.sender,
            sent_at=draft.sent_at,
            body=draft.body,
            recipients=recipients,
            attachments=draft.attachments,
            direction="sent" if key == owner or chat.kind == _SAVED else "received",
            account=context.account,
            custodian=context.custodian,
            system=draft.system,
            source_ref=SourceRef(self._export.path.name, number, self._export.entry, context.export_sha256),
            flags=_flags(value, draft.attachments, unknown),
        )

    def _draft(self, value: dict[str, Any], number: int) -> _Draft:
        kind = value.get("type")
        if kind not in _MESSAGE_TYPES:
            raise _BadItem("has no 'type' of 'message' or 'service'")
        system = kind == "service"
        sender, sender_id = _sender(value, system)
        sent_at = self._instant(value, number)
        text = _visible_text(value.get("text"))
        body = _service_body(sender, value, text) if system else text or _structured_body(value)
        return _Draft(sender, sender_id, sent_at, body, system, self._attachments(value))

    def _instant(self, value: dict[str, Any], number: int) -> datetime:
        unix = value.get("date_unixtime")
        if unix is not None:
            return _from_unix(unix)
        local = value.get("date")
        if not isinstance(local, str):
            raise _BadItem("has neither 'date_unixtime' nor 'date'")
        try:
            moment = datetime.fromisoformat(local)
        except ValueError:
            raise _BadItem("its 'date' is not an ISO 8601 date and time") from None
        if moment.tzinfo is not None:
            return moment
        if self._tz is None:
            raise InputError(self._export.display, f"message {number}: {TZ_REQUIRED}")
        return moment.replace(tzinfo=self._tz)

    def _attachments(self, value: dict[str, Any]) -> tuple[Attachment, ...]:
        found = [self._attachment(key, value) for key in _FILE_FIELDS if key in value]
        if "thumbnail" in value:
            preview = self._attachment("thumbnail", value)
            if not preview.missing:  # a preview of the main file: its absence is no gap in the record
                found.append(preview)
        return tuple(found)

    def _attachment(self, key: str, value: dict[str, Any]) -> Attachment:
        ref = value[key]
        if not isinstance(ref, str):
            raise _BadItem(f"its '{key}' is not a file path")
        # "(File not included. Change data exporting settings to download.)" and its kin
        placeholder = not ref or ref.startswith("(")
        name = _file_name(key, value, None if placeholder else ref)
        media_type = _media_type(key, value, name)
        content = None if placeholder else self._export.read_media(ref)
        if content is None:
            return Attachment(name, media_type, missing=True)
        return Attachment(name, media_type, hashlib.sha256(content).hexdigest(), len(content), content=content)

    def _owner_name(self) -> str:
        """The custodian's name in recipient lists: as the account export spells it, else as configured."""
        owner = self._walker.owner
        exported = " ".join(str(owner[k]) for k in ("first_name", "last_name") if isinstance(owner.get(k), str))
        if exported.strip():
            return exported.strip()
        context = self._context
        return context.custodian_names[0] if context.custodian_names else context.custodian

    def _key(self, name: str, ident: str | None) -> str:
        """The name a participant is tracked under: the custodian's names and id map to one."""
        user_id = self._walker.owner.get("user_id")
        owner = self._owner_name()
        if ident is not None and user_id is not None and ident in (f"user{user_id}", str(user_id)):
            return owner
        return owner if name == owner or self._context.is_custodian(name) else name

    def _recipients(self, chat: _Chat, key: str, ident: str | None) -> tuple[tuple[str, ...], bool]:
        """Who else was in the chat, and whether that is unknown (groups list no members)."""
        if chat.kind == _SAVED:
            return (), False
        owner = self._owner_name()
        if chat.kind in _PERSONAL:
            peer = self._conversation(chat)
            if key == owner:
                return (peer,), False
            if key == chat.name or (chat.chat_id is not None and ident in (f"user{chat.chat_id}", chat.chat_id)):
                return (owner,), False
            return (peer,), True  # neither side recognised: the custodian under a name not configured?
        if chat.members is None:
            chat.members = _Members(owner)
        return chat.members.others(key), True

    def _track(self, chat: _Chat, key: str, value: dict[str, Any], system: bool) -> None:
        """Group membership after a message: its sender, and the people a service message names."""
        members = chat.members
        if members is None:
            return
        members.join(key)
        names = value.get("members")
        if not system or not isinstance(names, list):
            return
        change = members.leave if value.get("action") == "remove_members" else members.join
        for name in names:
            if isinstance(name, str):
                _check_text(name)
                change(self._key(name, None))

    def _conversation(self, chat: _Chat) -> str:
        if chat.name:
            return chat.name
        if chat.kind == _SAVED:
            return "Saved Messages"
        if chat.chat_id is not None:
            return f"Telegram chat {chat.chat_id}"
        return self._export.title if chat.number == 0 else f"{self._export.title} chat {chat.number}"


def _flags(value: dict[str, Any], attachments: tuple[Attachment, ...], recipients_unknown: bool) -> tuple[str, ...]:
    flags = [FLAG_ATTACHMENT_MISSING] if any(a.missing for a in attachments) else []
    if "edited" in value or "edited_unixtime" in value:
        flags.append(FLAG_EDITED)
    if recipients_unknown:
        flags.append(FLAG_RECIPIENTS_UNKNOWN)
    return tuple(flags)


def _telegram_id(value: Any) -> str:
    ident = value.get("id") if isinstance(value, dict) else None
    return f" (Telegram id {ident})" if isinstance(ident, int) and not isinstance(ident, bool) else ""


def _sender(value: dict[str, Any], system: bool) -> tuple[str, str | None]:
    """Display name and id of who sent it (a service message's actor); the id for a deleted account."""
    name_key, id_key = ("actor", "actor_id") if system else ("from", "from_id")
    name, ident = value.get(name_key), value.get(id_key)
    ident_text = str(ident) if isinstance(ident, str | int) and not isinstance(ident, bool) else None
    if isinstance(name, str):
        return name, ident_text
    if name is None:
        return ident_text or "", ident_text
    raise _BadItem(f"its '{name_key}' is not a name")


def _from_unix(unix: Any) -> datetime:
    text = str(unix) if isinstance(unix, int | str) and not isinstance(unix, bool) else ""
    if _UNIX_RE.fullmatch(text) is None:
        raise _BadItem("its 'date_unixtime' is not a number of seconds")
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise _BadItem("its 'date_unixtime' is out of range") from None


def _visible_text(text: Any) -> str:
    """The text as shown: a string, or the pieces of a list (plain strings and entities' ``text``)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        raise _BadItem("its 'text' is neither a string nor a list")
    parts = []
    for piece in text:
        if isinstance(piece, dict):
            piece = piece.get("text")
        if not isinstance(piece, str):
            raise _BadItem("its 'text' holds a piece without text")
        parts.append(piece)
    return "".join(parts)


def _service_body(actor: str, value: dict[str, Any], text: str) -> str:
    """A service message's composed body: "actor: action (field value, ...)", then any text."""
    action = value.get("action")
    head = action if isinstance(action, str) and action else "service"
    if actor:
        head = f"{actor}: {head}"
    details = [detail for key, item in value.items() if key not in _NOT_DETAILS and (detail := _detail(key, item))]
    body = f"{head} ({', '.join(details)})" if details else head
    return f"{body}\n{text}" if text else body


def _detail(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return f"{key} {'yes' if value else 'no'}"
    if isinstance(value, int) and key.endswith("_seconds"):
        return f"{key.removesuffix('_seconds')} {value} s"
    if isinstance(value, str | int | float):
        return f"{key} {value}"
    if isinstance(value, list) and all(isinstance(v, str) or v is None for v in value):
        return f"{key} {', '.join('(deleted account)' if v is None else v for v in value)}"
    return f"{key} {json.dumps(value, ensure_ascii=False)}"


def _structured_body(value: dict[str, Any]) -> str:
    """A composed body for content the export gives as fields, not text: location, contact, poll."""
    location, contact, poll = (value.get(k) for k in ("location_information", "contact_information", "poll"))
    lines: list[str] = []
    if isinstance(location, dict):
        lines.append(f"location: {_plain(location.get('latitude'))}, {_plain(location.get('longitude'))}")
        lines.extend(_plain(value.get(k)) for k in ("place_name", "address") if value.get(k))
    if isinstance(contact, dict):
        who = " ".join(_plain(contact.get(k)) for k in ("first_name", "last_name") if contact.get(k))
        lines.append(f"contact: {who}, {_plain(contact.get('phone_number'))}")
    if isinstance(poll, dict):
        lines.append(f"poll: {_plain(poll.get('question'))}")
        answers = poll.get("answers")
        for answer in answers if isinstance(answers, list) else []:
            if isinstance(answer, dict):
                lines.append(f"- {_plain(answer.get('text'))} (votes: {_plain(answer.get('voters'))})")
    return "\n".join(lines)


def _plain(value: Any) -> str:
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _file_name(key: str, value: dict[str, Any], ref: str | None) -> str | None:
    exported = value.get("file_name")
    if key == "file" and isinstance(exported, str) and exported:
        return exported
    return PurePosixPath(ref).name if ref else None


def _media_type(key: str, value: dict[str, Any], name: str | None) -> str | None:
    exported = value.get("mime_type")
    if key == "file" and isinstance(exported, str) and exported:
        return exported
    guessed = mimetypes.guess_type(name, strict=False)[0] if name else None
    return guessed or _FIXED_MEDIA_TYPES.get(key)


def _check_text(*texts: str) -> None:
    """Refuse text holding an unpaired surrogate: JSON can escape one, but it is not text and cannot be stored."""
    for text in texts:
        try:
            text.encode()
        except UnicodeEncodeError:
            raise _BadItem("its text holds an unpaired UTF-16 surrogate escape") from None
