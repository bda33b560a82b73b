"""Transfer of permanent records to NARA: the plan, NARA's acceptance, and the list of transfers.

``make_transfer_plan`` changes nothing: it lists every segment filed under an item whose action
is transfer and whose transfer date (cutoff plus retention: the segment's retain-until) has
come, and what is kept back and why (a legal hold: a frozen record is neither destroyed nor
transferred; not yet due; already transferred). Like a disposal plan it carries the state it
was made from and a digest, so ``transfer export`` (``transfer_bag``) refuses a stale or edited
plan. ``confirm`` records that NARA accepted legal custody (accession number, date, sealed
reason): from then on a disposal plan lists the agency's copies as eligible.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from archiver.core.retention import Action, ScheduleSet, load_schedules
from archiver.errors import ConfigError, UsageError
from archiver.model import utc_iso
from archiver.services.access import authorize, sealed
from archiver.services.disposal_plan import plan_digest, plan_state, segment_entry
from archiver.services.disposition import writing
from archiver.services.segment_writing import active_holds
from archiver.services.transfer_state import (
    ACCEPTED,
    EXPORTED,
    TRANSFER,
    TRANSFER_PLAN_KIND,
    transfers,
    transfers_by_segment,
)
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import HoldRow, SegmentRow

ACTION_CONFIRM = "transfer-confirm"


def make_transfer_plan(archive: Archive, as_of: date, actor: str, now: datetime) -> dict[str, Any]:
    """The transfer plan for ``as_of``: segments due for transfer with their records, those kept
    back with why, the state fingerprint and the plan's digest. Changes nothing."""
    authorize(archive, actor, "records-officer", "plan a transfer to NARA", now)
    schedules = load_schedules(archive.settings.schedules)
    holds = active_holds(archive)
    done = transfers_by_segment(archive)
    eligible, kept = [], []
    for segment in archive.catalog.segments():
        if segment.disposed_at is not None or not _transfers(schedules, segment):
            continue
        why = _kept_back(archive, segment, holds, done.get(segment.name), as_of)
        if why is not None:
            kept.append({"segment": segment.name, "reason": why})
            continue
        entry = segment_entry(archive, segment, schedules, None)
        eligible.append({**entry, "transfer_date": entry.pop("retain_until")})
    plan = {"kind": TRANSFER_PLAN_KIND, "as_of": as_of.isoformat(), "made_at": utc_iso(now), "made_by": actor,
            "eligible": eligible, "kept": kept, "records": sum(e["count"] for e in eligible),
            "state": plan_state(archive, [e["segment"] for e in eligible])}
    return {**plan, "digest": plan_digest(plan)}


def _transfers(schedules: ScheduleSet, segment: SegmentRow) -> bool:
    try:
        return schedules.get(segment.schedule).action == Action.TRANSFER
    except ConfigError:
        return False  # an item not configured is never transferred on a guess


def _kept_back(archive: Archive, segment: SegmentRow, holds: list[HoldRow], transfer: dict[str, Any] | None,
               as_of: date) -> str | None:
    """Why a permanent segment is not transferred on ``as_of``, or None when it is due."""
    if transfer is not None:
        return f"already transferred in transfer {transfer['id']} ({transfer['state']})"
    if segment.retain_until is None:
        return "no transfer date yet (its cutoff waits on an event)"
    if segment.retain_until > as_of:
        return f"not yet due: transfer date {segment.retain_until.isoformat()}"
    rows = archive.catalog.segment_rows(segment.name)
    covering = sorted({h.name for r in rows for h in holds if h.covers(r.custodian, r.sent_at)})
    if covering:
        return f"under legal hold {', '.join(covering)}: a frozen record is neither destroyed nor transferred"
    return None


def confirm(archive: Archive, transfer_id: str, accession: str, accepted_on: date, reason: str, actor: str,
            now: datetime) -> dict[str, Any]:
    """Record that NARA accepted legal custody of a transfer (audited, reason sealed); the transfer."""
    authorize(archive, actor, "records-officer", "confirm a transfer to NARA", now)
    if not accession.strip():
        raise UsageError("--accession: NARA's accession number is required")
    with writing(archive, now):
        transfer = find_transfer(archive, transfer_id)
        if transfer["state"] == ACCEPTED:
            raise UsageError(f"transfer {transfer_id} was already accepted by NARA "
                             f"(accession {transfer['accession']}, {transfer['accepted_on']})")
        if accepted_on.isoformat() < transfer["exported_at"][:10]:
            raise UsageError(f"--date {accepted_on} is before transfer {transfer_id} was exported "
                             f"({transfer['exported_at'][:10]})")
        reason_sealed = sealed(archive, {"reason": reason})
        accepted = {**transfer, "state": ACCEPTED, "accession": accession.strip(),
                    "accepted_on": accepted_on.isoformat(), "confirmed_by": actor, "confirmed_at": utc_iso(now),
                    "reason": reason_sealed}
        archive.catalog.put_document(TRANSFER, transfer_id, accepted, AuditEvent(
            actor=actor, action=ACTION_CONFIRM, at=now,
            detail={"transfer": transfer_id, "accession": accepted["accession"], "accepted_on": accepted["accepted_on"],
                    "records": transfer["records"], "reason": reason_sealed}))
        return accepted


def find_transfer(archive: Archive, transfer_id: str) -> dict[str, Any]:
    """The transfer ``transfer_id``; ``UsageError`` when there is none."""
    transfer = archive.catalog.documents(TRANSFER).get(transfer_id)
    if transfer is None:
        raise UsageError(f"no transfer {transfer_id!r}; see 'archiver transfer list'")
    return transfer


def list_transfers(archive: Archive, actor: str, now: datetime) -> list[dict[str, Any]]:
    """Every transfer: its state (exported, awaiting NARA's acceptance, or accepted), counts and accession."""
    authorize(archive, actor, "records-officer", "list transfers to NARA", now)
    return [{"id": t["id"], "state": t["state"], "awaiting_acceptance": t["state"] == EXPORTED,
             "records": t["records"], "segments": t["segments"], "items": t["items"],
             "exported_at": t["exported_at"], "exported_by": t["exported_by"], "plan": t["plan"],
             "manifest_sha256": t["manifest_sha256"], "accession": t.get("accession"),
             "accepted_on": t.get("accepted_on")} for t in transfers(archive)]
