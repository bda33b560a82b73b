"""SQLite exports as phones write them: schemas anywhere in the file, trimmed and empty databases,
and the private plaintext copies the connectors read them through.

Real databases grow by migrations: tables are added long after the first rows, so the pages
holding their schema sit far past the first 64 KiB. ``far_schema`` reproduces that here (a
filler table is written first, then a schema large enough to leave page 1). All data is fiction.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from archiver.connector import ConnectorRegistry, ParseContext
from archiver.model import Message
from archiver.storage.archive import temp_area
from archiver.storage.store import LocalDirStore
from connectors._limits import SNIFF_BYTES
from connectors.android_sms import AndroidSmsConnector
from connectors.imessage import IMessageConnector
from tests.conftest import REPO, CliRunner

REGISTRY = ConnectorRegistry.from_entry_points()
CONTEXT = ParseContext(custodian="mvega")
DANA = "+15555550101"
NANOS = 720_845_450_393_148_160  # 2023-11-05T02:50:50Z as Apple-epoch nanoseconds
JAN_1_MS = 1704067200000

# The iPhone sms.db tables an officer's backup tool may keep: message and handle only.
IOS_TRIMMED = """
CREATE TABLE handle (ROWID INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE, id TEXT NOT NULL, country TEXT,
    service TEXT NOT NULL, uncanonicalized_id TEXT, person_centric_id TEXT, UNIQUE (id, service));
CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, text TEXT,
    replace INTEGER DEFAULT 0, service_center TEXT, handle_id INTEGER DEFAULT 0, subject TEXT, country TEXT,
    attributedBody BLOB, version INTEGER DEFAULT 0, type INTEGER DEFAULT 0, service TEXT, account TEXT,
    account_guid TEXT, error INTEGER DEFAULT 0, date INTEGER, date_read INTEGER, date_delivered INTEGER,
    is_delivered INTEGER DEFAULT 0, is_finished INTEGER DEFAULT 0, is_emote INTEGER DEFAULT 0,
    is_from_me INTEGER DEFAULT 0, is_empty INTEGER DEFAULT 0, cache_has_attachments INTEGER DEFAULT 0,
    item_type INTEGER DEFAULT 0, other_handle INTEGER DEFAULT 0, group_title TEXT,
    group_action_type INTEGER DEFAULT 0, associated_message_type INTEGER DEFAULT 0);
"""
IOS_CHATS = """
CREATE TABLE chat (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT UNIQUE NOT NULL, style INTEGER,
    chat_identifier TEXT, service_name TEXT, display_name TEXT);
CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER, PRIMARY KEY (chat_id, message_id));
CREATE TABLE chat_handle_join (chat_id INTEGER, handle_id INTEGER, UNIQUE (chat_id, handle_id));
"""
ANDROID = """
CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, person INTEGER, date INTEGER,
    date_sent INTEGER DEFAULT 0, protocol INTEGER, read INTEGER DEFAULT 0, status INTEGER DEFAULT -1, type INTEGER,
    subject TEXT, body TEXT, service_center TEXT, locked INTEGER DEFAULT 0, seen INTEGER DEFAULT 0);
CREATE TABLE threads (_id INTEGER PRIMARY KEY AUTOINCREMENT, date INTEGER DEFAULT 0, message_count INTEGER DEFAULT 0,
    recipient_ids TEXT, snippet TEXT, read INTEGER DEFAULT 1, type INTEGER DEFAULT 0);
