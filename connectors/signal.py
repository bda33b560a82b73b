"""Signal Desktop chats exported by signal-export (github.com/carderne/signal-export).

signal-export writes one folder per chat, named after the contact or group, holding
``chat.md`` (Markdown, one ``[2024-01-31 14:05:09] Name: text`` block per message; older
versions wrote ``index.md`` and ``[2019-12-24, 12:23]`` stamps), ``data.json`` (JSON Lines, one
object per message: ``date``, ``sender``, ``body``, ``quote``, ``sticker``, ``reactions``,
``attachments``), an ``index.html`` and a ``media/`` folder with the copied files. This
connector reads a bare ``chat.md`` or ``data.json``, or a ``.zip`` of one chat folder or of the
whole export (each chat folder is a conversation; ``data.json`` is preferred to ``chat.md``
when a folder has both). Times are the exporting computer's wall clock without a zone, so
``--tz`` is required. The exporter writes your own messages as sent by "Me".

What is kept: the conversation (the folder's name), sender, time, the message text as
exported, the bytes of every file found in the chat's own ``media/`` folder (and, inside a
whole-export zip, of stickers in its ``exported_stickers/`` folder), deleted-message and
call notices (as system messages). In ``chat.md`` the text is kept exactly as the block reads,
so a reply's quoted ``>`` lines, the ``(- Name: emoji -)`` reactions line and the links to
files stay in it; for ``data.json`` the text is composed the same way from ``quote``, ``body``
and ``reactions``, so both files give the same text for the same message.

What is deliberately not kept: the two spaces signal-export appends to every message (a
Markdown line break, not part of what was sent), the empty lines that separate blocks,
``index.html`` (a rendering of the same messages), and the earlier versions of an edited
message that newer ``data.json`` files list under ``edits`` (the final text is kept and the
message is flagged as edited). A file the export links but does not contain is recorded as a
missing attachment; a linked path that would leave the chat's folder is never followed.

The export does not list a chat's members. When every message not sent by the custodian
comes from the person the chat is named after, it is a one-to-one chat and the recipients
are exact; otherwise the recipients are the people seen so far and the message is flagged
``recipients_unknown``.

Where the code lives. ``connectors._signal_export`` finds the chats in the file or zip and reads
their media, ``connectors._signal_md`` and ``connectors._signal_json`` read the two chat formats,
and this module turns each message into a Message.
"""

from __future__ import annotations

import bisect
import hashlib
import mimetypes
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

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
)
from archiver.readers.safezip import SafeZip, is_zip
from connectors._limits import SNIFF_BYTES, SNIFF_ERRORS
from connectors._signal_export import (
    Chat,
    DirMedia,
    Unreadable,
    chat_shape,
    file_title,
    looks_like_signal,
    open_text,
    zip_chats,
    zip_plan,
)
from connectors._signal_json import (
    BLANK,
    BadField,
    decode_record,
    flag_field,
    is_naive,
    json_lines,
    reactions_line,
    text_field,
)
from connectors._signal_md import (
    CALL_RE,
    DELETED_TEXT,
    EXPORTER_BREAK,
    HEADER_RE,
    STICKER_RE,
    blocks,
    body_of,
    local_time,
    media_links,
    stamp_text,
)
from connectors._text import MESSAGE_CAP, Block, iter_lines

MAX_PARTICIPANTS: Final = 4096
ME: Final = "Me"  # signal-export's name for the account that made the export
TZ_REQUIRED: Final = (
    "signal-export writes local times without a zone; give --tz ZONE (an IANA name such as "
    "America/New_York, the zone of the computer that made the export) or set timezone in archiver.yaml"
)


