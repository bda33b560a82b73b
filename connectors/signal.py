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
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Final, Literal, Protocol

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
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, is_zip
from connectors._limits import ATTACHMENT_CAP, SNIFF_BYTES, SNIFF_ERRORS
from connectors._signal_md import (
    CALL_RE,
    DELETED_TEXT,
    EXPORTER_BREAK,
    HEADER_RE,
    STICKER_RE,
    blocks,
    body_of,
    header_within,
    local_time,
    looks_like_markdown,
    media_links,
    stamp_text,
)
from connectors._text import MESSAGE_CAP, Block, decode_head, iter_lines, utf8_stream

SNIFF_CHATS: Final = 20  # a whole-export zip may open with empty chats; look a little further
HEAD_LINES: Final = 50
MAX_PARTICIPANTS: Final = 4096
CHAT_FILES: Final = ("data.json", "chat.md", "index.md")  # in order of preference within a folder
ME: Final = "Me"  # signal-export's name for the account that made the export
TZ_REQUIRED: Final = (
    "signal-export writes local times without a zone; give --tz ZONE (an IANA name such as "
    "America/New_York, the zone of the computer that made the export) or set timezone in archiver.yaml"
)

_JSON_SHAPE_KEYS = ("quote", "sticker", "reactions", "attachments")
_NORMALIZED_KEYS = frozenset({"sent_at", "source", "conversation"})
_BLANK: Final = object()  # a blank data.json line, which separates nothing and is skipped

Kind = Literal["json", "md"]


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
            return _sniff(Path(path))
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


@dataclass(frozen=True)
class _Shape:
    """What the head of a chat file shows: its kind, and whether its first time has no zone."""

    kind: Kind
    naive: bool


class _Unreadable(Exception):
    """An attached file is in the export but cannot be taken (too large, corrupt, a symlink)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _BadField(Exception):
    """A data.json record whose field has the wrong type or value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Media(Protocol):
    def read(self, link: str) -> bytes | None:
        """The bytes of a linked file, None when the export does not hold it.

        Raises:
            _Unreadable: the file is there but must not or cannot be read.
        """
        ...


@dataclass
class _Chat:
    """One chat file and where its media live."""

    display: str  # how errors name it: the path, or "archive.zip!member"
    file: str  # the export file the officer gave
    entry: str | None  # the member inside the zip
    title: str
    shape: _Shape
    media: _Media
    opener: Callable[[], BinaryIO]


# --- finding the chats ------------------------------------------------------------------


def _sniff(path: Path) -> bool:
    if not path.is_file():
        return False  # a directory, or a pipe that would block the read
    if not is_zip(path):
        with open(path, "rb") as handle:
            data = handle.read(SNIFF_BYTES + 1)
        return _shape(data[:SNIFF_BYTES], len(data) <= SNIFF_BYTES, strict=True) is not None
    with SafeZip(path) as archive:
        for _folder, member in _zip_chats(archive)[:SNIFF_CHATS]:
            if archive.size(member) == 0:
                continue
            with archive.open(member) as stream:
                data = stream.read(SNIFF_BYTES)
            return _shape(data, archive.size(member) <= SNIFF_BYTES, strict=False) is not None
    return False


