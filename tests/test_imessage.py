"""The iMessage connector on chat.db files built here with sqlite3 (all fiction: 555 numbers, example.com).

``ChatDb`` writes the tables Messages uses (a modern subset of the real schema) so each test
shows the rows it stores; ``typedstream`` archives a text the way ``attributedBody`` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import plistlib
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import Connector, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import imessage
from connectors._apple import AppleDecodeError, apple_time, summary, typedstream_text
from connectors.imessage import IMessageConnector
from tests.hostile import read_or_refused

CONTEXT = ParseContext(custodian="mvega", custodian_names=("Marisol Vega", "+15555550100"), export_sha256="cd" * 32)
DANA, OMAR, LEE = "+15555550101", "+15555550102", "lee@example.com"
SECONDS = 700_000_000  # 2023-03-08T20:26:40Z as Apple-epoch seconds (old databases)
NANOS = 720_845_450_393_148_160  # 2023-11-05T02:50:50.393148Z as Apple-epoch nanoseconds
PHOTO = b"\xff\xd8\xff\xe0fictional jpeg bytes"
PHOTO_PATH = "~/Library/Messages/Attachments/ab/12/5F1C2D3E-0000-4000-8000-000000000001/IMG_0001.jpeg"
PHOTO_MEMBER = "Messages/Attachments/ab/12/5F1C2D3E-0000-4000-8000-000000000001/IMG_0001.jpeg"

SCHEMA = """
CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, service TEXT NOT NULL);
CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, style INTEGER,
    chat_identifier TEXT, service_name TEXT, display_name TEXT);
CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT,
    handle_id INTEGER DEFAULT 0, service TEXT, date INTEGER, date_edited INTEGER DEFAULT 0,
    date_retracted INTEGER DEFAULT 0, is_from_me INTEGER DEFAULT 0, cache_has_attachments INTEGER DEFAULT 0,
    associated_message_type INTEGER DEFAULT 0, item_type INTEGER DEFAULT 0, group_action_type INTEGER DEFAULT 0,
    other_handle INTEGER DEFAULT 0, group_title TEXT, attributedBody BLOB, message_summary_info BLOB);
CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, PRIMARY KEY (chat_id, message_id));
CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER, UNIQUE (chat_id, handle_id));
CREATE TABLE attachment (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, filename TEXT,
    mime_type TEXT, transfer_name TEXT, total_bytes INTEGER DEFAULT 0);
CREATE TABLE message_attachment_join (message_id INTEGER, attachment_id INTEGER, UNIQUE (message_id, attachment_id));
"""


def typedstream(text: str | bytes) -> bytes:
    """``text`` archived as an NSAttributedString, laid out like the blobs macOS writes."""
    data = text.encode() if isinstance(text, str) else text
    if len(data) < 0x80:
        length = bytes([len(data)])
    elif len(data) < 0x8000:
        length = b"\x81" + len(data).to_bytes(2, "little")
    else:
        length = b"\x82" + len(data).to_bytes(4, "little")
    return (
        b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00\x84\x84\x08NSObject"
        b"\x00\x85\x92\x84\x84\x84\x08NSString\x01\x94\x84\x01+" + length + data + b"\x86\x84\x02iI\x01\x01\x92"
        b"\x84\x84\x84\x0cNSDictionary\x00\x94\x84\x01i\x01\x92\x84\x96\x96\x1d__kIMMessagePartAttributeName"
        b"\x86\x92\x84\x84\x84\x08NSNumber\x00\x84\x84\x07NSValue\x00\x94\x84\x01*\x84\x99\x99\x00\x86\x86\x86"
    )


def cut_inside(text: str) -> bytes:
    """An archive of ``text`` that ends in the middle of the text."""
    blob = typedstream(text)
    return blob[: blob.index(text.encode()) + len(text) // 2]


def edit_history(*versions: tuple[float, str], retracted: tuple[int, ...] = ()) -> bytes:
    """A message_summary_info plist: part 0's versions (seconds, text), and unsent parts."""
    info: dict[str, Any] = {"amc": 0, "ust": True, "otr": {"0": {"le": 4, "lo": 0}}}
    if versions:
        info["ec"] = {"0": [{"d": when, "t": typedstream(text)} for when, text in versions]}
        info["ep"] = [0]
    if retracted:
        info["rp"] = list(retracted)
    return plistlib.dumps(info, fmt=plistlib.FMT_BINARY)


