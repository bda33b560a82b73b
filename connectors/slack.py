"""Slack workspace export: the ``.zip`` from Workspace settings > Import/Export Data > Export.

The zip holds ``users.json``, ``channels.json`` (and, in exports of paid plans,
``groups.json`` for private channels, ``mpims.json`` for group DMs and ``dms.json`` for
direct messages) and one folder per conversation with one JSON array of messages per day
(``general/2024-03-09.json``). It is read through ``SafeZip`` only; a zip that was unpacked
and re-zipped inside one top folder is read the same way.

Kept, per message: ``ts`` (epoch seconds, read as UTC to the microsecond); the sender's name
from ``users.json`` (``real_name``, else the profile's real or display name, else the handle),
else the message's own ``user_profile``, else the raw user id (each message is resolved on its
own, so a re-export names it the same way); a ``file_comment``'s author from its ``comment``;
bots by ``username``, their ``bot_profile`` name, the bot user in ``users.json`` or the
``bot_id``; ``text`` exactly as exported (``<@U123>`` mentions and ``<url|label>`` links stay
raw); when ``text`` is empty (typical of integrations), the ``fallback`` text of the message's
legacy ``attachments``, which is Slack's own plain rendering of them. Conversation: ``#name``
for channels and private channels, the group DM's name, else the folder name (a DM's folder
is its id). Recipients are the conversation's ``members`` in the metadata minus the sender;
Slack lists members at export time, not at each message. Without a members list, recipients
are unknown (flagged). Join, leave, topic, purpose, rename, archive, integration, pin and
deletion notices are system messages; ``tombstone``/``message_deleted`` are flagged deleted;
``edited`` is flagged edited (the export keeps only the final text). Files (``files`` and the
older single ``file``): Slack's export holds only their URLs, which are never fetched, so they
are missing attachments, unless the zip carries the bytes as export tools that fill them in
write them (``__uploads/<file id>/<name>``, or ``<folder>/attachments/<file id>-<name>``).

Order: conversation folders by name, their day files by date, each day's messages by ``ts``
(a day's unreadable items are reported first). An unreadable metadata file or day file is
rejected by its zip member name and the rest is archived. Deliberately not kept: reactions,
thread structure (``thread_ts``/``replies``: each reply is archived as its own message),
``blocks`` (``text`` is their plain form), pins and stars, integration logs, and the body of
a ``file_comment`` beyond its text (the file belongs to the message that shared it).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
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
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, is_zip
from connectors._json import load_bytes, stream_items
from connectors._limits import ATTACHMENT_CAP, MESSAGE_CAP, SNIFF_ERRORS

DAY_CAP: Final = 64 * 1024**2
SNIFF_BYTES: Final = 4096
RECIPIENT_CACHE: Final = 256  # (conversation, sender) recipient tuples kept for reuse

_DAY_RE: Final = re.compile(r"[^/]+/\d{4}-\d{2}-\d{2}\.json")  # <conversation folder>/<day>.json
_TS_RE: Final = re.compile(r"(\d{1,11})(?:\.(\d{1,6}))?")
_METADATA: Final = ("users.json", "channels.json", "groups.json", "mpims.json", "dms.json")
_SYSTEM_SUBTYPES: Final = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "channel_convert_to_private", "channel_convert_to_public", "channel_posting_permissions",
    "channel_canvas_updated", "group_join", "group_leave", "group_topic", "group_purpose", "group_name",
    "group_archive", "group_unarchive", "bot_add", "bot_remove", "bot_enable", "bot_disable", "pinned_item",
    "unpinned_item", "reminder_add", "sh_room_created", "huddle_thread", "tombstone", "message_deleted",
})  # fmt: skip
_DELETED_SUBTYPES: Final = frozenset({"tombstone", "message_deleted"})


class SlackConnector:
    """Reads Slack workspace export zips (channels, private channels, group DMs and DMs)."""

    name: ClassVar[str] = "slack"
    description: ClassVar[str] = (
        "Slack workspace export .zip (users.json, channels.json, a folder of day files per channel)"
    )

    def sniff(self, path: Path) -> bool:
        """True for a zip holding users.json and channels.json, or folders of Slack day files."""
        try:
            if not is_zip(path):
                return False
            with SafeZip(path) as archive:
                return _looks_like_slack(archive)
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message by conversation, day and time, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is not a zip, an unsafe or broken zip, or holds no Slack export.
        """
        path = Path(path)
        check_export_file(path)
        if not is_zip(path):
            raise InputError(str(path), "not a Slack export: give the workspace export .zip as Slack made it")
        with SafeZip(path) as archive:
            root = _root(archive.names())
            days = _day_files(archive.names(), root)
            if root is None and not days:
                raise InputError(str(path), "not a Slack export: no users.json/channels.json and no day files")
            workspace = _Workspace(archive, root or "")
            yield from workspace.load()
            reader = _DayReader(archive, workspace, context, path.name)
            for member in days:
                yield from reader.day(member)