def _shape(data: bytes, complete: bool, strict: bool) -> _Shape | None:
    """The chat kind the head shows, or None.

    ``strict`` (sniffing) demands a header on the first line and signal-export's own marks;
    otherwise (parsing a file the user named) a header within the first lines is enough.
    """
    head = decode_head(data).lstrip("\ufeff")
    text = head.lstrip()
    if text.startswith("{"):
        end = text.find("\n")
        if end < 0 and not complete:
            return None  # the first record is longer than the head: cannot judge
        record = _json_or_none(text if end < 0 else text[:end])
        if not _json_shape(record):
            return None
        return _Shape("json", _naive(record["date"]))
    found = looks_like_markdown(head, complete) if strict else header_within(head, HEAD_LINES)
    return _Shape("md", True) if found else None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _json_shape(record: Any) -> bool:
    """signal-export's message object, not the archiver's own normalized JSON Lines."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("date"), str)
        and isinstance(record.get("sender"), str)
        and "body" in record
        and sum(key in record for key in _JSON_SHAPE_KEYS) >= 2
        and not _NORMALIZED_KEYS & record.keys()
    )


def _naive(stamp: Any) -> bool:
    try:
        return isinstance(stamp, str) and datetime.fromisoformat(stamp).tzinfo is None
    except ValueError:
        return False


def _zip_chats(archive: SafeZip) -> list[tuple[str, str]]:
    """(folder, chat file) for each chat folder in the zip, in archive order."""
    by_folder: dict[str, dict[str, str]] = {}
    for name in archive.names():
        folder, _, base = name.rpartition("/")
        if base.lower() in CHAT_FILES:
            by_folder.setdefault(folder, {}).setdefault(base.lower(), name)
    chats = []
    for folder, files in by_folder.items():
        parent, _, last = folder.rpartition("/")
        if last == "media" and parent in by_folder:
            continue  # a file someone sent that happens to be named data.json
        chats.append((folder, next(files[base] for base in CHAT_FILES if base in files)))
    return chats


def _parse_file(path: Path, context: ParseContext) -> Iterator[ParsedItem]:
    display = str(path)
    try:
        if path.stat().st_size == 0:
            raise InputError(display, "empty file")
        with open(path, "rb") as handle:
            data = handle.read(SNIFF_BYTES + 1)
    except OSError as exc:
        raise InputError(display, f"cannot be read ({exc.strerror})") from None
    shape = _shape(data[:SNIFF_BYTES], len(data) <= SNIFF_BYTES, strict=False)
    if shape is None:
        raise InputError(display, "not a signal-export chat: neither chat.md message headers nor data.json messages")
    if shape.naive and context.tz is None:
        raise InputError(display, TZ_REQUIRED)
    chat = _Chat(display, display, None, _file_title(path), shape, _DirMedia(path.parent), lambda: _open_text(path))
    yield from _ChatReader(chat, context).items()


def _open_text(path: Path) -> BinaryIO:
    try:
        return utf8_stream(open(path, "rb"))  # the caller closes it
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None


def _file_title(path: Path) -> str:
    """The chat's folder name for a file as signal-export names it, else the file's own name."""
    folder = path.absolute().parent.name
    return folder if path.name.lower() in CHAT_FILES and folder else path.stem


def _parse_zip(path: Path, context: ParseContext) -> Iterator[ParsedItem]:
    display = str(path)
    with SafeZip(display) as archive:
        found = _zip_chats(archive)
        if not found:
            raise InputError(display, "zip holds no signal-export chat (no chat.md or data.json)")
        plans = [_zip_plan(archive, path, folder, member) for folder, member in found]
        chats = [plan for plan in plans if isinstance(plan, _Chat)]
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


def _zip_plan(archive: SafeZip, path: Path, folder: str, member: str) -> _Chat | Rejection | None:
    """How to read one chat of the zip; None for an empty chat, a Rejection for an unreadable one."""
    display = archive.member(member)
    if archive.size(member) == 0:
        return None  # signal-export writes empty files for chats without messages: nothing to keep
    try:
        with archive.open(member) as stream:
            data = stream.read(SNIFF_BYTES)
    except InputError as exc:
        return Rejection(display, None, exc.cause)
    shape = _shape(data, archive.size(member) <= SNIFF_BYTES, strict=False)
    if shape is None:
        return Rejection(display, None, "not a signal-export chat: neither chat.md headers nor data.json messages")
    title = folder.rpartition("/")[2] or path.stem
    media = _ZipMedia(archive, folder)
    return _Chat(display, str(path), member, title, shape, media, lambda: utf8_stream(archive.open(member)))


# --- attachments ------------------------------------------------------------------------


def _link_variants(link: str) -> list[list[str]]:
    """The path segments a link may name; none when it would leave the chat's folder.

    signal-export writes whitespace in file names as %20 (and, on Windows, backslashes), so
    the literal name and the decoded one are both tried.
    """
    text = link.strip().replace("\\", "/").removeprefix("./")
    variants = [text] if "%20" not in text else [text, text.replace("%20", " ")]
    found = []
    for variant in variants:
        parts = variant.split("/")
        if any(part in ("", ".", "..") for part in parts) or ":" in parts[0]:
            continue
        found.append(parts)
    return found


class _DirMedia:
    """Files beside a bare chat.md / data.json, inside its own folder only."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def read(self, link: str) -> bytes | None:
        for parts in _link_variants(link):
            target = self._root.joinpath(*parts)
            try:
                if any(self._root.joinpath(*parts[: i + 1]).is_symlink() for i in range(len(parts))):
                    raise _Unreadable(f"its attached file '{link}' is a symbolic link, which is not followed")
                if not target.is_file():
                    continue
                if target.stat().st_size > ATTACHMENT_CAP:
                    raise _Unreadable(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit")
                with target.open("rb") as handle:
                    return handle.read()
            except OSError as exc:
                raise _Unreadable(f"its attached file cannot be read ({exc.strerror})") from None
        return None


class _ZipMedia:
    """Files in the chat's folder inside the zip (and the export's stickers beside it)."""

    def __init__(self, archive: SafeZip, folder: str) -> None:
        self._archive = archive
        self._folder = folder
        self._names = frozenset(archive.names())

    def read(self, link: str) -> bytes | None:
        base = self._folder
        if link.startswith("../exported_stickers/"):
            # Stickers sit in one folder beside the chat folders; only a whole-export zip has it.
            if not self._folder:
                return None
            base, link = self._folder.rpartition("/")[0], link[3:]
        for parts in _link_variants(link):
            member = "/".join([base, *parts] if base else parts)
            if member in self._names:
                return self._take(member)
        return None

    def _take(self, member: str) -> bytes:
        try:
            return self._archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise _Unreadable(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit") from None
        except InputError as exc:
            raise _Unreadable(f"its attached file cannot be read: {exc.cause}") from None


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


def _json_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
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


def _decode_record(number: int, raw: bytes | None) -> Any:
    """A data.json line as a JSON value, or ``_BLANK`` for a blank line.

    Raises:
        _BadField: the line is over the cap, not UTF-8 or not JSON (the reason names the line).
    """
    if raw is None:
        raise _BadField(f"line {number} is longer than 16 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadField(f"line {number} is not valid UTF-8") from None
    text = text.removeprefix("\ufeff") if number == 1 else text
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadField(f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise _BadField(f"line {number} is not valid JSON (nested too deeply or malformed)") from None


class _ChatReader:
    """Reads one chat file twice: first who speaks in it, then its messages."""

    def __init__(self, chat: _Chat, context: ParseContext) -> None:
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
                yield from self._json_items(_json_lines(stream))

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
            for number, raw in _json_lines(stream):
                try:
                    record = _decode_record(number, raw)
                except _BadField:
                    continue  # the second pass rejects it with its reason
                if isinstance(record, dict):
                    if isinstance(record.get("sender"), str):
                        self._remember(senders, record["sender"])
                    naive = naive or _naive(record.get("date"))
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
        except _Unreadable as exc:
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
                record = _decode_record(number, raw)
            except _BadField as exc:
                yield Rejection(self._chat.display, number, exc.reason)
                continue
            if record is _BLANK:
                continue
            try:
                yield self._json_message(number, record)
            except (_BadField, _Unreadable) as exc:
                yield Rejection(self._chat.display, number, f"line {number}: {exc.reason}")

    def _json_message(self, number: int, record: Any) -> Message:
        if not isinstance(record, dict):
            raise _BadField("not a JSON object")
        sent_at = self._json_time(record.get("date"))
        sender = _text(record, "sender", required=True)
        body = _text(record, "quote") + _text(record, "body") + _reactions_line(record.get("reactions"))
        if len(body) > MESSAGE_CAP:
            raise _BadField("message is longer than 16 MiB")
        attachments = self._json_attachments(record.get("attachments")) + self._sticker(record.get("sticker"))
        edits = record.get("edits")
        if edits is not None and not isinstance(edits, list):
            raise _BadField("field 'edits' is not a list")
        body = body.removesuffix(EXPORTER_BREAK)
        deleted, call = _flag(record, "deleted"), _flag(record, "call") or CALL_RE.fullmatch(body) is not None
        return self._message(number, sender, sent_at, body, attachments, deleted, call, bool(edits))

    def _json_time(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise _BadField("field 'date' is missing or not text")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _BadField("field 'date' is not an ISO 8601 time") from None
        if moment.tzinfo is not None:
            return moment
        if self._context.tz is None:
            raise _BadField("field 'date' has no zone and no --tz was given")
        return moment.replace(tzinfo=self._context.tz)

    def _json_attachments(self, value: Any) -> tuple[Attachment, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _BadField("field 'attachments' is not a list")
        found = []
        for item in value:
            if not isinstance(item, dict):
                raise _BadField("an attachment is not a JSON object")
            name = _text(item, "name") or _text(item, "fileName") or None
            links = [link for link in (_text(item, "path"), f"media/{name}" if name else "") if link]
            found.append(self._attachment(name, links, _text(item, "contentType") or None))
        return tuple(found)

    def _sticker(self, value: Any) -> tuple[Attachment, ...]:
        if not value:
            return ()
        if isinstance(value, str):
            return (Attachment(value, None, missing=True),)  # only its emoji was exported
        if not isinstance(value, dict):
            raise _BadField("field 'sticker' is neither text nor an object")
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


def _text(record: dict[str, Any], key: str, required: bool = False) -> str:
    """A text field; absent or null is empty unless required."""
    value = record.get(key)
    if isinstance(value, str):
        return value
    if value is None and not required:
        return ""
    raise _BadField(f"field '{key}' is {'missing' if value is None else 'not text'}")


def _flag(record: dict[str, Any], key: str) -> bool:
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise _BadField(f"field '{key}' is not true or false")


def _reactions_line(value: Any) -> str:
    """Reactions as signal-export's Markdown shows them: "\\n(- Name: emoji, ... -)"."""
    if not value:
        return ""
    if not isinstance(value, list):
        raise _BadField("field 'reactions' is not a list")
    shown = []
    for item in value:
        pair = [item.get("name"), item.get("emoji")] if isinstance(item, dict) else item
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise _BadField("a reaction is not a [name, emoji] pair")
        shown.append(f"{pair[0]}: {pair[1]}")
    return "\n(- " + ", ".join(shown) + " -)"