@dataclass
class ChatDb:
    """A chat.db under construction."""

    path: Path
    schema: str = SCHEMA
    encoding: str = "UTF-8"
    db: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(self.path)
        self.db.execute(f"PRAGMA encoding = '{self.encoding}'")
        self.db.executescript(self.schema)

    def handle(self, address: str) -> int:
        return self._insert("handle", id=address, service="iMessage")

    def chat(self, identifier: str, members: list[int], display_name: str = "", group: bool = False) -> int:
        style = 43 if group else 45
        chat_id = self._insert("chat", guid=f"iMessage;-;{identifier}", style=style, chat_identifier=identifier,
                               service_name="iMessage", display_name=display_name)  # fmt: skip
        for handle_id in members:
            self.db.execute("INSERT INTO chat_handle_join VALUES (?, ?)", (chat_id, handle_id))
        return chat_id

    def message(self, chat_id: int | None, **columns: Any) -> int:
        columns.setdefault("date", SECONDS)
        rowid = self._insert("message", guid=f"GUID-{os.urandom(8).hex()}", service="iMessage", **columns)
        if chat_id is not None:
            self.db.execute("INSERT INTO chat_message_join VALUES (?, ?)", (chat_id, rowid))
        return rowid

    def attach(self, message_id: int, filename: str | None, transfer_name: str, mime_type: str | None) -> int:
        guid = f"AT-{os.urandom(8).hex()}"
        attachment_id = self._insert("attachment", guid=guid, filename=filename, transfer_name=transfer_name,
                                     mime_type=mime_type, total_bytes=len(PHOTO))  # fmt: skip
        self.db.execute("INSERT INTO message_attachment_join VALUES (?, ?)", (message_id, attachment_id))
        self.db.execute("UPDATE message SET cache_has_attachments = 1 WHERE ROWID = ?", (message_id,))
        return attachment_id

    def close(self) -> Path:
        self.db.commit()
        self.db.close()
        return self.path

    def _insert(self, table: str, **values: Any) -> int:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid


@dataclass(frozen=True)
class Sample:
    """The rows of the sample database, by name."""

    path: Path
    rows: dict[str, int]


def build_sample(path: Path) -> Sample:
    """A 1:1 chat with Dana and a named group with Dana, Omar and Lee, covering each kind of row."""
    chat = ChatDb(path)
    dana, omar, lee = chat.handle(DANA), chat.handle(OMAR), chat.handle(LEE)
    direct = chat.chat(DANA, [dana])
    group = chat.chat("chat493817", [dana, omar, lee], display_name="Bridge Ops", group=True)
    rows = {
        "seconds": chat.message(direct, handle_id=dana, text="Lane 4 closed\n  detour via Main St"),
        "nanos": chat.message(direct, handle_id=dana, is_from_me=1, text="On my way", date=NANOS),
        "archived": chat.message(direct, handle_id=dana, attributedBody=typedstream("Noted 👍 🆄")),
        "group": chat.message(group, handle_id=omar, text="Briefing moved to 14:00"),
        "photo": chat.message(group, is_from_me=1, text="\ufffc"),
        "lost": chat.message(group, handle_id=lee, text="\ufffcsee map"),
        "edited": chat.message(direct, is_from_me=1, handle_id=dana, text="Gate B", date_edited=SECONDS + 60,
                               message_summary_info=edit_history((SECONDS + 1, "Gate A"), (SECONDS + 60, "Gate B"))),
        "unsent": chat.message(direct, is_from_me=1, handle_id=dana, date_retracted=SECONDS + 30,
                               message_summary_info=edit_history(retracted=(0,))),
        "tapback": chat.message(group, handle_id=dana, associated_message_type=2001,
                                text="Liked “Briefing moved to 14:00”"),
        "renamed": chat.message(group, is_from_me=1, item_type=2, group_title="Bridge Ops"),
        "added": chat.message(group, handle_id=dana, item_type=1, group_action_type=0, other_handle=lee),
        "empty": chat.message(direct, handle_id=dana),
    }  # fmt: skip
    chat.attach(rows["photo"], PHOTO_PATH, "IMG_0001.jpeg", "image/jpeg")
    chat.attach(rows["lost"], "~/Library/Messages/Attachments/cd/34/GUID-2/map.png", "map.png", None)
    return Sample(chat.close(), rows)