def _looks_like_slack(archive: SafeZip) -> bool:
    names = archive.names()
    if _root(names) is not None:
        return True
    days = _day_files(names, "")
    if not days:
        return False
    with archive.open(days[0]) as stream:
        head = stream.read(SNIFF_BYTES).decode("utf-8", "replace")
    return head.lstrip().startswith("[") and '"ts"' in head and '"type"' in head


def _root(names: list[str]) -> str | None:
    """The folder holding users.json and channels.json: "" or one top folder; None when absent."""
    for name in names:
        path = PurePosixPath(name)
        if path.name == "channels.json" and len(path.parts) <= 2:
            prefix = "" if len(path.parts) == 1 else f"{path.parts[0]}/"
            if f"{prefix}users.json" in names:
                return prefix
    return None


def _day_files(names: list[str], root: str | None) -> list[str]:
    """Day files under the export's folder, by conversation folder then date."""
    prefix = root or ""
    found = []
    for name in names:
        if name.startswith(prefix) and _DAY_RE.fullmatch(name[len(prefix) :]):
            found.append(name)
    return sorted(found, key=lambda n: (n[len(prefix) :].split("/")[0], n))


@dataclass
class _Conversation:
    title: str
    members: tuple[str, ...] | None  # user ids; None when the export does not say


@dataclass
class _User:
    name: str
    handles: tuple[str, ...]  # id and handle, for telling the custodian's own messages


@dataclass
class _Workspace:
    """Who is who (users.json) and which conversation each folder is (channels.json & co)."""

    archive: SafeZip
    root: str
    users: dict[str, _User] = field(default_factory=dict)
    bots: dict[str, str] = field(default_factory=dict)
    conversations: dict[str, _Conversation] = field(default_factory=dict)
    uploads: dict[tuple[str, str], str] = field(default_factory=dict)  # (file id, name) -> zip member

    def load(self) -> Iterator[Rejection]:
        """Read the metadata files; each unreadable one is a Rejection, and ids stand in for names."""
        names = set(self.archive.names())
        for meta in _METADATA:
            member = self.root + meta
            if member in names:
                rejection = self._read(member, meta)
                if rejection is not None:
                    yield rejection
        self._index_uploads(names)

    def _read(self, member: str, meta: str) -> Rejection | None:
        """Stream one metadata array (users.json can be large); entries read before an error are kept."""
        display = self.archive.member(member)
        try:
            with self.archive.open(member) as stream:
                if stream.peek(3)[:3] == codecs.BOM_UTF8:
                    stream.read(3)
                if not stream.peek(SNIFF_BYTES).lstrip().startswith(b"["):
                    return Rejection(display, None, "is not a JSON array; ids stand in for its names")
                for entry in stream_items(stream, display, "item"):
                    if not isinstance(entry, dict):
                        continue
                    if meta == "users.json":
                        self._add_user(entry)
                    else:
                        self._add_conversation(meta, entry)
        except InputError as exc:
            return Rejection(display, None, f"cannot be read whole, ids stand in for the names it lacks: {exc.cause}")
        return None

    def _add_user(self, entry: dict[str, Any]) -> None:
        ident = _text(entry.get("id"))
        if ident is None:
            return
        profile = _dict(entry.get("profile"))
        handle = _text(entry.get("name"))
        name = _first_text(entry.get("real_name"), profile.get("real_name"), profile.get("display_name"), handle)
        self.users[ident] = _User(name or ident, tuple(h for h in (ident, handle) if h))
        bot = _text(profile.get("bot_id"))
        if bot and name:
            self.bots[bot] = name

    def _add_conversation(self, meta: str, entry: dict[str, Any]) -> None:
        name, ident = _text(entry.get("name")), _text(entry.get("id"))
        members = entry.get("members")
        known = tuple(m for m in members if isinstance(m, str)) if isinstance(members, list) else None
        if meta == "dms.json":
            if ident:
                self.conversations[ident] = _Conversation(ident, known)
        elif name:
            title = name if meta == "mpims.json" else f"#{name}"
            self.conversations[name] = _Conversation(title, known)

    def _index_uploads(self, names: set[str]) -> None:
        """File bytes that tools such as slackdump add to an export, by file id and name."""
        for member in names:
            parts = PurePosixPath(member[len(self.root) :] if member.startswith(self.root) else member).parts
            if len(parts) == 3 and parts[0] == "__uploads":
                self.uploads[(parts[1], parts[2])] = member
            elif len(parts) == 3 and parts[1] == "attachments" and "-" in parts[2]:
                file_id, _, file_name = parts[2].partition("-")
                self.uploads[(file_id, file_name)] = member

    def conversation(self, folder: str) -> _Conversation:
        return self.conversations.get(folder) or _Conversation(folder, None)

    def user(self, ident: str) -> _User | None:
        return self.users.get(ident)