CREATE TABLE canonical_addresses (_id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT);
"""


def migrations(table: str, column: str, count: int = 40) -> str:
    """Indexes and triggers as apps add them over the years: enough schema text to leave page 1."""
    return "".join(
        f"CREATE INDEX IF NOT EXISTS {table}_migration_{n}_index_with_a_descriptive_name ON {table} ({column});"
        f"CREATE TRIGGER {table}_migration_{n}_trigger AFTER DELETE ON {table} BEGIN "
        f"SELECT 'keeps derived tables in step after migration {n} of the app database'; END;"
        for n in range(count)
    )


def far_schema(path: Path, schema: str, table: str, rows: str = "", drop_filler: bool = False,
               column: str = "date") -> Path:
    """A database whose schema pages lie past ``SNIFF_BYTES`` (data first, tables added later)."""
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE app_state (blob BLOB);")
    db.execute("INSERT INTO app_state VALUES (zeroblob(?))", (2 * SNIFF_BYTES,))
    db.commit()
    db.executescript("BEGIN;" + schema + migrations(table, column) + rows + "COMMIT;")
    if drop_filler:  # the phone deleted its data: the pages are free, the schema stays where it was
        db.executescript("DROP TABLE app_state;")
    db.commit()
    db.close()
    head = path.read_bytes()[:SNIFF_BYTES]
    assert f"CREATE TABLE {table}".encode() not in head  # the failure seen on real files
    return path


def ios_trimmed(path: Path) -> Path:
    rows = (f"INSERT INTO handle (ROWID, id, service) VALUES (5, '{DANA}', 'SMS');"
            f"INSERT INTO message (ROWID, guid, text, handle_id, date) VALUES (1, 'G1', 'lane 3 open?', 5, {NANOS});"
            f"INSERT INTO message (ROWID, guid, text, handle_id, date, is_from_me) "
            f"VALUES (2, 'G2', 'yes, open it', 5, {NANOS + 10**9}, 1);")  # fmt: skip
    return far_schema(path, IOS_TRIMMED, "message", rows)


def android_empty(path: Path) -> Path:
    return far_schema(path, ANDROID, "sms", drop_filler=True)


# --- detection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "name", "connector"),
    [
        (lambda p: far_schema(p, IOS_TRIMMED + IOS_CHATS, "message"), "chat.db", "imessage"),
        (ios_trimmed, "3d0d7e5fb2ce288813306e4d4636395e047a3d28", "imessage"),
        (lambda p: far_schema(p, ANDROID, "sms", f"INSERT INTO sms (date, type, body) VALUES ({JAN_1_MS}, 1, 'x');"),
         "mmssms.db", "android-sms"),
        (android_empty, "mmssms.db", "android-sms"),
    ],
    ids=["chat.db", "trimmed-sms.db", "mmssms.db", "empty-mmssms.db"],
)
def test_schema_past_the_first_64_kib_is_detected_by_one_connector(build: Callable[[Path], Path], name: str,
                                                                   connector: str, tmp_path: Path) -> None:
    path = build(tmp_path / name)
    assert REGISTRY.detect(path).name == connector
    assert [c.name for c in REGISTRY.all() if c.sniff(path)] == [connector]


def test_a_trimmed_iphone_database_is_read_with_conversations_from_the_handle(tmp_path: Path) -> None:
    received, sent = list(IMessageConnector().parse(ios_trimmed(tmp_path / "sms.db"), CONTEXT))
    assert isinstance(received, Message) and isinstance(sent, Message)
    assert (received.body, received.sender, received.conversation) == ("lane 3 open?", DANA, DANA)
    assert (sent.body, sent.sender, sent.conversation, sent.direction) == ("yes, open it", "mvega", DANA, "sent")


def test_an_empty_android_database_is_an_export_of_no_messages(cli: CliRunner, archive_dir: Path) -> None:
    path = android_empty(archive_dir / "mmssms.db")
    parsed = cli("parse", path)
    assert (parsed.code, parsed.out) == (0, ""), parsed.err
    ingested = cli("ingest", path, "--custodian", "mvega", "--json")
    assert ingested.code == 0, ingested.err


@pytest.mark.parametrize(
    "schema",
    ["CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT);",  # no date, no handle: not Messages
     "CREATE TABLE sms (_id INTEGER PRIMARY KEY, body TEXT);",  # no address, date or type: not Android
     "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"],
)
def test_other_sqlite_databases_are_claimed_by_no_connector(tmp_path: Path, schema: str) -> None:
    path = far_schema(tmp_path / "other.db", schema, schema.split()[2], column="body" if "body" in schema else "text")
    assert [c.name for c in REGISTRY.all() if c.sniff(path)] == []


def test_sniffing_a_hostile_schema_gives_up_in_bounded_time(tmp_path: Path) -> None:
    """100,000 tables: SQLite alone takes minutes to load such a schema."""
    path = tmp_path / "many.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t0 (a)")
    db.commit()
    db.execute("PRAGMA writable_schema = ON")  # written directly: creating them one by one takes as long
    db.executemany("INSERT INTO sqlite_master VALUES ('table', ?, ?, 2, ?)",
                   ((f"t{n}", f"t{n}", f"CREATE TABLE t{n} (a, b, c)") for n in range(1, 100_000)))
    db.commit()
    db.close()
    started = time.monotonic()
    assert not IMessageConnector().sniff(path) and not AndroidSmsConnector().sniff(path)
    assert time.monotonic() - started < 10


# --- private copies --------------------------------------------------------------------------


def test_each_archive_has_its_own_temp_area(tmp_path: Path) -> None:
    assert temp_area("archive", LocalDirStore(tmp_path / "archive")) == tmp_path / "archive" / ".tmp"
    s3 = object()  # any store other than a local folder
    first, second = temp_area("s3://records-a/x", s3), temp_area("s3://records-b/x", s3)  # type: ignore[arg-type]
    assert first.parent == second.parent == Path(tempfile.gettempdir()) and first != second


def test_an_unusable_temp_area_is_named_not_taken_for_an_unknown_format(cli: CliRunner, archive_dir: Path) -> None:
    (archive_dir / "archive" / ".tmp").write_bytes(b"")  # a file where the folder must be
    result = cli("ingest", ios_trimmed(archive_dir / "sms.db"), "--custodian", "mvega")
    assert result.code != 0 and "cannot create the folder for temporary copies" in result.err
    assert "not a recognised export" not in result.err


def copies(*folders: Path) -> list[Path]:
    """Every private copy folder left in the folders, and the files in it (database, -wal, -shm).

    A running ingest removes its copies as it goes, so a folder may vanish while it is listed."""
    found = {private for folder in folders for private in _listed(folder, "archiver-sqlite-*")}
    return sorted(found | {p for private in found if private.is_dir() for p in _listed(private, "*")})


def _listed(folder: Path, pattern: str) -> list[Path]:
    try:
        return list(folder.rglob(pattern))
    except FileNotFoundError:
        return []


def wal_database(path: Path, count: int) -> Path:
    """A WAL-mode chat.db holding ``count`` messages, the last ones only in its -wal."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(IOS_TRIMMED + IOS_CHATS)
    db.execute(f"INSERT INTO handle (ROWID, id, service) VALUES (5, '{DANA}', 'SMS')")
    db.executemany("INSERT INTO message (guid, text, handle_id, date) VALUES (?, ?, 5, ?)",
                   ((f"G{n}", f"report {n} from lane 3", NANOS + n * 10**9) for n in range(count)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("INSERT INTO message (guid, text, handle_id, date) VALUES ('last', 'still in the wal', 5, ?)",
               (NANOS,))
    db.commit()
    os.link(path, path.with_name("export.db"))  # the -wal stays beside it: a copy taken while Messages ran
    os.link(f"{path}-wal", path.with_name("export.db-wal"))
    db.close()
    return path.with_name("export.db")


def run_archiver(cwd: Path, tmpdir: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmpdir)}
    return subprocess.Popen([sys.executable, "-m", "archiver", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def test_an_ingest_keeps_its_copy_in_the_archive_temp_area(archive_dir: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / "system-tmp"
    tmpdir.mkdir()
    export = wal_database(tmp_path / "live.db", 20_000)
    ingest = run_archiver(archive_dir, tmpdir, "ingest", str(export), "--custodian", "mvega")
    deadline = time.monotonic() + 60
    # The copy lives only while the export is read, a fraction of a second: look often.
    while not copies(archive_dir / "archive" / ".tmp") and ingest.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        exited = ingest.poll()
        why = "" if exited is None else f" (ingest exited {exited}: {ingest.stderr.read().decode()[-500:]})"  # type: ignore[union-attr]
        assert copies(archive_dir / "archive" / ".tmp"), "no private copy in the archive's temp area" + why
        assert copies(tmpdir) == []
    finally:
        ingest.kill()
        ingest.wait()


def test_a_killed_ingest_leaves_no_plaintext_after_the_next_command(archive_dir: Path, tmp_path: Path) -> None:
    tmpdir = tmp_path / "system-tmp"
    tmpdir.mkdir()
    export = wal_database(tmp_path / "live.db", 20_000)
    ingest = run_archiver(archive_dir, tmpdir, "ingest", str(export), "--custodian", "mvega")
    deadline = time.monotonic() + 60

    def reading() -> bool:
        return any(p.name.endswith("-shm") for p in copies(archive_dir, tmpdir))

    def read_for_a_while() -> bool:
        """Still there a moment later: the copy being read, not detection's brief one."""
        if not reading():
            return False
        time.sleep(0.2)
        return reading()

    while not read_for_a_while() and time.monotonic() < deadline:
        assert ingest.poll() is None, ingest.stderr.read() if ingest.stderr else ""
        time.sleep(0.005)
    os.kill(ingest.pid, signal.SIGKILL)
    ingest.wait()
    assert any(p.name.endswith("-shm") for p in copies(archive_dir, tmpdir))  # the kill left plaintext behind
    report = run_archiver(archive_dir, tmpdir, "report", "forwarding", "--json")
    assert report.wait() == 0, report.stderr.read() if report.stderr else ""
    assert copies(archive_dir, tmpdir) == []