def zip_export(target: Path, database: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        archive.write(database, "Messages/chat.db")
        archive.writestr(PHOTO_MEMBER, PHOTO)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def parse(path: Path, context: ParseContext = CONTEXT) -> list[ParsedItem]:
    return list(IMessageConnector().parse(path, context))


def messages(path: Path) -> list[Message]:
    items = parse(path)
    assert all(isinstance(item, Message) for item in items), [i for i in items if isinstance(i, Rejection)]
    return [item for item in items if isinstance(item, Message)]


def by_row(found: list[Message]) -> dict[int | None, Message]:
    return {m.source_ref.line: m for m in found}


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    return build_sample(tmp_path / "chat.db")


@pytest.fixture
def rows(sample: Sample) -> dict[str, Message]:
    found = by_row(messages(sample.path))
    return {name: found[rowid] for name, rowid in sample.rows.items()}


# --- the connector and its sniff ---------------------------------------------------------


def test_connector_protocol() -> None:
    connector = IMessageConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "imessage"
    assert "chat.db" in connector.description


def test_sniff_accepts_the_database_and_a_zip(sample: Sample, tmp_path: Path) -> None:
    assert IMessageConnector().sniff(sample.path)
    assert IMessageConnector().sniff(zip_export(tmp_path / "messages.zip", sample.path))
    backup = tmp_path / "3d0d7e5fb2ce288813306e4d4636395e047a3d28"
    shutil.copyfile(sample.path, backup)
    assert IMessageConnector().sniff(backup)


def other_sqlite(path: Path) -> bytes:
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE sms (_id INTEGER PRIMARY KEY, address TEXT, body TEXT, date INTEGER);"
                     "CREATE TABLE threads (_id INTEGER PRIMARY KEY, recipient_ids TEXT);")  # fmt: skip
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"1/29/18, 12:24 - Brian Okafor: lane 3 is open\n",
        b'{"source": "imessage", "conversation": "x", "sender": "a"}\n',
        b"SQLite format 3\x00" + b"\x00" * 200,
        b"CREATE TABLE message (ROWID) chat_message_join",
        os.urandom(4096),
    ],
)
def test_sniff_refuses_other_content(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(content)
    assert not IMessageConnector().sniff(path)


def test_sniff_refuses_other_sqlite_and_zips(tmp_path: Path) -> None:
    android = tmp_path / "mmssms.db"
    other_sqlite(android)
    assert not IMessageConnector().sniff(android)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.write(android, "chat.db")  # the right name, the wrong tables
        archive.writestr("WhatsApp Chat with Dana.txt", "1/29/18, 12:24 - Dana: hi\n")
    assert not IMessageConnector().sniff(tmp_path / "other.zip")
    assert not IMessageConnector().sniff(tmp_path / "missing.db")
    assert not IMessageConnector().sniff(tmp_path)


# --- what a message carries --------------------------------------------------------------


def test_dates_in_seconds_and_nanoseconds(rows: dict[str, Message]) -> None:
    assert rows["seconds"].sent_at == datetime(2023, 3, 8, 20, 26, 40, tzinfo=UTC)
    assert rows["nanos"].sent_at == datetime(2023, 11, 5, 2, 50, 50, 393148, tzinfo=UTC)


def test_received_message_fields(rows: dict[str, Message], sample: Sample) -> None:
    message = rows["seconds"]
    assert message.source == "imessage"
    assert message.conversation == DANA  # a 1:1 chat has no display name: its chat_identifier
    assert (message.sender, message.direction, message.recipients) == (DANA, "received", ("mvega",))
    assert message.body == "Lane 4 closed\n  detour via Main St"
    assert (message.custodian, message.account, message.system, message.flags) == ("mvega", "personal", False, ())
    assert message.source_ref.to_json() == {
        "file": str(sample.path), "entry": None, "line": sample.rows["seconds"], "export_sha256": "cd" * 32,
    }  # fmt: skip


def test_sent_message_fields(rows: dict[str, Message]) -> None:
    message = rows["nanos"]
    assert (message.sender, message.direction, message.recipients) == ("mvega", "sent", (DANA,))


def test_text_only_in_attributed_body(rows: dict[str, Message]) -> None:
    assert rows["archived"].body == "Noted 👍 🆄"  # U+1F184 holds the bytes 86 84, a peer's end marker


def test_group_chat(rows: dict[str, Message]) -> None:
    group = rows["group"]
    assert group.conversation == "Bridge Ops"
    assert group.sender == OMAR
    assert group.recipients == ("mvega", DANA, LEE)
    assert rows["photo"].recipients == (DANA, OMAR, LEE)
    assert rows["photo"].direction == "sent"


def test_bare_database_has_no_attachment_bytes(rows: dict[str, Message]) -> None:
    photo = rows["photo"]
    assert photo.body == "\ufffc"
    assert [(a.name, a.media_type, a.missing, a.size, a.sha256) for a in photo.attachments] == [
        ("IMG_0001.jpeg", "image/jpeg", True, None, None)
    ]
    assert FLAG_ATTACHMENT_MISSING in photo.flags
    assert rows["lost"].attachments[0].media_type == "image/png"  # guessed from the name when mime_type is NULL


def test_zip_with_attachments(sample: Sample, tmp_path: Path) -> None:
    export = zip_export(tmp_path / "messages.zip", sample.path)
    found = by_row(messages(export))
    assert len(found) == len(sample.rows)
    photo = found[sample.rows["photo"]]
    [attachment] = photo.attachments
    assert (attachment.name, attachment.media_type, attachment.missing) == ("IMG_0001.jpeg", "image/jpeg", False)
    assert (attachment.size, attachment.sha256, attachment.content) == (
        len(PHOTO), hashlib.sha256(PHOTO).hexdigest(), PHOTO,
    )  # fmt: skip
    assert FLAG_ATTACHMENT_MISSING not in photo.flags
    assert photo.source_ref.entry == "Messages/chat.db"
    assert photo.source_ref.file == str(export)
    lost = found[sample.rows["lost"]]
    assert lost.attachments[0].missing and FLAG_ATTACHMENT_MISSING in lost.flags


def test_attachment_paths_never_leave_the_attachments_folder(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    dana = chat.handle(DANA)
    direct = chat.chat(DANA, [dana])
    escape = chat.message(direct, handle_id=dana, text="\ufffc")
    chat.attach(escape, "~/Library/Messages/Attachments/../../../secret.txt", "secret.txt", "text/plain")
    beside = chat.message(direct, handle_id=dana, text="\ufffc")
    chat.attach(beside, "/etc/passwd", "passwd", "text/plain")
    export = zip_export(tmp_path / "messages.zip", chat.close(), {"secret.txt": b"not an attachment"})
    for message in messages(export):
        assert [(a.missing, a.content) for a in message.attachments] == [(True, None)]


def test_attachment_over_the_cap_is_rejected(sample: Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imessage, "ATTACHMENT_CAP", len(PHOTO) - 1)
    items = parse(zip_export(tmp_path / "messages.zip", sample.path))
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [(r.line, "limit" in r.reason) for r in rejected] == [(sample.rows["photo"], True)]
    assert len(items) == len(sample.rows)


def test_listed_attachment_row_that_is_gone(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    dana = chat.handle(DANA)
    rowid = chat.message(chat.chat(DANA, [dana]), handle_id=dana, text="\ufffc", cache_has_attachments=1)
    chat.db.execute("INSERT INTO message_attachment_join VALUES (?, 99)", (rowid,))
    flagged = chat.message(chat.chat(OMAR, [chat.handle(OMAR)]), text="\ufffc", cache_has_attachments=1)
    found = by_row(messages(chat.close()))
    for message in (found[rowid], found[flagged]):
        assert [(a.name, a.missing) for a in message.attachments] == [(None, True)]
        assert FLAG_ATTACHMENT_MISSING in message.flags


def test_edited_message_keeps_the_final_text(rows: dict[str, Message]) -> None:
    assert rows["edited"].body == "Gate B"
    assert FLAG_EDITED in rows["edited"].flags


def test_edited_message_with_text_only_in_its_history(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    dana = chat.handle(DANA)
    chat.message(chat.chat(DANA, [dana]), is_from_me=1, handle_id=dana,
                 message_summary_info=edit_history((SECONDS, "Gate A"), (SECONDS + 9, "Gate C")))  # fmt: skip
    [message] = messages(chat.close())
    assert (message.body, message.flags) == ("Gate C", (FLAG_EDITED,))


def test_unsent_message(rows: dict[str, Message]) -> None:
    unsent = rows["unsent"]
    assert (unsent.body, unsent.system, unsent.flags) == ("", False, (FLAG_DELETED,))


def test_tapback_is_a_system_message(rows: dict[str, Message]) -> None:
    tapback = rows["tapback"]
    assert (tapback.body, tapback.system, tapback.sender) == ("Liked “Briefing moved to 14:00”", True, DANA)


def test_group_events_are_described(rows: dict[str, Message]) -> None:
    assert (rows["renamed"].body, rows["renamed"].system) == ("named the conversation “Bridge Ops”", True)
    assert rows["renamed"].sender == "mvega"
    assert (rows["added"].body, rows["added"].system) == (f"added {LEE}", True)


def test_empty_message_is_kept(rows: dict[str, Message]) -> None:
    assert (rows["empty"].body, rows["empty"].system, rows["empty"].attachments) == ("", False, ())


def test_every_row_in_rowid_order(sample: Sample) -> None:
    assert [m.source_ref.line for m in messages(sample.path)] == sorted(sample.rows.values())


def test_no_time_zone_is_needed(sample: Sample) -> None:
    assert len(parse(sample.path, ParseContext(custodian="mvega"))) == len(sample.rows)


def test_custodian_handle_counts_as_sent(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    own = chat.handle("+15555550100")  # the custodian's own number, e.g. a message to self
    chat.message(chat.chat("+15555550100", [own]), handle_id=own, text="note to self")
    [message] = messages(chat.close())
    assert (message.sender, message.direction) == ("+15555550100", "sent")


def test_unknown_handle_in_a_one_to_one_chat(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    dana = chat.handle(DANA)
    direct = chat.chat(DANA, [dana])
    chat.message(direct, handle_id=77, text="from a handle row that is gone")
    chat.message(direct, handle_id="trash", text="handle_id is text")
    chat.message(None, handle_id=77, text="in no chat at all")
    first, second, orphan = messages(chat.close())
    assert first.sender == second.sender == DANA  # the chat's only other member
    assert (orphan.sender, orphan.conversation, orphan.recipients) == ("", "", ("mvega",))
    assert FLAG_RECIPIENTS_UNKNOWN in orphan.flags


def test_minimal_database_without_chat_tables(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT NOT NULL);"
        "CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT, handle_id INTEGER, date INTEGER);"
        'CREATE TABLE "chat_message_join" (message_id INTEGER, chat_id INTEGER);'
        f"INSERT INTO handle VALUES (5, '{DANA}');"
        f"INSERT INTO message VALUES (1, 'hello', 5, {NANOS}), (2, NULL, 5, {SECONDS});"
        "INSERT INTO chat_message_join VALUES (1, 1);"
    )
    db.commit()
    db.close()
    assert IMessageConnector().sniff(path)
    first, second = messages(path)
    assert (first.body, first.sender, first.conversation, first.direction) == ("hello", DANA, DANA, "received")
    assert first.flags == (FLAG_RECIPIENTS_UNKNOWN,)
    assert (second.body, second.sent_at) == ("", apple_time(SECONDS))


def test_database_with_old_column_set(tmp_path: Path) -> None:
    """macOS 10.10: no attributedBody, summary, edit or retraction columns."""
    chat = ChatDb(tmp_path / "chat.db", SCHEMA.replace(
        "date_edited INTEGER DEFAULT 0,\n    date_retracted INTEGER DEFAULT 0, ", "").replace(
        ", attributedBody BLOB, message_summary_info BLOB", ""))  # fmt: skip
    dana = chat.handle(DANA)
    chat.message(chat.chat(DANA, [dana]), handle_id=dana, text="old but fine")
    [message] = messages(chat.close())
    assert (message.body, message.flags) == ("old but fine", ())


@pytest.mark.parametrize("encoding", ["UTF-16le", "UTF-16be"])
def test_utf16_database(tmp_path: Path, encoding: str) -> None:
    chat = ChatDb(tmp_path / "chat.db", encoding=encoding)
    dana = chat.handle(DANA)
    chat.message(chat.chat(DANA, [dana], display_name="Dana Reyes"), handle_id=dana, text="Grüße 👋\nbis später")
    path = chat.close()
    assert IMessageConnector().sniff(path)
    [message] = messages(path)
    assert (message.body, message.conversation, message.sender) == ("Grüße 👋\nbis später", "Dana Reyes", DANA)


# --- the officer's file ------------------------------------------------------------------


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def test_officer_file_is_untouched(sample: Sample) -> None:
    before = fingerprint(sample.path)
    messages(sample.path)
    assert fingerprint(sample.path) == before  # same bytes, same mtime, no -shm/-wal beside it


@pytest.fixture
def wal_export(tmp_path: Path) -> Iterator[Path]:
    """A WAL-mode chat.db whose last message is still only in its -wal (the app is running)."""
    live = tmp_path / "live" / "chat.db"
    live.parent.mkdir()
    chat = ChatDb(live)
    chat.db.execute("PRAGMA journal_mode = WAL")
    chat.db.commit()
    dana = chat.handle(DANA)
    chat.message(chat.chat(DANA, [dana]), handle_id=dana, text="checkpointed")
    chat.db.commit()
    chat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    chat.db.execute("PRAGMA wal_autocheckpoint = 0")
    chat.message(1, handle_id=dana, text="only in the wal")
    chat.db.commit()
    copied = tmp_path / "export"
    copied.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{live}{suffix}", copied / f"chat.db{suffix}")
    yield copied / "chat.db"
    chat.close()


def test_wal_file_is_read_and_left_alone(wal_export: Path) -> None:
    wal = wal_export.with_name("chat.db-wal")
    before, wal_before = fingerprint(wal_export), fingerprint(wal)
    assert [m.body for m in messages(wal_export)] == ["checkpointed", "only in the wal"]
    assert (fingerprint(wal_export), fingerprint(wal)) == (before, wal_before)


def test_wal_inside_a_zip(wal_export: Path, tmp_path: Path) -> None:
    export = tmp_path / "messages.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.write(wal_export, "Library/Messages/chat.db")
        archive.write(wal_export.with_name("chat.db-wal"), "Library/Messages/chat.db-wal")
    assert [m.body for m in messages(export)] == ["checkpointed", "only in the wal"]


# --- rows that cannot be read ------------------------------------------------------------


def single_row(tmp_path: Path, **columns: Any) -> list[ParsedItem]:
    chat = ChatDb(tmp_path / "chat.db")
    dana = chat.handle(DANA)
    direct = chat.chat(DANA, [dana])
    chat.message(direct, handle_id=dana, text="before")
    chat.message(direct, handle_id=dana, **columns)
    chat.message(direct, handle_id=dana, text="after")
    return parse(chat.close())


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"text": b"caf\xe9"}, "not valid UTF-8"),
        ({"attributedBody": b"\x04\x0bstreamtyped garbage"}, "NSString"),
        ({"attributedBody": cut_inside("cut short")}, "do not end its NSString"),
        ({"attributedBody": b"bplist00 not a typedstream"}, "not a typedstream"),
        ({"text": "no date", "date": None}, "no date"),
        ({"text": "text date", "date": "yesterday"}, "not a number"),
        ({"text": "far future", "date": 1e300}, "out of range"),
        ({"text": "bad summary", "message_summary_info": b"bplist00\x00\x01garbage"}, "property list"),
        ({"text": "wrong summary", "message_summary_info": plistlib.dumps([1], fmt=plistlib.FMT_BINARY)},
         "not a dictionary"),
        ({"text": "bad parts", "message_summary_info": plistlib.dumps({"rp": "0"}, fmt=plistlib.FMT_BINARY)},
         "part numbers"),
    ],
)  # fmt: skip
def test_undecodable_row_is_rejected_alone(tmp_path: Path, columns: dict[str, Any], reason: str) -> None:
    before, rejection, after = single_row(tmp_path, **columns)
    assert isinstance(before, Message) and isinstance(after, Message)
    assert isinstance(rejection, Rejection)
    assert rejection.line == 2 and reason in rejection.reason
    assert rejection.file == str(tmp_path / "chat.db")


def test_invalid_utf8_text_is_rejected(tmp_path: Path) -> None:
    chat = ChatDb(tmp_path / "chat.db")
    chat.message(None, text="fine")
    chat.db.execute("INSERT INTO message (guid, text, date) VALUES ('bad', CAST(x'6361ff' AS TEXT), 1)")
    first, second = parse(chat.close())
    assert isinstance(first, Message)
    assert isinstance(second, Rejection) and "UTF-8" in second.reason


def test_huge_message_is_rejected(tmp_path: Path) -> None:
    items = single_row(tmp_path, text="x" * (imessage.MESSAGE_CAP + 1))
    assert isinstance(items[1], Rejection) and "16 MiB" in items[1].reason
    assert [type(i) for i in items] == [Message, Rejection, Message]


def test_huge_multibyte_message_is_rejected(tmp_path: Path) -> None:
    items = single_row(tmp_path, text="é" * (imessage.MESSAGE_CAP // 2 + 1))  # under the cap in characters only
    assert isinstance(items[1], Rejection) and "16 MiB" in items[1].reason


def test_huge_archived_body_is_rejected(tmp_path: Path) -> None:
    items = single_row(tmp_path, attributedBody=b"\x04\x0bstreamtyped" + b"\x00" * imessage.BLOB_CAP)
    assert isinstance(items[1], Rejection) and "16 MiB" in items[1].reason


# --- files that are not a readable Messages database -------------------------------------


def test_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.write_text("1/29/18, 12:24 - Brian Okafor: lane 3 is open\n")
    with pytest.raises(InputError, match="not an SQLite database"):
        parse(path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "chat.db").touch()
    with pytest.raises(InputError):
        parse(tmp_path / "chat.db")


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        parse(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "nothing.db")


def test_sqlite_without_message_table(tmp_path: Path) -> None:
    other_sqlite(tmp_path / "mmssms.db")
    with pytest.raises(InputError, match="no message table"):
        parse(tmp_path / "mmssms.db")


def test_message_table_without_date(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "chat.db")
    db.execute("CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT)")
    db.close()
    with pytest.raises(InputError, match="date or text"):
        parse(tmp_path / "chat.db")


def test_corrupt_database(sample: Sample) -> None:
    data = bytearray(sample.path.read_bytes())
    page = 4096
    data[page : 3 * page] = os.urandom(2 * page)
    sample.path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt"):
        parse(sample.path)


def test_truncated_database(sample: Sample) -> None:
    data = sample.path.read_bytes()
    sample.path.write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(InputError, match=str(sample.path)):
        parse(sample.path)


def test_schema_name_that_is_not_utf8(sample: Sample) -> None:
    data = sample.path.read_bytes()
    sample.path.write_bytes(data.replace(b"tablehandlehandle", b"table\xe7andlehandle", 1))
    with pytest.raises(InputError, match="not UTF-8"):
        parse(sample.path)


def test_zip_without_database(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "messages.zip", "w") as archive:
        archive.writestr("notes.txt", "nothing here")
    with pytest.raises(InputError, match="no Apple Messages database"):
        parse(tmp_path / "messages.zip")


def test_zip_with_traversal_entry(sample: Sample, tmp_path: Path) -> None:
    export = zip_export(tmp_path / "messages.zip", sample.path, {"../../escape.jpeg": PHOTO})
    assert not IMessageConnector().sniff(export)
    with pytest.raises(InputError, match="escapes"):
        parse(export)


def test_truncated_zip(sample: Sample, tmp_path: Path) -> None:
    export = zip_export(tmp_path / "messages.zip", sample.path)
    export.write_bytes(export.read_bytes()[:-200])
    with pytest.raises(InputError):
        parse(export)


def test_corrupt_database_in_a_zip_names_the_member(sample: Sample, tmp_path: Path) -> None:
    data = bytearray(sample.path.read_bytes())
    data[4096:12288] = b"\xa5" * 8192
    broken = tmp_path / "broken.db"
    broken.write_bytes(bytes(data))
    export = tmp_path / "messages.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.write(broken, "Messages/chat.db")
    with pytest.raises(InputError) as caught:
        parse(export)
    assert caught.value.file == f"{export}!Messages/chat.db"


# --- the decoders ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 127, 128, 32767, 32768, 100_000])
def test_typedstream_lengths(size: int) -> None:
    text = ("ab" * size)[:size]
    assert typedstream_text(typedstream(text)) == text


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"streamtyped",
        b"\x04\x0bstreamtyped\x81\xe8\x03",
        cut_inside("hello"),
        typedstream(b"\xff\xfe bad utf-8"),
        typedstream("hello").replace(b"NSString\x01\x94\x84\x01+\x05", b"NSString\x01\x94\x84\x01+\x85"),
        typedstream("hello").replace(b"NSString\x01\x94\x84\x01+\x05", b"NSString\x01\x94\x84\x01+\x81\xff\xff"),
        typedstream("hello").replace(b"+\x05hello", b"+\x81\x05"),
    ],
)
def test_typedstream_refuses_damaged_blobs(blob: bytes) -> None:
    with pytest.raises(AppleDecodeError):
        typedstream_text(blob)


def test_apple_time() -> None:
    assert apple_time(0) == datetime(2001, 1, 1, tzinfo=UTC)
    assert apple_time(SECONDS) == apple_time(SECONDS * 10**9)
    assert apple_time(690513474.2725511) == datetime(2022, 11, 19, 1, 17, 54, 272551, tzinfo=UTC)
    for bad in (True, "1", b"1", None, float("nan"), float("inf"), 10**30):
        with pytest.raises(AppleDecodeError):
            apple_time(bad)


def test_summary_shapes() -> None:
    history = summary(edit_history((SECONDS, "one"), (SECONDS + 5, "two"), retracted=(1,)))
    assert (history.edited, history.retracted, history.final_text()) == (True, True, "two")
    assert [e.text for e in history.edits[0]] == ["one", "two"]
    plain = summary(plistlib.dumps({"amc": 0, "ust": True}, fmt=plistlib.FMT_BINARY))
    assert (plain.edited, plain.retracted, plain.final_text()) == (False, False, "")
    damaged = {"ec": {"0": [{"d": SECONDS, "t": b"not a typedstream"}]}, "ep": [0]}
    assert summary(plistlib.dumps(damaged, fmt=plistlib.FMT_BINARY)).final_text() == ""
    shapes: list[dict[str, Any]] = [{"ec": []}, {"ec": {"x": []}}, {"ec": {"0": {}}}, {"ec": {"0": ["v"]}},
                                    {"ep": [True]}, {"ec": {"0": [{"t": b""}]}}]  # fmt: skip
    for bad in shapes:
        with pytest.raises(AppleDecodeError):
            summary(plistlib.dumps(bad, fmt=plistlib.FMT_BINARY))
    with pytest.raises(AppleDecodeError):
        summary(plistlib.dumps({"ec": {}}, fmt=plistlib.FMT_XML))  # XML plists are never parsed


# --- hostile bytes -----------------------------------------------------------------------


def outcome(path: Path) -> None:
    read_or_refused(IMessageConnector(), path, CONTEXT)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(data)
    outcome(path)
    path.write_bytes(b"SQLite format 3\x00" + data)
    outcome(path)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_sample(tmp_path_factory.mktemp("pristine") / "chat.db").path.read_bytes()


mutations = st.one_of(
    st.tuples(
        st.just("flip"), st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=20)
    ),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=64))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=mutations)
def test_mutated_database(tmp_path: Path, pristine: bytes, mutation: tuple[str, Any]) -> None:
    kind, how = mutation
    data = bytearray(pristine)
    if kind == "flip":
        for at, mask in how:
            data[at % len(data)] ^= mask
    elif kind == "truncate":
        del data[how % len(data) :]
    else:
        at, extra = how
        data[at % len(data) : at % len(data)] = extra
    path = tmp_path / "chat.db"
    path.write_bytes(bytes(data))
    outcome(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), cut=st.integers(0, 400), flips=st.lists(st.integers(0, 400), max_size=4))
def test_mangled_typedstream(text: str, cut: int, flips: list[int]) -> None:
    blob = bytearray(typedstream(text))
    for at in flips:
        blob[at % len(blob)] ^= 0x5A
    with contextlib.suppress(AppleDecodeError):
        assert isinstance(typedstream_text(bytes(blob[:cut] if cut else blob)), str)
