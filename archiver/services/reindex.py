"""Reindex: rebuild the blind index from the sealed records, with the current search terms.

It also gives records and review items written before ``report gaps`` existed the keyed
sender and copy references (``Archive.copy_refs``) that report matches copies by; tombstones
have no sealed text to derive them from and stay without.

An archive written before the current ``INDEX_VERSION`` (body words only) cannot be searched
by number, date, participant or conversation until it is reindexed. Every segment that is not
disposed of is read once, its frames opened with the archive's keys, and each record's and
review item's terms hashed again. The index is dropped first and its version set to 0 for as
long as the rebuild runs, so a run killed halfway leaves version 0 and the next run starts over
and ends complete. Holds the writer lock throughout: no ingest interleaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.core.terms import INDEX_VERSION
from archiver.services.access import authorize
from archiver.services.disposition import writing
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import SegmentRow
from archiver.storage.envelope import open_sealed
from archiver.storage.records import LABEL_REVIEW, RecordDocument

REBUILDING = 0  # the index version while a rebuild is unfinished


@dataclass
class ReindexResult:
    """What a reindex read and indexed: counts only."""

    previous_version: int | None
    version: int = INDEX_VERSION
    segments: int = 0
    records: int = 0
    review_items: int = 0
    terms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"previous_version": self.previous_version, "version": self.version, "segments": self.segments,
                "records": self.records, "review_items": self.review_items, "terms": self.terms}


def reindex(archive: Archive, actor: str, now: datetime) -> ReindexResult:
    """Rebuild the whole blind index at ``INDEX_VERSION``, audited (counts only, no text); admins only."""
    authorize(archive, actor, "admin", "rebuild the search index", now)
    with writing(archive, now):
        catalog = archive.catalog
        previous = catalog.index_version()
        result = ReindexResult(previous)
        catalog.set_index_version(REBUILDING)
        catalog.reset_index()
        for segment in list(catalog.segments()):
            if segment.disposed_at is None:
                _reindex_segment(archive, segment, result)
        catalog.append_audit(AuditEvent(actor, "reindex", now, result.to_json()))
        catalog.set_index_version(INDEX_VERSION)
    return result


def _reindex_segment(archive: Archive, segment: SegmentRow, result: ReindexResult) -> None:
    """Index the frames of one segment whose catalog rows still point at it (one read of the segment)."""
    rows = {row.id: row for row in archive.catalog.segment_rows(segment.name)}
    entries: list[tuple[str, list[str]]] = []
    copies: list[tuple[str, str | None, str | None]] = []
    for ref, envelope in segments.iter_frames(archive.store.get(segment.name), segment.name):
        if ref.record_id not in rows:
            continue  # filed since under another segment (a review item that became a record)
        doc = RecordDocument.from_plaintext(open_sealed(archive.keys, ref.record_id, envelope))
        tokens = archive.index_tokens(doc.message)
        entries.append((doc.record_id, tokens))
        copies.append((doc.record_id, *archive.copy_refs(doc.message)))
        result.terms += len(tokens)
        if rows[ref.record_id].label == LABEL_REVIEW:
            result.review_items += 1
        else:
            result.records += 1
    archive.catalog.add_index(entries)
    archive.catalog.set_copy_refs(copies)  # rows written before copies were matched (report gaps)
    result.segments += 1
