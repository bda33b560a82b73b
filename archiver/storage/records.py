"""The record document sealed in each frame, and the catalog row derived from it.

The document is self-describing: message, classification, schedule, disposition and 2911
status. The catalog row is always derived from it, both at ingest and when a segment is
adopted after a crash, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from archiver.core.classify import Classification
from archiver.core.forwarding import ForwardingStatus, Status
from archiver.core.retention import Disposition
from archiver.model import Message, parse_instant, parse_json, sealed_json, utc_iso
from archiver.storage import segments
from archiver.storage.catalog.base import COMPLIANT_COPY_STATUSES, CatalogRow
from archiver.storage.envelope import open_sealed

if TYPE_CHECKING:
    from archiver.storage.archive import Archive

DOCUMENT_FORMAT = "archiver-record"
DOCUMENT_VERSION = 1
NOT_APPLICABLE = "not_applicable"
LABEL_REVIEW = "review"
SCHEDULE_REVIEW = "REVIEW"  # the group of review items in segments: not a schedule item


@dataclass(frozen=True)
class Keyed:
    """What the catalog keeps of a message besides its row, all keyed hashes: its blind-index
    tokens and its copy references (``Archive.index_tokens`` and ``Archive.copy_refs``)."""

    tokens: list[str]
    copy_refs: tuple[str | None, str | None]


@dataclass(frozen=True)
class RecordDocument:
    """One message as archived (plaintext; it only ever leaves memory sealed). ``keyed``:
    its ``Keyed`` references, when the process that read the message computed them already."""

    data: dict[str, Any]
    keyed: Keyed | None = field(default=None, compare=False)

    @property
    def record_id(self) -> str:
        return str(self.data["id"])

    def with_id(self, record_id: str, content_hash: str, occurrence: int) -> RecordDocument:
        """The same document under another id (the one its message was first archived with)."""
        return RecordDocument({**self.data, "id": record_id, "content_hash": content_hash, "occurrence": occurrence},
                              self.keyed)

    @property
    def message(self) -> dict[str, Any]:
        return self.data["message"]  # type: ignore[no-any-return]

    @property
    def label(self) -> str:
        """``record``, ``review`` (an uncertain nonrecord kept sealed for a records officer) or
        ``nonrecord`` (a confident one: only its tombstone is kept)."""
        if self.data.get("review"):
            return LABEL_REVIEW
        return str(self.data["classification"]["label"])

    @property
    def is_record(self) -> bool:
        return self.label == "record"

    @property
    def schedule(self) -> str | None:
        return self.data["schedule"]

    @property
    def retain_until(self) -> date | None:
        """The disposition date of a record; the end of the review period of a review item."""
        review = self.data.get("review")
        if review:
            return date.fromisoformat(review["expires"])
        disposition = self.data["disposition"]
        value = disposition and disposition["retain_until"]
        return date.fromisoformat(value) if value else None

    @property
    def fingerprint(self) -> str | None:
        return self.data.get("fingerprint")

    @property
    def forwarding(self) -> ForwardingStatus | None:
        value = self.data["forwarding"]
        if not value:
            return None
        return ForwardingStatus(Status(value["status"]), parse_instant(self.data["message"]["sent_at"]),
                                parse_instant(value["deadline"]) if value["deadline"] else None,
                                value["days_late"], value["reason"])

    def set_disposition(self, disposition: Disposition) -> None:
        """Replace the schedule item and disposition (before the document is sealed)."""
        self.data["schedule"] = disposition.item_id
        self.data["disposition"] = _disposition_json(disposition)

    def set_forwarding(self, forwarding: ForwardingStatus) -> None:
        """Replace the 2911 status (before the document is sealed)."""
        self.data["forwarding"] = _forwarding_json(forwarding)

    @property
    def forwarding_status(self) -> str:
        forwarding = self.data["forwarding"]
        return str(forwarding["status"]) if forwarding else NOT_APPLICABLE

    def plaintext(self) -> bytes:
        return sealed_json(self.data)

    @classmethod
    def from_plaintext(cls, plaintext: bytes) -> RecordDocument:
        data = parse_json(plaintext)
        if not isinstance(data, dict) or data.get("format") != DOCUMENT_FORMAT:
            raise ValueError("not an archiver record document")
        return cls(data)


def read_document(archive: Archive, record_id: str, segment: str, offset: int, length: int) -> RecordDocument:
    """One sealed record read alone from its segment, as the catalog locates it."""
    return _opened(archive, record_id, segment, archive.store.get_range(segment, offset, length))


def segment_documents(archive: Archive, segment: str,
                      rows: Iterable[CatalogRow]) -> Iterator[tuple[CatalogRow, RecordDocument]]:
    """The sealed document of each of ``rows`` that places a frame in ``segment``, the segment read
    once, whole, for them all (one read where each record alone was one, a ranged GetObject on S3):
    each frame cut where the catalog places it, as a ranged read would return it."""
    placed = [row for row in rows if row.offset is not None and row.length is not None]
    data = archive.store.get(segment) if placed else b""
    for row in placed:
        assert row.offset is not None and row.length is not None
        yield row, _opened(archive, row.id, segment, data[row.offset:row.offset + row.length])


def _opened(archive: Archive, record_id: str, segment: str, frame: bytes) -> RecordDocument:
    return RecordDocument.from_plaintext(
        open_sealed(archive.keys, record_id, segments.unpack_frame(frame, record_id, segment)))


def record_document(record_id: str, occurrence: int, content_hash: str, message: Message,
                    classification: Classification, disposition: Disposition | None,
                    forwarding: ForwardingStatus | None, attachment_keys: list[str | None] | None,
                    ingested_at: datetime, fingerprint: str | None = None,
                    review_expires: date | None = None) -> RecordDocument:
    """Assemble the document for one message (record or nonrecord)."""
    return RecordDocument({
        "format": DOCUMENT_FORMAT, "version": DOCUMENT_VERSION,
        "id": record_id, "occurrence": occurrence, "content_hash": content_hash,
        "message": message.to_json(),
        "classification": classification.to_json(),
        "schedule": disposition.item_id if disposition else None,
        "disposition": _disposition_json(disposition),
        "forwarding": _forwarding_json(forwarding),
        "attachment_objects": attachment_keys or [],
        "ingested_at": utc_iso(ingested_at),
        "fingerprint": fingerprint,
        "review": {"expires": review_expires.isoformat()} if review_expires else None,
    })


def catalog_row(doc: RecordDocument, conversation_ref: str, segment: str | None = None,
                offset: int | None = None, length: int | None = None,
                copy_refs: tuple[str | None, str | None] = (None, None)) -> CatalogRow:
    """The catalog's view of a document: no body, no names, only keyed references
    (``copy_refs``: ``Archive.copy_refs`` of its message)."""
    data, message = doc.data, doc.data["message"]
    classification, forwarding = data["classification"], data["forwarding"]
    return CatalogRow(
        id=doc.record_id, custodian=message["custodian"], source=message["source"],
        conversation_ref=conversation_ref, sent_at=parse_instant(message["sent_at"]),
        direction=message["direction"], account=message["account"], system=message["system"],
        label=doc.label, confidence=classification["confidence"],
        reasons=tuple(classification["reasons"]), rules_version=classification["rules_version"],
        schedule=doc.schedule,
        disposition_date=_disposition_date(doc),
        forwarding_status=doc.forwarding_status,
        deadline=parse_instant(forwarding["deadline"]) if forwarding and forwarding["deadline"] else None,
        days_late=forwarding["days_late"] if forwarding else 0,
        content_hash=data["content_hash"], export_sha256=message["source_ref"]["export_sha256"] or "",
        source_line=message["source_ref"]["line"], ingested_at=parse_instant(data["ingested_at"]),
        flags=tuple(message.get("flags", ())), segment=segment, offset=offset, length=length,
        fingerprint=doc.fingerprint, sender_ref=copy_refs[0], copy_key=copy_refs[1])


def _disposition_date(doc: RecordDocument) -> date | None:
    """A record's disposition date; for a review item, the day its review period ends."""
    if doc.label == LABEL_REVIEW:
        return doc.retain_until
    disposition = doc.data["disposition"]
    return date.fromisoformat(disposition["disposition_date"]) if disposition and disposition["disposition_date"] \
        else None


