"""The mmssms.db connector on telephony databases built here with sqlite3."""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors.android_sms import AndroidSmsConnector
from connectors.sms_backup import SmsBackupConnector
from tests.hostile import read_or_refused

CONTEXT = ParseContext(custodian="Officer Reyes", custodian_names=("Officer Reyes",), export_sha256="cd" * 32)
JAN_1_MS = 1704067200000  # 2024-01-01T00:00:00Z
JAN_1_S = JAN_1_MS // 1000

# The columns Android's telephony provider creates (a subset: what the connector reads, and some more).
SCHEMA = """
CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, person INTEGER, date INTEGER,
    date_sent INTEGER DEFAULT 0, protocol INTEGER, read INTEGER DEFAULT 0, status INTEGER DEFAULT -1, type INTEGER,
    subject TEXT, body TEXT, service_center TEXT, locked INTEGER DEFAULT 0, seen INTEGER DEFAULT 0);
CREATE TABLE threads (_id INTEGER PRIMARY KEY AUTOINCREMENT, date INTEGER DEFAULT 0, message_count INTEGER DEFAULT 0,
    recipient_ids TEXT, snippet TEXT, read INTEGER DEFAULT 1, type INTEGER DEFAULT 0);
CREATE TABLE canonical_addresses (_id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT);
CREATE TABLE pdu (_id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id INTEGER, date INTEGER, date_sent INTEGER DEFAULT 0,
    msg_box INTEGER, read INTEGER DEFAULT 0, m_id TEXT, sub TEXT, ct_t TEXT, m_type INTEGER);
CREATE TABLE part (_id INTEGER PRIMARY KEY AUTOINCREMENT, mid INTEGER, seq INTEGER DEFAULT 0, ct TEXT, name TEXT,
    chset INTEGER, cd TEXT, fn TEXT, cid TEXT, cl TEXT, _data TEXT, text TEXT);
CREATE TABLE addr (_id INTEGER PRIMARY KEY, msg_id INTEGER, contact_id INTEGER, address TEXT, type INTEGER,
    charset INTEGER);
"""

Row = Sequence[object]


def make_db(path: Path, sms: Sequence[Row] = (), pdu: Sequence[Row] = (), parts: Sequence[Row] = (),
            addrs: Sequence[Row] = (), threads: Sequence[Row] = (), canonical: Sequence[Row] = (),
            schema: str = SCHEMA) -> Path:  # fmt: skip
    """sms: (_id, thread_id, address, date, type, body); pdu: (_id, thread_id, date, msg_box, m_type);
    parts: (mid, seq, ct, name, _data, text); addrs: (msg_id, address, type); threads: (_id, recipient_ids);
    canonical: (_id, address)."""
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.executemany("INSERT INTO sms (_id, thread_id, address, date, type, body) VALUES (?, ?, ?, ?, ?, ?)", sms)
    db.executemany("INSERT INTO pdu (_id, thread_id, date, msg_box, m_type) VALUES (?, ?, ?, ?, ?)", pdu)
    db.executemany("INSERT INTO part (mid, seq, ct, name, _data, text) VALUES (?, ?, ?, ?, ?, ?)", parts)
    db.executemany("INSERT INTO addr (msg_id, address, type) VALUES (?, ?, ?)", addrs)
    db.executemany("INSERT INTO threads (_id, recipient_ids) VALUES (?, ?)", threads)
    db.executemany("INSERT INTO canonical_addresses (_id, address) VALUES (?, ?)", canonical)
    db.commit()
    db.close()
    return path


def one_to_one(path: Path, *sms: Row) -> Path:
    return make_db(path, sms=sms, threads=[(1, "1")], canonical=[(1, "+1 555-010-0001")])


def parse(path: Path, context: ParseContext = CONTEXT) -> list[Message | Rejection]:
    return list(AndroidSmsConnector().parse(path, context))


def messages(path: Path) -> list[Message]:
    items = parse(path)
    assert all(isinstance(i, Message) for i in items), items
    return [i for i in items if isinstance(i, Message)]


# Detection


def test_sniff_needs_sqlite_and_an_sms_table(tmp_path: Path) -> None:
    connector = AndroidSmsConnector()
    assert connector.sniff(make_db(tmp_path / "mmssms.db"))
    other = sqlite3.connect(tmp_path / "chat.db")
    other.execute("CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT)")
    other.close()
    assert not connector.sniff(tmp_path / "chat.db")
    (tmp_path / "sms.xml").write_text("<smses count='0'>CREATE TABLE sms (</smses>", encoding="utf-8")
    assert not connector.sniff(tmp_path / "sms.xml")
    (tmp_path / "header.db").write_bytes(b"SQLite format 3\x00")
    assert not connector.sniff(tmp_path / "header.db")
    assert not connector.sniff(tmp_path / "absent.db")
    assert not connector.sniff(tmp_path)


def test_the_xml_connector_does_not_claim_the_database(tmp_path: Path) -> None:
    assert not SmsBackupConnector().sniff(make_db(tmp_path / "mmssms.db"))


