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

Where the code lives. ``connectors._telegram_export`` opens the export (result.json alone or
zipped, its media, the HTML export's refusal), ``connectors._telegram_json`` walks the JSON
one message at a time, and this module turns each message into a Message.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Attachment, Message, SourceRef
from connectors._json import Meter, events
from connectors._limits import SNIFF_BYTES as SNIFF_BYTES  # re-exported: how much of a file sniffing reads
from connectors._limits import SNIFF_ERRORS
from connectors._telegram_export import HTML_EXPORT, BadItem, Export, is_html_export, open_export, sniff_head
from connectors._telegram_json import (
    MESSAGE_TYPES,
    PERSONAL,
    SAVED,
    Chat,
    Members,
    Refused,
    Walker,
    looks_like_telegram,
)

TZ_REQUIRED: Final = (
    "this Telegram export predates 'date_unixtime' and carries local times without a zone; give "
    "--tz ZONE (an IANA name such as America/New_York) or set timezone in archiver.yaml"
)
_FILE_FIELDS: Final = ("photo", "file", "contact_vcard")
_FIXED_MEDIA_TYPES: Final = {"photo": "image/jpeg", "contact_vcard": "text/vcard"}
# Fields of a service message that its composed body does not repeat: its identity, its
# sender and time, and the media kept as attachments.
_NOT_DETAILS: Final = frozenset({
    "id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "actor", "actor_id", "from", "from_id",
    "action", "text", "text_entities", "thumbnail", "photo_file_size", "file_size", "thumbnail_file_size",
    "width", "height", "mime_type", "file_name", "media_type", *_FILE_FIELDS,
})  # fmt: skip
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
            return looks_like_telegram(sniff_head(Path(path)))
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def unreadable_reason(self, path: Path) -> str | None:
        """Why a Telegram export this connector does not read is refused: the HTML export, alone or zipped."""
        try:
            return HTML_EXPORT if is_html_export(Path(path)) else None
        except SNIFF_ERRORS:
            return None

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in export order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, not a Telegram Desktop JSON export (the HTML export
                included), malformed JSON, an unsafe or broken zip, or it needs ``--tz``.
        """
        with open_export(Path(path)) as export, export.open_json() as stream:
            meter = Meter(stream, export.display)
            walker = Walker(meter, export.display)
            reader = _Reader(export, context, walker)
            for chat, number, value in walker.items(events(meter, export.display, max_depth=None)):
                yield reader.item(chat, number, value)


# --- one message ---------------------------------------------------------------------------


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

    def __init__(self, export: Export, context: ParseContext, walker: Walker) -> None:
        self._export = export
        self._context = context
        self._walker = walker
        self._tz: ZoneInfo | None = context.tz

    def item(self, chat: Chat, number: int, value: Any) -> ParsedItem:
        """The message, or a Rejection naming its number in the file and the reason."""
        where = f"message {number} in the file{_telegram_id(value)}"
        if isinstance(value, Refused):
            return Rejection(self._export.display, number, f"{where} {value.reason}")
        try:
            if not isinstance(value, dict):
                raise BadItem("is not a JSON object")
            return self._message(chat, number, value)
        except BadItem as exc:
            return Rejection(self._export.display, number, f"{where}: {exc}")
        except (ValueError, TypeError, KeyError) as exc:  # a shape no check foresaw: its text may quote the value
            return Rejection(self._export.display, number, f"{where}: has an unexpected shape ({type(exc).__name__})")

    def _message(self, chat: Chat, number: int, value: dict[str, Any]) -> Message:
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
            direction="sent" if key == owner or chat.kind == SAVED else "received",
            account=context.account,
            custodian=context.custodian,
            system=draft.system,
            source_ref=SourceRef(self._export.path.name, number, self._export.entry, context.export_sha256),
            flags=_flags(value, draft.attachments, unknown),
        )

    def _draft(self, value: dict[str, Any], number: int) -> _Draft:
        kind = value.get("type")
        if kind not in MESSAGE_TYPES:
            raise BadItem("has no 'type' of 'message' or 'service'")
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
            raise BadItem("has neither 'date_unixtime' nor 'date'")
        try:
            moment = datetime.fromisoformat(local)
        except ValueError:
            raise BadItem("its 'date' is not an ISO 8601 date and time") from None
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
            raise BadItem(f"its '{key}' is not a file path")
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

    def _recipients(self, chat: Chat, key: str, ident: str | None) -> tuple[tuple[str, ...], bool]:
        """Who else was in the chat, and whether that is unknown (groups list no members)."""
        if chat.kind == SAVED:
            return (), False
        owner = self._owner_name()
        if chat.kind in PERSONAL:
            peer = self._conversation(chat)
            if key == owner:
                return (peer,), False
            if key == chat.name or (chat.chat_id is not None and ident in (f"user{chat.chat_id}", chat.chat_id)):
                return (owner,), False
            return (peer,), True  # neither side recognised: the custodian under a name not configured?
        if chat.members is None:
            chat.members = Members(owner)
        return chat.members.others(key), True

    def _track(self, chat: Chat, key: str, value: dict[str, Any], system: bool) -> None:
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

    def _conversation(self, chat: Chat) -> str:
        if chat.name:
            return chat.name
        if chat.kind == SAVED:
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
    raise BadItem(f"its '{name_key}' is not a name")


def _from_unix(unix: Any) -> datetime:
    text = str(unix) if isinstance(unix, int | str) and not isinstance(unix, bool) else ""
    if _UNIX_RE.fullmatch(text) is None:
        raise BadItem("its 'date_unixtime' is not a number of seconds")
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise BadItem("its 'date_unixtime' is out of range") from None


def _visible_text(text: Any) -> str:
    """The text as shown: a string, or the pieces of a list (plain strings and entities' ``text``)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        raise BadItem("its 'text' is neither a string nor a list")
    parts = []
    for piece in text:
        if isinstance(piece, dict):
            piece = piece.get("text")
        if not isinstance(piece, str):
            raise BadItem("its 'text' holds a piece without text")
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
            raise BadItem("its text holds an unpaired UTF-16 surrogate escape") from None
