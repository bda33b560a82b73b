"""Apple Messages (iMessage and SMS/MMS) from its SQLite database.

The export is the database itself: ``~/Library/Messages/chat.db`` copied from a Mac, the
same file from an iPhone backup (``sms.db``, stored in the backup as
``3d0d7e5fb2ce288813306e4d4636395e047a3d28``), or a ``.zip`` holding ``chat.db`` with the
``Attachments`` folder beside it (as in ``~/Library/Messages``). The database is opened
only as a private copy (``connectors._sqlite.open_copy``), so the officer's file, its
``-wal`` and its folder are never changed; a database inside a zip is first copied out to a
private temporary folder for the same reason (SQLite cannot read from a zip; see
``connectors._apple_export``).

Kept, one ``Message`` per row of ``message`` in ROWID (database) order:

* body: ``message.text``, or when that is empty the text decoded from ``attributedBody``
  (see ``connectors._apple``), or for an edited message whose text columns are empty the
  latest version from its edit history. U+FFFC marks where an inline attachment sat.
* time: ``message.date`` on the Apple epoch (seconds in old databases, nanoseconds since
  macOS 10.13), as UTC; no ``--tz`` is needed.
* sender: the custodian for ``is_from_me`` rows, else the ``handle.id`` (phone number or
  email) of the row; when that handle is missing from ``handle`` and the chat has a single
  other member, that member (the only one who can have sent it); otherwise "".
* conversation: the chat's ``display_name``, else its ``chat_identifier``, else its members,
  else the row's handle. Recipients: the chat's members (``chat_handle_join``) other than the
  sender, plus the custodian for received rows; ``recipients_unknown`` when the database
  does not list the chat's members.
* system: tapbacks/reactions (``associated_message_type`` 2000-3999, body as Apple stores it,
  e.g. "Loved “see you at 9”") and conversation events (``item_type`` not 0). chat.db stores
  events as codes without text, so their body is a short English description built from
  those codes ("added +15555550101", "named the conversation “Ops”", "left the conversation").
* flags: ``edited`` (``date_edited`` or an edit history in ``message_summary_info``),
  ``deleted`` (unsent: ``date_retracted`` or retracted parts; the row is kept, not as a
  system message, with whatever text remains, usually none), ``attachment_missing``.
* attachments: name (``transfer_name``), media type (``mime_type``) and, from a zip holding
  the ``Attachments`` folder, the bytes (at most 512 MiB each). A bare database has no
  attachment bytes: those attachments are recorded as missing.

Deliberately not kept: the earlier versions of edited messages (only the final text, and the
``edited`` flag), read/delivered receipts, message effects, app balloon payloads
(``payload_data``), sticker placement, contact names (chat.db has only addresses), and the
``deleted_messages`` table (it holds only GUIDs of messages that are gone). A row that cannot
be decoded (bad date, undecodable text, unreadable edit history, text over 16 MiB) becomes a
``Rejection`` whose line is the message ROWID.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import ClassVar, Final, TypeVar

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection, StoreError
from archiver.model import (
    FLAG_ATTACHMENT_MISSING,
    FLAG_DELETED,
    FLAG_EDITED,
    FLAG_RECIPIENTS_UNKNOWN,
    Attachment,
    Message,
    SourceRef,
)
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, entry_escapes, is_zip
from connectors._apple import AppleDecodeError, Summary, apple_time, summary, typedstream_text
from connectors._apple_export import Export, database_member, is_messages_schema, open_export
from connectors._limits import ATTACHMENT_CAP, MESSAGE_CAP, SNIFF_ERRORS
from connectors._sqlite import open_copy, read_schema, table_columns

BLOB_CAP: Final = 4 * MESSAGE_CAP  # an archive or edit history carries more than the text itself
MAX_ATTACHMENTS: Final = 1024  # per message; iMessage sends far fewer
MESSAGE_FILES_CAP: Final = 2 * 1024**3  # all attachment bytes of one message held at once
MAX_PARTICIPANTS: Final = 4096
CACHE_MAX: Final = 4096
REACTIONS: Final = range(2000, 4000)  # 2000-2007 added, 3000-3007 removed

_ATTACHMENT_PATH_RE = re.compile(r"(?:^|/)Library/(?:Messages|SMS)/Attachments/(?P<rel>.+)$")
# Optional message columns: old and minimal databases lack some; they are read as NULL.
_MESSAGE_COLUMNS: Final = ("handle_id", "date", "date_edited", "date_retracted", "is_from_me",
                           "cache_has_attachments", "associated_message_type", "item_type",
                           "group_action_type", "other_handle", "group_title")  # fmt: skip
_CAPPED_COLUMNS: Final = (("text", MESSAGE_CAP), ("attributedBody", BLOB_CAP), ("message_summary_info", BLOB_CAP))
_ATTACHMENT_COLUMNS: Final = ("filename", "mime_type", "transfer_name")
_LEFT_GROUP: Final = {0: "left the conversation", 1: "changed the group photo", 2: "removed the group photo"}
_T = TypeVar("_T")


class IMessageConnector:
    """Reads the Apple Messages database (chat.db / sms.db), bare or zipped with its attachments."""

    name: ClassVar[str] = "imessage"
    description: ClassVar[str] = (
        "Apple Messages/iMessage database: chat.db from a Mac, sms.db from an iPhone backup, "
        "or a .zip of chat.db with its Attachments folder"
    )

    def sniff(self, path: Path) -> bool:
        """True for an SQLite file whose schema names Messages' tables, or a zip holding one."""
        try:
            path = Path(path)
            if is_zip(path):
                with SafeZip(path) as archive, database_member(archive) as found:
                    return found is not None
            return is_messages_schema(read_schema(path))
        except StoreError:  # no private copy can be made: the reason, not "not a recognised export"
            raise
        except SNIFF_ERRORS:  # sniffing hostile bytes must never break format detection
            return False

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in ROWID order, or a Rejection for a row that cannot be decoded.

        Raises:
            InputError: the file is not an SQLite database with a ``message`` table, is corrupt,
                or is a zip that is unsafe or holds no Messages database.
        """
        path = Path(path)
        check_export_file(path)
        with open_export(path, context.temp_dir) as (export, database):
            try:
                with open_copy(database, context.temp_dir) as connection:
                    yield from _Reader(connection, export, context).items()
            except InputError as exc:
                if export.entry is None or exc.file != str(database):
                    raise
                # name the zip member, not the temporary copy
                raise InputError(export.display, exc.cause, exc.line) from None
            except UnicodeDecodeError:  # a damaged schema: names (also in the integrity report) that are not UTF-8
                raise InputError(export.display, "SQLite database is corrupt: its schema is not UTF-8") from None


@dataclass(frozen=True)
class _Chat:
    title: str | None
    members: tuple[str, ...] | None  # None: the database does not say who is in the chat
    complete: bool = True  # False when some members could not be resolved or were too many


class _RowError(Exception):
    """A row that cannot become a message; the text is the Rejection's reason."""


