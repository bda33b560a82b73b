"""The SQLite catalog's schema, and opening its file without writing to it.

``SCHEMA`` lists every statement the catalog file has ever needed, oldest first: a file's
``user_version`` counts those applied, so a writer brings an older file up to date by running
the rest, and a read-only open refuses a file of another version. Also here: the checks that
decide, before anything is written, whether the file and its folder may be written at all.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from archiver.errors import CatalogError, ReadOnlyArchiveError
from archiver.model import parse_instant
from archiver.storage.catalog.sqlite_codec import micros, packed

# A message row's columns, and how the compact layout stores them (``sqlite_codec``): shared
# values by number, hex keys as bytes, instants as integer microseconds.
COLUMNS = ("id", "custodian", "source", "conversation_ref", "sent_at", "direction", "account", "system", "label",
           "confidence", "reasons", "rules_version", "schedule", "disposition_date", "forwarding_status", "deadline",
           "days_late", "content_hash", "export_sha256", "source_line", "ingested_at", "flags", "segment",
           "frame_offset", "frame_length", "fingerprint", "sender_ref", "copy_key")
SHARED = ("custodian", "source", "direction", "account", "reasons", "rules_version", "schedule", "export_sha256",
          "segment")
PACKED = ("id", "conversation_ref", "content_hash", "fingerprint", "sender_ref", "copy_key")
INSTANTS = ("sent_at", "deadline", "ingested_at")


def _compacted(column: str) -> str:
    """The SQL that gives ``column`` of an old row as a compact row stores it (functions: ``compaction``)."""
    if column in SHARED:
        return f"(SELECT ref FROM strings WHERE value = {column})"
    if column in PACKED:
        return f"archiver_packed({column})"
    if column in INSTANTS:
        return f"archiver_micros({column})"
    if column == "flags":
        return "CASE flags WHEN '[]' THEN '' ELSE flags END"  # no flags: nothing stored
    return column


def compaction(db: sqlite3.Connection) -> None:
    """Give ``db`` the functions the compact-rows step calls."""
    db.create_function("archiver_packed", 1, packed, deterministic=True)
    db.create_function("archiver_micros", 1, lambda text: None if text is None else micros(parse_instant(text)),
                       deterministic=True)


SCHEMA = [
    """CREATE TABLE messages (
        rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, custodian TEXT NOT NULL,
        source TEXT NOT NULL, conversation_ref TEXT NOT NULL, sent_at TEXT NOT NULL,
        direction TEXT NOT NULL, account TEXT NOT NULL, system INTEGER NOT NULL,
        label TEXT NOT NULL, confidence REAL NOT NULL, reasons TEXT NOT NULL,
        rules_version TEXT NOT NULL, schedule TEXT, disposition_date TEXT,
        forwarding_status TEXT NOT NULL, deadline TEXT, days_late INTEGER NOT NULL,
        content_hash TEXT NOT NULL, export_sha256 TEXT NOT NULL, source_line INTEGER,
        ingested_at TEXT NOT NULL, flags TEXT NOT NULL,
        segment TEXT, frame_offset INTEGER, frame_length INTEGER)""",
    "CREATE INDEX messages_custodian_sent ON messages (custodian, sent_at)",
    "CREATE INDEX messages_forwarding ON messages (forwarding_status)",
    "CREATE INDEX messages_disposition ON messages (disposition_date)",
    """CREATE TABLE segments (name TEXT PRIMARY KEY, custodian TEXT NOT NULL,
        schedule TEXT NOT NULL, retain_until TEXT, count INTEGER NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE TABLE pending_segments (name TEXT PRIMARY KEY)",
    """CREATE TABLE quarantine (rowid INTEGER PRIMARY KEY, export_sha256 TEXT NOT NULL,
        file TEXT NOT NULL, line INTEGER, reason TEXT NOT NULL, object_key TEXT, at TEXT NOT NULL)""",
    """CREATE TABLE exports (rowid INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL,
        connector TEXT NOT NULL, custodian TEXT NOT NULL, account TEXT NOT NULL,
        ingested_at TEXT NOT NULL, actor TEXT NOT NULL)""",
    """CREATE TABLE audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, case_id TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE VIRTUAL TABLE keywords USING fts5(tokens, content='', columnsize=0, detail=none)",
    # The same bad line of the same export, ingested again, is one quarantine entry, not two.
    "CREATE UNIQUE INDEX quarantine_item ON quarantine (export_sha256, file, ifnull(line, 0), reason)",
    # Same text, another source: lets a WhatsApp copy of an already-archived e-mail count as compliant.
    "ALTER TABLE messages ADD COLUMN fingerprint TEXT",
    "CREATE INDEX messages_fingerprint ON messages (custodian, fingerprint)",
    """CREATE TABLE custodians (id TEXT PRIMARY KEY, document TEXT NOT NULL, registered_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE notices (key TEXT PRIMARY KEY, kind TEXT NOT NULL, custodian TEXT NOT NULL,
        recipients TEXT NOT NULL, subject TEXT NOT NULL, sent_at TEXT NOT NULL, message_id TEXT)""",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Disposition and legal holds.
    "ALTER TABLE segments ADD COLUMN disposed_at TEXT",
    "CREATE INDEX messages_segment ON messages (segment)",
    "CREATE TABLE holds (name TEXT PRIMARY KEY, document TEXT NOT NULL)",
    # The apps an export synced, comma-separated; NULL on rows written before (read by connector).
    "ALTER TABLE exports ADD COLUMN apps TEXT",
    "CREATE TABLE intents (name TEXT PRIMARY KEY, document TEXT NOT NULL)",
    # Role grants and investigation cases, one JSON document per (kind, name).
    "CREATE TABLE documents (kind TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (kind, name))",
    # A conversation's messages in time order: the context around a message (conversation_rows).
    "CREATE INDEX messages_conversation_sent ON messages (conversation_ref, sent_at)",
    # Keyed sender and copy identity: one message's copies in several custodians' exports (report gaps).
    "ALTER TABLE messages ADD COLUMN sender_ref TEXT",
    "ALTER TABLE messages ADD COLUMN copy_key TEXT",
    # Only compliant records, in the order compliant_copies wants: its earliest copy of a text is
    # the first entry under (custodian, fingerprint), however often the text repeats.
    """CREATE INDEX messages_compliant_copy ON messages (custodian, fingerprint, ingested_at, sent_at)
        WHERE label = 'record' AND forwarding_status IN ('copied', 'forwarded')""",
    "DROP INDEX IF EXISTS messages_fingerprint",  # served only that lookup; one index fewer per row written
    # Compact rows (sqlite_codec): hex as bytes, instants as integers, shared values by number.
    # The copy keeps each rowid, which the blind index is keyed by. Dropped with the old table,
    # and not made again: the indexes on forwarding status and disposition date no query used.
    "CREATE TABLE strings (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)",
    f"""INSERT OR IGNORE INTO strings (value) {' UNION '.join(
        f'SELECT {column} FROM messages WHERE {column} IS NOT NULL' for column in SHARED)}""",
    """CREATE TABLE compact_messages (
        rowid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, custodian INTEGER NOT NULL,
        source INTEGER NOT NULL, conversation_ref BLOB NOT NULL, sent_at INTEGER NOT NULL,
        direction INTEGER NOT NULL, account INTEGER NOT NULL, system INTEGER NOT NULL,
        label TEXT NOT NULL, confidence REAL NOT NULL, reasons INTEGER NOT NULL,
        rules_version INTEGER NOT NULL, schedule INTEGER, disposition_date TEXT,
        forwarding_status TEXT NOT NULL, deadline INTEGER, days_late INTEGER NOT NULL,
        content_hash BLOB NOT NULL, export_sha256 INTEGER NOT NULL, source_line INTEGER,
        ingested_at INTEGER NOT NULL, flags TEXT NOT NULL,
        segment INTEGER, frame_offset INTEGER, frame_length INTEGER,
        fingerprint BLOB, sender_ref BLOB, copy_key BLOB)""",
    f"""INSERT INTO compact_messages SELECT rowid, {', '.join(_compacted(column) for column in COLUMNS)}
        FROM messages""",
    "DROP TABLE messages",
    "ALTER TABLE compact_messages RENAME TO messages",
    "CREATE INDEX messages_custodian_sent ON messages (custodian, sent_at)",
    "CREATE INDEX messages_conversation_sent ON messages (conversation_ref, sent_at)",
    "CREATE INDEX messages_segment ON messages (segment)",
    """CREATE INDEX messages_compliant_copy ON messages (custodian, fingerprint, ingested_at, sent_at)
        WHERE label = 'record' AND forwarding_status IN ('copied', 'forwarded')""",
]

PENDING_SUFFIX = ".pending"  # the pending-segment journal beside the catalog file (``sqlite_pending``)

# The steps up to and including the one that drops the old wide table.
COMPACTED = SCHEMA.index("DROP TABLE messages") + 1


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open without writing: ``mode=ro``, and ``immutable=1`` when the folder cannot be written.

    A WAL database read with ``mode=ro`` still needs its ``-shm`` file, which a read-only
    folder cannot hold. ``immutable`` reads the file without it and without locks; that is
    safe because nothing can change the file meanwhile: a writer needs to create its
    ``-wal`` and ``-shm`` files in that same folder, and the last writer to close folded its
    log back into the file (SQLite checkpoints and removes the ``-wal`` on a clean close).
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not os.access(path.parent, os.W_OK):
        if _wal_left(path):
            raise CatalogError(f"{path}: the catalog's write-ahead log was never folded back (a writer "
                               "was killed) and its folder is read-only; open it once where it can be written")
        uri += "&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        (version,) = db.execute("PRAGMA user_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"{path}: cannot open the catalog: {exc}") from None
    if version != len(SCHEMA):
        db.close()
        raise CatalogError(f"{path}: catalog schema {version} is not this archiver's ({len(SCHEMA)}); "
                           "run a writing command (e.g. 'archiver init') with this archiver first")
    return db


def refuse_read_only(path: Path) -> None:
    """Refuse before any write (a late failure would leave a pending segment behind)."""
    for target in (path, path.parent, *(path.with_name(path.name + end) for end in ("-wal", "-shm", ".lock",
                                                                                  PENDING_SUFFIX))):
        if target.exists() and not os.access(target, os.W_OK):
            raise ReadOnlyArchiveError(f"archive catalog {path} is read-only: {target} cannot be written; "
                                       "only verify, report, list and show commands work on a read-only archive")


def _wal_left(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.is_file() and wal.stat().st_size > 0

