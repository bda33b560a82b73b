"""WhatsApp "Export chat": the ``.txt`` transcript, or the ``.zip`` the app makes with media.

The export is hostile input of unknown size, so it is streamed line by line in binary, twice:
a cheap first pass decides the file's day/month order from every header line
(``_whatsapp_dates``), the second builds messages. Lines and messages that cannot be read
become ``Rejection`` items; the rest of the chat is still archived.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import mimetypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, ClassVar, Final

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
from connectors._signal_md import looks_like_markdown
from connectors._text import Block, Lines, decode_head, iter_runs, utf8_stream
from connectors._whatsapp_dates import (
    DELETED_RE,
    HEADER_RE,
    MEMBERSHIP_RE,
    NOTICE_MAX,
    DateOrder,
    DateOrderVote,
    alternatives,
    clean_name,
    split_header,
    stamp_text,
)
from connectors._whatsapp_locales import AUDIO, CONTACT, GIF, IMAGE, LANGUAGES, STICKER, VIDEO
from connectors._whatsapp_times import SentTimes

HEAD_LINES: Final = 50  # a real export has a header on its first line; allow some junk
MAX_PARTICIPANTS: Final = 4096  # WhatsApp groups hold 1024; beyond this, stop tracking
SNIFF_LINES: Final = 20
TZ_REQUIRED: Final = (
    "WhatsApp exports carry local times without a zone; give --tz ZONE (an IANA name such as "
    "America/New_York) or set timezone in archiver.yaml"
)

_MARKS = "\u200e\u200f"

_TITLE_RE = re.compile(r"WhatsApp Chat (?:with |- ?)(?P<title>.+)", re.IGNORECASE)
_NAME_LIST_RE = re.compile(r", | and ")
_PHRASES = LANGUAGES.values()
_OMITTED_KINDS: Final = {p.casefold(): kind for lang in _PHRASES for p, kind in lang.omitted.items()}
# A placeholder's last word ("omitted", "edilmedi"): tells cheaply which bodies may hold one.
_OMITTED_LAST_WORDS: Final = frozenset(p.rsplit(" ", 1)[-1] for p in _OMITTED_KINDS)
_ENDING: Final = min(map(len, _OMITTED_LAST_WORDS))
_OMITTED_ENDINGS: Final = frozenset(word[-_ENDING:] for word in _OMITTED_LAST_WORDS)
_ATTACHED_RE = re.compile(rf"<(?:{alternatives(p for lang in _PHRASES for p in lang.attached)}): ([^<>\n]*)>")
_FILE_ATTACHED_RE = re.compile(
    rf"(?P<name>[^\n]+?) \((?:{alternatives(p for lang in _PHRASES for p in lang.file_attached)})\)(?:\n|$)"
)
_MEDIA_OMITTED_RE = re.compile(  # Android: "<Media omitted>" opens the body, a caption may follow
    rf"[<\u2039](?:{alternatives(p for lang in _PHRASES for p in lang.media_omitted)})[>\u203a]$", re.IGNORECASE
)
_OMITTED_RE = re.compile(  # iOS: "image omitted" is the whole body, or ends it after a mark
    rf"(?:^|\u200e)(?P<kind>{alternatives(_OMITTED_KINDS)})$", re.IGNORECASE
)
_JPEG, _MP4, _VCARD = "image/jpeg", "video/mp4", "text/vcard"
_KIND_TYPES: Final = {IMAGE: _JPEG, VIDEO: _MP4, GIF: _MP4, AUDIO: "audio/ogg", STICKER: "image/webp",
                      CONTACT: _VCARD}  # fmt: skip


class WhatsAppConnector:
    """Reads WhatsApp's "Export chat" transcripts (Android and iOS, any locale's date style)."""

    name: ClassVar[str] = "whatsapp"
    description: ClassVar[str] = "WhatsApp 'Export chat' text (.txt) or the .zip the app makes, Android and iOS"
    conversation_in_content: ClassVar[bool] = False  # the chat's title is the file's name

    def sniff(self, path: Path) -> bool:
        """True when a message header opens one of the first lines of the chat text."""
        try:
            return _looks_like_chat(_head(path))
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in export order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, not a WhatsApp export, an unsafe or broken zip,
                mixes day-first and month-first dates, has dates whose day/month order
                neither the file, the zone nor ``context.date_order`` settles, or no time
                zone was given.
        """
        with _open_export(Path(path), str(path)) as export:
            order = _vote(export, context)
            if context.tz is None:
                raise InputError(export.display, TZ_REQUIRED)
            reader = _ChatReader(export, context, order)
            with export.open_text() as stream:
                yield from reader.items(iter_runs(stream))


