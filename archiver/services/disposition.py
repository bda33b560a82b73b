"""Disposition and legal holds: destroying what its schedule allows, and nothing a hold covers.

Records are destroyed a segment at a time: a segment holds the records of one custodian with
one schedule item and one disposition date, so they fall due together. A segment is
destroyed only when its disposition date has passed, its schedule item says "destroy" (a
permanent segment only once NARA has accepted legal custody of its transfer), and no active legal hold
covers any of its records. The store enforces the same rule on its side (Object Lock
retain-until and legal hold): the catalog deciding wrongly could not destroy a record early.

A legal hold names a custodian (or all) and a range of sending dates. Placing it puts a
store legal hold on every segment holding a covered record, and on those records'
attachments; releasing it lifts them where no other active hold still covers them. Every
placement, release and destruction is an audit entry naming the records by id. A hold row is
never deleted: release, which is audited, is the only way a hold stops covering records.
Releasing never lifts the store legal hold of records still waiting on their cutoff event:
that legal hold is what keeps them until the event (see ``waiting_objects``).

Each of these acts runs under the archive's writer lock (so no ingest can slip a segment in
while a hold is placed, and two runs never act twice) and is noted as an intent in the catalog
before the store is touched. The intent is cleared in the transaction that writes the act's
audit entry; a run killed in between leaves it, and the next writer finishes the act first
(``finish_intents``): a destruction is always audited, a hold half placed or released is
completed. Records archived while a hold is active are written to the store already held.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from archiver.core.custodians import find_custodian
from archiver.core.events import Event, waits_on_event
from archiver.core.retention import Action, ScheduleSet, load_schedules
from archiver.errors import ConfigError, ObjectNotFoundError, RetentionError, UsageError
from archiver.model import canonical_json, day_start, parse_instant, utc_iso
from archiver.services.access import authorize, reason_detail, reason_text, sealed_reason
from archiver.services.segment_writing import active_holds, recover
from archiver.services.transfer_state import ACCEPTED, kept_reason, transfers_by_segment
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import HoldRow, SegmentRow
from archiver.storage.catalog.base import RecordPlace, hold_from_json, hold_json
from archiver.storage.records import SCHEDULE_REVIEW, RecordDocument, segment_documents
from archiver.storage.sealed_facts import manifest_attachments

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
    refused: dict[str, str] = field(default_factory=dict)  # segment -> the store's refusal

    def to_json(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "dry_run": self.dry_run,
                "segments_disposed": [s.name for s in self.disposed], "records_disposed": self.records_disposed,
                "held": self.held, "not_destroyed": self.not_destroyed, "refused": self.refused}


@contextmanager
def writing(archive: Archive, now: datetime) -> Iterator[None]:
    """Hold the archive's writer lock, after finishing what a killed run left (segments, intents)."""
    with archive.catalog.exclusive():
        recover(archive, now)
        finish_intents(archive, now)
        yield


def dispose_due(archive: Archive, now: datetime, actor: str, dry_run: bool = False,
                schedules: ScheduleSet | None = None) -> DispositionResult:
    """Destroy every segment whose disposition date has passed and that no hold covers
    (``dry_run``: only say what would be destroyed). Schedules default to the configured ones.
    A segment the store refuses to delete is reported in ``refused`` and the run goes on."""
    authorize(archive, actor, "records-officer", "dispose of records", now)
    schedules = schedules or load_schedules(archive.settings.schedules)
    with nullcontext() if dry_run else writing(archive, now):
        return destroy_due(archive, now, actor, schedules, due_segments(archive.catalog.segments(), now.date()),
                           dry_run)


def destroy_due(archive: Archive, now: datetime, actor: str, schedules: ScheduleSet, segments: list[SegmentRow],
                dry_run: bool = False, progress: Callable[[int], None] | None = None) -> DispositionResult:
    """Destroy those of ``segments`` whose schedule and the holds active now allow (call under
    the writer lock unless ``dry_run``); each date is the caller's to have checked. ``progress``
    is called with each segment's record count once the segment is dealt with."""
    result = DispositionResult(now.date(), dry_run)
    holds = active_holds(archive)
    transferred = transfers_by_segment(archive)
    for segment in segments:
        rows = _destroyable_rows(archive, segment, schedules, holds, transferred.get(segment.name), result)
        if rows is None:
            continue
        refusal = None if dry_run else _destroy(archive, segment, rows, actor, now)
        if progress is not None:
            progress(segment.count)
        if refusal is not None:
            result.refused[segment.name] = refusal
            continue
        result.disposed.append(segment)
        result.records_disposed += len(rows)
    return result


