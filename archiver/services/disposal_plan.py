"""Disposition as a reviewed act: a plan, its approval by records officers, its execution, and
the certificate of destruction.

``make_plan`` changes nothing: it lists every segment due on a date with its reasons (schedule
item, authority, cutoff, retention, retain-until) and what is kept and why, and fingerprints the
state it was made from (the holds, the events, each planned segment's records and date).
``approve`` records a records officer's approval (reason sealed) in the catalog; ``execute``
refuses a plan without enough distinct approvers, or one the archive no longer matches (naming
what changed), then destroys through the same machinery as ``dispose_due``, under the writer
lock and with every date and hold checked again, and files a sealed certificate of destruction
in the store under GRS 4.1 item 020.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from archiver.core.events import EVENT_DOCUMENT
from archiver.core.retention import UNSCHEDULED, ScheduleSet, disposition_date, load_schedules
from archiver.errors import ConfigError, UsageError
from archiver.model import canonical_json, utc_iso
from archiver.services.access import authorize, sealed
from archiver.services.disposition import destroy_due, dispose_due, due_segments, writing
from archiver.services.transfer_state import TRANSFER_PLAN_KIND, accepted_reason, transfers_by_segment
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import SegmentRow
from archiver.storage.catalog.base import hold_json
from archiver.storage.envelope import seal
from archiver.storage.sealed_facts import sealed_of_plan

APPROVAL = "disposal-approval"  # catalog document kind, named "<plan digest>/<actor>"
CERTIFICATE = "disposal-certificate"  # catalog document kind, named by certificate id
CERTIFICATE_PREFIX = "certificates/"
CERTIFICATE_ITEM = "GRS-4.1-020"
PLAN_KIND = "disposal-plan"
PLANS_PREFIX = "plans/"  # where the scheduled run files its plans for review
# What each kind of plan file is called, and the command that makes one.
PLAN_NAMES = {PLAN_KIND: ("disposal plan", "archiver dispose plan --out PLAN"),
              TRANSFER_PLAN_KIND: ("transfer plan", "archiver transfer plan --out PLAN")}


def make_plan(archive: Archive, as_of: date, actor: str, now: datetime) -> dict[str, Any]:
    """The disposal plan for ``as_of``: eligible segments with their records and reasons, kept
    ones with why, the state fingerprint and the plan's digest. Changes nothing."""
    authorize(archive, actor, "records-officer", "plan a disposition", now)
    schedules = load_schedules(archive.settings.schedules)
    moment = datetime.combine(as_of, time(), timezone.utc)
    found = dispose_due(archive, moment, actor, dry_run=True, schedules=schedules)
    transferred = transfers_by_segment(archive)
    eligible = [segment_entry(archive, s, schedules, transferred.get(s.name)) for s in found.disposed]
    kept = [{"segment": name, "reason": "under legal hold " + ", ".join(holds)} for name, holds in found.held.items()]
    kept += [{"segment": name, "reason": why} for name, why in found.not_destroyed.items()]
    kept += _waiting(archive, schedules)
    plan = {"kind": PLAN_KIND, "as_of": as_of.isoformat(), "made_at": utc_iso(now), "made_by": actor,
            "eligible": eligible, "kept": sorted(kept, key=lambda k: k["segment"]),
            "records": sum(e["count"] for e in eligible),
            "state": plan_state(archive, [e["segment"] for e in eligible])}
    return {**plan, "digest": plan_digest(plan)}


def segment_entry(archive: Archive, segment: SegmentRow, schedules: ScheduleSet,
              transfer: dict[str, Any] | None) -> dict[str, Any]:
    """A segment due for destruction; a permanent one (NARA accepted its ``transfer``) says so."""
    item = schedules.get(segment.schedule)
    rows = list(archive.catalog.segment_rows(segment.name))
    entry = {"segment": segment.name, "custodian": segment.custodian, "schedule": item.id, "title": item.title,
             "authority": item.authority, "cutoff": str(item.cutoff), "retention": str(item.retain or ""),
             "retain_until": _iso(segment.retain_until), "count": len(rows),
             "records": [{"id": r.id, "content_hash": r.content_hash} for r in rows]}
    if transfer is None:
        return entry
    return {**entry, "reason": accepted_reason(transfer),
            "transfer": {k: transfer[k] for k in ("id", "accession", "accepted_on")}}