@dataclass
class _Export:
    """Where the chat text and its media live."""

    path: Path
    display: str  # how errors name it: the path, or "archive.zip!member"
    conversation: str
    entry: str | None = None
    archive: SafeZip | None = None
    media: dict[str, str] = field(default_factory=dict)  # file name -> zip member

    def open_text(self) -> BinaryIO:
        """A fresh binary stream over the chat text, UTF-16 transcoded to UTF-8."""
        if self.archive is not None and self.entry is not None:
            stream: io.BufferedReader = self.archive.open(self.entry)
        else:
            stream = open(self.path, "rb")  # the caller closes it
        return utf8_stream(stream)


@contextmanager
def _open_export(path: Path, display: str) -> Iterator[_Export]:
    """The export behind ``path``: a chat text, or a zip holding one and its media."""
    if not is_zip(path):
        _check_text_file(path, display)
        yield _Export(path, display, _text_title(path))
        return
    with SafeZip(display) as archive:
        entry = _chat_member(archive)
        if archive.size(entry) == 0:
            raise InputError(archive.member(entry), "empty file")
        media = {PurePosixPath(n).name: n for n in reversed(archive.names()) if n != entry}
        yield _Export(path, archive.member(entry), _zip_title(path, entry), entry, archive, media)


def _check_text_file(path: Path, display: str) -> None:
    check_export_file(path)
    if path.stat().st_size == 0:
        raise InputError(display, "empty file")


def _chat_member(archive: SafeZip) -> str:
    texts = [n for n in archive.names() if n.lower().endswith(".txt")]
    for name in texts:
        if PurePosixPath(name).name == "_chat.txt":
            return name
    for name in texts:
        if _TITLE_RE.match(PurePosixPath(name).name):
            return name
    for name in texts:
        with archive.open(name) as stream:
            if _looks_like_chat(stream.read(SNIFF_BYTES)):
                return name
    raise InputError(archive.file, "zip holds no WhatsApp chat .txt")


def _title(name: str) -> str | None:
    match = _TITLE_RE.match(PurePosixPath(name).stem)
    return match["title"].strip() if match else None


def _text_title(path: Path) -> str:
    if path.stem == "_chat":  # iOS export unzipped: the folder carries the chat's name
        return _title(path.parent.name + ".zip") or path.parent.name or path.stem
    return _title(path.name) or path.stem


def _zip_title(path: Path, entry: str) -> str:
    stem = PurePosixPath(entry).stem
    fallback = path.stem if stem == "_chat" else stem
    return _title(entry) or _title(path.name) or fallback


def _head(path: Path) -> bytes:
    if is_zip(path):
        with SafeZip(path) as archive, archive.open(_chat_member(archive)) as stream:
            return stream.read(SNIFF_BYTES)
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def _looks_like_chat(data: bytes) -> bool:
    """A WhatsApp header within the first lines, and not signal-export Markdown, whose
    ``[2024-01-31 14:05:09] Name:`` headers some WhatsApp locales share."""
    head = decode_head(data)
    for line in head.splitlines()[:SNIFF_LINES]:
        if HEADER_RE.match(line):
            return not looks_like_markdown(head, len(data) < SNIFF_BYTES)
    return False


def _vote(export: _Export, context: ParseContext) -> DateOrder:
    """First pass: find the headers and decide the day/month order of the whole file."""
    zone = context.tz.key if context.tz is not None else None
    vote = DateOrderVote(export.display, context.date_order, zone)
    with export.open_text() as stream:
        _count_headers(iter_runs(stream), vote)
    if vote.headers == 0:
        raise InputError(export.display, f"not a WhatsApp export: no message header in the first {HEAD_LINES} lines")
    return vote.decide()


def _count_headers(runs: Iterator[Lines], vote: DateOrderVote) -> None:
    """Add every header line to ``vote``; stop early when the head of the file holds none."""
    match, repeats = HEADER_RE.match, vote.repeats
    for run in runs:
        for index, text in enumerate(run.texts):
            if repeats(text):
                continue
            header = match(text)
            if header is not None:
                vote.add(run.first + index, header)
            elif not vote.headers and run.first + index >= HEAD_LINES:
                return


@dataclass(frozen=True)
class _AttachmentRef:
    name: str | None
    media_type: str | None


