"""Ingest: export files in, sealed records and tombstones out, every message accounted for.

Write ordering (after restic): a segment is marked pending in the catalog, then written to
the store, then its catalog rows, blind-index tokens and audit entry are committed in one
transaction that clears the mark. A run killed at any moment leaves at most a pending
segment; the next run adopts it (its frames carry everything the catalog needs) or drops
the mark if the object never landed. Each message is therefore stored exactly once.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from archiver.core.classify import NONRECORD, Classifier
from archiver.core.custodians import Custodian, find_custodian, load_zone
from archiver.core.events import EVENT_DOCUMENT, events_from
from archiver.core.forwarding import credit_earlier_copy
from archiver.core.identity import ID_SCHEME, ID_SCHEME_WITH_LEGACY, MessageId, MessageIdentities
from archiver.core.retention import ROLE_SCHEDULE, UNSCHEDULED, ScheduleSet
from archiver.errors import InputError, ObjectExistsError, Rejection
from archiver.model import Account, handle_key
from archiver.services.access import authorize_ingest
from archiver.services.export_files import export_sha256, store_export_copy
from archiver.services.ingest_reading import AttachmentObject, DocumentMaker, Prepared, store_terms
from archiver.services.reader_process import (
    SECOND_PROCESS_FROM,
    read_in_second_process,
    second_process_available,
)
from archiver.services.receipt import FileReceipt, Receipt, unregistered_warning
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import Catalog, CatalogRow, CommitBatch, ExportRow, HoldRow, QuarantineRow, SegmentRow
from archiver.storage.catalog.base import LATER_FIELDS
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.records import LABEL_REVIEW, SCHEDULE_REVIEW, EarlierCopy, RecordDocument, catalog_row, earliest
from archiver.storage.sealed_facts import manifest_key, manifest_object, row_digest, write_manifest

SEGMENT_RECORDS = 1000   # records per segment object (DESIGN.md, "Storage unit")
# Memory budget of the open segment groups: an export spanning many disposition dates would
# otherwise hold every group until the end of the file (a 12 MB export peaked at 662 MB).
OPEN_DOCUMENTS = 10_000
OPEN_BODY_CHARS = 32 << 20
BATCH_MESSAGES = 1000    # messages per duplicate lookup in the catalog
QUARANTINE_AUDIT_ROWS = 2000  # quarantine items vouched for one by one in their audit entry
FLUSH_SEGMENTS = 64
SEGMENTS_PER_COMMIT = 8  # full segments (or tombstone batches) gathered into one catalog transaction
SEGMENT_PREFIX = "seg/"
MAX_HANDLES_CHECKED = 100_000  # bounds memory on a hostile export with endless senders
REVIEW_PREFIX = "review/"      # segments written and committed together at the end of a file
ACTION_TOMBSTONES = "tombstones"
KIND_TOMBSTONE, KIND_QUARANTINE, KIND_EXPORT = "tombstone", "quarantine", "export"

GroupKey = tuple[str, str, date | None]


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
        # Fewer, larger catalog transactions: each one rewrites every index page it touches, and
        # record ids are random, so 1,000 rows touch nearly every page of the id index.
        self._full: list[tuple[GroupKey, list[SealedDocument]]] = []  # segments of 1,000, written together
        self._deferred: list[CommitBatch] = []  # tombstone batches, committed with the next segments
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
                read = maker.reader(self.classifier, lambda: connector.parse(path, context), identities)
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
                self._store_attachments(attachments)
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

    def _store_attachments(self, objects: list[AttachmentObject]) -> None:
        """Seal and store attachments (content-addressed: one already stored is kept at least as long)."""
        for found in objects:
            try:
                self.archive.store.put(found.key, seal(self.archive.keys, found.key, found.content),
                                       found.retain_until, found.held)
            except ObjectExistsError:
                self.archive.store.extend_retention(found.key, found.retain_until)
                if found.held:
                    self.archive.store.set_legal_hold(found.key, True)

    def _file_batch(self, batch: list[tuple[RecordDocument, MessageId]], file_receipt: FileReceipt) -> None:
        if self._progress is not None:  # the messages parsed and classified, now being filed
            self._progress(len(batch))
        if not batch:
            return
        ids = [doc.record_id for doc, _ in batch] + [i.legacy.record_id for _, i in batch if i.legacy]
        known = self.archive.catalog.known_labels(ids)
        docs = [_as_archived(doc, identity.legacy, known) for doc, identity in batch]
        new = [d for d in docs if d.record_id not in known  # or now seen in context: a record
               or (d.is_record and known[d.record_id] in (NONRECORD, LABEL_REVIEW))]
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
                tombstones.append(catalog_row(doc, _conversation_ref(self.archive, doc),
                                              copy_refs=self.archive.keyed(doc).copy_refs))
        if tombstones:
            # The audit entry vouches for each tombstone, which has no sealed object of its own.
            digests = {row.id: tombstone_digest(self.archive, row) for row in tombstones}
            self._deferred.append(CommitBatch(tombstones, audit=AuditEvent(
                self.options.actor, ACTION_TOMBSTONES, self.now, {"rows": digests})))
            if len(self._deferred) >= SEGMENTS_PER_COMMIT:
                self._commit_deferred()

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
            if len(self._full) >= SEGMENTS_PER_COMMIT:
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
        full, self._full = self._full, []
        self._write_in_batches(full + [self._take(key) for key in sorted(self._groups, key=_group_order)])
        self._commit_deferred()  # tombstones no segment took with it

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
        also, self._deferred = self._deferred, []
        write_segments(self.archive, groups, self.options.actor, self.now, self.schedules, also)
        unwritten = self._unwritten_copies
        for _, docs in groups:  # committed: the catalog answers for them now
            for doc in docs:
                fingerprint = doc.row.fingerprint
                if fingerprint and (copy := unwritten.get(fingerprint)) is not None and copy.id == doc.record_id:
                    del unwritten[fingerprint]

    def _commit_deferred(self) -> None:
        """Commit the tombstone batches waiting for a segment's transaction."""
        also, self._deferred = self._deferred, []
        if also:
            self.archive.catalog.commit(also)

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


