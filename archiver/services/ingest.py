"""Ingest: export files in, sealed records and tombstones out, every message accounted for.

Records are stored in segments (``segment_writing``: pending mark, object, then the catalog),
and the catalog rows of many segments and tombstone batches are committed together.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from archiver.connector import (
    ConnectorRegistry,
    ParseContext,
    conversation_in_content,
)
from archiver.core.apps import APPS, synced_apps
from archiver.core.classify import Classifier
from archiver.core.custodians import Custodian, find_custodian, load_zone
from archiver.core.events import EVENT_DOCUMENT, events_from
from archiver.core.forwarding import credit_earlier_copy
from archiver.core.identity import ID_SCHEME, ID_SCHEME_WITH_LEGACY, MessageId, MessageIdentities
from archiver.core.retention import ROLE_SCHEDULE, UNSCHEDULED, ScheduleSet
from archiver.errors import InputError, Rejection
from archiver.model import Account, handle_key
from archiver.services.access import authorize_ingest
from archiver.services.attachment_writing import AttachmentWriter
from archiver.services.export_files import export_sha256, store_export_copy
from archiver.services.ingest_reading import DocumentMaker, Prepared, already_archived
from archiver.services.reader_process import (
    SECOND_PROCESS_FROM,
    read_in_second_process,
    second_process_available,
)
from archiver.services.receipt import FileReceipt, Receipt, unregistered_warning
from archiver.services.segment_writing import (
    GroupKey,
    SealedDocument,
    active_holds,
    commit_batches,
    conversation_ref,
    group_key,
    recover,
    sealed_document,
    write_segments,
)
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import Catalog, CatalogRow, CommitBatch, ExportRow, QuarantineRow, SqliteCatalog
from archiver.storage.catalog.base import LATER_FIELDS
from archiver.storage.records import LABEL_REVIEW, EarlierCopy, RecordDocument, catalog_row, earliest
from archiver.storage.sealed_facts import row_digest

SEGMENT_RECORDS = 1000   # records per segment object (DESIGN.md, "Storage unit")
# Memory budget of the open segment groups: an export spanning many disposition dates would
# otherwise hold every group until the end of the file (a 12 MB export peaked at 662 MB).
OPEN_DOCUMENTS = 10_000
OPEN_BODY_CHARS = 32 << 20
BATCH_MESSAGES = 1000    # messages per duplicate lookup in the catalog
QUARANTINE_AUDIT_ROWS = 2000  # quarantine items vouched for one by one in their audit entry
FLUSH_SEGMENTS = 64
# Full segments stored together: one sync of their pending marks. Few, as the documents of full
# segments wait in memory until stored (8: about 15 MB more at a million messages).
SEGMENTS_STORED_TOGETHER = 2
# Catalog rows (records, review items, tombstones) are added to one write as their segments are
# stored and committed together: each commit rewrites every page of the indexes keyed by random
# values that its rows touch, so fewer, larger commits write far fewer bytes. What is stored but
# not yet committed is marked pending, and a killed run's pending segments are adopted by the
# next (``recover``). Another writer meanwhile (a search's audit entry) has the SQLite catalog
# commit early (``sqlite_lock.knock``).
COMMIT_ROWS = 128_000
# ...or once the write has been open this long, so that a search never misses more than about a
# minute of a slow ingest (at the usual rates the rows come first).
COMMIT_SECONDS = 60.0
MAX_HANDLES_CHECKED = 100_000  # bounds memory on a hostile export with endless senders
ACTION_TOMBSTONES = "tombstones"
KIND_TOMBSTONE, KIND_QUARANTINE, KIND_EXPORT = "tombstone", "quarantine", "export"



@dataclass(frozen=True)
class IngestOptions:
    """What the officer said about the exports being ingested."""

    custodian: str
    connector: str | None = None  # None or "auto": detect from content
    tz: str | None = None
    account: Account = "personal"
    date_order: str | None = None  # "dmy", "mdy" or "ymd"; None: decided from each export
    actor: str = "unknown"


class Ingestor:
    """One ingest run over one or more export files."""

    def __init__(self, archive: Archive, registry: ConnectorRegistry, classifier: Classifier,
                 schedules: ScheduleSet, options: IngestOptions, now: datetime,
                 progress: Callable[[int], None] | None = None) -> None:
        # ``progress`` is called with the number of messages each filed batch held.
        # A custodian named by id, name or alias is filed under its id, as holds resolve it.
        registered = find_custodian(archive.catalog.custodians(), options.custodian)
        if registered is not None:
            options = replace(options, custodian=registered.id)
        self.archive, self.registry, self.classifier = archive, registry, classifier
        self.schedules, self.options, self.now = schedules, options, now
        self._progress = progress
        self.receipt = Receipt(custodian=options.custodian)
        settings = archive.settings
        self.custodian = registered or Custodian(options.custodian)
        self._official_patterns = tuple(settings.official_accounts) + self.custodian.official_accounts
        zone = options.tz or self.custodian.timezone or settings.timezone
        self._zone = load_zone(zone) if zone else None
        role = self.custodian.role or settings.default_role
        self._default_schedule = ROLE_SCHEDULE[role] if role else UNSCHEDULED
        self._groups: dict[GroupKey, list[SealedDocument]] = defaultdict(list)
        # Compliant records of this run not yet committed, by text: a later copy in the same
        # run is credited by them as by one already in the catalog.
        self._unwritten_copies: dict[str, EarlierCopy] = {}
        self._open_documents = self._open_chars = 0  # held in self._groups
        self._full: list[tuple[GroupKey, list[SealedDocument]]] = []  # segments of 1,000, written together
        self._uncommitted_rows: int | None = None  # added to the catalog's open write (None: nothing added)
        self._attachments = AttachmentWriter(archive)
        self._write_opened = 0.0  # time.monotonic() when the open write took its first rows
        self._legacy_ids = False
        directory = classifier.participants
        # Without a directory every handle is unresolved, and listing them all says nothing.
        self._directory = directory if directory is not None and len(directory) else None
        self._own = {handle_key(name) for name in (options.custodian, *self.custodian.aliases)}
        self._checked: set[str] = set()
        self._apps: set[str] = set()  # the known apps the current file's messages came from
        if not self.custodian.registered:
            self.receipt.warnings.append(unregistered_warning(options.custodian, self._default_schedule))
        self._events = events_from(archive.catalog.documents(EVENT_DOCUMENT))  # cutoffs already recorded

    def run(self, paths: Iterable[Path]) -> Receipt:
        """Ingest every file under the archive's writer lock (an officer their own custodians')."""
        authorize_ingest(self.archive, self.options.actor, self.options.custodian, self.now)
        with self.archive.catalog.exclusive():
            recover(self.archive, self.now)
            self._legacy_ids = has_legacy_ids(self.archive.catalog)
            # Holds read under the lock: none can be placed or released until this run ends.
            maker = DocumentMaker(self.archive, self.schedules, self.options.custodian, self._default_schedule,
                                  self._official_patterns, self._events, active_holds(self.archive), self.now)
            for path in paths:
                self._ingest_file(path, maker)
        return self.receipt

    def _ingest_file(self, path: Path, maker: DocumentMaker) -> None:
        file_receipt = FileReceipt(file=str(path))
        self.receipt.files.append(file_receipt)
        self._apps = set()
        rejections: list[Rejection] = []
        try:
            file_receipt.sha256 = export_sha256(path)
            connector = self._connector(path)
            file_receipt.connector = connector.name
            context = ParseContext(custodian=self.options.custodian, account=self.options.account,
                                   tz=self._zone, custodian_names=self.custodian.aliases,
                                   export_sha256=file_receipt.sha256, temp_dir=self.archive.temp_dir,
                                   date_order=self.options.date_order)
            try:
                identities = MessageIdentities(self.archive.id_hash.hex, conversation_in_content(connector),
                                               legacy=self._legacy_ids)
                read = maker.reader(self.classifier, lambda: connector.parse(path, context), identities,
                                    self._catalog_to_read())
                second = second_process_available() and path.stat().st_size >= SECOND_PROCESS_FROM
                # Closed even when filing fails: the reader (or its process) stops and drops its copies.
                with closing(read_in_second_process(read, rejections) if second else read(rejections)) as items:
                    self._archive_stream(items, rejections, file_receipt)
            finally:
                self._flush_all()
        except InputError as exc:
            # What was read before the error is archived; the rest stays in the quarantined copy.
            file_receipt.refused = f"line {exc.line}: {exc.cause}" if exc.line else exc.cause
        if file_receipt.sha256:
            self._quarantine(path, file_receipt, rejections)
        self._record_export(path, file_receipt)

    def _catalog_to_read(self) -> Callable[[], Catalog] | None:
        """How the reading process opens the catalog to tell messages archived before: a read-only
        connection of its own to a SQLite catalog; none for DynamoDB, where each lookup is a request
        and the writer's own lookup does."""
        catalog = self.archive.catalog
        if not isinstance(catalog, SqliteCatalog):
            return None
        return lambda: SqliteCatalog(catalog.path, read_only=True)

    def _connector(self, path: Path) -> Any:
        if self.options.connector in (None, "auto"):
            return self.registry.detect(path, self.archive.temp_dir)
        return self.registry.get(self.options.connector)

    def _archive_stream(self, items: Iterator[Prepared], rejections: list[Rejection],
                        file_receipt: FileReceipt) -> None:
        batch: list[tuple[RecordDocument, MessageId]] = []
        try:
            for doc, identity, attachments in items:
                message = doc.message
                if message["source"] in APPS:
                    self._apps.add(message["source"])
                if not message["system"]:
                    self._note_unresolved(message["sender"], message["recipients"])
                self._attachments.add(attachments)
                batch.append((doc, identity))
                if len(batch) >= BATCH_MESSAGES:
                    full, batch = batch, []  # emptied first: a failed filing must not be filed twice
                    self._file_batch(full, file_receipt)
        finally:
            # Also after a connector's InputError: what was read before it is archived.
            self._file_batch(batch, file_receipt)
            file_receipt.parsed += len(rejections)
            file_receipt.quarantined += len(rejections)

    def _note_unresolved(self, sender: str, recipients: list[str]) -> None:
        """Add to the receipt the handles the participant directory does not list."""
        directory = self._directory
        if directory is None:
            return
        for handle in (sender, *recipients):
            if handle and handle not in self._checked and len(self._checked) < MAX_HANDLES_CHECKED:
                self._checked.add(handle)
                if handle_key(handle) not in self._own and directory.get(handle) is None:
                    self.receipt.unresolved.append(handle)

    def _file_batch(self, batch: list[tuple[RecordDocument, MessageId]], file_receipt: FileReceipt) -> None:
        if self._progress is not None:  # the messages parsed and classified, now being filed
            self._progress(len(batch))
        if not batch:
            return
        ids = [doc.record_id for doc, _ in batch] + [i.legacy.record_id for _, i in batch if i.legacy]
        known = self.archive.catalog.known_labels(ids)
        docs = [_as_archived(doc, identity.legacy, known) for doc, identity in batch]
        new = [d for d in docs if not already_archived(d, known.get(d.record_id))]
        self._credit_earlier_copies([d for d in new if d.is_record and d.fingerprint])
        file_receipt.parsed += len(batch)
        file_receipt.duplicates += len(batch) - len(new)
        tombstones = []
        for doc in new:
            if doc.is_record:
                file_receipt.records += 1
                self._add_to_group(doc)
            elif doc.label == LABEL_REVIEW:
                file_receipt.nonrecords += 1
                file_receipt.in_review += 1
                self._add_to_group(doc)
            else:
                file_receipt.nonrecords += 1
                tombstones.append(catalog_row(doc, conversation_ref(self.archive, doc),
                                              copy_refs=self.archive.keyed(doc).copy_refs))
        if tombstones:
            # The audit entry vouches for each tombstone, which has no sealed object of its own.
            digests = {row.id: tombstone_digest(self.archive, row) for row in tombstones}
            self._to_commit([CommitBatch(tombstones, audit=AuditEvent(
                self.options.actor, ACTION_TOMBSTONES, self.now, {"rows": digests}))])

    def _credit_earlier_copies(self, docs: list[RecordDocument]) -> None:
        """Credit each record with the earliest compliant copy of its text archived before it: in
        the catalog, or earlier in this run (``docs`` in order)."""
        fingerprints = [d.fingerprint or "" for d in docs]
        stored = self.archive.catalog.compliant_copies(self.options.custodian, fingerprints)
        unwritten = self._unwritten_copies
        for doc, fingerprint in zip(docs, fingerprints, strict=True):
            copy = earliest(stored.get(fingerprint), unwritten.get(fingerprint))
            if copy is not None and doc.forwarding is not None:
                doc.set_forwarding(credit_earlier_copy(
                    doc.forwarding, copy_id=copy.id, copy_source=copy.source, copy_sent_at=copy.sent_at,
                    copy_archived_at=copy.ingested_at, copy_status=copy.forwarding_status))
            mine = EarlierCopy.of(doc)
            if mine is not None and earliest(unwritten.get(fingerprint), mine) is mine:
                unwritten[fingerprint] = mine

    def _add_to_group(self, doc: RecordDocument) -> None:
        attachments = doc.data["attachment_objects"]
        self.receipt.attachments_stored += sum(key is not None for key in attachments)
        self.receipt.attachments_missing += sum(key is None for key in attachments)
        if doc.is_record:
            self.receipt.forwarding[doc.forwarding_status] += 1
            self.receipt.schedules[doc.schedule or UNSCHEDULED] += 1
        key = group_key(doc)
        group = self._groups[key]
        group.append(sealed_document(self.archive, doc))
        self._open_documents += 1
        self._open_chars += len(doc.message["body"])
        if len(group) >= SEGMENT_RECORDS:
            self._full.append(self._take(key))
            if len(self._full) >= SEGMENTS_STORED_TOGETHER:
                full, self._full = self._full, []  # emptied first: a failed write is not written twice
                self._write_segments(full)
        elif self._open_documents > OPEN_DOCUMENTS or self._open_chars > OPEN_BODY_CHARS:
            self._relieve_memory()

    def _relieve_memory(self) -> None:
        """Write the largest open groups until the rest hold at most half the budget."""
        largest = sorted(self._groups, key=lambda k: len(self._groups[k]), reverse=True)
        taken = []
        for key in largest:
            if self._open_documents <= OPEN_DOCUMENTS // 2 and self._open_chars <= OPEN_BODY_CHARS // 2:
                break
            taken.append(self._take(key))
        self._write_in_batches(taken)

    def _flush_all(self) -> None:
        try:
            self._attachments.flush()  # also those of messages that need no new segment (seen before)
            full, self._full = self._full, []
            self._write_in_batches(full + [self._take(key) for key in sorted(self._groups, key=_group_order)])
        finally:
            self._commit()  # what was stored stays archived, whatever stopped the rest

    def _take(self, key: GroupKey) -> tuple[GroupKey, list[SealedDocument]]:
        """Remove an open group, to be written."""
        docs = self._groups.pop(key)
        self._open_documents -= len(docs)
        self._open_chars -= sum(doc.body_chars for doc in docs)
        return key, docs

    def _write_in_batches(self, groups: list[tuple[GroupKey, list[SealedDocument]]]) -> None:
        for start in range(0, len(groups), FLUSH_SEGMENTS):  # a few catalog transactions, not one per segment
            self._write_segments(groups[start:start + FLUSH_SEGMENTS])

    def _write_segments(self, groups: list[tuple[GroupKey, list[SealedDocument]]]) -> None:
        self._attachments.flush()  # before any segment that may name them
        self._to_commit(write_segments(self.archive, groups, self.options.actor, self.now, self.schedules))

    def _to_commit(self, batches: list[CommitBatch]) -> None:
        """Add ``batches`` to the catalog's open write, committed once it holds ``COMMIT_ROWS`` rows
        or has been open ``COMMIT_SECONDS``."""
        self.archive.catalog.add(batches)
        if self._uncommitted_rows is None:
            self._write_opened = time.monotonic()
        self._uncommitted_rows = (self._uncommitted_rows or 0) + sum(len(batch.rows) for batch in batches)
        unwritten = self._unwritten_copies
        for batch in batches:  # added: the catalog answers for them now
            for row in batch.rows:
                if row.fingerprint and (copy := unwritten.get(row.fingerprint)) is not None and copy.id == row.id:
                    del unwritten[row.fingerprint]
        if self._uncommitted_rows >= COMMIT_ROWS or time.monotonic() - self._write_opened >= COMMIT_SECONDS:
            self._commit()

    def _commit(self) -> None:
        """Commit what was added since the last commit."""
        if self._uncommitted_rows is not None:
            self._uncommitted_rows = None
            commit_batches(self.archive, [])

    def _quarantine(self, path: Path, file_receipt: FileReceipt, rejections: list[Rejection]) -> None:
        """Keep an encrypted copy of the export so nothing unread is lost, and list why."""
        if not rejections and not file_receipt.refused:
            return
        self.receipt.quarantine.extend(rejections)
        object_key = store_export_copy(self.archive, path, file_receipt.sha256 or "")
        file_ref = self.archive.file_ref
        rows = [QuarantineRow(file_receipt.sha256 or "", file_ref(r.file), r.line, r.reason, object_key, self.now)
                for r in rejections]
        if file_receipt.refused:
            rows.append(QuarantineRow(file_receipt.sha256 or "", file_ref(str(path)), None, file_receipt.refused,
                                      object_key, self.now))
        self.archive.catalog.add_quarantine(rows, AuditEvent(
            self.options.actor, "quarantine", self.now,
            {"export_sha256": file_receipt.sha256, "items": len(rows), "object": object_key,
             # Each item's digest, up to a bound that keeps the entry within a DynamoDB item.
             "rows": [[row.line, quarantine_digest(self.archive, row)] for row in rows[:QUARANTINE_AUDIT_ROWS]]}))

    def _record_export(self, path: Path, file_receipt: FileReceipt) -> None:
        name = self.archive.file_ref(path.name)
        export = ExportRow(file_receipt.sha256 or "", name, file_receipt.connector or "", self.options.custodian,
                           self.options.account, self.now, self.options.actor,
                           synced_apps(file_receipt.connector or "", self._apps))
        detail = {**file_receipt.to_json(), "file": name,
                  "export_digest": row_digest(self.archive.audit_hash, KIND_EXPORT, export)}
        self.archive.catalog.add_export(
            export, AuditEvent(self.options.actor, "ingest", self.now, {"custodian": self.options.custodian, **detail}))


