"""Android's telephony database ``mmssms.db`` (the SMS/MMS content provider's SQLite file).

The file comes from a phone extraction or a rooted phone's
``/data/data/com.android.providers.telephony/databases/``. Tables read:

- ``sms``: ``address``, ``date`` (epoch milliseconds), ``type`` (1 received, 2 sent, 3 draft,
  4 outbox, 5 failed, 6 queued), ``body``, ``thread_id``.
- ``pdu`` (MMS): ``date`` (epoch seconds), ``msg_box`` (1 inbox, 2 sent, 3-5 draft, outbox,
  failed), ``m_type``, ``thread_id``; its ``part`` rows hold the text (``text``) while other
  parts' bytes live in files outside the database (``_data``); its ``addr`` rows say who sent
  it (type 137) and to whom (151 to, 130 cc, 129 bcc).
- ``threads`` and ``canonical_addresses``: the addresses of each thread, which name the
  conversation.

Kept: every ``sms`` and ``pdu`` row as one ``Message``, merged in time order, with the same
people rules as the SMS Backup & Restore connector (both in ``connectors._android``): the
custodian is the phone's owner and sender of what they sent (drafts, outbox, failed and
queued included, as they wrote them); the other party is named by the address as stored
(the database has no contact names). The conversation is the thread's addresses sorted,
else the message's address. An MMS body is its ``text/plain`` parts joined by newlines;
every other part is a missing attachment (``attachment_missing``) with its name and type,
because its bytes are a file on the phone that this database does not contain and that is
never opened from here. ``source_ref`` gives the table as ``entry`` and the row id as line.

Not kept: SMIL layout parts, subjects, read/seen state, ``date_sent``, and the tables of
pending, raw and FTS data. The database is opened only as a private read-only copy
(``connectors._sqlite.open_copy``); missing tables or columns are refused by name.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Final

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection
from archiver.model import Attachment, Message, SourceRef
from connectors._android import (
    AUTHORED_BOXES,
    M_TYPE_NOTIFICATION,
    M_TYPE_REPORTS,
    RECEIVED_BOX,
    RECORD_ELEMENTS_CAP,
    SMIL,
    UNKNOWN,
    MmsAddress,
    Parties,
    digest_attachment,
    media_type,
    mms_parties,
    sms_message,
    sms_parties,
    usable,
    utc_from_ms,
)
from connectors._limits import MESSAGE_CAP
from connectors._sqlite import open_copy, read_schema, table_columns

THREAD_CACHE: Final = 4096  # threads whose addresses are remembered; a phone has far fewer
SECONDS_BEFORE: Final = 10**11  # a pdu date past this (year 5138 in seconds) is already in milliseconds

SMS_COLUMNS: Final = ("address", "date", "type", "body")
PDU_COLUMNS: Final = ("date", "msg_box")
PART_COLUMNS: Final = ("mid", "ct", "text")
ADDR_COLUMNS: Final = ("msg_id", "address", "type")


class AndroidSmsConnector:
    """Reads SMS and MMS text from Android's telephony database ``mmssms.db``."""

    name: ClassVar[str] = "android-sms"
    description: ClassVar[str] = "Android telephony database mmssms.db (SQLite: SMS, and MMS text)"

    def sniff(self, path: Path) -> bool:
        """True when the file is SQLite with Android's ``sms`` table, wherever its schema lies in the file."""
        return set(SMS_COLUMNS) <= read_schema(Path(path)).get("sms", frozenset())

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each SMS and MMS in time order, or a Rejection for a row that cannot be read.

        Raises:
            InputError: the file is not SQLite, is corrupt, or lacks the tables or columns read.
        """
        path = Path(path)
        check_export_file(path)
        try:
            with open_copy(path, context.temp_dir) as db:
                schema = _Schema.read(db, str(path))
                db.text_factory = bytes  # invalid UTF-8 in one row must reject that row, not stop the cursor
                yield from _DatabaseReader(db, schema, path, context).items()
        except UnicodeDecodeError:  # SQLite's own messages (quick_check, schema names) about a damaged file
            cause = "SQLite database is corrupt: its schema or integrity report is not UTF-8"
            raise InputError(str(path), cause) from None


@dataclass(frozen=True)
class _Schema:
    """Which of the optional tables and columns the database has."""

    sms: frozenset[str]
    pdu: frozenset[str]
    part: frozenset[str]
    threads: bool

    @classmethod
    def read(cls, db: sqlite3.Connection, display: str) -> _Schema:
        sms = frozenset(table_columns(db, "sms"))
        if not sms:
            raise InputError(display, "has no sms table: not an Android mmssms.db")
        missing = [f"sms.{c}" for c in SMS_COLUMNS if c not in sms]
        pdu = frozenset(table_columns(db, "pdu"))
        part = frozenset(table_columns(db, "part"))
        if pdu:  # MMS are read only when the database has them, and then need all three tables
            addr = table_columns(db, "addr")
            missing += [f"pdu.{c}" for c in PDU_COLUMNS if c not in pdu]
            missing += [f"part.{c}" for c in PART_COLUMNS if c not in part]
            missing += [f"addr.{c}" for c in ADDR_COLUMNS if c not in addr]
        if missing:
            raise InputError(display, f"lacks what an Android mmssms.db has: {', '.join(missing)}")
        threads = {"_id", "recipient_ids"} <= table_columns(db, "threads") and {"_id", "address"} <= table_columns(
            db, "canonical_addresses"
        )
        return cls(sms, pdu, part, threads)


class _RowError(Exception):
    """One row cannot be read; its message is the reason."""


@dataclass(frozen=True)
class _Row:
    """A row from ``sms`` or ``pdu``, with the key that orders the two tables together."""

    key: tuple[float, int, int]
    table: str
    values: tuple[object, ...]


class _DatabaseReader:
    """Merges the sms and pdu tables in time order and turns rows into messages."""

    def __init__(self, db: sqlite3.Connection, schema: _Schema, path: Path, context: ParseContext) -> None:
        self._db = db
        self._schema = schema
        self._path = path
        self._display = str(path)
        self._context = context
        self._threads: dict[int, tuple[str, ...]] = {}

    def items(self) -> Iterator[ParsedItem]:
        """Every row as a message, or a Rejection naming the table and row."""
        streams = [self._rows("sms", _optional(self._schema.sms, "thread_id"), "date", 0)]
        if self._schema.pdu:
            columns = f"{_optional(self._schema.pdu, 'thread_id')}, {_optional(self._schema.pdu, 'm_type')}"
            date = f"CASE WHEN date < {SECONDS_BEFORE} THEN date * 1000 ELSE date END"
            streams.append(self._rows("pdu", columns, date, 1))
        for row in heapq.merge(*streams, key=lambda r: r.key):
            try:
                yield self._sms(row) if row.table == "sms" else self._mms(row)
            except _RowError as exc:
                yield Rejection(self._display, row.key[2], f"{row.table} row {row.key[2]}: {exc}")

    def _rows(self, table: str, columns: str, date_ms: str, order: int) -> Iterator[_Row]:
        key = f"CASE WHEN typeof(date) = 'integer' THEN {date_ms} ELSE -1 END"
        id_column = "_id" if "_id" in (self._schema.sms if table == "sms" else self._schema.pdu) else "rowid"
        extra = ", address, type, " + _capped("body") if table == "sms" else ", msg_box"
        query = (f"SELECT {key} AS k, {id_column}, date, {columns}{extra} FROM {table} "
                 f"ORDER BY k, {id_column}")  # fmt: skip
        for values in self._db.execute(query):
            row_id = values[1] if isinstance(values[1], int) else -1
            yield _Row((values[0], order, row_id), table, values[2:])

    def _sms(self, row: _Row) -> Message:
        date, thread_id, address_value, box_value, body_value, body_size = row.values
        sent_at = _time(date, seconds=False)
        box = _box(box_value, "type")
        if isinstance(body_size, int) and body_size > MESSAGE_CAP:
            raise _RowError("its body is longer than 16 MiB")
        body = _text(body_value, "body") or ""
        address = _text(address_value, "address")
        thread = self._thread(thread_id)
        contact = address if usable(address) else (thread[0] if len(thread) == 1 else None)
        parties = sms_parties(self._context, box != RECEIVED_BOX, contact)
        conversation = ", ".join(thread) if thread else contact or UNKNOWN
        return sms_message(self._context, conversation, parties, sent_at, body, (), False, box, self._source_ref(row))

    def _mms(self, row: _Row) -> Message:
        date, thread_id, m_type_value, box_value = row.values
        sent_at = _time(date, seconds=True)
        box = _box(box_value, "msg_box")
        m_type = m_type_value if isinstance(m_type_value, int) else None
        pdu_id = row.key[2]
        texts, attachments = self._parts(pdu_id)
        if m_type == M_TYPE_NOTIFICATION:
            attachments.append(Attachment(None, None, missing=True))  # never downloaded from the carrier
        body = "\n".join(texts)
        if len(body.encode("utf-8", "surrogatepass")) > MESSAGE_CAP:
            raise _RowError("its text is longer than 16 MiB")
        addrs = self._addrs(pdu_id)
        thread = list(self._thread(thread_id))
        outgoing = box != RECEIVED_BOX
        parties = mms_parties(self._context, outgoing, thread, addrs, lambda address: address)
        conversation = ", ".join(thread) if thread else _addrs_conversation(parties, self._context.custodian)
        return sms_message(self._context, conversation, parties, sent_at, body, tuple(attachments),
                           m_type in M_TYPE_REPORTS, box, self._source_ref(row))

    def _source_ref(self, row: _Row) -> SourceRef:
        return SourceRef(self._path.name, row.key[2], row.table, self._context.export_sha256)

    def _parts(self, pdu_id: int) -> tuple[list[str], list[Attachment]]:
        part = self._schema.part
        names = ", ".join(_optional(part, c) for c in ("name", "cl", "fn"))
        order = "seq, rowid" if "seq" in part else "rowid"
        query = f"SELECT ct, {names}, {_capped('text')} FROM part WHERE mid = ? ORDER BY {order} LIMIT ?"
        rows = self._db.execute(query, (pdu_id, RECORD_ELEMENTS_CAP + 1)).fetchall()
        if len(rows) > RECORD_ELEMENTS_CAP:
            raise _RowError(f"it has more than {RECORD_ELEMENTS_CAP} parts")
        texts: list[str] = []
        attachments: list[Attachment] = []
        for ct_value, name, cl, fn, text_value, text_size in rows:
            content_type = media_type(_text(ct_value, "part ct"))
            if content_type == SMIL:
                continue
            if isinstance(text_size, int) and text_size > MESSAGE_CAP:
                raise _RowError("a part's text is longer than 16 MiB")
            text = _text(text_value, "part text")
            label = next((n for n in (_text(v, "part name") for v in (name, cl, fn)) if usable(n)), None)
            if content_type == "text/plain" and text is not None:
                texts.append(text)
            elif text is not None:
                attachments.append(digest_attachment(label, content_type, text.encode()))
            else:
                attachments.append(Attachment(label, content_type, missing=True))  # bytes are a file on the phone
        return texts, attachments

    def _addrs(self, pdu_id: int) -> list[MmsAddress]:
        query = "SELECT address, type FROM addr WHERE msg_id = ? ORDER BY rowid LIMIT ?"
        rows = self._db.execute(query, (pdu_id, RECORD_ELEMENTS_CAP + 1)).fetchall()
        if len(rows) > RECORD_ELEMENTS_CAP:
            raise _RowError(f"it has more than {RECORD_ELEMENTS_CAP} addresses")
        return [MmsAddress(_text(a, "addr address") or "", t if isinstance(t, int) else None) for a, t in rows]

    def _thread(self, thread_id: object) -> tuple[str, ...]:
        """The thread's addresses, sorted (empty when the database cannot tell)."""
        if not self._schema.threads or not isinstance(thread_id, int):
            return ()
        cached = self._threads.get(thread_id)
        if cached is not None:
            return cached
        row = self._db.execute("SELECT recipient_ids FROM threads WHERE _id = ?", (thread_id,)).fetchone()
        ids = (_text(row[0], "threads.recipient_ids") or "").split() if row is not None else []
        if len(ids) > RECORD_ELEMENTS_CAP:
            raise _RowError(f"its thread has more than {RECORD_ELEMENTS_CAP} members")
        addresses: list[str] = []
        for member in ids:
            found = self._db.execute("SELECT address FROM canonical_addresses WHERE _id = ?", (member,)).fetchone()
            address = _text(found[0], "canonical address") if found is not None else None
            if address is not None and usable(address):
                addresses.append(address)
        if len(self._threads) >= THREAD_CACHE:
            self._threads.clear()
        self._threads[thread_id] = result = tuple(sorted(addresses))
        return result



