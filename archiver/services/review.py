"""The review queue: uncertain nonrecords wait, sealed, for a records officer's decision.

A decision is audited. "record" re-files the message under its schedule item in a record
segment (its 2911 status counts from when it first reached the archive); "nonrecord" leaves
only the tombstone. The review frame itself stays in its write-once segment until the review
period ends. An item nobody decided by then is filed as a record: discarding a record
unreviewed would be unlawful (36 CFR 1230), keeping a nonrecord only costs storage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from archiver.core.events import EVENT_DOCUMENT, event_day, events_from
from archiver.core.forwarding import assess, official_recipients
from archiver.core.retention import ROLE_SCHEDULE, UNSCHEDULED, ScheduleSet, assign
from archiver.errors import UsageError
from archiver.model import parse_instant, utc_iso
from archiver.services.access import authorize, sealed
from archiver.services.ingest_reading import store_terms
from archiver.services.segment_writing import group_key, store_segments
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import CatalogRow, CommitBatch
from archiver.storage.records import LABEL_REVIEW, RecordDocument, catalog_row, read_document

DECISIONS = ("record", "nonrecord")
EXPIRED_REASON = "review period ended without a decision; kept as a record (36 CFR 1230)"


@dataclass(frozen=True, slots=True)  # slots: a queue may hold a hundred thousand
class ReviewItem:
    """What a records officer sees in the queue, without opening the message."""

    id: str
    custodian: str
    source: str
    sent_at: datetime
    confidence: float
    reasons: tuple[str, ...]
    expires: date | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "custodian": self.custodian, "source": self.source, "sent_at": utc_iso(self.sent_at),
                "confidence": self.confidence, "reasons": list(self.reasons),
                "expires": self.expires.isoformat() if self.expires else None}


def list_reviews(archive: Archive) -> list[ReviewItem]:
    """Every item awaiting a decision, oldest first. Only the items are held, not the catalog rows
    they come from, and equal reasons once (a queue at a million messages held 546 MB)."""
    reasons: dict[tuple[str, ...], tuple[str, ...]] = {}
    items = [ReviewItem(r.id, r.custodian, r.source, r.sent_at, r.confidence, reasons.setdefault(r.reasons, r.reasons),
                        r.disposition_date) for r in archive.catalog.rows(label=LABEL_REVIEW)]
    items.sort(key=lambda item: (item.sent_at, item.id))
    return items


def open_review(archive: Archive, record_id: str, actor: str, reason: str, now: datetime) -> dict[str, Any]:
    """Decrypt one item for the officer to read; the access is audited with its reason (sealed)."""
    authorize(archive, actor, "records-officer", "read review items", now)
    row = _review_row(archive, record_id)
    document = _read(archive, row)
    detail = {"id": record_id, "reason": sealed(archive, {"reason": reason})}
    archive.catalog.append_audit(AuditEvent(actor, "review-open", now, detail))
    return {"id": record_id, "message": document.message, "classification": document.data["classification"]}


def decide(archive: Archive, record_id: str, decision: str, reason: str, actor: str, now: datetime,
           schedules: ScheduleSet) -> CatalogRow:
    """Settle one item as a record or a nonrecord, with the officer's reason (audited)."""
    authorize(archive, actor, "records-officer", "decide review items", now)
    if decision not in DECISIONS:
        raise UsageError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not reason.strip():
        raise UsageError("a decision needs a reason (--reason)")
    row = _review_row(archive, record_id)
    audit = AuditEvent(actor, "review-decide", now, {"id": record_id, "decision": decision,
                                                       "reason": sealed(archive, {"reason": reason})})
    if decision == "nonrecord":
        archive.catalog.commit([CommitBatch([replace(row, label="nonrecord")], audit=audit)])
        return replace(row, label="nonrecord")
    document = _as_record(archive, _read(archive, row), actor, reason, now, schedules)
    store_segments(archive, [(group_key(document), [document])], actor, now, schedules,
                   also=[CommitBatch([], audit=audit)])
    return catalog_row(document, row.conversation_ref, copy_refs=(row.sender_ref, row.copy_key))


def expire_reviews(archive: Archive, now: datetime, actor: str, schedules: ScheduleSet) -> list[str]:
    """File as records the items whose review period has ended undecided; returns their ids."""
    authorize(archive, actor, "records-officer", "expire review items", now)
    expired = [item.id for item in list_reviews(archive) if item.expires and item.expires <= now.date()]
    for record_id in expired:
        decide(archive, record_id, "record", EXPIRED_REASON, actor, now, schedules)
    return expired


def _review_row(archive: Archive, record_id: str) -> CatalogRow:
    row = archive.catalog.row(record_id)
    if row is None or row.label != LABEL_REVIEW or row.segment is None:
        raise UsageError(f"no item {record_id!r} awaits review ('archiver review list' shows them)")
    return row


def _read(archive: Archive, row: CatalogRow) -> RecordDocument:
    return read_document(archive, row.id, row.segment or "", row.offset or 0, row.length or 0)


def _as_record(archive: Archive, document: RecordDocument, actor: str, reason: str, now: datetime,
               schedules: ScheduleSet) -> RecordDocument:
    """The document re-filed as a record: schedule, disposition and 2911 status as at ingest."""
    data, message = dict(document.data), document.message
    custodian = archive.catalog.get_custodian(message["custodian"])
    role = (custodian.role if custodian else None) or archive.settings.default_role
    classification = data["classification"]
    item = schedules.get(classification.get("schedule") or (ROLE_SCHEDULE[role] if role else UNSCHEDULED))
    sent_at, ingested_at = parse_instant(message["sent_at"]), parse_instant(data["ingested_at"])
    patterns = tuple(archive.settings.official_accounts) + (custodian.official_accounts if custodian else ())
    forwarding = assess(account=message["account"], created=sent_at, archived_at=ingested_at,
                        official_copied=bool(official_recipients(message["recipients"], patterns)))
    events = events_from(archive.catalog.documents(EVENT_DOCUMENT))  # a cutoff recorded while it waited
    disposition = assign(item, sent_at, event_day(events, message["custodian"], item))
    data["classification"] = {**classification, "label": "record", "review": False,
                              "override": {"by": actor, "at": utc_iso(now), "reason": reason}}
    data["review"], data["schedule"] = None, item.id
    refiled = RecordDocument(data)
    refiled.set_disposition(disposition)
    refiled.set_forwarding(forwarding)
    retain_until, waiting = store_terms(item, disposition.retain_until, now)
    for key in data["attachment_objects"]:
        if key:
            archive.store.extend_retention(key, retain_until)
            if waiting:
                archive.store.set_legal_hold(key, True)
    return refiled