# SMS


def test_sms_received_and_sent(tmp_path: Path) -> None:
    path = one_to_one(tmp_path / "mmssms.db", (1, 1, "+15550100001", JAN_1_MS + 5, 1, "Status?"),
                      (2, 1, "+1 555-010-0001", JAN_1_MS + 60_000, 2, "All clear\nreturning"))  # fmt: skip
    received, sent = messages(path)
    assert received.source == "sms" and received.conversation == sent.conversation == "+1 555-010-0001"
    assert (received.sender, received.recipients, received.direction) == ("+15550100001", ("Officer Reyes",),
                                                                           "received")  # fmt: skip
    assert received.sent_at == datetime(2024, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert (sent.sender, sent.recipients, sent.direction) == ("Officer Reyes", ("+1 555-010-0001",), "sent")
    assert sent.body == "All clear\nreturning"
    ref = received.source_ref
    assert (ref.file, ref.line, ref.entry, ref.export_sha256) == ("mmssms.db", 1, "sms", "cd" * 32)


@pytest.mark.parametrize("box", [3, 4, 5, 6])
def test_unsent_boxes_are_written_by_the_custodian(tmp_path: Path, box: int) -> None:
    [message] = messages(one_to_one(tmp_path / "mmssms.db", (1, 1, "+15550100001", JAN_1_MS, box, "draft")))
    assert (message.sender, message.direction) == ("Officer Reyes", "sent")


def test_sms_without_thread_tables_uses_the_address(tmp_path: Path) -> None:
    schema = SCHEMA.split("CREATE TABLE threads")[0]
    path = tmp_path / "mmssms.db"
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.execute("INSERT INTO sms (_id, address, date, type, body) VALUES (1, '+15550100001', ?, 1, 'hi')", (JAN_1_MS,))
    db.commit()
    db.close()
    [message] = messages(path)
    assert message.conversation == "+15550100001"


def test_sent_sms_without_address_has_unknown_recipients(tmp_path: Path) -> None:
    [message] = messages(make_db(tmp_path / "mmssms.db", sms=[(1, None, None, JAN_1_MS, 3, None)]))
    assert message.conversation == "(Unknown)" and message.body == ""
    assert message.recipients == () and FLAG_RECIPIENTS_UNKNOWN in message.flags


def test_bad_rows_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    path = one_to_one(tmp_path / "mmssms.db", (1, 1, "+15550100001", "yesterday", 1, "a"),
                      (2, 1, "+15550100001", JAN_1_MS, 9, "b"), (3, 1, "+15550100001", 10**18, 1, "c"),
                      (4, 1, "+15550100001", JAN_1_MS + 1, 1, "kept"))  # fmt: skip
    db = sqlite3.connect(path)
    db.execute("INSERT INTO sms (_id, thread_id, address, date, type, body) VALUES (5, 1, 'x', ?, 1, ?)",
               (JAN_1_MS + 2, b"\xff\xfe bad utf-8"))  # fmt: skip
    db.execute("UPDATE sms SET body = CAST(body AS BLOB) WHERE _id = 5")
    db.commit()
    db.close()
    items = parse(path)
    rejected = {i.line: i.reason for i in items if isinstance(i, Rejection)}
    assert rejected == {1: "sms row 1: its date is not an integer",
                        2: "sms row 2: its type is not a known message box",
                        3: "sms row 3: its date is out of range",
                        5: "sms row 5: its body is not valid UTF-8"}  # fmt: skip
    assert [m.body for m in items if isinstance(m, Message)] == ["kept"]


def test_body_over_16_mib_is_rejected_without_being_read(tmp_path: Path) -> None:
    path = one_to_one(tmp_path / "mmssms.db", (1, 1, "+15550100001", JAN_1_MS, 1, "x" * (16 * 1024**2 + 1)),
                      (2, 1, "+15550100001", JAN_1_MS + 1, 1, "next"))  # fmt: skip
    items = parse(path)
    assert isinstance(items[0], Rejection) and "longer than 16 MiB" in items[0].reason
    assert isinstance(items[1], Message) and items[1].body == "next"


# MMS


def mms_db(path: Path) -> Path:
    return make_db(
        path,
        sms=[(1, 1, "+15550100001", (JAN_1_S + 30) * 1000, 1, "between")],
        pdu=[(10, 2, JAN_1_S, 1, 132), (11, 2, JAN_1_S + 60, 2, 128), (12, 1, JAN_1_S + 90, 1, 130)],
        parts=[(10, -1, "application/smil", "smil.xml", None, "<smil/>"),
               (10, 0, "text/plain", "text_0.txt", None, "Meet at the gate"),
               (10, 1, "image/jpeg", "gate.jpg", "/data/user_de/0/com.android.providers.telephony/app_parts/PART_1",
                None),
               (10, 2, "text/plain", "text_1.txt", None, "bring badges"),
               (11, 0, "text/plain", None, None, "On it"),
               (11, 1, "text/x-vcard", "ana.vcf", None, "BEGIN:VCARD\nEND:VCARD")],
        addrs=[(10, "+15550100002", 137), (10, "+15550100001", 151), (10, "+15550100007", 151),
               (11, "insert-address-token", 137), (11, "+15550100001", 151), (11, "+15550100002", 151),
               (12, "+15550100001", 137)],
        threads=[(1, "1"), (2, "2 1")],
        canonical=[(1, "+15550100001"), (2, "+15550100002")],
    )  # fmt: skip


def test_mms_text_parts_and_missing_files(tmp_path: Path) -> None:
    group, between, reply, pending = messages(mms_db(tmp_path / "mmssms.db"))
    assert between.body == "between" and between.source_ref.entry == "sms"  # merged in time order
    assert group.sent_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert group.body == "Meet at the gate\nbring badges"
    assert group.conversation == "+15550100001, +15550100002"
    assert (group.sender, group.direction) == ("+15550100002", "received")
    assert group.recipients == ("+15550100001", "Officer Reyes")  # the owner's number is not the thread's
    [photo] = group.attachments
    assert (photo.name, photo.media_type, photo.missing, photo.sha256) == ("gate.jpg", "image/jpeg", True, None)
    assert FLAG_ATTACHMENT_MISSING in group.flags
    assert (group.source_ref.entry, group.source_ref.line) == ("pdu", 10)
    assert (reply.sender, reply.recipients, reply.direction) == ("Officer Reyes", ("+15550100001", "+15550100002"),
                                                                 "sent")  # fmt: skip
    [card] = reply.attachments
    assert card.content == b"BEGIN:VCARD\nEND:VCARD" and card.sha256 == hashlib.sha256(card.content).hexdigest()
    assert pending.attachments[0].missing and pending.body == ""  # a notification never downloaded


def test_mms_date_in_milliseconds_is_accepted(tmp_path: Path) -> None:
    path = make_db(tmp_path / "mmssms.db", pdu=[(1, None, JAN_1_MS, 1, 132)], addrs=[(1, "+15550100001", 137)])
    [message] = messages(path)
    assert message.sent_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert message.conversation == "+15550100001" and message.sender == "+15550100001"


def test_database_without_mms_tables_reads_sms(tmp_path: Path) -> None:
    schema = SCHEMA.split("CREATE TABLE pdu")[0]
    path = tmp_path / "mmssms.db"
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.execute("INSERT INTO sms (_id, address, date, type, body) VALUES (1, '+15550100001', ?, 2, 'hi')", (JAN_1_MS,))
    db.commit()
    db.close()
    assert [m.body for m in messages(path)] == ["hi"]


# Whole-file problems


@pytest.mark.parametrize(
    ("schema", "missing"),
    [
        ("CREATE TABLE threads (_id INTEGER);", "has no sms table"),
        ("CREATE TABLE sms (_id INTEGER PRIMARY KEY, address TEXT, body TEXT);", "sms.date, sms.type"),
        (SCHEMA.replace("CREATE TABLE part", "CREATE TABLE parts"), "part.mid, part.ct, part.text"),
        (SCHEMA.replace("msg_box INTEGER,", ""), "pdu.msg_box"),
    ],
)
def test_missing_tables_and_columns_are_named(tmp_path: Path, schema: str, missing: str) -> None:
    path = tmp_path / "mmssms.db"
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.close()
    with pytest.raises(InputError, match=missing):
        parse(path)


def test_corrupt_and_non_sqlite_files_are_input_errors(tmp_path: Path) -> None:
    good = one_to_one(tmp_path / "mmssms.db", *[(n, 1, "+15550100001", JAN_1_MS + n, 1, "x" * 500) for n in range(200)])
    data = good.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(data[:100] + bytes(range(256)) * 40)
    text = tmp_path / "notes.txt"
    text.write_text("not a database", encoding="utf-8")
    for path in (truncated, garbage, text):
        with pytest.raises(InputError):
            parse(path)
    with pytest.raises(InputError, match="is a directory"):
        parse(tmp_path)


def test_the_original_file_is_never_changed(tmp_path: Path) -> None:
    path = mms_db(tmp_path / "mmssms.db")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    names = sorted(p.name for p in tmp_path.iterdir())
    parse(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


# Hostile bytes: every outcome is an InputError or a list of items.


@functools.cache
def valid_db() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return mms_db(Path(folder) / "mmssms.db").read_bytes()


def outcome(path: Path) -> None:
    read_or_refused(AndroidSmsConnector(), path, CONTEXT)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(b"SQLite format 3\x00" + data)
    outcome(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                      max_size=8))  # fmt: skip
def test_mutated_databases_never_crash(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    buffer = bytearray(valid_db())
    for kind, position, value in edits:
        at = position % len(buffer)
        if kind == 0:
            buffer[at] = value  # byte flips anywhere: header, schema, b-tree pages, cell payloads
        elif kind == 1:
            buffer[at:at] = bytes([value])
        else:
            del buffer[max(at, 16) :]
    path = tmp_path / "mutated.db"
    path.write_bytes(bytes(buffer))
    outcome(path)
