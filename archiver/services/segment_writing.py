"""Storing segments: sealed documents packed into segment objects, their manifests and catalog
rows, and the adoption of the segments a killed run left.

Write ordering (after restic): a segment is marked pending in the catalog, then written to
the store, then its catalog rows, blind-index tokens and audit entry are committed in a
transaction that clears the mark (an ingest gathers many segments' rows into one). A run
killed at any moment leaves at most pending segments; the next run adopts each (its frames
carry everything the catalog needs) or drops the mark if the object never landed. Each
message is therefore stored exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from archiver.core.retention import UNSCHEDULED, ScheduleSet
from archiver.services.ingest_reading import store_terms
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import CatalogRow, CommitBatch, HoldRow, SegmentRow
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.records import LABEL_REVIEW, SCHEDULE_REVIEW, RecordDocument, catalog_row
from archiver.storage.sealed_facts import manifest_key, manifest_object, write_manifest

SEGMENT_PREFIX = "seg/"
REVIEW_PREFIX = "review/"  # review items' segments, apart from records

GroupKey = tuple[str, str, date | None]


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
    return SealedDocument(doc.record_id, envelope, catalog_row(doc, conversation_ref(archive, doc),
                                                               copy_refs=keyed.copy_refs),
                          keyed.tokens, doc.data["attachment_objects"], len(doc.message["body"]))


def store_segments(archive: Archive, groups: list[tuple[GroupKey, list[RecordDocument]]], actor: str,
                   now: datetime, schedules: ScheduleSet, also: Sequence[CommitBatch] = ()) -> None:
    """Seal and store one segment per group (``write_segments``) and commit their catalog rows,
    with ``also``, in one transaction."""
    written = write_segments(archive, [(key, [sealed_document(archive, doc) for doc in docs])
                                       for key, docs in groups], actor, now, schedules)
    commit_batches(archive, [*written, *also])


def write_segments(archive: Archive, groups: list[tuple[GroupKey, list[SealedDocument]]], actor: str,
                   now: datetime, schedules: ScheduleSet) -> list[CommitBatch]:
    """Store one segment per group of sealed documents: pending marks (one transaction), then the
    objects. Returns the catalog batches that clear the marks, for the caller to commit
    (``commit_batches``); until then the segments stay marked pending."""
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
    return [batch for _, _, batch in prepared]


def commit_batches(archive: Archive, batches: Sequence[CommitBatch]) -> None:
    """Commit catalog batches in one transaction, then checkpoint the audit chain."""
    archive.catalog.commit(batches)
    archive.checkpoint_audit()


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


def conversation_ref(archive: Archive, doc: RecordDocument) -> str:
    """The keyed reference of the document's conversation, as the catalog keeps it."""
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
        archive.catalog.add([batch])  # one commit for all: each commit rewrites the journal of marks
        adopted += 1
    if adopted:
        archive.catalog.commit()
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
