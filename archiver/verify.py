"""``archiver verify``: recheck the store against the catalog, every envelope, and the audit chain."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from archiver import segments
from archiver.archive import Archive
from archiver.audit import verify_chain
from archiver.envelope import open_sealed
from archiver.errors import IntegrityError
from archiver.ingest import REVIEW_PREFIX, SEGMENT_PREFIX
from archiver.records import LABEL_REVIEW, read_document

SEALED_PREFIXES = ("att/", "quarantine/")


@dataclass
class VerifyReport:
    """What was checked and what is wrong; empty ``problems`` means the archive is sound."""

    segments: int = 0
    frames: int = 0
    review_frames: int = 0
    objects: int = 0
    records: int = 0
    audit_entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "segments": self.segments, "frames": self.frames,
                "review_frames": self.review_frames, "objects": self.objects,
                "records": self.records,
                "audit_entries": self.audit_entries, "problems": self.problems}


def verify(archive: Archive) -> VerifyReport:
    """Walk every segment and frame, open every envelope, and compare with the catalog."""
    report = VerifyReport()
    stored = _check_store(archive, report, SEGMENT_PREFIX)
    report.segments, report.frames = len({where[0] for where in stored.values()}), len(stored)
    _check_catalog(archive, stored, report)
    in_review = _check_store(archive, report, REVIEW_PREFIX)
    report.review_frames = len(in_review)
    _check_review_queue(archive, in_review, report)
    _check_sealed_objects(archive, report)
    entries = list(archive.catalog.audit_entries())
    report.audit_entries = len(entries)
    report.problems.extend(verify_chain(entries))
    return report


def _check_store(archive: Archive, report: VerifyReport, prefix: str) -> dict[str, tuple[str, int, int]]:
    """Every frame under ``prefix``: record id -> (segment, offset, length); duplicates reported."""
    seen: dict[str, tuple[str, int, int]] = {}
    copies: Counter[str] = Counter()
    for name in archive.store.list(prefix):
        try:
            for ref, envelope in segments.iter_frames(archive.store.get(name), name):
                copies[ref.record_id] += 1
                seen[ref.record_id] = (name, ref.offset, ref.length)
                open_sealed(archive.keys, ref.record_id, envelope)
        except IntegrityError as exc:
            report.problems.append(str(exc))
    report.problems.extend(f"record {rid} is stored {n} times" for rid, n in copies.items() if n > 1)
    return seen


def _check_catalog(archive: Archive, stored: dict[str, tuple[str, int, int]], report: VerifyReport) -> None:
    catalogued = set()
    disposed = {s.name for s in archive.catalog.segments() if s.disposed_at is not None}
    for row in archive.catalog.rows(label="record"):
        report.records += 1
        catalogued.add(row.id)
        where = stored.get(row.id)
        if row.segment in disposed:
            if where is not None:
                report.problems.append(f"record {row.id} was disposed of with {row.segment} but is still stored")
        elif where is None:
            report.problems.append(f"record {row.id} is in the catalog but not in the store")
        elif where != (row.segment, row.offset, row.length):
            report.problems.append(f"record {row.id}: catalog points to {row.segment}@{row.offset}, "
                                   f"store has it at {where[0]}@{where[1]}")
        else:
            _check_frame_read_alone(archive, row.id, where, report)
    for record_id in sorted(set(stored) - catalogued):
        report.problems.append(f"record {record_id} is in the store ({stored[record_id][0]}) but not in the catalog")
    for name in archive.catalog.pending_segments():
        report.problems.append(f"segment {name} was begun but never committed; the next ingest recovers it")


def _check_review_queue(archive: Archive, stored: dict[str, tuple[str, int, int]], report: VerifyReport) -> None:
    """Items awaiting review must be readable where the catalog says. Frames of items already
    decided stay in their review segment until it expires, so they are not an error."""
    for row in archive.catalog.rows(label=LABEL_REVIEW):
        where = stored.get(row.id)
        if where is None or where != (row.segment, row.offset, row.length):
            report.problems.append(f"review item {row.id} is not in the store where the catalog says")
        else:
            _check_frame_read_alone(archive, row.id, where, report)


def _check_frame_read_alone(archive: Archive, record_id: str, where: tuple[str, int, int],
                            report: VerifyReport) -> None:
    """The catalog's offset and length alone must yield the record (that is how it is retrieved)."""
    try:
        document = read_document(archive, record_id, *where)
    except (IntegrityError, ValueError) as exc:
        report.problems.append(f"record {record_id}: cannot be read at its catalogued place ({exc})")
        return
    if document.record_id != record_id:
        report.problems.append(f"record {record_id}: its frame holds the document of {document.record_id}")


def _check_sealed_objects(archive: Archive, report: VerifyReport) -> None:
    """Attachments and quarantined exports are sealed under their own key names: open each."""
    for prefix in SEALED_PREFIXES:
        for key in archive.store.list(prefix):
            report.objects += 1
            try:
                open_sealed(archive.keys, key, archive.store.get(key))
            except IntegrityError as exc:
                report.problems.append(str(exc))