class _Participants:
    """Who is known to be in the chat so far, as a sorted list (custodian under one name)."""

    def __init__(self, context: ParseContext) -> None:
        self._context = context
        self.custodian = context.custodian_names[0] if context.custodian_names else context.custodian
        self._members = [self.custodian]
        self._present = {self.custodian}
        self._senders: dict[str, tuple[str, tuple[str, ...], bool]] = {}  # see sender()
        self._keys: dict[str, str] = {}
        self.overflow = False

    def key(self, name: str) -> str:
        """The name a participant is tracked under (the custodian's aliases map to one)."""
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = self.custodian if self._context.is_custodian(name) else name
        return key

    def person(self, name: str) -> str:
        """``key`` for a name in an app notice, where "You"/"you" is the custodian."""
        return self.custodian if name.casefold() == "you" else self.key(name)

    def sender(self, name: str) -> tuple[str, tuple[str, ...], bool]:
        """The key a message's sender (``name``, "" for none) is tracked under, its recipients
        (every other member) and whether it is a member. Kept per name until the members change."""
        found = self._senders.get(name)
        if found is None:
            if len(self._senders) >= _SENDERS_KEPT:
                self._senders.clear()
            key = self.key(name) if name else ""
            found = self._senders[name] = (key, tuple(m for m in self._members if m != key), key in self._present)
        return found

    def join(self, key: str) -> None:
        if key in self._present:
            return
        if len(self._members) >= MAX_PARTICIPANTS:
            self.overflow = True
            return
        bisect.insort(self._members, key)
        self._present.add(key)
        self._senders.clear()

    def leave(self, key: str) -> None:
        if key in self._present:
            self._members.remove(key)
            self._present.remove(key)
            self._senders.clear()


_SENDERS_KEPT: Final = 256  # names outside an overflowing chat each get a list of 4,096
# A header line whose message may go on: its number, instant, text after the stamp, whole text,
# and where it is.
_Opened = tuple[int, datetime | None, str, str, Lines, int]


@dataclass
class _Draft(Block):
    """A message of several lines being collected. What its header line told is kept in place of
    the line's match (``header``, None), which would cost matching the line again."""

    sent_at: datetime | None = None
    rest: str = ""  # the header line after its stamp
    text: str = ""  # the header line