def _disposition_json(disposition: Disposition | None) -> dict[str, Any] | None:
    if disposition is None:
        return None
    return {"item": disposition.item_id, "action": disposition.action,
            "cutoff": _iso(disposition.cutoff), "disposition_date": _iso(disposition.disposition_date),
            "retain_until": _iso(disposition.retain_until), "reason": disposition.reason}


def _forwarding_json(forwarding: ForwardingStatus | None) -> dict[str, Any] | None:
    if forwarding is None:
        return None
    return {"status": forwarding.status, "deadline": utc_iso(forwarding.deadline) if forwarding.deadline else None,
            "days_late": forwarding.days_late, "reason": forwarding.reason}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class EarlierCopy:
    """What crediting a later copy of a compliant record's text needs of it (a catalog row has it too)."""

    id: str
    source: str
    sent_at: datetime
    ingested_at: datetime
    forwarding_status: str

    @classmethod
    def of(cls, doc: RecordDocument) -> EarlierCopy | None:
        """The document as a copy others may be credited by, if it is a compliant record with a text."""
        if not (doc.is_record and doc.fingerprint and doc.forwarding_status in COMPLIANT_COPY_STATUSES):
            return None
        return cls(doc.record_id, doc.message["source"], parse_instant(doc.message["sent_at"]),
                   parse_instant(doc.data["ingested_at"]), doc.forwarding_status)


def earliest(first: EarlierCopy | CatalogRow | None,
             second: EarlierCopy | CatalogRow | None) -> EarlierCopy | CatalogRow | None:
    """The copy archived first (then sent first), as the catalog's ``compliant_copies`` orders them."""
    if first is None or second is None:
        return first or second
    return first if (first.ingested_at, first.sent_at) <= (second.ingested_at, second.sent_at) else second