def _destroyable_rows(archive: Archive, segment: SegmentRow, schedules: ScheduleSet, holds: list[HoldRow],
                      transfer: dict[str, Any] | None, result: DispositionResult) -> list[Any] | None:
    """The segment's rows if its schedule (or NARA's acceptance of its ``transfer``) and the holds
    allow destroying it, else None (noted in ``result``)."""
    action = _action(schedules, segment.schedule)
    if action == Action.TRANSFER and (transfer is None or transfer["state"] != ACCEPTED):
        result.not_destroyed[segment.name] = kept_reason(transfer)
        return None
    if segment.schedule == SCHEDULE_REVIEW:
        result.not_destroyed[segment.name] = ("the review queue: uncertain nonrecords waiting for a records "
                                              "officer's decision ('archiver review list')")
        return None
    if action not in (Action.DESTROY, Action.TRANSFER):
        result.not_destroyed[segment.name] = (f"schedule item {segment.schedule} says {action}" if action
                                              else f"schedule item {segment.schedule} is not configured")
        return None
    rows = list(archive.catalog.segment_rows(segment.name))
    covering = sorted({h.name for h in holds for r in rows if h.covers(r.custodian, r.sent_at)})
    if covering:
        result.held[segment.name] = covering
        return None
    if _locked_indefinitely(archive, segment.name):
        result.not_destroyed[segment.name] = (f"locked indefinitely by an earlier version; due {segment.retain_until}, "
                                              "but a store lock is never shortened")
        return None
    return rows


def _locked_indefinitely(archive: Archive, key: str) -> bool:
    """Whether the store locks ``key`` indefinitely (as versions before event cutoffs wrote the
    records waiting on an event); a missing object is left to the store's refusal to delete it."""
    try:
        return archive.store.retention(key).retain_until is None
    except ObjectNotFoundError:
        return False


def _destroy(archive: Archive, segment: SegmentRow, rows: list[Any], actor: str, now: datetime) -> str | None:
    """Destroy one segment (intent first, then the store, then the catalog); the store's refusal, if any."""
    documents = _documents(archive, segment.name, rows)
    attachments = _attachment_objects(documents)
    detail = {"segment": segment.name, "schedule": segment.schedule, "custodian": segment.custodian,
              "retain_until": segment.retain_until.isoformat() if segment.retain_until else None,
              "records": [r.id for r in rows], "attachments": len(attachments)}
    intent = ACTION_DISPOSE + "/" + segment.name
    # The tokens to take out of the index, read while the frames exist (keyed hashes, never text).
    document = {"actor": actor, "at": utc_iso(now), "detail": detail, "attachment_keys": attachments,
                "keywords": pack_keywords({d.record_id: archive.index_tokens(d.message) for d in documents})}
    archive.catalog.begin_intent(intent, document)
    try:
        archive.store.delete(segment.name, now.date())
    except (RetentionError, ObjectNotFoundError) as exc:
        archive.catalog.drop_intent(intent)  # nothing was destroyed: the act did not happen
        return str(exc)
    _finish_dispose(archive, intent, document)
    return None


def _finish_dispose(archive: Archive, intent: str, document: dict[str, Any]) -> None:
    """The rest of a destruction whose segment is gone: attachments, then catalog and audit together."""
    at = parse_instant(document["at"])
    for key in document["attachment_keys"]:
        _delete_if_allowed(archive, key, at.date())  # another record may still need it: the store keeps it
    archive.catalog.mark_disposed(document["detail"]["segment"], at, AuditEvent(
        actor=document["actor"], action=ACTION_DISPOSE, at=at, detail=document["detail"]), intent=intent,
        keywords=list(unpack_keywords(document.get("keywords")).items()))  # none in an older run's intent


def due_segments(segments: Iterable[SegmentRow], today: date) -> list[SegmentRow]:
    """Segments not yet destroyed whose disposition date has come."""
    return [s for s in segments if s.disposed_at is None and s.retain_until is not None and s.retain_until <= today]


def place_hold(archive: Archive, hold: HoldRow) -> list[str]:
    """Record a hold and put a store legal hold on every segment (and attachment) it covers.
    The custodian may be named by id, name or alias; one the archive does not know is refused."""
    authorize(archive, hold.placed_by, "records-officer", "place holds", hold.placed_at)
    with writing(archive, hold.placed_at):
        if any(h.name == hold.name for h in archive.catalog.holds()):
            raise UsageError(f"a hold named {hold.name!r} already exists; holds are never reused")
        if hold.start and hold.end and hold.start > hold.end:
            raise UsageError(f"hold {hold.name}: --from {hold.start} is after --to {hold.end}")
        if hold.custodian is not None:
            hold = replace(hold, custodian=resolve_custodian(archive, hold.custodian))
        hold = replace(hold, reason=sealed_reason(archive, hold.reason))
        intent = ACTION_HOLD + "/" + hold.name
        archive.catalog.begin_intent(intent, {"hold": hold_json(hold)})
        return _finish_place(archive, intent, hold)