def _waiting(archive: Archive, schedules: ScheduleSet) -> list[dict[str, str]]:
    """Segments with no disposition date: permanent, waiting on an event, or unscheduled."""
    kept = []
    for segment in archive.catalog.segments():
        if segment.disposed_at is not None or segment.retain_until is not None:
            continue
        try:
            item = schedules.get(segment.schedule)
        except ConfigError:
            kept.append({"segment": segment.name, "reason": f"schedule item {segment.schedule} is not configured"})
            continue
        why = ("unscheduled: kept as permanent until a records officer schedules it" if item.id == UNSCHEDULED
               else "permanent: no transfer date yet; kept until the item gives one" if item.permanent
               else f"waiting on the event {item.event}" if item.event
               else f"schedule item {item.id} gives no date ({item.instruction})")
        kept.append({"segment": segment.name, "reason": why})
    return kept


def plan_state(archive: Archive, planned: list[str]) -> dict[str, Any]:
    """What a plan depends on: every hold, every event, each planned segment's date and records,
    and the segments of each planned disposition group (a later ingest adds a segment to it)."""
    segments = {s.name: s for s in archive.catalog.segments()}
    groups = {_group(segments[name]) for name in planned if name in segments}
    return {"holds": sorted((hold_json(h) for h in archive.catalog.holds()), key=lambda h: str(h["name"])),
            "events": sorted(archive.catalog.documents(EVENT_DOCUMENT)),
            "segments": {name: _segment_state(archive, segments.get(name)) for name in sorted(planned)},
            "groups": {g: sorted(n for n, s in segments.items() if _group(s) == g and s.disposed_at is None)
                       for g in sorted(groups)}}


def _group(segment: SegmentRow) -> str:
    return f"{segment.custodian} {segment.schedule} due {_iso(segment.retain_until)}"


def _segment_state(archive: Archive, segment: SegmentRow | None) -> dict[str, Any]:
    if segment is None:
        return {"missing": True}
    return {"retain_until": _iso(segment.retain_until), "disposed": segment.disposed_at is not None,
            "records": sorted(r.id for r in archive.catalog.segment_rows(segment.name))}


