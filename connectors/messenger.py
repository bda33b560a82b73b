"""Facebook Messenger and Instagram "Download your information" exports, JSON format.

Each conversation is a folder ``messages/inbox/<thread>/`` (also ``archived_threads``,
``filtered_threads``, ``message_requests``, ``e2ee_cutover``) holding ``message_1.json``,
``message_2.json``, ...: ``{participants: [{name}], messages: [...], title, thread_path}``, each
message ``{sender_name, timestamp_ms, content, photos|videos|audio_files|files|gifs: [{uri}],
sticker: {uri}, share: {link, share_text}, reactions, is_unsent, type}``. The officer gives
one ``message_N.json`` or the whole export ``.zip``; in a zip every such file is read, thread
by thread (threads by folder name). Files are read whole (Facebook splits threads into parts
of about 10,000 messages), up to 256 MiB each; a larger file is refused (in a zip: rejected
by member name, the rest still read).

Order: the file lists messages newest first; they come out oldest first (``message_N`` parts
from the highest number down, each part reversed, then stably sorted by time, so a file that
is not newest-first still comes out in time order). ``source_ref.line`` is the message's
position in its file's ``messages`` list (1 = the first listed, i.e. the newest).

Mojibake: Facebook writes each UTF-8 byte as a ``\\u00XX`` escape, so "é" reads as "Ã©".
Every string (names, text, titles, file paths) is repaired by encoding it as Latin-1 and
decoding the bytes as UTF-8 when that round-trips; a string that does not (real Latin-1 text
such as "café", or any character above U+00FF) is kept as is. A genuine "Ã©" typed by a user
would be read as "é": the export cannot tell the two apart.

Kept: ``timestamp_ms`` (UTC; an old export's ``timestamp`` in seconds too), the sender, the
text (``content``), then, when not already in it, a shared item's ``share_text`` and ``link``
on lines of their own; the conversation ``title`` (else ``thread_path``, else the folder or
file name); recipients are the ``participants`` as listed at export time minus the sender
(without a participants list: the other senders in the file, flagged unknown). Media: their
``uri`` is a path inside the export; the bytes are archived when the officer gives the zip and
the path resolves inside it (no ``..``, no absolute paths, never a URL), else the attachment
is recorded missing. ``is_unsent`` is flagged deleted; ``Call``, ``Subscribe`` and
``Unsubscribe`` messages (calls, people added or leaving) are system messages.

Source: ``instagram`` when the zip member path or a media uri lies under Instagram's
``your_instagram_activity/`` folder, else ``messenger``; an older Instagram export without
that folder cannot be told from Messenger and is labelled ``messenger``.

Deliberately not kept: reactions, the call duration, ``magic_words``, the thread picture,
payment details, and ``ip``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Final

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection
from archiver.model import (
    FLAG_ATTACHMENT_MISSING,
    FLAG_DELETED,
    FLAG_RECIPIENTS_UNKNOWN,
    Attachment,
    Message,
    SourceRef,
)
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, entry_escapes, is_zip
from connectors._json import load_bytes
from connectors._limits import ATTACHMENT_CAP, MESSAGE_CAP, SNIFF_BYTES, SNIFF_ERRORS

FILE_CAP: Final = 256 * 1024**2
INSTAGRAM_ROOT: Final = "your_instagram_activity/"

_THREAD_FILE_RE: Final = re.compile(r"(?:^|.*/)messages/[^/]+/(?P<thread>[^/]+)/message_(?P<part>\d{1,6})\.json")
_MEDIA_LISTS: Final = ("photos", "videos", "audio_files", "files", "gifs")
_SYSTEM_TYPES: Final = frozenset({"Call", "Subscribe", "Unsubscribe"})


class MessengerConnector:
    """Reads Facebook Messenger / Instagram message JSON, one thread file or the whole export zip."""

    name: ClassVar[str] = "messenger"
    description: ClassVar[str] = (
        "Facebook Messenger or Instagram 'Download your information' JSON (message_N.json) or the export .zip"
    )

    def sniff(self, path: Path) -> bool:
        """True for a thread file (participants/messages with sender_name and timestamp_ms) or an export zip."""
        try:
            if is_zip(path):
                with SafeZip(path) as archive:
                    return any(_THREAD_FILE_RE.fullmatch(n) for n in archive.names())
            with open(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False
        return head.startswith("{") and all(f'"{key}"' in head for key in ("messages", "sender_name", "timestamp_ms"))

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each thread's messages oldest first, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty, too large, not JSON or not a Messenger export, or an
                unsafe or broken zip, or a zip without thread files.
        """
        path = Path(path)
        check_export_file(path)
        if is_zip(path):
            yield from self._zip(path, context)
            return
        size = path.stat().st_size
        if size == 0:
            raise InputError(str(path), "empty file")
        if size > FILE_CAP:
            raise InputError(
                str(path),
                f"is {size} bytes; a Messenger thread file is read whole and at most {FILE_CAP // 1024**2} MiB "
                "is accepted (Facebook splits threads into message_1.json, message_2.json, ...)",
            )
        thread = _thread(load_bytes(path.read_bytes(), str(path)), str(path))
        if isinstance(thread, str):
            raise InputError(str(path), thread)
        fallback = path.parent.name if re.fullmatch(r"message_\d+\.json", path.name) else path.stem
        reader = _ThreadReader(context, SourceRef(path.name, None, None, context.export_sha256), str(path))
        yield from reader.items(thread, fallback, None)

    def _zip(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        with SafeZip(path) as archive:
            members = _thread_members(archive.names())
            if not members:
                raise InputError(str(path), "zip holds no messages/<folder>/<thread>/message_N.json file")
            media = _ZipMedia(archive)
            for member in members:
                display = archive.member(member)
                thread = self._member(archive, member, display)
                if isinstance(thread, str):
                    yield Rejection(display, None, thread)
                    continue
                reader = _ThreadReader(context, SourceRef(path.name, None, member, context.export_sha256), display)
                yield from reader.items(thread, PurePosixPath(member).parent.name, media)

    @staticmethod
    def _member(archive: SafeZip, member: str, display: str) -> _ThreadFile | str:
        try:
            return _thread(load_bytes(archive.read(member, FILE_CAP), display), member)
        except ZipEntryTooLargeError:
            return f"thread file is larger than the {FILE_CAP // 1024**2} MiB limit"
        except InputError as exc:
            return exc.cause


def _thread_members(names: list[str]) -> list[str]:
    """Thread files by thread folder, then from the oldest part (highest number) to the newest."""
    found = []
    for name in names:
        match = _THREAD_FILE_RE.fullmatch(name)
        if match is not None:
            found.append((str(PurePosixPath(name).parent), -int(match["part"]), name))
    return [name for _folder, _part, name in sorted(found)]


@dataclass(frozen=True)
class _ThreadFile:
    data: dict[str, Any]
    messages: list[Any]
    source: str


def _thread(data: Any, member: str) -> _ThreadFile | str:
    """The thread object, or why it is not one; ``member`` helps decide the source (Instagram folder)."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return "not a Messenger export: no 'messages' list"
    source = "instagram" if _is_instagram(member, data["messages"]) else "messenger"
    return _ThreadFile(data, data["messages"], source)


def _is_instagram(member: str, messages: list[Any]) -> bool:
    if member.startswith(INSTAGRAM_ROOT) or f"/{INSTAGRAM_ROOT}" in member:
        return True
    return any(uri.startswith(INSTAGRAM_ROOT) for raw in messages for _key, uri in _uris(raw))


def _uris(raw: Any) -> Iterator[tuple[str, str]]:
    """Each media item of a message as (the key listing it, its uri)."""
    if not isinstance(raw, dict):
        return
    for key in _MEDIA_LISTS:
        entries = raw.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("uri"), str):
                yield key, entry["uri"]
    sticker = raw.get("sticker")
    if isinstance(sticker, dict) and isinstance(sticker.get("uri"), str):
        yield "sticker", sticker["uri"]


def fix_mojibake(text: str) -> str:
    """Undo Facebook's Latin-1 escaping of UTF-8 bytes; a string that does not round-trip is kept."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


class _ZipMedia:
    """Media files of the export zip, found by the uri a message gives."""

    def __init__(self, archive: SafeZip) -> None:
        self.archive = archive
        self._names = set(archive.names())

    def find(self, uri: str, member: str) -> str | None:
        """The zip member for ``uri``: as given, or under a folder the thread file itself is in."""
        if "://" in uri or not uri or entry_escapes(uri):
            return None  # a URL (never fetched) or a path that would leave the export
        parts = PurePosixPath(member).parts[:-1]
        for depth in range(len(parts) + 1):
            candidate = "/".join((*parts[:depth], uri))
            if candidate in self._names:
                return candidate
        return None


class _Reject(Exception):
    """Why one message cannot be archived (becomes a Rejection)."""


@dataclass(frozen=True)
class _Thread:
    title: str
    participants: tuple[str, ...] | None
    senders: tuple[str, ...]
    source: str


class _ThreadReader:
    """Turns one thread file into messages, oldest first."""

    def __init__(self, context: ParseContext, where: SourceRef, display: str) -> None:
        self._context = context
        self._where = where
        self._display = display

    def items(self, file: _ThreadFile, fallback_title: str, media: _ZipMedia | None) -> Iterator[ParsedItem]:
        """Unreadable messages first (by position), then the rest in time order."""
        messages = file.messages
        thread = _thread_info(file, fallback_title)
        timed: list[tuple[datetime, int, dict[str, Any]]] = []
        for number in range(len(messages), 0, -1):
            raw = messages[number - 1]
            try:
                if not isinstance(raw, dict):
                    raise _Reject("not a message object")
                timed.append((_sent_at(raw), number, raw))
            except _Reject as exc:
                yield Rejection(self._display, number, str(exc))
        timed.sort(key=lambda entry: entry[0])  # stable: equal times keep reversed file order
        for sent_at, number, raw in timed:
            try:
                yield self._message(raw, number, sent_at, thread, media)
            except _Reject as exc:
                yield Rejection(self._display, number, str(exc))

    def _message(
        self, raw: dict[str, Any], number: int, sent_at: datetime, thread: _Thread, media: _ZipMedia | None
    ) -> Message:
        sender = raw.get("sender_name")
        if not isinstance(sender, str):
            raise _Reject("no sender_name")
        sender = fix_mojibake(sender)
        body = _body(raw)
        attachments = tuple(self._attachment(key, uri, media) for key, uri in _uris(raw))
        others = thread.participants if thread.participants is not None else thread.senders
        recipients = tuple(name for name in others if name != sender)
        context = self._context
        flags = [FLAG_ATTACHMENT_MISSING] if any(a.missing for a in attachments) else []
        flags += [FLAG_DELETED] if raw.get("is_unsent") is True else []
        flags += [FLAG_RECIPIENTS_UNKNOWN] if thread.participants is None else []
        return Message(
            source=thread.source,
            conversation=thread.title,
            sender=sender,
            sent_at=sent_at,
            body=body,
            recipients=recipients,
            attachments=attachments,
            direction="sent" if context.is_custodian(sender) else "received",
            account=context.account,
            custodian=context.custodian,
            system=raw.get("type") in _SYSTEM_TYPES,
            source_ref=SourceRef(self._where.file, number, self._where.entry, self._where.export_sha256),
            flags=tuple(flags),
        )

    def _attachment(self, key: str, raw_uri: str, media: _ZipMedia | None) -> Attachment:
        uri = fix_mojibake(raw_uri)
        name = PurePosixPath(uri.split("?", 1)[0]).name or None
        media_type = mimetypes.guess_type(name, strict=False)[0] if name else None
        if key == "audio_files" and media_type and media_type.startswith("video/"):
            media_type = "audio/" + media_type.removeprefix("video/")  # voice clips are saved as .mp4
        member = media.find(uri, self._where.entry or "") if media is not None else None
        if media is None or member is None:
            return Attachment(name, media_type, missing=True)
        try:
            content = media.archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise _Reject(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit") from None
        except InputError as exc:
            raise _Reject(f"its attached file cannot be read: {exc.cause}") from None
        return Attachment(name, media_type, hashlib.sha256(content).hexdigest(), len(content), content=content)


def _thread_info(file: _ThreadFile, fallback_title: str) -> _Thread:
    data = file.data
    title = next((data[k] for k in ("title", "thread_path") if isinstance(data.get(k), str) and data[k]), None)
    listed = data.get("participants")
    participants = None
    if isinstance(listed, list):
        names = [p["name"] for p in listed if isinstance(p, dict) and isinstance(p.get("name"), str)]
        participants = tuple(dict.fromkeys(fix_mojibake(n) for n in names)) or None
    senders = [m["sender_name"] for m in file.messages if isinstance(m, dict) and isinstance(m.get("sender_name"), str)]
    others = tuple(dict.fromkeys(fix_mojibake(n) for n in senders))
    return _Thread(fix_mojibake(title) if title else fallback_title, participants, others, file.source)


def _sent_at(raw: dict[str, Any]) -> datetime:
    stamp, scale = (raw.get("timestamp_ms"), 1000) if "timestamp_ms" in raw else (raw.get("timestamp"), 1)
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        raise _Reject("no timestamp_ms")
    try:
        if isinstance(stamp, int):  # exact, no float rounding
            return datetime.fromtimestamp(stamp // scale, UTC) + timedelta(milliseconds=stamp % scale)
        return datetime.fromtimestamp(stamp / scale, UTC)
    except (OverflowError, ValueError, OSError):
        raise _Reject("timestamp_ms is out of range") from None


def _body(raw: dict[str, Any]) -> str:
    content = raw.get("content")
    lines = [fix_mojibake(content)] if isinstance(content, str) else []
    share = raw.get("share")
    if isinstance(share, dict):
        for key in ("share_text", "link"):
            value = share.get(key)
            if isinstance(value, str) and value and not any(fix_mojibake(value) in line for line in lines):
                lines.append(fix_mojibake(value))
    body = "\n".join(lines)
    if len(body) > MESSAGE_CAP:
        raise _Reject(f"text is longer than {MESSAGE_CAP // 1024**2} MiB")
    return body
