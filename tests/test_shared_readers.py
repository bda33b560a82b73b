"""The readers connectors share: private SQLite copies and streaming JSON."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.errors import InputError
from archiver.readers.scratch import remove_abandoned
from connectors._json import load_bytes, read_small, stream_items, stream_pairs
from connectors._sqlite import is_sqlite, open_copy, table_columns


def _database(path: Path, wal: bool = False) -> Path:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, text TEXT)")
    db.executemany("INSERT INTO message (text) VALUES (?)", [("one",), ("two",)])
    db.commit()
    if not wal:
        db.close()
    return path


def test_the_officers_database_is_never_touched(tmp_path: Path) -> None:
    path = _database(tmp_path / "chat.db")
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    with open_copy(path) as db:
        assert [r[0] for r in db.execute("SELECT text FROM message ORDER BY id")] == ["one", "two"]
        assert table_columns(db, "message") == {"id", "text"} and table_columns(db, "nope") == set()
        with pytest.raises(sqlite3.OperationalError):
            db.execute("DELETE FROM message")  # query_only
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.db"]  # no -wal, no -shm


def test_rows_still_in_the_write_ahead_log_are_read(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    # A process that keeps the database open leaves its last rows in chat.db-wal.
    script = ("import sqlite3,sys,time; db=sqlite3.connect(sys.argv[1]); db.execute('PRAGMA journal_mode=WAL');"
              "db.execute('PRAGMA wal_autocheckpoint=0');"
              "db.execute('CREATE TABLE message (id INTEGER PRIMARY KEY, text TEXT)');"
              "db.execute(\"INSERT INTO message (text) VALUES ('in the log')\"); db.commit();"
              "print('ready', flush=True); time.sleep(30)")
    writer = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        assert (tmp_path / "chat.db-wal").stat().st_size > 0
        with open_copy(path) as db:
            assert db.execute("SELECT text FROM message").fetchall() == [("in the log",)]
    finally:
        writer.kill()
        writer.wait()


def test_the_private_copy_is_removed_and_abandoned_ones_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = tmp_path / "tmp" / f"archiver-sqlite-{dead.stdout.strip()}-x"
    abandoned.mkdir()
    (abandoned / "export.db").write_bytes(b"plaintext left by a killed run")
    mine = tmp_path / "tmp" / f"archiver-sqlite-{os.getpid()}-y"
    mine.mkdir()
    with open_copy(_database(tmp_path / "chat.db")):
        copies = [p.name for p in (tmp_path / "tmp").iterdir()]
        assert abandoned.name not in copies and mine.name in copies and len(copies) == 2
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [mine.name]
    remove_abandoned(tmp_path / "tmp")
    assert mine.exists()  # this process is alive


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an SQLite database"),
        (b"PK\x03\x04 not a database", "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "corrupt"),
    ],
)
def test_a_file_that_is_not_a_sound_database_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(data)
    with pytest.raises(InputError, match=reason), open_copy(path):
        pass


def test_a_truncated_database_is_refused(tmp_path: Path) -> None:
    path = _database(tmp_path / "chat.db")
    path.write_bytes(path.read_bytes()[:2000])
    assert is_sqlite(path)
    with pytest.raises(InputError, match="corrupt"), open_copy(path) as db:
        db.execute("SELECT * FROM message").fetchall()


def test_json_arrays_stream_item_by_item() -> None:
    data = b'{"name": "ops", "messages": [{"id": 1, "t": 1.5}, {"id": 2, "text": ["a", {"type": "bold"}]}]}'
    assert list(stream_items(io.BytesIO(data), "r.json", "messages.item")) == [
        {"id": 1, "t": 1.5}, {"id": 2, "text": ["a", {"type": "bold"}]}]
    assert [key for key, _ in stream_pairs(io.BytesIO(data), "r.json")] == ["name", "messages"]


@pytest.mark.parametrize("data", [b'{"messages": [{"id": 1}, {"id": ', b'{"messages": [}', b"\xff\xfe{", b""])
def test_broken_json_names_the_file_and_the_byte(data: bytes) -> None:
    with pytest.raises(InputError, match=r"r\.json: malformed JSON near byte \d+: \S"):
        list(stream_items(io.BytesIO(data), "r.json", "messages.item"))


def test_a_nesting_bomb_is_refused_not_followed() -> None:
    with pytest.raises(InputError, match="nests deeper than 64 levels"):
        list(stream_items(io.BytesIO(b'{"messages": ' + b"[" * 200_000), "r.json", "messages.item"))
    with pytest.raises(InputError, match="nests deeper than 64 levels"):
        list(stream_pairs(io.BytesIO(b'{"a": ' + b'{"b": ' * 100_000), "r.json"))
    with pytest.raises(InputError, match="malformed JSON"):
        load_bytes(b"[" * 200_000 + b"]" * 200_000, "r.json")


def test_one_value_too_long_to_hold_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors._json

    monkeypatch.setattr(connectors._json, "TOKEN_CAP", 256 * 1024)
    data = b'{"messages": [{"text": "ok"}, {"text": "' + b"x" * 1024 * 1024 + b'"}]}'
    found = []
    with pytest.raises(InputError, match="longer than"):
        found.extend(stream_items(io.BytesIO(data), "r.json", "messages.item"))
    assert found == [{"text": "ok"}]


def test_small_json_files_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'[{"ts": "1.0"}]')
    assert read_small(path, 1024) == [{"ts": "1.0"}]
    with pytest.raises(InputError, match="more than the 4 allowed"):
        read_small(path, 4)
    with pytest.raises(InputError, match="malformed JSON"):
        load_bytes(b"[1,", "x.json")


def test_a_schema_in_invalid_utf8_is_read_leniently(tmp_path: Path) -> None:
    path = _database(tmp_path / "chat.db")
    data = path.read_bytes().replace(b"message", b"m\xffssage")  # the table's name, in the schema
    path.write_bytes(data)
    try:
        with open_copy(path) as db:
            assert table_columns(db, "m\ufffdssage") in (set(), {"id", "text"})
    except InputError as refused:
        assert "corrupt" in str(refused)