class _ChatReader:
    """Second pass: groups lines into messages and normalizes them."""

    def __init__(self, export: _Export, context: ParseContext, order: DateOrder) -> None:
        assert context.tz is not None
        self._export = export
        self._context = context
        self._sent_times = SentTimes(order, context.tz)
        self._people = _Participants(context)
        self._file_name = export.path.name
        self._conversation = export.conversation

    def items(self, runs: Iterator[Lines]) -> Iterator[ParsedItem]:
        """Group lines under their header line and yield one item per message.

        A header line stays a plain tuple until a line follows it: most messages have one line.
        """
        header_of = self._sent_times.of_line
        draft: _Draft | _Opened | None = None
        orphans: list[int] = []
        for run in runs:
            first, problem = run.first, run.problem
            for index, text in enumerate(run.texts):
                header = header_of(text)
                if header is not None:
                    if isinstance(draft, tuple):  # the common case first: a message of one line
                        yield self._message(draft[0], draft[1], draft[2], draft[3], [])
                    elif draft is not None:
                        yield self._finish(draft)
                    elif orphans:
                        yield self._orphans(orphans)
                    draft = (first + index, *header, text, run, index)
                    if problem is not None:
                        draft = _Draft(first + index, None, run.size(index))
                        draft.fail(first + index, problem)
                elif draft is not None:
                    if isinstance(draft, tuple):
                        line, sent_at, rest, opening, opened_in, at = draft
                        draft = _Draft(line, None, opened_in.size(at), sent_at=sent_at, rest=rest, text=opening)
                    draft.add(first + index, text, problem, run.size(index))
                elif text.strip() or problem is not None:
                    orphans.append(first + index)
        if draft is not None:
            yield self._finish(draft)

    def _orphans(self, numbers: list[int]) -> Rejection:
        where = f"line {numbers[0]} comes" if len(numbers) == 1 else f"lines {numbers[0]}-{numbers[-1]} come"
        return Rejection(self._export.display, numbers[0], f"{where} before the first message header")

    def _finish(self, draft: _Draft | _Opened) -> ParsedItem:
        if isinstance(draft, tuple):
            return self._message(draft[0], draft[1], draft[2], draft[3], [])
        if draft.problem is not None:
            return Rejection(self._export.display, draft.problem_line, draft.problem)
        return self._message(draft.line, draft.sent_at, draft.rest, draft.text, draft.extra)

    def _message(self, line: int, sent_at: datetime | None, rest: str, text: str, extra: list[str]) -> ParsedItem:
        """The message opened by header line ``text`` (sent at ``sent_at``, ``rest`` after its stamp),
        ``extra`` lines after it."""
        if sent_at is None:
            reason = f"header date '{stamp_text(HEADER_RE.match(text))}' is not a valid date"  # type: ignore[arg-type]
            return Rejection(self._export.display, line, reason)
        sender, first, system = split_header(rest)
        while extra and not extra[-1]:
            extra.pop()  # WhatsApp trims what is sent: a trailing empty line only separates
        body = "\n".join([first, *extra]) if extra else first
        refs = _attachment_refs(body, first)
        attachments: tuple[Attachment, ...] | str = ()
        if refs:
            attachments = self._attachments(refs)
            if isinstance(attachments, str):
                return Rejection(self._export.display, line, attachments)
        people = self._people
        key, recipients, member = people.sender(sender)
        if system:
            self._track(first)
        elif not member:
            people.join(key)
        # DELETED_RE matches only short app notices: a message that is no notice need not be tried
        deleted = system and not extra and DELETED_RE.match(first) is not None
        context = self._context
        # Positional, in the order of Message's fields: matching thirteen keywords cost more
        # than the rest of building a message of one line.
        return Message(
            "whatsapp",
            self._conversation,
            sender,
            sent_at,
            body,
            recipients,
            attachments,
            "sent" if sender and key == people.custodian else "received",
            context.account,
            context.custodian,
            system,
            SourceRef(self._file_name, line, self._export.entry, context.export_sha256),
            # most messages carry no flag: the tests _flags makes first, cheaply
            self._flags(body, deleted, recipients, attachments)
            if attachments or deleted or "<" in body or not recipients or people.overflow
            else (),
        )

    def _flags(
        self, body: str, deleted: bool, recipients: tuple[str, ...], attachments: tuple[Attachment, ...]
    ) -> tuple[str, ...]:
        flags: tuple[str, ...] = ()
        if attachments and any(a.missing for a in attachments):
            flags += (FLAG_ATTACHMENT_MISSING,)
        if deleted:
            flags += (FLAG_DELETED,)
        if "<This message was edited>" in body:
            flags += (FLAG_EDITED,)
        if not recipients or self._people.overflow:
            flags += (FLAG_RECIPIENTS_UNKNOWN,)
        return flags

    def _track(self, notice: str) -> None:
        """Update who is in the chat after a membership notice."""
        change = MEMBERSHIP_RE.match(notice) if len(notice) <= NOTICE_MAX else None
        if change is None:
            return
        actor = self._people.person(clean_name(change["actor"]))
        if change["left"]:
            self._people.leave(actor)
            return
        self._people.join(actor)
        for name in _NAME_LIST_RE.split(change["who"] or ""):
            if name:
                person = self._people.person(clean_name(name))
                (self._people.leave if change["verb"] == "removed" else self._people.join)(person)

    def _attachments(self, refs: list[_AttachmentRef]) -> tuple[Attachment, ...] | str:
        """The message's attachments, bytes read now; a string is the reason to reject it."""
        found: list[Attachment] = []
        for ref in refs:
            attachment = self._attachment(ref)
            if isinstance(attachment, str):
                return attachment
            found.append(attachment)
        return tuple(found)

    def _attachment(self, ref: _AttachmentRef) -> Attachment | str:
        member = self._export.media.get(ref.name) if ref.name else None
        if member is None or self._export.archive is None:
            return Attachment(ref.name, ref.media_type, missing=True)
        try:
            content = self._export.archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            return f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit"
        except InputError as exc:
            return f"its attached file cannot be read: {exc.cause}"
        digest = hashlib.sha256(content).hexdigest()
        return Attachment(ref.name, ref.media_type, digest, len(content), content=content)


def _attachment_refs(body: str, first: str) -> list[_AttachmentRef]:
    """The attachments a body (whose first line is ``first``) names or stands in for, by every
    language's wording."""
    refs = [_named_ref(name.strip()) for name in _ATTACHED_RE.findall(body)] if "<" in body else []
    if first.endswith(")"):  # Android: "NAME (file attached)"
        android = _FILE_ATTACHED_RE.match(first)
        if android is not None:
            refs.append(_named_ref(android["name"].strip(_MARKS)))
    if first.endswith((">", "\u203a")) and _MEDIA_OMITTED_RE.search(first) is not None:
        refs.append(_AttachmentRef(None, None))
    elif _may_name_omitted(body):
        omitted = _OMITTED_RE.search(body)
        if omitted is not None:
            kind = _OMITTED_KINDS.get(omitted["kind"].casefold(), "")
            refs.append(_AttachmentRef(None, _KIND_TYPES.get(kind)))
    return refs


def _may_name_omitted(body: str) -> bool:
    """Whether the body ends in a word that closes an iOS placeholder (cheap tests before the regex).

    Case folding maps each character alone, so the folded body ends as its last word folded.
    """
    return (
        body[-_ENDING:].casefold()[-_ENDING:] in _OMITTED_ENDINGS
        and len(body) <= NOTICE_MAX
        and body[body.rfind(" ") + 1 :].casefold() in _OMITTED_LAST_WORDS
    )


def _named_ref(name: str) -> _AttachmentRef:
    if not name:
        return _AttachmentRef(None, None)
    return _AttachmentRef(name, mimetypes.guess_type(name, strict=False)[0])