def _finish_place(archive: Archive, intent: str, hold: HoldRow) -> list[str]:
    """Hold every covered object in the store, then record the hold with its audit entry."""
    segments, records = [], 0
    for name, rows in _covered_segments(archive, [hold]):
        for key in (name, *attachment_keys(archive, name, rows)):
            archive.store.set_legal_hold(key, True)
        segments.append(name)
        records += len(rows)
    archive.catalog.put_hold(hold, AuditEvent(
        actor=hold.placed_by, action=ACTION_HOLD, at=hold.placed_at, case_id=hold.name,
        detail={"hold": hold.name, "reason": reason_detail(hold.reason), "custodian": hold.custodian,
                "from": hold.start.isoformat() if hold.start else None,
                "to": hold.end.isoformat() if hold.end else None,
                "segments": sorted(segments), "records": records}), intent=intent)
    return sorted(segments)


def hold_view(archive: Archive, hold: HoldRow) -> dict[str, str | None]:
    """A hold as its records officer reads it (``hold_json``, its reasons opened)."""
    return {**hold_json(hold), "reason": reason_text(archive, hold.reason),
            "release_reason": reason_text(archive, hold.release_reason)}


def release_hold(archive: Archive, name: str, actor: str, reason: str, now: datetime) -> list[str]:
    """Release a hold; lift the store legal hold of each object no other active hold still needs."""
    authorize(archive, actor, "records-officer", "release holds", now)
    with writing(archive, now):
        hold = next((h for h in archive.catalog.holds() if h.name == name), None)
        if hold is None:
            raise UsageError(f"no hold named {name!r}")
        if not hold.active:
            raise UsageError(f"hold {name!r} was already released on {hold.released_at:%Y-%m-%d}")
        released = replace(hold, released_at=now, released_by=actor, release_reason=sealed_reason(archive, reason))
        intent = ACTION_RELEASE + "/" + name
        archive.catalog.begin_intent(intent, {"hold": hold_json(released)})
        return _finish_release(archive, intent, released, actor, now)


def _finish_release(archive: Archive, intent: str, released: HoldRow, actor: str, at: datetime) -> list[str]:
    """Lift store holds object by object (a segment or an attachment stays held while any record
    needing it is covered by another active hold), then record the release with its audit entry."""
    others = [h for h in active_holds(archive) if h.name != released.name]
    needed = held_objects(archive, others, load_schedules(archive.settings.schedules))
    covered = covered_objects(archive, [replace(released, released_at=None)])
    for keys in covered.values():
        for key in keys:
            if key not in needed:
                archive.store.set_legal_hold(key, False)
    lifted = sorted(segment for segment in covered if segment not in needed)
    archive.catalog.put_hold(released, AuditEvent(
        actor=actor, action=ACTION_RELEASE, at=at, case_id=released.name,
        detail={"hold": released.name, "reason": reason_detail(released.release_reason),
                "segments_released": lifted}), intent=intent)
    return lifted


def finish_intents(archive: Archive, now: datetime) -> int:
    """Finish the acts a killed run began (call under the writer lock): dispositions, holds and
    events; how many there were.
    Each is rolled forward: a disposition whose segment the store still refuses is dropped."""
    intents = archive.catalog.intents()
    for name, document in sorted(intents.items()):
        kind = name.split("/", 1)[0]
        if kind == ACTION_DISPOSE:
            _resume_dispose(archive, name, document)
        elif kind == ACTION_HOLD:
            _finish_place(archive, name, hold_from_json(document["hold"]))
        elif kind == ACTION_RELEASE:
            hold = hold_from_json(document["hold"])
            _finish_release(archive, name, hold, hold.released_by or "", hold.released_at or now)
        elif kind == "event-record":
            # Imported here: recording an event runs under this module's writer lock.
            from archiver.services.events import finish_event
            finish_event(archive, name, Event.from_json(document["event"]))
    return len(intents)


def _resume_dispose(archive: Archive, intent: str, document: dict[str, Any]) -> None:
    segment = document["detail"]["segment"]
    if archive.store.exists(segment):  # killed before the store delete
        try:
            archive.store.delete(segment, parse_instant(document["at"]).date())
        except RetentionError:
            archive.catalog.drop_intent(intent)
            return
    _finish_dispose(archive, intent, document)