class SignalConnector:
    """Reads signal-export's chat.md / data.json, bare or zipped with their media."""

    name: ClassVar[str] = "signal"
    description: ClassVar[str] = (
        "Signal Desktop chats exported by signal-export: chat.md, data.json, or a .zip of a chat folder or the export"
    )
    conversation_in_content: ClassVar[bool] = False  # every format takes the chat's title from its folder name

    def sniff(self, path: Path) -> bool:
        """True when the file (or the first chats of a zip) reads as a signal-export chat."""
        try:
            return looks_like_signal(Path(path))
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in export order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, not a signal-export chat, an unsafe or broken zip,
                or no time zone was given for its zone-less times.
        """
        path = Path(path)
        check_export_file(path)
        if is_zip(path):
            yield from _parse_zip(path, context)
        else:
            yield from _parse_file(path, context)


# --- the file or the zip ----------------------------------------------------------------


def _parse_file(path: Path, context: ParseContext) -> Iterator[ParsedItem]:
    display = str(path)
    try:
        if path.stat().st_size == 0:
            raise InputError(display, "empty file")
        with open(path, "rb") as handle:
            data = handle.read(SNIFF_BYTES + 1)
    except OSError as exc:
        raise InputError(display, f"cannot be read ({exc.strerror})") from None
    shape = chat_shape(data[:SNIFF_BYTES], len(data) <= SNIFF_BYTES, strict=False)
    if shape is None:
        raise InputError(display, "not a signal-export chat: neither chat.md message headers nor data.json messages")
    if shape.naive and context.tz is None:
        raise InputError(display, TZ_REQUIRED)
    chat = Chat(display, display, None, file_title(path), shape, DirMedia(path.parent), lambda: open_text(path))
    yield from _ChatReader(chat, context).items()


def _parse_zip(path: Path, context: ParseContext) -> Iterator[ParsedItem]:
    display = str(path)
    with SafeZip(display) as archive:
        found = zip_chats(archive)
        if not found:
            raise InputError(display, "zip holds no signal-export chat (no chat.md or data.json)")
        plans = [zip_plan(archive, path, folder, member) for folder, member in found]
        chats = [plan for plan in plans if isinstance(plan, Chat)]
        refused = [plan for plan in plans if isinstance(plan, Rejection)]
        if not chats:
            if refused:
                raise InputError(refused[0].file, refused[0].reason)
            if len(found) == 1:
                raise InputError(archive.member(found[0][1]), "empty file")
            raise InputError(display, "every chat in the zip is empty")
        if context.tz is None and any(chat.shape.naive for chat in chats):
            raise InputError(display, TZ_REQUIRED)
        for plan in plans:
            if isinstance(plan, Rejection):
                yield plan
                continue
            if plan is None:
                continue
            try:
                yield from _ChatReader(plan, context).items()
            except InputError as exc:
                if len(chats) == 1 or exc.cause == TZ_REQUIRED:
                    raise
                yield Rejection(exc.file, exc.line, f"chat cannot be read: {exc.cause}")  # the other chats go on


# --- participants -----------------------------------------------------------------------


class _People:
    """Who the recipients of each message are, as far as the export tells."""

    def __init__(self, context: ParseContext, conversation: str, senders: set[str]) -> None:
        self._context = context
        self._conversation = conversation
        self.custodian = context.custodian_names[0] if context.custodian_names else context.custodian
        # One-to-one: everyone but the custodian is the person the chat folder is named after.
        self.direct = {s for s in senders if not self.mine(s)} == {conversation}
        self._members = [self.custodian]
        self.overflow = False

    def mine(self, sender: str) -> bool:
        """True for the custodian's messages: signal-export calls them "Me"."""
        return sender == ME or self._context.is_custodian(sender)

    def recipients(self, sender: str) -> tuple[tuple[str, ...], bool]:
        """The recipients of a message from ``sender``, and whether they are known for sure."""
        mine = self.mine(sender)
        if self.direct:
            return ((self._conversation,) if mine else (self.custodian,)), True
        key = self.custodian if mine else sender
        self._join(key)
        return tuple(m for m in self._members if m != key), False

    def _join(self, key: str) -> None:
        index = bisect.bisect_left(self._members, key)
        if index < len(self._members) and self._members[index] == key:
            return
        if len(self._members) >= MAX_PARTICIPANTS:
            self.overflow = True
            return
        self._members.insert(index, key)


