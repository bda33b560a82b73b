"""Disposition and legal holds: destroying what its schedule allows, and nothing a hold covers.

Records are destroyed a segment at a time: a segment holds the records of one custodian with
one schedule item and one disposition date, so they fall due together. A segment is
destroyed only when its disposition date has passed, its schedule item says "destroy"
(permanent records are transferred to NARA, never destroyed here), and no active legal hold
covers any of its records. The store enforces the same rule on its side (Object Lock
retain-until and legal hold): the catalog deciding wrongly could not destroy a record early.

A legal hold names a custodian (or all) and a range of sending dates. Placing it puts a
store legal hold on every segment holding a covered record, and on those records'
attachments; releasing it lifts them where no other active hold still covers them. Every
placement, release and destruction is an audit entry naming the records by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from archiver.archive import Archive
from archiver.audit import AuditEvent
from archiver.catalog import HoldRow, SegmentRow
from archiver.errors import ConfigError, ObjectNotFoundError, RetentionError, UsageError
from archiver.records import read_document
from archiver.retention import Action, ScheduleSet, load_schedules

ACTION_DISPOSE = "dispose"
ACTION_HOLD = "hold-place"
ACTION_RELEASE = "hold-release"


@dataclass
class DispositionResult:
    """What one disposition run found and did."""

    today: date
    dry_run: bool
    disposed: list[SegmentRow] = field(default_factory=list)
    records_disposed: int = 0
    held: dict[str, list[str]] = field(default_factory=dict)  # segment -> the holds that cover it
    not_destroyed: dict[str, str] = field(default_factory=dict)  # segment -> why (transfer, review)

    def to_json(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "dry_run": self.dry_run,
                "segments_disposed": [s.name for s in self.disposed], "records_disposed": self.records_disposed,
                "held": self.held, "not_destroyed": self.not_destroyed}


def dispose_due(archive: Archive, now: datetime, actor: str, dry_run: bool = False,
                schedules: ScheduleSet | None = None) -> DispositionResult:
    """Destroy every segment whose disposition date has passed and that no hold covers
    (``dry_run``: only say what would be destroyed). Schedules default to the configured ones."""
    schedules = schedules or load_schedules(archive.settings.schedules)
    today = now.date()
    result = DispositionResult(today, dry_run)
    holds = [h for h in archive.catalog.holds() if h.active]
    for segment in due_segments(archive.catalog.segments(), today):
        action = _action(schedules, segment.schedule)
        if action != Action.DESTROY:
            result.not_destroyed[segment.name] = (f"schedule item {segment.schedule} says {action}" if action
                                                  else f"schedule item {segment.schedule} is not configured")
            continue
        rows = list(archive.catalog.segment_rows(segment.name))
        covering = sorted({h.name for h in holds for r in rows if h.covers(r.custodian, r.sent_at.date())})
        if covering:
            result.held[segment.name] = covering
            continue
        result.disposed.append(segment)
        result.records_disposed += len(rows)
        if dry_run:
            continue
        attachments = _attachment_keys(archive, segment.name, rows)
        archive.store.delete(segment.name, today)
        for key in attachments:
            _delete_if_allowed(archive, key, today)  # another record may still need it: the store keeps it
        archive.catalog.mark_disposed(segment.name, now, AuditEvent(
            actor=actor, action=ACTION_DISPOSE, at=now,
            detail={"segment": segment.name, "schedule": segment.schedule, "custodian": segment.custodian,
                    "retain_until": segment.retain_until.isoformat() if segment.retain_until else None,
                    "records": [r.id for r in rows], "attachments": len(attachments)}))
    return result


def due_segments(segments: Iterable[SegmentRow], today: date) -> list[SegmentRow]:
    """Segments not yet destroyed whose disposition date has come."""
    return [s for s in segments if s.disposed_at is None and s.retain_until is not None and s.retain_until <= today]


def place_hold(archive: Archive, hold: HoldRow) -> list[str]:
    """Record a hold and put a store legal hold on every segment (and attachment) it covers."""
    if any(h.name == hold.name for h in archive.catalog.holds()):
        raise UsageError(f"a hold named {hold.name!r} already exists; holds are never reused")
    if hold.start and hold.end and hold.start > hold.end:
        raise UsageError(f"hold {hold.name}: --from {hold.start} is after --to {hold.end}")
    segments = _covered_segments(archive, [hold])
    for name, rows in segments.items():
        for key in (name, *_attachment_keys(archive, name, rows)):
            archive.store.set_legal_hold(key, True)
    archive.catalog.put_hold(hold, AuditEvent(
        actor=hold.placed_by, action=ACTION_HOLD, at=hold.placed_at, case_id=hold.name,
        detail={"hold": hold.name, "reason": hold.reason, "custodian": hold.custodian,
                "from": hold.start.isoformat() if hold.start else None,
                "to": hold.end.isoformat() if hold.end else None,
                "segments": sorted(segments), "records": sum(len(r) for r in segments.values())}))
    return sorted(segments)


def release_hold(archive: Archive, name: str, actor: str, reason: str, now: datetime) -> list[str]:
    """Release a hold; lift store legal holds where no other active hold still covers the records."""
    holds = archive.catalog.holds()
    hold = next((h for h in holds if h.name == name), None)
    if hold is None:
        raise UsageError(f"no hold named {name!r}")
    if not hold.active:
        raise UsageError(f"hold {name!r} was already released on {hold.released_at:%Y-%m-%d}")
    others = [h for h in holds if h.active and h.name != name]
    released = replace(hold, released_at=now, released_by=actor, release_reason=reason)
    still_held = _covered_segments(archive, others)
    lifted = []
    for segment, rows in _covered_segments(archive, [hold]).items():
        if segment in still_held:
            continue
        for key in (segment, *_attachment_keys(archive, segment, rows)):
            archive.store.set_legal_hold(key, False)
        lifted.append(segment)
    archive.catalog.put_hold(released, AuditEvent(
        actor=actor, action=ACTION_RELEASE, at=now, case_id=name,
        detail={"hold": name, "reason": reason, "segments_released": sorted(lifted)}))
    return sorted(lifted)


def _covered_segments(archive: Archive, holds: list[HoldRow]) -> dict[str, list[Any]]:
    """Segments (not yet destroyed) holding a record any of ``holds`` covers, with their rows."""
    covered: dict[str, list[Any]] = {}
    if not holds:
        return covered
    for segment in archive.catalog.segments():
        if segment.disposed_at is not None or (all(h.custodian not in (None, segment.custodian) for h in holds)):
            continue
        rows = list(archive.catalog.segment_rows(segment.name))
        if any(h.covers(r.custodian, r.sent_at.date()) for h in holds for r in rows):
            covered[segment.name] = rows
    return covered


def _attachment_keys(archive: Archive, segment: str, rows: list[Any]) -> list[str]:
    """The attachment objects of a segment's records, read from their sealed documents."""
    keys: set[str] = set()
    for row in rows:
        if row.offset is None or row.length is None:
            continue
        document = read_document(archive, row.id, segment, row.offset, row.length)
        keys.update(k for k in document.data.get("attachment_objects", []) if k)
    return sorted(keys)


def _delete_if_allowed(archive: Archive, key: str, today: date) -> None:
    try:
        archive.store.delete(key, today)
    except (RetentionError, ObjectNotFoundError):
        pass  # kept longer for a record with a later date or under hold, or already gone


def _action(schedules: ScheduleSet, schedule: str) -> Action | None:
    try:
        return schedules.get(schedule).action
    except ConfigError:
        return None  # an item not configured (or the review queue) is never destroyed on a guess