def has_legacy_ids(catalog: Catalog) -> bool:
    """Whether the archive holds ids written before version 2, so each message is also looked up
    under its version 1 id. Decided at the first ingest that asks, and kept in the catalog."""
    if catalog.id_scheme() is None:
        written_before = next(iter(catalog.rows()), None) is not None
        catalog.set_id_scheme(ID_SCHEME_WITH_LEGACY if written_before else ID_SCHEME)
    return catalog.id_scheme() == ID_SCHEME_WITH_LEGACY


def _as_archived(doc: RecordDocument, legacy: MessageId | None, known: dict[str, str]) -> RecordDocument:
    """The document under the version 1 id its message was archived with, when only that one is known."""
    if legacy is None or doc.record_id in known or legacy.record_id not in known:
        return doc
    return doc.with_id(legacy.record_id, legacy.content_hash, legacy.occurrence)


def _group_order(key: GroupKey) -> tuple[str, str, date]:
    return key[0], key[1], key[2] or date.max


def tombstone_digest(archive: Archive, row: CatalogRow) -> str:
    """A tombstone's keyed digest, as its audit entry vouches for it."""
    return row_digest(archive.audit_hash, KIND_TOMBSTONE, row, ignore=LATER_FIELDS)


def quarantine_digest(archive: Archive, row: QuarantineRow) -> str:
    """A quarantine item's keyed digest; not its time, as the same item quarantined again keeps its first."""
    return row_digest(archive.audit_hash, KIND_QUARANTINE, row, ignore=("at",))