def resolve_custodian(archive: Archive, text: str) -> str:
    """The custodian id ``text`` names: a registered custodian's id, name or alias, or the id
    records were ingested under; ``UsageError`` for anyone else (a hold on them would cover nothing)."""
    registered = find_custodian(archive.catalog.custodians(), text)
    if registered is not None:
        return registered.id
    if any(s.custodian == text for s in archive.catalog.segments()):
        return text
    raise UsageError(f"custodian {text!r} is not registered (by id, name or alias) and has no records here; "
                     "see 'archiver custodian list'")


def covered_objects(archive: Archive, holds: list[HoldRow]) -> dict[str, list[str]]:
    """Per segment (not yet destroyed) holding a record any of ``holds`` covers: the segment's
    key and the keys of its records' attachments, every object those records need."""
    return {name: [name, *attachment_keys(archive, name, rows)]
            for name, rows in _covered_segments(archive, holds)}


def waiting_objects(archive: Archive, schedules: ScheduleSet) -> dict[str, list[str]]:
    """Per segment (not yet destroyed) waiting on its cutoff event: the segment's key and its
    records' attachments, which the store's legal hold keeps until the event is recorded."""
    return {s.name: [s.name, *attachment_keys(archive, s.name, list(archive.catalog.segment_rows(s.name)))]
            for s in archive.catalog.segments() if s.disposed_at is None and s.retain_until is None
            and (item := schedules.by_id.get(s.schedule)) is not None and waits_on_event(item)}


def held_objects(archive: Archive, holds: list[HoldRow], schedules: ScheduleSet) -> set[str]:
    """The objects the store must keep under legal hold: those ``holds`` cover, and those of
    segments waiting on their cutoff event."""
    return {key for objects in (covered_objects(archive, holds), waiting_objects(archive, schedules))
            for keys in objects.values() for key in keys}


def _covered_segments(archive: Archive, holds: list[HoldRow]) -> Iterator[tuple[str, list[RecordPlace]]]:
    """Segments (not yet destroyed) holding a record any of ``holds`` covers, each with the places
    of its rows, one at a time (the rows of every covered segment at once grew with the archive)."""
    if not holds:
        return
    # Only segments with a row sent within a day of some hold's span can hold a covered record
    # (the margin keeps any reading of a day's bounds inside); each is then checked row by row.
    near = set().union(*(archive.catalog.segments_sent_between(
        hold.custodian, day_start(hold.start, -1) if hold.start else None,
        day_start(hold.end, 2) if hold.end else None) for hold in holds))
    for segment in archive.catalog.segments():
        if segment.disposed_at is not None or segment.name not in near:
            continue
        places = list(archive.catalog.segment_places(segment.name))
        if any(h.covers(p.custodian, p.sent_at) for h in holds for p in places):
            yield segment.name, places


def attachment_keys(archive: Archive, segment: str, rows: list[Any]) -> list[str]:
    """The attachment objects of a segment's records: as its sealed manifest lists them, one read
    for the segment (a hold over a million records read a million documents, each a ranged read
    on S3), and from the sealed documents of records the manifest does not list."""
    placed = [row for row in rows if row.offset is not None and row.length is not None]
    listed = manifest_attachments(archive, segment) if placed else {}
    keys = {key for row in placed if row.id in listed for key in listed[row.id]}
    keys.update(_attachment_objects(_documents(archive, segment, [row for row in placed if row.id not in listed])))
    return sorted(keys)


def _documents(archive: Archive, segment: str, rows: list[Any]) -> list[RecordDocument]:
    return [document for _, document in segment_documents(archive, segment, rows)]


def _attachment_objects(documents: list[RecordDocument]) -> list[str]:
    return sorted({k for document in documents for k in document.data.get("attachment_objects", []) if k})


def pack_keywords(keywords: dict[str, list[str]]) -> str:
    """Records' blind-index tokens, compact for an intent document (a DynamoDB item holds 400 KB):
    each distinct token once, records by position, compressed."""
    tokens = sorted({t for found in keywords.values() for t in found})
    place = {token: n for n, token in enumerate(tokens)}
    packed = {"tokens": tokens, "records": {i: [place[t] for t in found] for i, found in keywords.items()}}
    return base64.b64encode(zlib.compress(canonical_json(packed), 9)).decode("ascii")


def unpack_keywords(text: str | None) -> dict[str, list[str]]:
    """What ``pack_keywords`` packed (nothing for None)."""
    if text is None:
        return {}
    packed = json.loads(zlib.decompress(base64.b64decode(text)))
    return {i: [packed["tokens"][n] for n in found] for i, found in packed["records"].items()}


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