@dataclass(frozen=True)
class SealedDocument:
    """A document as its segment takes it: sealed (the deflated envelope holds a few times less
    memory than the document while its group fills), with its catalog row, placed in the segment
    when the segment is packed, and what the catalog and the manifest keep beside it."""

    record_id: str
    envelope: bytes
    row: CatalogRow
    tokens: list[str]
    attachments: list[str | None]
    body_chars: int  # what the open groups' memory budget counts


def sealed_document(archive: Archive, doc: RecordDocument, envelope: bytes | None = None) -> SealedDocument:
    """``doc`` sealed now, or with the ``envelope`` it was sealed in before."""
    keyed = archive.keyed(doc)
    if envelope is None:
        envelope = seal(archive.keys, doc.record_id, doc.plaintext())
    return SealedDocument(doc.record_id, envelope, catalog_row(doc, _conversation_ref(archive, doc),
                                                               copy_refs=keyed.copy_refs),
                          keyed.tokens, doc.data["attachment_objects"], len(doc.message["body"]))


def store_segments(archive: Archive, groups: list[tuple[GroupKey, list[RecordDocument]]], actor: str,
                   now: datetime, schedules: ScheduleSet, also: Sequence[CommitBatch] = ()) -> None:
    """Seal and store one segment per group (``write_segments``)."""
    write_segments(archive, [(key, [sealed_document(archive, doc) for doc in docs]) for key, docs in groups],
                   actor, now, schedules, also)


def write_segments(archive: Archive, groups: list[tuple[GroupKey, list[SealedDocument]]], actor: str,
                   now: datetime, schedules: ScheduleSet, also: Sequence[CommitBatch] = ()) -> None:
    """Store one segment per group of sealed documents: pending marks, then the objects, then the
    catalog (two transactions for many segments); ``also`` commits in the same transaction."""
    prepared, manifests, terms = [], [], {}
    for (custodian, schedule, retain_until), docs in groups:
        name = segment_name(schedule, retain_until)
        data, refs = segments.pack((d.record_id, d.envelope) for d in docs)
        segment = SegmentRow(name, custodian, schedule, retain_until, len(docs), now)
        terms[name] = store_terms(schedules.by_id.get(schedule), retain_until, now)
        batch = _segment_batch(docs, refs, segment, actor, now)
        prepared.append((segment, data, batch))
        manifests.append(manifest_object(archive, segment, batch.rows, [d.attachments for d in docs]))
    archive.catalog.begin_segments([segment.name for segment, _, _ in prepared])
    holds = active_holds(archive)
    held = {segment.name for segment, _, batch in prepared if terms[segment.name][1]
            or any(h.covers(r.custodian, r.sent_at) for h in holds for r in batch.rows)}
    for legal_hold in (True, False):  # a segment an active hold covers is never in the store unheld
        archive.store.put_many(((segment.name, data, terms[segment.name][0]) for segment, data, _ in prepared
                                if (segment.name in held) == legal_hold), legal_hold=legal_hold)
    # Manifests after their segments: a run killed between the two has its manifests written on recovery.
    archive.store.put_many(manifests)
    archive.catalog.commit([batch for _, _, batch in prepared] + list(also))
    archive.checkpoint_audit()


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