def changes(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between a plan's state and the archive's state now, in words."""
    found = []
    holds_then = {h["name"]: h for h in then["holds"]}
    for hold in now["holds"]:
        before = holds_then.get(hold["name"])
        if before is None:
            released = " (and released again)" if hold.get("released_at") else ""
            found.append(f"hold {hold['name']} was placed since the plan{released}")
        elif before != hold:
            found.append(f"hold {hold['name']} was released since the plan")
    found += [f"event {name} was recorded since the plan" for name in now["events"] if name not in then["events"]]
    for group, names in then["groups"].items():
        added = sorted(set(now["groups"].get(group, [])) - set(names))
        found += [f"record(s) added to {group} in segment {name}" for name in added]
    for name, before in then["segments"].items():
        after = now["segments"][name]
        if after.get("disposed"):
            continue  # destroyed by a run of this plan that was cut short: execute finishes it
        if after != before:
            added = len(set(after.get("records", [])) - set(before["records"]))
            found.append(f"segment {name}: {added} record(s) added" if added
                         else f"segment {name}: disposition date now {after.get('retain_until')}")
    return found


def check_plan(plan: dict[str, Any], kind: str = PLAN_KIND) -> dict[str, Any]:
    """``plan`` if it is a plan of ``kind`` whose digest matches its content, else ``UsageError``."""
    name, command = PLAN_NAMES[kind]
    if not isinstance(plan, dict) or plan.get("kind") != kind or "digest" not in plan:
        raise UsageError(f"not a {name} (make one with: {command})")
    body = {k: v for k, v in plan.items() if k != "digest"}
    if plan_digest(body) != plan["digest"]:
        raise UsageError(f"the {name} was changed after it was made (its digest does not match)")
    return plan


def approve(archive: Archive, plan: dict[str, Any], actor: str, reason: str, now: datetime) -> list[str]:
    """Record ``actor``'s approval of ``plan`` (audited, reason sealed); every approver so far."""
    authorize(archive, actor, "records-officer", "approve a disposition", now)
    digest = check_plan(plan)["digest"]
    if actor in approvers(archive, digest):
        raise UsageError(f"{actor} has already approved plan {digest[:12]}; "
                         "another approval must come from a different records officer")
    reason_sealed = sealed(archive, {"reason": reason})
    archive.catalog.put_document(APPROVAL, f"{digest}/{actor}", {
        "plan": digest, "actor": actor, "at": utc_iso(now), "reason": reason_sealed}, AuditEvent(
        actor=actor, action="dispose-approve", at=now, detail={"plan": digest, "reason": reason_sealed}))
    return approvers(archive, digest)


def approvers(archive: Archive, digest: str) -> list[str]:
    """The distinct records officers who approved the plan ``digest``."""
    return sorted(d["actor"] for d in archive.catalog.documents(APPROVAL).values() if d["plan"] == digest)


def execute(archive: Archive, plan: dict[str, Any], actor: str, now: datetime,
            progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Destroy what an approved plan lists, if the archive still matches it; the certificate.
    ``progress`` is called with each segment's record count as it is dealt with."""
    authorize(archive, actor, "records-officer", "execute a disposition", now)
    digest = check_plan(plan)["digest"]
    approved = approvers(archive, digest)
    needed = archive.settings.disposition_approvals
    if len(approved) < needed:
        raise UsageError(f"plan {digest[:12]} needs {needed} approval(s) by different records officers, "
                         f"has {len(approved)}; approve with: archiver dispose approve PLAN --reason TEXT")
    schedules = load_schedules(archive.settings.schedules)
    with writing(archive, now):
        if any(d["plan"] == digest for d in archive.catalog.documents(CERTIFICATE).values()):
            raise UsageError(f"plan {digest[:12]} was already executed and certified; make a new plan")
        planned = list(plan["state"]["segments"])
        changed = changes(plan["state"], plan_state(archive, planned))
        if changed:
            raise UsageError(f"plan {digest[:12]} no longer matches the archive: {'; '.join(changed)}; "
                             "make a new plan")
        # A run cut short after its last destruction finds nothing left to destroy: it certifies.
        segments = [s for s in archive.catalog.segments() if s.name in set(planned) and s.disposed_at is None]
        early = sorted({s.name for s in segments} - {s.name for s in due_segments(segments, now.date())})
        if early:
            raise UsageError(f"plan {digest[:12]} lists segment(s) not due on {now.date()}: {', '.join(early)}")
        result = destroy_due(archive, now, actor, schedules, segments, progress=progress)
        gone = [s for s in archive.catalog.segments() if s.name in set(planned) and s.disposed_at is not None]
        if not gone and not result.refused:  # a certificate for nothing would prove nothing
            kept = "; ".join(f"{name}: {why}" for name, why in {**result.not_destroyed, **{
                n: "under legal hold " + ", ".join(h) for n, h in result.held.items()}}.items())
            raise UsageError(f"plan {digest[:12]} destroys nothing" + (f" ({kept})" if kept else "")
                             + "; no certificate filed")
        return _certify(archive, plan, gone, result.refused, actor, now, schedules)


def _certify(archive: Archive, plan: dict[str, Any], disposed: list[SegmentRow], refused: dict[str, str],
             actor: str, now: datetime, schedules: ScheduleSet) -> dict[str, Any]:
    """File the certificate of destruction: a sealed object kept under GRS 4.1 item 020."""
    unfiled = _unfiled_certificate(archive, plan["digest"])
    if unfiled is not None:  # written by a run killed before it reached the catalog
        return _file_certificate(archive, unfiled, archive.store.retention(CERTIFICATE_PREFIX + unfiled["id"])
                                 .retain_until, actor, now)
    gone = {s.name for s in disposed}
    destroyed = [e for e in plan["eligible"] if e["segment"] in gone]
    approvals = [{"actor": d["actor"], "at": d["at"]} for d in archive.catalog.documents(APPROVAL).values()
                 if d["plan"] == plan["digest"]]
    items: dict[str, dict[str, Any]] = {}
    for entry in destroyed:
        item = items.setdefault(entry["schedule"], {"schedule": entry["schedule"], "title": entry["title"],
                                                    "authority": entry["authority"], "records": 0})
        item["records"] += entry["count"]
    # Named by the plan, so a rerun finds the certificate a killed run stored (store keys are lower case).
    cert_id = f"{now:%Y%m%d-%H%M%S}-{plan['digest'][:8]}"
    certificate = {"id": cert_id, "kind": "certificate-of-destruction", "plan": plan["digest"],
                   "as_of": plan["as_of"], "executed_at": utc_iso(now), "executed_by": actor, "approvals": approvals,
                   "items": sorted(items.values(), key=lambda i: i["schedule"]),
                   # the NARA accessions that made permanent records destructible here
                   "transfers": list({e["transfer"]["id"]: e["transfer"]
                                      for e in destroyed if "transfer" in e}.values()),
                   "records": [{**r, "schedule": e["schedule"], "segment": e["segment"]}
                               for e in destroyed for r in e["records"]],
                   "refused": refused}
    keep_until = disposition_date(schedules.get(CERTIFICATE_ITEM), now)
    key = CERTIFICATE_PREFIX + cert_id
    archive.store.put(key, seal(archive.keys, key, canonical_json(certificate)), keep_until)
    return _file_certificate(archive, certificate, keep_until, actor, now)


def _file_certificate(archive: Archive, certificate: dict[str, Any], keep_until: date | None, actor: str,
                      now: datetime) -> dict[str, Any]:
    """List a stored certificate in the catalog, with its audit entry."""
    cert_id, digest, records = certificate["id"], certificate["plan"], len(certificate["records"])
    archive.catalog.put_document(CERTIFICATE, cert_id, {
        "id": cert_id, "object": CERTIFICATE_PREFIX + cert_id, "schedule": CERTIFICATE_ITEM,
        "retain_until": _iso(keep_until), "sha256": hashlib.sha256(canonical_json(certificate)).hexdigest(),
        "plan": digest, "records": records},
        AuditEvent(actor=actor, action="dispose-certify", at=now,
                   detail={"certificate": cert_id, "plan": digest, "records": records}))
    return certificate


def _unfiled_certificate(archive: Archive, digest: str) -> dict[str, Any] | None:
    """The certificate of this plan in the store that the catalog does not list, if any."""
    return sealed_of_plan(archive, CERTIFICATE_PREFIX, digest, lambda key: key.endswith("-" + digest[:8]))


def plan_digest(value: dict[str, Any]) -> str:
    """The SHA-256 of a plan's canonical JSON: what approvals and transfers name it by."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def read_plan(path: Path, kind: str = PLAN_KIND) -> dict[str, Any]:
    """A plan file's content; ``UsageError`` naming ``path`` when it cannot be read, is not JSON or
    is not a plan of ``kind``."""
    name = PLAN_NAMES[kind][0]
    try:
        return check_plan(json.loads(path.read_text(encoding="utf-8")), kind)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the {name} ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not a {name} ({exc.msg})") from None