def _optional(columns: frozenset[str], name: str) -> str:
    return name if name in columns else "NULL"


def _capped(column: str) -> str:
    """The column, NULL when over the message cap (so a huge value is never fetched), and its size."""
    size = f"length(CAST({column} AS BLOB))"
    return f"CASE WHEN {size} > {MESSAGE_CAP} THEN NULL ELSE {column} END, {size}"


def _text(value: object, what: str) -> str | None:
    """A TEXT column fetched as bytes, decoded; numbers are written out as Android would."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _RowError(f"its {what} is not valid UTF-8") from None
    if isinstance(value, int):
        return str(value)
    raise _RowError(f"its {what} is not text")


def _time(value: object, seconds: bool) -> datetime:
    if not isinstance(value, int):
        raise _RowError("its date is not an integer")
    milliseconds = value * 1000 if seconds and value < SECONDS_BEFORE else value
    sent_at = utc_from_ms(milliseconds)
    if sent_at is None:
        raise _RowError("its date is out of range")
    return sent_at


def _box(value: object, column: str) -> int:
    if not isinstance(value, int) or (value != RECEIVED_BOX and value not in AUTHORED_BOXES):
        raise _RowError(f"its {column} is not a known message box")
    return value


def _addrs_conversation(parties: Parties, custodian: str) -> str:
    """Without a thread: the people other than the custodian, sorted."""
    people = sorted({parties.sender, *parties.recipients} - {custodian})
    return ", ".join(people) if people else UNKNOWN