def active_holds(archive: Archive) -> list[HoldRow]:
    """The holds not released: what an object written now must be held for."""
    return [h for h in archive.catalog.holds() if h.active]


def group_key(doc: RecordDocument) -> GroupKey:
    """The disposition group a document is stored in."""
    return (doc.message["custodian"], _group_schedule(doc), doc.retain_until)


def segment_name(schedule: str, retain_until: date | None) -> str:
    """A new segment's key: review items apart from records, by retain-until date."""
    prefix = REVIEW_PREFIX if schedule == SCHEDULE_REVIEW else SEGMENT_PREFIX
    return f"{prefix}{retain_until.isoformat() if retain_until else 'indefinite'}/{uuid.uuid4().hex}"


def _group_schedule(doc: RecordDocument) -> str:
    return SCHEDULE_REVIEW if doc.label == LABEL_REVIEW else doc.schedule or UNSCHEDULED


def _conversation_ref(archive: Archive, doc: RecordDocument) -> str:
    return archive.conversation_ref(doc.message["source"], doc.message["conversation"])


def recover(archive: Archive, now: datetime) -> int:
    """Finish what a killed run left: adopt written segments, drop marks of unwritten ones."""
    archive.store.discard_incomplete()
    adopted = 0
    for name in archive.catalog.pending_segments():
        if not archive.store.exists(name):
            archive.catalog.drop_pending(name)
            continue
        opened = [(ref, envelope, RecordDocument.from_plaintext(open_sealed(archive.keys, ref.record_id, envelope)))
                  for ref, envelope in segments.iter_frames(archive.store.get(name), name)]
        docs = [sealed_document(archive, doc, envelope) for _, envelope, doc in opened]
        refs = [ref for ref, _, _ in opened]
        first = opened[0][2]
        # The group's date, not the store's: a segment waiting on an event is stored with no lock.
        segment = SegmentRow(name, first.message["custodian"], _group_schedule(first), first.retain_until,
                             len(docs), now)
        batch = _segment_batch(docs, refs, segment, "archiver (recovery)", now)
        write_manifest(archive, segment, batch.rows, [d.attachments for d in docs])
        archive.catalog.commit([batch])
        adopted += 1
    return adopted


def _segment_batch(docs: list[SealedDocument], refs: list[segments.FrameRef], segment: SegmentRow, actor: str,
                   now: datetime) -> CommitBatch:
    rows = [replace(doc.row, segment=segment.name, offset=ref.offset, length=ref.length)
            for doc, ref in zip(docs, refs, strict=True)]
    keywords = [(doc.record_id, doc.tokens) for doc in docs]
    retain_until = segment.retain_until.isoformat() if segment.retain_until else None
    return CommitBatch(rows, keywords, segment, AuditEvent(
        actor, "store-segment", now, {"segment": segment.name, "records": len(docs), "schedule": segment.schedule,
                                      "retain_until": retain_until, "manifest": manifest_key(segment.name)}))


def tombstone_digest(archive: Archive, row: CatalogRow) -> str:
    """A tombstone's keyed digest, as its audit entry vouches for it."""
    return row_digest(archive.audit_hash, KIND_TOMBSTONE, row, ignore=LATER_FIELDS)


def quarantine_digest(archive: Archive, row: QuarantineRow) -> str:
    """A quarantine item's keyed digest; not its time, as the same item quarantined again keeps its first."""
    return row_digest(archive.audit_hash, KIND_QUARANTINE, row, ignore=("at",))