@dataclass(frozen=True)
class _Sender:
    name: str
    ident: str | None
    handles: tuple[str, ...]


class _Reject(Exception):
    """Why one message cannot be archived (becomes a Rejection)."""


class _DayReader:
    """Turns one day file's messages into normalized messages."""

    def __init__(self, archive: SafeZip, workspace: _Workspace, context: ParseContext, file_name: str) -> None:
        self._archive = archive
        self._workspace = workspace
        self._context = context
        self._file_name = file_name
        self._recipient_cache: dict[tuple[int, str | None], tuple[str, ...]] = {}

    def day(self, member: str) -> Iterator[ParsedItem]:
        """A day file's unreadable items, then its messages in ``ts`` order."""
        display = self._archive.member(member)
        items = self._load(member, display)
        if isinstance(items, Rejection):
            yield items
            return
        folder = member[len(self._workspace.root) :].split("/")[0]
        conversation = self._workspace.conversation(folder)
        messages: list[Message] = []
        for number, raw in enumerate(items, start=1):
            try:
                messages.append(self._message(raw, number, member, conversation))
            except _Reject as exc:
                yield Rejection(display, number, str(exc))
        yield from sorted(messages, key=lambda m: m.sent_at)

    def _load(self, member: str, display: str) -> list[Any] | Rejection:
        try:
            data = load_bytes(self._archive.read(member, DAY_CAP), display)
        except ZipEntryTooLargeError:
            return Rejection(display, None, f"day file is larger than the {DAY_CAP // 1024**2} MiB limit")
        except InputError as exc:
            return Rejection(display, None, f"day file cannot be read: {exc.cause}")
        if not isinstance(data, list):
            return Rejection(display, None, "day file is not a JSON array of messages")
        return data

    def _message(self, raw: Any, number: int, member: str, conversation: _Conversation) -> Message:
        if not isinstance(raw, dict):
            raise _Reject("not a message object")
        sent_at = _timestamp(raw.get("ts"))
        subtype = _text(raw.get("subtype"))
        sender = self._sender(raw, subtype)
        body = _body(raw)
        attachments = self._files(raw, subtype)
        recipients, known = self._recipients(conversation, sender)
        context = self._context
        flags = [FLAG_ATTACHMENT_MISSING] if any(a.missing for a in attachments) else []
        flags += [FLAG_DELETED] if subtype in _DELETED_SUBTYPES else []
        flags += [FLAG_EDITED] if isinstance(raw.get("edited"), dict) else []
        flags += [] if known else [FLAG_RECIPIENTS_UNKNOWN]
        sent = any(context.is_custodian(h) for h in (sender.name, *sender.handles) if h)
        return Message(
            source=SlackConnector.name,
            conversation=conversation.title,
            sender=sender.name,
            sent_at=sent_at,
            body=body,
            recipients=recipients,
            attachments=attachments,
            direction="sent" if sent else "received",
            account=context.account,
            custodian=context.custodian,
            system=subtype in _SYSTEM_SUBTYPES,
            source_ref=SourceRef(self._file_name, number, member, context.export_sha256),
            flags=tuple(flags),
        )

    def _sender(self, raw: dict[str, Any], subtype: str | None) -> _Sender:
        comment = _dict(raw.get("comment"))
        ident = _text(raw.get("user")) or _text(comment.get("user"))  # a file_comment names its author there
        user = self._workspace.user(ident) if ident else None
        profile = _dict(raw.get("user_profile"))
        bot_profile = _dict(raw.get("bot_profile"))
        bot = _text(raw.get("bot_id"))
        named_bot = _first_text(raw.get("username"), bot_profile.get("name"), self._workspace.bots.get(bot or ""))
        if subtype == "bot_message" and named_bot:
            return _Sender(named_bot, ident, ())
        handles = user.handles if user else tuple(h for h in (ident, _text(profile.get("name"))) if h)
        name = _first_text(
            user.name if user else None,
            profile.get("real_name"),
            profile.get("display_name"),
            raw.get("username"),
            ident,
            named_bot,
            bot,
        )
        return _Sender(name or "", ident, handles)

    def _recipients(self, conversation: _Conversation, sender: _Sender) -> tuple[tuple[str, ...], bool]:
        """Members but the sender, one shared tuple per (conversation, sender): channels can be huge."""
        if conversation.members is None:
            return (), False
        key = (id(conversation), sender.ident)  # the workspace keeps every listed conversation alive
        cached = self._recipient_cache.get(key)
        if cached is None:
            if len(self._recipient_cache) >= RECIPIENT_CACHE:
                self._recipient_cache.clear()
            cached = tuple(self._name(m) for m in conversation.members if m != sender.ident)
            self._recipient_cache[key] = cached
        return cached, True

    def _name(self, ident: str) -> str:
        user = self._workspace.user(ident)
        return user.name if user else ident

    def _files(self, raw: dict[str, Any], subtype: str | None) -> tuple[Attachment, ...]:
        files = [f for f in _list(raw.get("files")) if isinstance(f, dict)]
        if isinstance(raw.get("file"), dict) and subtype != "file_comment":
            files.append(raw["file"])
        found: list[Attachment] = []
        seen: set[str] = set()
        for entry in files:
            ident = _text(entry.get("id")) or ""
            if ident and ident in seen:
                continue
            seen.add(ident)
            found.append(self._attachment(entry, ident))
        return tuple(found)

    def _attachment(self, entry: dict[str, Any], ident: str) -> Attachment:
        name = _first_text(entry.get("name"), entry.get("title"), ident or None)
        media_type = _text(entry.get("mimetype"))
        member = self._workspace.uploads.get((ident, name or ""))
        if member is None:
            return Attachment(name, media_type, missing=True)
        try:
            content = self._archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise _Reject(f"its file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit") from None
        except InputError as exc:
            raise _Reject(f"its file cannot be read: {exc.cause}") from None
        return Attachment(name, media_type, hashlib.sha256(content).hexdigest(), len(content), content=content)


def _timestamp(value: Any) -> datetime:
    match = _TS_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _Reject("ts is not a Slack timestamp")
    try:
        moment = datetime.fromtimestamp(int(match[1]), UTC)
    except (OverflowError, ValueError, OSError):
        raise _Reject("ts is out of range") from None
    return moment.replace(microsecond=int((match[2] or "0").ljust(6, "0")))


def _body(raw: dict[str, Any]) -> str:
    text = raw.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise _Reject("text is not a string")
    if not text:  # an integration's post: Slack's plain rendering of its attachments
        legacy = [a for a in _list(raw.get("attachments")) if isinstance(a, dict)]
        text = "\n".join(a["fallback"] for a in legacy if _text(a.get("fallback")))
    if len(text) > MESSAGE_CAP:
        raise _Reject(f"text is longer than {MESSAGE_CAP // 1024**2} MiB")
    return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """``value`` when it is a non-empty string."""
    return value if isinstance(value, str) and value else None


def _first_text(*values: Any) -> str | None:
    return next((v for v in values if isinstance(v, str) and v), None)
