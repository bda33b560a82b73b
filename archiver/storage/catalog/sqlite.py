"""The SQLite catalog (embedded default).

Writes are batched: a segment's rows, blind-index tokens, segment row and audit entry are
committed together, so a killed process leaves either all of a segment's catalog entries or
none, and an ingest adds many segments to one write before committing (``add``). Pending marks
live in a journal beside the file (``sqlite_pending``); the writer lock, and how another writer
gets its turn during an ingest's open write, in ``sqlite_lock``. The blind index is a
contentless FTS5 table of keyed-hash tokens: it answers "which records contain this word"
holding no word at all. The file's schema, and opening it without writing, are in
``sqlite_schema``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from archiver.core.apps import split_apps
from archiver.core.custodians import Custodian
from archiver.errors import CatalogError, ConfigError, KeyProviderError
from archiver.model import FLAG_DELETED, parse_instant, utc_iso
from archiver.storage.audit import GENESIS, AuditEntry, AuditEvent, chain
from archiver.storage.catalog.base import (
    CatalogRow,
    CommitBatch,
    ExportRow,
    HoldRow,
    NoticeRow,
    QuarantineRow,
    SegmentRow,
    hold_from_json,
    hold_json,
    latest_syncs,
)
from archiver.storage.catalog.instant_order import in_time_order
from archiver.storage.catalog.report_rows import ReportRow
from archiver.storage.catalog.sqlite_codec import Strings, iso_text, packed, unpacked
from archiver.storage.catalog.sqlite_index import CHUNK, ROW_COLUMNS, SqliteIndex, day_text, parse_date
from archiver.storage.catalog.sqlite_lock import LOCK_WAIT_SECONDS, begin_write, file_lock, knocks, make_way
from archiver.storage.catalog.sqlite_pending import PendingJournal, uncommitted
from archiver.storage.catalog.sqlite_schema import (
    COMPACTED,
    PENDING_SUFFIX,
    SCHEMA,
    compaction,
    connect_read_only,
    refuse_read_only,
)

# What ``ReportRow`` holds, in its order (``flags`` gives ``deleted``), of one custodian's rows.
REPORT_QUERY = ("SELECT id, source, conversation_ref, sent_at, direction, account, system, label, forwarding_status, "
                "deadline, days_late, schedule, export_sha256, source_line, ingested_at, flags, segment FROM messages "
                "WHERE custodian = ? AND sent_at >= ? AND sent_at < ? AND (label = 'record' OR flags != '') "
                "ORDER BY sent_at")
# Per custodian (by number in ``strings``), the send instants where its report rows are cut into runs.
ReportCuts = dict[int, tuple[int, ...]]
# Bounds of a send instant (integer microseconds) that no instant reaches: year 9999 is about 2.5e17.
_EARLIEST, _LATEST = -(2 ** 63), 2 ** 63 - 1
# One index seek per text (messages_compliant_copy), whatever the number of its earlier copies.
COMPLIANT_COPY = (f"SELECT {ROW_COLUMNS} FROM messages WHERE custodian = ? AND fingerprint = ? "
                  "AND label = 'record' AND forwarding_status IN ('copied', 'forwarded') "
                  "ORDER BY ingested_at, sent_at, rowid LIMIT 1")
WAL_CHECKPOINT_PAGES = 16_384  # 64 MB of 4 kB pages: see SqliteCatalog.__init__
WRITE_CACHE_KB = 32_768  # page cache once batches are added (``add``); the default for other work


class SqliteCatalog(SqliteIndex):
    """Catalog in one SQLite file."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self._audit_key: bytes | None = None
        self._read_only = read_only and path.is_file()
        self._head_before_write = (0, GENESIS)  # the audit head when the open write began (``add``)
        self._knocks_at_begin = 0  # the lock file's time then (``sqlite_lock.knocks``)
        self._pending = PendingJournal(path.with_name(path.name + PENDING_SUFFIX))
        if self._read_only:
            self._db = connect_read_only(path)
            self._strings = Strings(self._db)
            return
        refuse_read_only(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{path.parent}: cannot create the catalog's folder ({exc.strerror})") from None
        try:
            # A statement waits for SQLite's locks as long as for the writer lock; taking the write
            # lock itself knocks while it waits (``begin_write``), as an ingest keeps its write open.
            self._db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_WAIT_SECONDS)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, so no segment's rows are lost once its mark is cleared.
            self._db.execute("PRAGMA synchronous=FULL")
            # Each commit of an ingest rewrites most pages of the indexes keyed by random values
            # (record id, fingerprint) into the WAL; copying them back into the file every 4 MB
            # (SQLite's default) wrote each of those pages again after nearly every commit.
            # Checkpointing every 64 MB of WAL copies a page once for several commits. A longer WAL
            # saves more bytes but slows every read, which searches the WAL's index first (256 MB:
            # ingest 7 % more CPU). Durability is the WAL's, whatever its length.
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            self._strings = Strings(self._db)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path}: cannot open the catalog: {exc}") from None

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > len(SCHEMA):
            raise CatalogError(f"{self.path}: catalog was written by a newer archiver (schema {version})")
        if version == len(SCHEMA):
            return  # up to date: no write, so opening never waits for an ingest's open write
        compaction(self._db)
        with self._transaction():
            for number, statement in enumerate(SCHEMA[version:], start=version + 1):
                self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
        if 0 < version < COMPACTED:
            self._db.execute("VACUUM")  # once: give back the pages the wide rows held

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._db.in_transaction:
            self._commit_open()  # what an ingest added is committed before any other write
        begin_write(self._db, self.path)
        try:
            yield self._db
        except BaseException:
            self._rollback()
            raise
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK")
        self._strings.forget()  # numbers given in the transaction are gone with it

    def exclusive(self) -> AbstractContextManager[None]:
        return file_lock(self.path, exclusive=True, read_only=self._read_only)

    def shared(self) -> AbstractContextManager[None]:
        return file_lock(self.path, exclusive=False, read_only=self._read_only)

    def bound_key(self) -> str | None:
        return self._meta("key_id")

    def bind_key(self, key_id: str) -> None:
        if not self._read_only:  # a read-only open only compares
            self._put_meta_once("key_id", key_id)
        if self.bound_key() not in (None, key_id):
            raise KeyProviderError(f"{self.path}: this archive was created with key {self.bound_key()}, but the "
                                   f"key file holds {key_id}; restore the archive's own key file")

    def id_scheme(self) -> str | None:
        return self._meta("id_scheme")

    def set_id_scheme(self, scheme: str) -> None:
        self._put_meta_once("id_scheme", scheme)

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def _put_meta_once(self, name: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def known_labels(self, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update((unpacked(i), label) for i, label in self._db.execute(
                f"SELECT id, label FROM messages WHERE id IN ({marks})", [packed(i) for i in chunk]))
        return found

    def begin_segments(self, names: Sequence[str]) -> None:
        self._pending.add(names)

    def pending_segments(self) -> list[str]:
        # The table holds the marks of archivers that kept them there; a run they left is adopted alike.
        marked = [r[0] for r in self._db.execute("SELECT name FROM pending_segments")]
        return sorted(set(uncommitted(self._db, [*marked, *self._pending.names()])))

    def drop_pending(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM pending_segments WHERE name = ?", (name,))
        self._pending.keep(n for n in self._pending.names() if n != name)

    def add(self, batches: Sequence[CommitBatch]) -> None:
        """Add ``batches`` to the write kept open until ``commit``: an ingest commits many
        segments' rows at once without holding them in memory. Its connection reads them at once;
        other readers see them once committed. A failure rolls back everything added since the
        last commit (those segments stay pending, to be adopted)."""
        if self._db.in_transaction and knocks(self.path) != self._knocks_at_begin:
            self._commit_open()  # another writer is waiting: its turn before this write goes on
            make_way()
        beginning = not self._db.in_transaction
        if beginning:
            # The open write keeps the index pages its rows touch; with SQLite's default cache
            # (2 MB) they were written out and read back again and again.
            self._db.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KB}")
            begin_write(self._db, self.path)
            self._head_before_write, self._knocks_at_begin = self._chain_head(), knocks(self.path)
        try:
            if beginning:
                self._claim_new_index(self._db)  # once a write: the claim is in it until committed
            for batch in batches:
                self._add_batch(self._db, batch)
        except BaseException:
            self._rollback()
            raise

    def commit(self, batches: Sequence[CommitBatch] = ()) -> None:
        self.add(batches)
        self._commit_open()

    def _commit_open(self) -> None:
        self._db.execute("COMMIT")
        names = self._pending.names()
        if names:  # committed segments are pending no more
            self._pending.keep(uncommitted(self._db, names))

    def _add_batch(self, db: sqlite3.Connection, batch: CommitBatch) -> None:
        # A record replaces a tombstone or review entry of the same message (it was judged without
        # context, or under older rules, or a records officer decided); a settled nonrecord
        # replaces a review entry; a record is never replaced. The replacement keeps the old row's
        # rowid: the blind index is keyed by rowid, and a reused one must stay the same message's.
        replaced: dict[str, int] = {}
        for labels, label in ((("nonrecord", "review"), "record"), (("review",), "nonrecord")):
            ids = [packed(r.id) for r in batch.rows if r.label == label]
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                marks, kinds = ",".join("?" * len(chunk)), ",".join("?" * len(labels))
                replaced.update((unpacked(record_id), rowid) for rowid, record_id in db.execute(
                    f"SELECT rowid, id FROM messages WHERE id IN ({marks}) AND label IN ({kinds})",
                    [*chunk, *labels]))
        db.executemany("DELETE FROM messages WHERE id = ?", [(packed(record_id),) for record_id in replaced])
        values = ",".join("?" * (ROW_COLUMNS.count(",") + 2))  # the columns and the rowid
        # Replacements first: a new row must not take a rowid a replacement is about to reclaim.
        ordered = sorted(batch.rows, key=lambda r: r.id not in replaced)
        db.executemany(f"INSERT OR IGNORE INTO messages (rowid, {ROW_COLUMNS}) VALUES ({values})",
                       [(replaced.get(r.id), *self._row_values(r)) for r in ordered])
        self._index(db, batch.keywords)
        segment = batch.segment
        if segment is not None:
            db.execute("INSERT OR IGNORE INTO segments (name, custodian, schedule, retain_until, count, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (segment.name, segment.custodian, segment.schedule, day_text(segment.retain_until),
                        segment.count, utc_iso(segment.created_at)))
            db.execute("DELETE FROM pending_segments WHERE name = ?", (segment.name,))
        if batch.audit is not None:
            self._append(db, batch.audit)

    def add_quarantine(self, rows: Sequence[QuarantineRow], audit: AuditEvent | None) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO quarantine (export_sha256, file, line, reason, object_key, at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(q.export_sha256, q.file, q.line, q.reason, q.object_key, utc_iso(q.at)) for q in rows])
            if audit is not None:
                self._append(db, audit)

    def add_export(self, export: ExportRow, audit: AuditEvent) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO exports (sha256, name, connector, custodian, account, ingested_at, actor, apps) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (export.sha256, export.name, export.connector, export.custodian, export.account,
                        utc_iso(export.ingested_at), export.actor, ",".join(export.synced_apps)))
            self._append(db, audit)

    def append_audit(self, event: AuditEvent) -> AuditEntry:
        with self._transaction() as db:
            return self._append(db, event)

    def _append(self, db: sqlite3.Connection, event: AuditEvent) -> AuditEntry:
        last_seq, prev_hash = self._chain_head()
        seq = last_seq + 1
        entry = chain(seq, event, prev_hash, self._audit_key)
        db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (entry.seq, utc_iso(event.at), event.actor, event.action, event.case_id,
                    json.dumps(event.detail, sort_keys=True), entry.prev_hash, entry.hash))
        return entry

    def use_audit_key(self, key: bytes) -> None:
        self._audit_key = key

    def audit_head(self) -> tuple[int, str]:
        # While an ingest's write is open, the committed head: a head sealed into the store must
        # never name an entry that a crash could still take back.
        return self._head_before_write if self._db.in_transaction else self._chain_head()

    def _chain_head(self) -> tuple[int, str]:
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def exports(self) -> Iterator[ExportRow]:
        for values in self._db.execute("SELECT sha256, name, connector, custodian, account, ingested_at, actor, apps "
                                       "FROM exports ORDER BY rowid"):
            sha, name, connector, custodian, account, at, actor, apps = values
            yield ExportRow(sha, name, connector, custodian, account, parse_instant(at), actor, split_apps(apps))

    def audit_entries(self) -> Iterator[AuditEntry]:
        for seq, at, actor, action, case_id, detail, prev_hash, hash_ in self._db.execute(
                "SELECT seq, at, actor, action, case_id, detail, prev_hash, hash FROM audit ORDER BY seq"):
            event = AuditEvent(actor, action, parse_instant(at), json.loads(detail), case_id)
            yield AuditEntry(seq, event, prev_hash, hash_)

    def rows(self, custodian: str | None = None, label: str | None = None) -> Iterator[CatalogRow]:
        query = f"SELECT {ROW_COLUMNS} FROM messages WHERE custodian = ? AND (? IS NULL OR label = ?) " \
                "ORDER BY sent_at, id"
        for number in self._custodians(custodian):
            for values in self._db.execute(query, (number, label, label)):
                yield self._row(values)

    def count(self) -> int:
        """How many messages the catalog holds, records and tombstones."""
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def report_cuts(self, parts: int) -> ReportCuts:
        """Where ``report_rows`` may cut each custodian's rows into ``parts`` runs of about equal
        length, for as many processes to read: a send instant per cut, read from the index."""
        cuts: ReportCuts = {}
        for number in self._custodians(None):
            (count,) = self._db.execute("SELECT count(*) FROM messages WHERE custodian = ?", (number,)).fetchone()
            cuts[number] = tuple(self._db.execute(
                "SELECT sent_at FROM messages WHERE custodian = ? ORDER BY sent_at LIMIT 1 OFFSET ?",
                (number, count * part // parts)).fetchone()[0] for part in range(1, parts))
        return cuts

    def report_rows(self, cuts: ReportCuts | None = None, part: int = 0) -> Iterator[ReportRow]:
        """Every record and every message the export says was deleted (what the forwarding report
        reads), or with ``cuts`` (``report_cuts``) the run ``part`` of each custodian's rows."""
        # The index gives custodian and send time; ordering by id too would make SQLite sort the
        # whole table, so the few rows that tie (same custodian, same instant) are sorted here.
        # Rows that tie are never cut apart: a run begins at an instant.
        names = dict(self._db.execute("SELECT ref, value FROM strings")).get  # a few values per segment
        ingested_at, ingested = None, ""  # one instant per export: formatted once per run of rows
        for number in self._custodians(None):
            custodian, tied = names(number), []
            bounds = (_EARLIEST, *cuts[number], _LATEST) if cuts is not None and number in cuts else \
                (_EARLIEST, _LATEST) if part == 0 else None
            if bounds is None:
                continue  # a custodian whose rows came after the cuts were made: all in the first run
            cursor = self._db.execute(REPORT_QUERY, (number, bounds[part], bounds[part + 1]))
            cursor.arraysize = 1024  # fetched a chunk at a time: fewer calls into the sqlite3 module
            while chunk := cursor.fetchmany():
                for (id_, source, conv, sent_at, direction, account, system, label, status, deadline, days_late,
                     schedule, export_sha, line, at, flags, segment) in chunk:
                    sent = iso_text(sent_at)
                    if tied and sent != tied[0].sent_at:
                        yield from sorted(tied) if len(tied) > 1 else tied  # a tuple sorts by its id first
                        tied = []
                    if at != ingested_at:
                        ingested_at, ingested = at, iso_text(at)
                    tied.append(ReportRow(
                        unpacked(id_), custodian, names(source), unpacked(conv), sent,  # type: ignore[arg-type]
                        names(direction), names(account), bool(system), label, status,  # type: ignore[arg-type]
                        None if deadline is None else iso_text(deadline), days_late, names(schedule),
                        names(export_sha), line, ingested,  # type: ignore[arg-type]
                        bool(flags) and FLAG_DELETED in json.loads(flags), names(segment)))
            yield from sorted(tied)

    def row(self, record_id: str) -> CatalogRow | None:
        values = self._db.execute(f"SELECT {ROW_COLUMNS} FROM messages WHERE id = ?",
                                  (packed(record_id),)).fetchone()
        return self._row(values) if values else None

    def segments(self) -> Iterator[SegmentRow]:
        for name, custodian, schedule, retain_until, count, created_at, disposed_at in self._db.execute(
                "SELECT name, custodian, schedule, retain_until, count, created_at, disposed_at FROM segments "
                "ORDER BY name"):
            yield SegmentRow(name, custodian, schedule, parse_date(retain_until), count, parse_instant(created_at),
                             parse_instant(disposed_at) if disposed_at else None)

    def segment_rows(self, name: str) -> Iterator[CatalogRow]:
        for values in self._db.execute(f"SELECT {ROW_COLUMNS} FROM messages WHERE segment = ? ORDER BY frame_offset",
                                       (self._strings.known(name),)):
            yield self._row(values)

    def put_hold(self, hold: HoldRow, audit: AuditEvent, intent: str | None = None) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO holds (name, document) VALUES (?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET document = excluded.document",
                       (hold.name, json.dumps(hold_json(hold), sort_keys=True)))
            db.execute("DELETE FROM intents WHERE name = ?", (intent,))
            self._append(db, audit)

    def holds(self) -> list[HoldRow]:
        return [hold_from_json(json.loads(document))
                for (document,) in self._db.execute("SELECT document FROM holds ORDER BY name")]

    def mark_disposed(self, segment: str, disposed_at: datetime, audit: AuditEvent, intent: str | None = None,
                      keywords: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM segments WHERE name = ? AND disposed_at IS NULL", (segment,)).fetchone():
                self._unindex(db, segment, keywords)  # once only: a second 'delete' would corrupt the index
                db.execute("UPDATE messages SET fingerprint = NULL, sender_ref = NULL, copy_key = NULL "
                           "WHERE segment = ?", (self._strings.known(segment),))
            db.execute("UPDATE segments SET disposed_at = ? WHERE name = ?", (utc_iso(disposed_at), segment))
            db.execute("DELETE FROM intents WHERE name = ?", (intent,))
            self._append(db, audit)

    def set_dispositions(self, segment: str, retain_until: date | None, dates: dict[str, date | None]) -> None:
        with self._transaction() as db:
            db.execute("UPDATE segments SET retain_until = ? WHERE name = ?", (day_text(retain_until), segment))
            number = self._strings.known(segment)
            db.executemany("UPDATE messages SET disposition_date = ? WHERE id = ? AND segment = ?",
                           [(day_text(when), packed(record_id), number) for record_id, when in dates.items()])

    def begin_intent(self, name: str, document: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO intents (name, document) VALUES (?, ?)",
                       (name, json.dumps(document, sort_keys=True)))

    def intents(self) -> dict[str, dict[str, Any]]:
        return {name: json.loads(document)
                for name, document in self._db.execute("SELECT name, document FROM intents ORDER BY name")}

    def drop_intent(self, name: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM intents WHERE name = ?", (name,))

    def put_document(self, kind: str, name: str, document: dict[str, Any], audit: AuditEvent) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO documents (kind, name, document) VALUES (?, ?, ?)",
                       (kind, name, json.dumps(document, sort_keys=True)))
            self._append(db, audit)

    def documents(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: json.loads(document) for name, document in
                self._db.execute("SELECT name, document FROM documents WHERE kind = ? ORDER BY name", (kind,))}

    def quarantine(self) -> Iterator[QuarantineRow]:
        for sha, file, line, reason, key, at in self._db.execute(
                "SELECT export_sha256, file, line, reason, object_key, at FROM quarantine ORDER BY rowid"):
            yield QuarantineRow(sha, file, line, reason, key, parse_instant(at))

    def last_sync(self) -> dict[str, datetime]:
        rows = self._db.execute("SELECT custodian, MAX(ingested_at) FROM exports "
                                "WHERE account = 'personal' GROUP BY custodian")
        return {custodian: parse_instant(at) for custodian, at in rows}

    def last_sync_by_account(self) -> dict[tuple[str, str], datetime]:
        rows = self._db.execute("SELECT custodian, connector, apps, MAX(ingested_at) FROM exports "
                                "WHERE account = 'personal' GROUP BY custodian, connector, apps")
        return latest_syncs((custodian, connector, split_apps(apps),
                             parse_instant(at)) for custodian, connector, apps, at in rows)

    def compliant_copies(self, custodian: str, fingerprints: Sequence[str]) -> dict[str, CatalogRow]:
        found: dict[str, CatalogRow] = {}
        number = self._strings.known(custodian)
        for fingerprint in dict.fromkeys(fp for fp in fingerprints if fp):
            values = self._db.execute(COMPLIANT_COPY, (number, packed(fingerprint))).fetchone()
            if values is not None:
                found[fingerprint] = self._row(values)
        return found

    def put_custodian(self, custodian: Custodian, audit: AuditEvent) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO custodians (id, document, registered_at, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
                       (custodian.id, json.dumps(custodian.to_json(), sort_keys=True),
                        utc_iso(custodian.registered_at or audit.at), utc_iso(audit.at)))
            self._append(db, audit)

    def custodians(self) -> list[Custodian]:
        return [Custodian.from_json(json.loads(document)) for (document,) in
                self._db.execute("SELECT document FROM custodians ORDER BY id")]

    def get_custodian(self, custodian_id: str) -> Custodian | None:
        row = self._db.execute("SELECT document FROM custodians WHERE id = ?", (custodian_id,)).fetchone()
        return Custodian.from_json(json.loads(row[0])) if row else None

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        chunks = (list(keys[start:start + CHUNK]) for start in range(0, len(keys), CHUNK))
        return {r[0] for chunk in chunks for r in self._db.execute(
            f"SELECT key FROM notices WHERE key IN ({','.join('?' * len(chunk))})", chunk)}

    def record_notice(self, rows: Sequence[NoticeRow], audit: AuditEvent) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO notices VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(n.key, n.kind, n.custodian, json.dumps(list(n.recipients)), n.subject,
                             utc_iso(n.sent_at), n.message_id) for n in rows])
            self._append(db, audit)

    def notices(self) -> Iterator[NoticeRow]:
        for key, kind, custodian, recipients, subject, sent_at, message_id in in_time_order(self._db.execute(
                "SELECT key, kind, custodian, recipients, subject, sent_at, message_id FROM notices "
                "ORDER BY sent_at, key"), itemgetter(5)):
            yield NoticeRow(key, kind, custodian, tuple(json.loads(recipients)), subject, parse_instant(sent_at),
                            message_id)

    def close(self) -> None:
        self._db.close()