class _Reader:
    """Turns message rows into normalized messages."""

    def __init__(self, connection: sqlite3.Connection, export: Export, context: ParseContext) -> None:
        self._db = connection
        self._export = export
        self._context = context
        self._columns = table_columns(connection, "message")
        if not self._columns:
            raise InputError(export.display, "not an Apple Messages database: it has no message table")
        if "date" not in self._columns or not self._columns & {"text", "attributedBody"}:
            raise InputError(export.display, "the message table lacks the date or text columns of Apple Messages")
        self._handle_ok = "id" in table_columns(connection, "handle")
        self._chat_columns = table_columns(connection, "chat")
        self._members_ok = {"chat_id", "handle_id"} <= table_columns(connection, "chat_handle_join")
        self._join_ok = {"chat_id", "message_id"} <= table_columns(connection, "chat_message_join")
        self._attachment_columns = table_columns(connection, "attachment")
        self._attachments_ok = {"message_id", "attachment_id"} <= table_columns(connection, "message_attachment_join")
        connection.text_factory = bytes  # decode text ourselves: invalid UTF-8 must reject one row, not the cursor
        connection.row_factory = sqlite3.Row
        self._handles: dict[int, str | None] = {}
        self._chats: dict[int, _Chat] = {}

    def items(self) -> Iterator[ParsedItem]:
        """One item per message row, attachments merged in from their own ordered query."""
        attachments = self._attachment_rows()
        pending = next(attachments, None)
        for row in self._db.execute(self._message_query()):
            rowid = row["row_id"]
            linked: list[sqlite3.Row] = []
            while pending is not None and pending["message_id"] <= rowid:
                if pending["message_id"] == rowid and len(linked) <= MAX_ATTACHMENTS:  # one over: reject
                    linked.append(pending)
                pending = next(attachments, None)
            try:
                yield self._message(row, linked)
            except (_RowError, AppleDecodeError) as exc:
                yield Rejection(self._export.display, rowid, str(exc))

    def _message_query(self) -> str:
        columns = [name if name in self._columns else f"NULL AS {name}" for name in _MESSAGE_COLUMNS]
        for name, cap in _CAPPED_COLUMNS:
            if name in self._columns:  # an oversized value is measured in SQLite, never handed to Python
                columns.append(f"CASE WHEN length({name}) > {cap} THEN NULL ELSE {name} END AS {name}")
                columns.append(f"length({name}) > {cap} AS {name}_over")
            else:
                columns.extend((f"NULL AS {name}", f"0 AS {name}_over"))
        chats = ""
        if self._join_ok:  # materialized once: a correlated lookup per row is quadratic without an index
            chats = (
                " LEFT JOIN (SELECT message_id, MIN(chat_id) AS chat_id FROM chat_message_join"
                " GROUP BY message_id) AS chat_join ON chat_join.message_id = message.ROWID"
            )
        chat_id = "chat_join.chat_id" if self._join_ok else "NULL"
        return (
            f"SELECT message.ROWID AS row_id, {chat_id} AS chat_id, {', '.join(columns)} "
            f"FROM message{chats} ORDER BY message.ROWID"
        )

    def _attachment_rows(self) -> Iterator[sqlite3.Row]:
        """Attachment links ordered by message, integer message ids only (merged with the messages)."""
        if not self._attachments_ok:
            return
        if self._attachment_columns:
            columns = ", ".join(
                f"attachment.{c} AS {c}" if c in self._attachment_columns else f"NULL AS {c}"
                for c in _ATTACHMENT_COLUMNS
            )
            query = (
                f"SELECT j.message_id AS message_id, attachment.ROWID AS found, {columns} "
                "FROM message_attachment_join AS j LEFT JOIN attachment ON attachment.ROWID = j.attachment_id "
                "WHERE typeof(j.message_id) = 'integer' ORDER BY j.message_id, j.attachment_id"
            )
        else:
            query = (
                "SELECT message_id, NULL AS found, NULL AS filename, NULL AS mime_type, NULL AS transfer_name "
                "FROM message_attachment_join WHERE typeof(message_id) = 'integer' ORDER BY message_id"
            )
        yield from self._db.execute(query)

    def _message(self, row: sqlite3.Row, linked: list[sqlite3.Row]) -> Message:
        history = self._summary(row)
        body = self._body(row, history)
        context = self._context
        chat = self._chat(row["chat_id"])
        handle = self._handle(row["handle_id"])
        from_me = _number(row["is_from_me"]) != 0
        if from_me:
            sender = context.custodian
        else:
            sender = handle or (chat.members[0] if chat.members and len(chat.members) == 1 else "")
        sent = from_me or (bool(sender) and context.is_custodian(sender))
        item_type = _number(row["item_type"])
        system = item_type != 0 or _number(row["associated_message_type"]) in REACTIONS
        if item_type != 0 and not body:
            body = self._notice(row, item_type)
        attachments = self._attachments(row, linked)
        recipients, known = self._recipients(chat, sender, handle, sent)
        return Message(
            source=IMessageConnector.name,
            conversation=chat.title or (", ".join(chat.members) if chat.members else "") or handle or "",
            sender=sender,
            sent_at=_sent_at(row["date"]),
            body=body,
            recipients=recipients,
            attachments=attachments,
            direction="sent" if sent else "received",
            account=context.account,
            custodian=context.custodian,
            system=system,
            source_ref=SourceRef(str(self._export.path), row["row_id"], self._export.entry, context.export_sha256),
            flags=_flags(row, history, attachments, known),
        )

    def _summary(self, row: sqlite3.Row) -> Summary | None:
        if row["message_summary_info_over"]:
            raise _RowError(f"edit history (message_summary_info) is larger than {BLOB_CAP // 1024**2} MiB")
        blob = row["message_summary_info"]
        if not isinstance(blob, bytes) or not blob:
            return None
        return summary(blob)

    def _body(self, row: sqlite3.Row, history: Summary | None) -> str:
        if row["text_over"] or row["attributedBody_over"]:
            raise _RowError(f"message text is longer than {MESSAGE_CAP // 1024**2} MiB")
        body = _text(row["text"])
        blob = row["attributedBody"]
        if not body and isinstance(blob, bytes) and blob:
            body = typedstream_text(blob)
        if not body and history is not None:
            body = history.final_text()
        if len(body) > MESSAGE_CAP // 4 and len(body.encode("utf-8", "surrogatepass")) > MESSAGE_CAP:
            raise _RowError(f"message text is longer than {MESSAGE_CAP // 1024**2} MiB")
        return body

    def _notice(self, row: sqlite3.Row, item_type: int) -> str:
        """A description of a conversation event, which chat.db stores only as codes."""
        action = _number(row["group_action_type"])
        if item_type == 1 and action in (0, 1):
            who = self._handle(row["other_handle"]) or "a participant"
            return f"added {who}" if action == 0 else f"removed {who}"
        if item_type == 2:
            title = _name(row["group_title"])
            return f"named the conversation “{title}”" if title else "removed the conversation name"
        if item_type == 3 and action in _LEFT_GROUP:
            return _LEFT_GROUP[action]
        return f"conversation event (item_type {item_type}, group_action_type {action})"

    def _recipients(self, chat: _Chat, sender: str, handle: str | None, sent: bool) -> tuple[tuple[str, ...], bool]:
        """Who else was in the chat, and whether that list is known to be complete."""
        members = chat.members
        if sent:
            if members is None:
                return ((handle,) if handle else ()), False
            return members, chat.complete
        others = tuple(m for m in members or () if m != sender)
        return (self._context.custodian, *others), members is not None and chat.complete

    def _handle(self, rowid: object) -> str | None:
        """The address (phone number or email) of a handle ROWID, or None when unknown."""
        if not self._handle_ok or isinstance(rowid, bool) or not isinstance(rowid, int) or rowid <= 0:
            return None
        if rowid not in self._handles:
            found = self._db.execute("SELECT id FROM handle WHERE ROWID = ?", (rowid,)).fetchone()
            _remember(self._handles, rowid, _name(found["id"]) if found is not None else None)
        return self._handles[rowid]

    def _chat(self, chat_id: object) -> _Chat:
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            return _Chat(None, None)
        if chat_id not in self._chats:
            _remember(self._chats, chat_id, _Chat(self._chat_title(chat_id), *self._members(chat_id)))
        return self._chats[chat_id]

    def _chat_title(self, chat_id: int) -> str | None:
        names = [c for c in ("display_name", "chat_identifier") if c in self._chat_columns]
        if not names:
            return None
        row = self._db.execute(f"SELECT {', '.join(names)} FROM chat WHERE ROWID = ?", (chat_id,)).fetchone()
        if row is None:
            return None
        return next((title for title in (_name(row[c]) for c in names) if title), None)

    def _members(self, chat_id: int) -> tuple[tuple[str, ...] | None, bool]:
        if not self._members_ok:
            return None, True
        rows = self._db.execute(
            "SELECT handle_id FROM chat_handle_join WHERE chat_id = ? ORDER BY handle_id LIMIT ?",
            (chat_id, MAX_PARTICIPANTS + 1),
        ).fetchall()
        if not rows:
            return None, True
        found = [self._handle(row["handle_id"]) for row in rows[:MAX_PARTICIPANTS]]
        members = tuple(dict.fromkeys(m for m in found if m))
        return members, len(rows) <= MAX_PARTICIPANTS and None not in found

    def _attachments(self, row: sqlite3.Row, linked: list[sqlite3.Row]) -> tuple[Attachment, ...]:
        if len(linked) > MAX_ATTACHMENTS:
            raise _RowError(f"message links more than {MAX_ATTACHMENTS} attachments")
        members = [self._member(_name(link["filename"])) if link["found"] is not None else None for link in linked]
        archive = self._export.archive
        if archive is not None and sum(archive.size(m) for m in members if m) > MESSAGE_FILES_CAP:
            raise _RowError(f"its attached files total more than {MESSAGE_FILES_CAP // 1024**3} GiB")
        found = tuple(self._attachment(link, member) for link, member in zip(linked, members, strict=True))
        if not found and _number(row["cache_has_attachments"]) != 0:
            return (Attachment(None, missing=True),)  # flagged as having files the database does not list
        return found

    def _attachment(self, link: sqlite3.Row, member: str | None) -> Attachment:
        if link["found"] is None:
            return Attachment(None, missing=True)  # the join names an attachment row that is gone
        stored = _name(link["filename"])
        name = _name(link["transfer_name"]) or (PurePosixPath(stored).name if stored else None) or None
        media_type = _name(link["mime_type"]) or (mimetypes.guess_type(name, strict=False)[0] if name else None)
        archive = self._export.archive
        if member is None or archive is None:
            return Attachment(name, media_type, missing=True)
        try:
            content = archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise _RowError(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit") from None
        except InputError as exc:
            raise _RowError(f"its attached file cannot be read: {exc.cause}") from None
        return Attachment(name, media_type, hashlib.sha256(content).hexdigest(), len(content), content=content)

    def _member(self, stored: str | None) -> str | None:
        """The zip entry for an attachment path, only inside the Attachments folder beside the database."""
        if not stored or self._export.archive is None:
            return None
        match = _ATTACHMENT_PATH_RE.search(stored)
        if match is None or entry_escapes(match["rel"]):
            return None
        member = self._export.attachments_dir + match["rel"]
        return member if member in self._export.members else None


def _remember(cache: dict[int, _T], key: int, value: _T) -> None:
    if len(cache) >= CACHE_MAX:  # a hostile database may hold millions of handles or chats
        cache.clear()
    cache[key] = value


def _flags(
    row: sqlite3.Row, history: Summary | None, attachments: tuple[Attachment, ...], recipients_known: bool
) -> tuple[str, ...]:
    flags = []
    if any(a.missing for a in attachments):
        flags.append(FLAG_ATTACHMENT_MISSING)
    if _number(row["date_retracted"]) > 0 or (history is not None and history.retracted):
        flags.append(FLAG_DELETED)
    if _number(row["date_edited"]) > 0 or (history is not None and history.edited):
        flags.append(FLAG_EDITED)
    if not recipients_known:
        flags.append(FLAG_RECIPIENTS_UNKNOWN)
    return tuple(flags)


def _sent_at(value: object) -> datetime:
    if value is None:
        raise _RowError("message has no date")
    return apple_time(value)


def _number(value: object) -> int:
    """An integer column; anything else (NULL, text in a hostile database) counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str:
    """A text column read as bytes; invalid UTF-8 rejects the row rather than being repaired."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _RowError("message text is not valid UTF-8") from None
    return str(value)


def _name(value: object) -> str | None:
    """An address or title; a stray invalid byte in a name is shown as U+FFFD."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    return text if text.strip() else None