# --- reading one chat -------------------------------------------------------------------


class _ChatReader:
    """Reads one chat file twice: first who speaks in it, then its messages."""

    def __init__(self, chat: Chat, context: ParseContext) -> None:
        self._chat = chat
        self._context = context
        self._people: _People | None = None  # known once the first pass has seen every sender

    def items(self) -> Iterator[ParsedItem]:
        """Each message of the chat, or a Rejection for one that cannot be read."""
        senders, naive = self._survey_md() if self._chat.shape.kind == "md" else self._survey_json()
        if naive and self._context.tz is None:
            raise InputError(self._chat.display, TZ_REQUIRED)
        self._people = _People(self._context, self._chat.title, senders)
        with self._chat.opener() as stream:
            if self._chat.shape.kind == "md":
                yield from self._md_items(blocks(iter_lines(stream)))
            else:
                yield from self._json_items(json_lines(stream))

    @staticmethod
    def _remember(senders: set[str], sender: str) -> None:
        if len(senders) <= MAX_PARTICIPANTS:
            senders.add(sender)

    def _survey_md(self) -> tuple[set[str], bool]:
        senders: set[str] = set()
        with self._chat.opener() as stream:
            for _number, text, _problem, _size in iter_lines(stream):
                header = HEADER_RE.match(text)
                if header is not None:
                    self._remember(senders, header["sender"])
        return senders, True

    def _survey_json(self) -> tuple[set[str], bool]:
        senders: set[str] = set()
        naive = False
        with self._chat.opener() as stream:
            for number, raw in json_lines(stream):
                try:
                    record = decode_record(number, raw)
                except BadField:
                    continue  # the second pass rejects it with its reason
                if isinstance(record, dict):
                    if isinstance(record.get("sender"), str):
                        self._remember(senders, record["sender"])
                    naive = naive or is_naive(record.get("date"))
        return senders, naive

    # chat.md

    def _md_items(self, found: Iterator[Block]) -> Iterator[ParsedItem]:
        display = self._chat.display
        for block in found:
            if block.header is None:
                yield Rejection(
                    display, block.line, f"text from line {block.line} comes before the first message header"
                )
            elif block.problem is not None:
                yield Rejection(display, block.problem_line, block.problem)
            else:
                yield self._md_message(block)

    def _md_message(self, block: Block) -> ParsedItem:
        assert block.header is not None and self._context.tz is not None
        sent_at = local_time(block.header, self._context.tz)
        if sent_at is None:
            reason = f"header date '{stamp_text(block.header)}' is not a valid date"
            return Rejection(self._chat.display, block.line, reason)
        body = body_of(block)
        try:
            attachments = self._md_attachments(body)
        except Unreadable as exc:
            return Rejection(self._chat.display, block.line, exc.reason)
        deleted = body == DELETED_TEXT
        call = CALL_RE.fullmatch(body) is not None
        return self._message(block.line, block.header["sender"], sent_at, body, attachments, deleted, call, False)

    def _md_attachments(self, body: str) -> tuple[Attachment, ...]:
        if "](" not in body and "((" not in body:
            return ()  # the common case, decided without a regex
        found = [self._attachment(name, [link], None) for name, link in media_links(body)]
        found += [Attachment(label, None, missing=True) for label in STICKER_RE.findall(body)]
        return tuple(found)

    # data.json

    def _json_items(self, lines: Iterator[tuple[int, bytes | None]]) -> Iterator[ParsedItem]:
        for number, raw in lines:
            try:
                record = decode_record(number, raw)
            except BadField as exc:
                yield Rejection(self._chat.display, number, exc.reason)
                continue
            if record is BLANK:
                continue
            try:
                yield self._json_message(number, record)
            except (BadField, Unreadable) as exc:
                yield Rejection(self._chat.display, number, f"line {number}: {exc.reason}")

    def _json_message(self, number: int, record: Any) -> Message:
        if not isinstance(record, dict):
            raise BadField("not a JSON object")
        sent_at = self._json_time(record.get("date"))
        sender = text_field(record, "sender", required=True)
        body = text_field(record, "quote") + text_field(record, "body") + reactions_line(record.get("reactions"))
        if len(body) > MESSAGE_CAP:
            raise BadField("message is longer than 16 MiB")
        attachments = self._json_attachments(record.get("attachments")) + self._sticker(record.get("sticker"))
        edits = record.get("edits")
        if edits is not None and not isinstance(edits, list):
            raise BadField("field 'edits' is not a list")
        body = body.removesuffix(EXPORTER_BREAK)
        deleted, call = flag_field(record, "deleted"), flag_field(record, "call") or CALL_RE.fullmatch(body) is not None
        return self._message(number, sender, sent_at, body, attachments, deleted, call, bool(edits))

    def _json_time(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise BadField("field 'date' is missing or not text")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise BadField("field 'date' is not an ISO 8601 time") from None
        if moment.tzinfo is not None:
            return moment
        if self._context.tz is None:
            raise BadField("field 'date' has no zone and no --tz was given")
        return moment.replace(tzinfo=self._context.tz)

    def _json_attachments(self, value: Any) -> tuple[Attachment, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise BadField("field 'attachments' is not a list")
        found = []
        for item in value:
            if not isinstance(item, dict):
                raise BadField("an attachment is not a JSON object")
            name = text_field(item, "name") or text_field(item, "fileName") or None
            links = [link for link in (text_field(item, "path"), f"media/{name}" if name else "") if link]
            found.append(self._attachment(name, links, text_field(item, "contentType") or None))
        return tuple(found)

    def _sticker(self, value: Any) -> tuple[Attachment, ...]:
        if not value:
            return ()
        if isinstance(value, str):
            return (Attachment(value, None, missing=True),)  # only its emoji was exported
        if not isinstance(value, dict):
            raise BadField("field 'sticker' is neither text nor an object")
        emoji = value.get("emoji")
        label = emoji if isinstance(emoji, str) and emoji else "sticker"
        pack, sticker, extension = (value.get(key) for key in ("packId", "id", "extension"))
        if all(isinstance(part, str) and part for part in (pack, sticker, extension)):
            return (self._attachment(label, [f"../exported_stickers/{pack}/{sticker}.{extension}"], None),)
        return (Attachment(label, None, missing=True),)

    # both

    def _attachment(self, name: str | None, links: list[str], media_type: str | None) -> Attachment:
        guessed = media_type or mimetypes.guess_type(name or (links[0] if links else ""), strict=False)[0]
        for link in links:
            content = self._chat.media.read(link)
            if content is not None:
                digest = hashlib.sha256(content).hexdigest()
                return Attachment(name, guessed, digest, len(content), content=content)
        return Attachment(name, guessed, missing=True)

    def _message(
        self,
        line: int,
        sender: str,
        sent_at: datetime,
        body: str,
        attachments: tuple[Attachment, ...],
        deleted: bool,
        call: bool,
        edited: bool,
    ) -> Message:
        context, people = self._context, self._people
        assert people is not None
        recipients, known = people.recipients(sender)
        flags = []
        if any(a.missing for a in attachments):
            flags.append(FLAG_ATTACHMENT_MISSING)
        if deleted:
            flags.append(FLAG_DELETED)
        if edited:
            flags.append(FLAG_EDITED)
        if not known or not recipients or people.overflow:
            flags.append(FLAG_RECIPIENTS_UNKNOWN)
        return Message(
            source=SignalConnector.name,
            conversation=self._chat.title,
            sender=sender,
            sent_at=sent_at,
            body=body,
            recipients=recipients,
            attachments=attachments,
            direction="sent" if people.mine(sender) else "received",
            account=context.account,
            custodian=context.custodian,
            system=deleted or call,
            source_ref=SourceRef(self._chat.file, line, self._chat.entry, context.export_sha256),
            flags=tuple(flags),
        )
