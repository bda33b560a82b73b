"""Recording events (end of tenure, case closed, superseded) and what they move.

An event fixes the cutoff of the records waiting on it, so their disposition dates become known.
Dates only ever move later: a record that already has a date keeps the later of the two, and the
store's retention is extended, never shortened. A segment waiting on its event is stored with no
lock but under the store's legal hold (see ``store_terms``): the event extends its retention to
the new date, and only then lifts that legal hold, unless an active hold still covers the segment.
A segment an earlier version locked indefinitely stays so in the store. The catalog's dates are
checked by ``verify`` against sealed facts, so each segment whose dates move gets a sealed
amendment in the store (``amend/<segment>/<event>``) that ``verify`` reads after the segment's
manifest: a hand edit of a date in the catalog is still reported, a date moved by an event is not.

Like holds, recording an event is noted as an intent before the store is touched and finished
by the next writer if the run is killed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from archiver.core.events import EVENT_DOCUMENT, Event, event_day, events_from, later_date
from archiver.core.retention import ScheduleItem, ScheduleSet, disposition_date, load_schedules
from archiver.errors import ObjectExistsError, UsageError
from archiver.model import canonical_json
from archiver.services.access import authorize, sealed
from archiver.services.disposition import attachment_keys, held_objects, resolve_custodian, writing
from archiver.services.segment_writing import active_holds
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import SegmentRow
from archiver.storage.envelope import seal
from archiver.storage.store.base import later

ACTION_EVENT = "event-record"
AMEND_PREFIX = "amend/"
AMENDMENT_FORMAT = "archiver-segment-amendment"


@dataclass
class EventResult:
    """What recording one event moved: per segment, how many records got a (later) date."""

    event: Event
    segments: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(self.segments.values())

    def to_json(self) -> dict[str, Any]:
        return {**self.event.to_json(), "segments": self.segments, "records_dated": self.records}


def new_event_name(kind: str, now: datetime) -> str:
    """A name that sorts events in the order recorded and is a valid store key part."""
    return f"{now:%Y%m%dt%H%M%S}-{kind}-{secrets.token_hex(3)}"


def record_event(archive: Archive, event: Event, reason: str | None = None,
                 schedules: ScheduleSet | None = None) -> EventResult:
    """Record ``event`` (records officers; audited) and date the records waiting on it."""
    at = event.recorded_at
    authorize(archive, event.recorded_by, "records-officer", "record events", at)
    schedules = schedules or load_schedules(archive.settings.schedules)
    _check_schedules(event, schedules)
    with writing(archive, at):
        custodians = tuple(resolve_custodian(archive, c) for c in event.custodians)
        event = replace(event, custodians=custodians, reason=sealed(archive, {"reason": reason}) if reason else None)
        intent = ACTION_EVENT + "/" + event.name
        archive.catalog.begin_intent(intent, {"event": event.to_json()})
        return finish_event(archive, intent, event, schedules)


def finish_event(archive: Archive, intent: str, event: Event, schedules: ScheduleSet | None = None) -> EventResult:
    """Amend, extend and re-date every segment the event covers, then file the event with its
    audit entry (idempotent: a killed run is finished by running this again)."""
    schedules = schedules or load_schedules(archive.settings.schedules)
    events = [*events_from(archive.catalog.documents(EVENT_DOCUMENT)), event]
    result = EventResult(event)
    covered = [(s, item) for s in archive.catalog.segments() if s.disposed_at is None
               and (item := schedules.by_id.get(s.schedule)) is not None and event.covers(s.custodian, item)]
    for segment, item in covered:
        moved = _date_segment(archive, segment, item, event_day(events, segment.custodian, item), event.name)
        if moved:
            result.segments[segment.name] = moved
    _lift_waiting_holds(archive, [segment.name for segment, _ in covered], schedules)
    if event.name not in archive.catalog.documents(EVENT_DOCUMENT):
        detail = {k: v for k, v in result.to_json().items() if k not in ("name", "recorded_at", "recorded_by")}
        archive.catalog.put_document(EVENT_DOCUMENT, event.name, event.to_json(), AuditEvent(
            actor=event.recorded_by, action=ACTION_EVENT, at=event.recorded_at, detail=detail,
            case_id=event.case))
    archive.catalog.drop_intent(intent)
    return result


def list_events(archive: Archive, actor: str, now: datetime) -> list[Event]:
    """Every recorded event, oldest first (records officers and admins)."""
    authorize(archive, actor, ("records-officer", "admin"), "list events", now)
    return events_from(archive.catalog.documents(EVENT_DOCUMENT))


def amendment_key(segment: str, event_name: str) -> str:
    """Where the amendment ``event_name`` made to ``segment`` is kept."""
    return f"{AMEND_PREFIX}{segment}/{event_name}"


def _check_schedules(event: Event, schedules: ScheduleSet) -> None:
    for item_id in event.schedules:
        item = schedules.get(item_id)
        if item.event != event.kind.value:
            raise UsageError(f"schedule item {item_id} is not cut off by a {event.kind.value} event "
                             f"(its cutoff: {item.cutoff.value}{' ' + item.event if item.event else ''})")


def _date_segment(archive: Archive, segment: SegmentRow, item: ScheduleItem, day: date | None, event: str) -> int:
    """Move the dates of one segment's records (later only); how many moved."""
    rows = list(archive.catalog.segment_rows(segment.name))
    dates = {row.id: later_date(row.disposition_date, disposition_date(item, row.sent_at, day)) for row in rows}
    moved = {row.id: dates[row.id] for row in rows if dates[row.id] != row.disposition_date}
    if not moved:
        return 0
    latest = max(when for when in dates.values() if when is not None)
    # A waiting segment (no date in the catalog) takes the new date; a dated one the later of the two.
    retain_until = latest if segment.retain_until is None else later(segment.retain_until, latest)
    key = amendment_key(segment.name, event)
    document = {"format": AMENDMENT_FORMAT, "version": 1, "segment": segment.name, "event": event,
                "retain_until": retain_until.isoformat() if retain_until else None,
                "records": {record_id: when.isoformat() if when else None for record_id, when in moved.items()}}
    try:
        archive.store.put(key, seal(archive.keys, key, canonical_json(document)), retain_until)
    except ObjectExistsError:
        pass  # written by the run that was killed
    if retain_until is not None:
        for name in (segment.name, *attachment_keys(archive, segment.name, rows)):
            archive.store.extend_retention(name, retain_until)  # an indefinite lock stays indefinite
    archive.catalog.set_dispositions(segment.name, retain_until, moved)
    return len(moved)


def _lift_waiting_holds(archive: Archive, names: list[str], schedules: ScheduleSet) -> None:
    """Lift the store legal hold that kept the now dated ``names`` until their event (after their
    retention was set: a killed run lifts them when finished), except on objects an active hold or
    a segment still waiting on an event needs."""
    wanted = set(names)
    segments = [s for s in archive.catalog.segments() if s.name in wanted and s.retain_until is not None]
    if not segments:
        return
    needed = held_objects(archive, active_holds(archive), schedules)
    for segment in segments:
        rows = list(archive.catalog.segment_rows(segment.name))
        for key in (segment.name, *attachment_keys(archive, segment.name, rows)):
            if key not in needed:
                archive.store.set_legal_hold(key, False)
