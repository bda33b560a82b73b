"""2911 services: the custodian registry and the notice sweep (the CLI and Lambda call these)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from archiver.core.apps import unknown_app_message
from archiver.core.custodians import Custodian
from archiver.core.forwarding import Status
from archiver.errors import UsageError
from archiver.services.access import authorize
from archiver.services.notices import LateRecord, Notice, candidate_keys, plan_notices
from archiver.services.notifiers import Notifier, NotifierError
from archiver.services.reports import account_syncs
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import NoticeRow


def register_custodian(archive: Archive, custodian: Custodian, actor: str, now: datetime,
                       update: bool = False) -> Custodian:
    """Add a custodian to the registry, or replace one with ``update``; refuse a personal account
    whose app is not one the archiver knows."""
    authorize(archive, actor, "records-officer", "register custodians", now)
    for account in custodian.personal_accounts:
        if problem := unknown_app_message(account.app):
            raise UsageError(f"personal account {str(account)!r}: {problem}")
    existing = archive.catalog.get_custodian(custodian.id)
    if existing and not update:
        raise UsageError(f"custodian {custodian.id!r} is already registered; use --update to change it")
    if not existing and update:
        raise UsageError(f"custodian {custodian.id!r} is not registered; add it first")
    stored = replace(custodian, registered_at=existing.registered_at if existing else now)
    action = "custodian-update" if existing else "custodian-add"
    archive.catalog.put_custodian(stored, AuditEvent(actor, action, now, stored.to_json()))
    return stored


def custodian_overview(archive: Archive, custodian_id: str, now: datetime) -> dict[str, Any]:
    """A custodian's registry entry, account syncs and records by 2911 status."""
    custodian = archive.catalog.get_custodian(custodian_id)
    if custodian is None:
        raise UsageError(f"custodian {custodian_id!r} is not registered")
    syncs = {k: v for k, v in archive.catalog.last_sync_by_account().items() if k[0] == custodian_id}
    counts: dict[str, dict[str, int]] = {"sent": {}, "received": {}}
    for row in archive.catalog.rows(custodian=custodian_id, label="record"):
        bucket = counts[row.direction]
        bucket[row.forwarding_status] = bucket.get(row.forwarding_status, 0) + 1
    return {**custodian.to_json(), "accounts": [a.to_json() for a in account_syncs(syncs, [custodian], now)],
            "records": counts}


@dataclass
class SweepResult:
    """What a sweep sent, skipped as already sent, and could not send."""

    sent: list[Notice] = field(default_factory=list)
    already_sent: int = 0  # notices due now that an earlier sweep sent
    late_already_reported: int = 0  # late records those earlier notices listed
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def to_json(self) -> dict[str, Any]:
        return {"sent": [{"kind": n.kind, "custodian": n.custodian, "to": list(n.to), "subject": n.subject}
                         for n in self.sent],
                "already_sent": self.already_sent, "late_already_reported": self.late_already_reported,
                "problems": self.problems}


def sweep(archive: Archive, notifier: Notifier, now: datetime, actor: str) -> SweepResult:
    """Send every 2911 notice due at ``now`` that was not sent before; record each as it goes.
    Under the writer lock: two sweeps at once would both see a notice unsent and send it twice."""
    authorize(archive, actor, "records-officer", "run the 2911 sweep", now)
    with archive.catalog.exclusive():
        return _sweep(archive, notifier, now, actor)


def _sweep(archive: Archive, notifier: Notifier, now: datetime, actor: str) -> SweepResult:
    settings, catalog = archive.settings, archive.catalog
    custodians = {c.id: c for c in catalog.custodians()}
    accounts = account_syncs(catalog.last_sync_by_account(), custodians.values(), now)
    late = [LateRecord.of(r) for r in catalog.rows(label="record") if r.forwarding_status == Status.LATE]
    keys = candidate_keys(accounts, late, now, settings.reminder_days)
    already = catalog.sent_notices(keys)
    plan = plan_notices(accounts, late, custodians, now, settings.reminder_days, settings.records_officer, already)
    result = SweepResult(already_sent=plan.already_sent, late_already_reported=plan.late_already_reported,
                         problems=list(plan.problems))
    for notice in plan.notices:
        try:
            message_id = notifier.send(notice, settings.notice_sender)
        except NotifierError as exc:
            result.problems.append(str(exc))
            break  # the rest stays unsent and unrecorded: the next sweep sends it
        _record(archive, notice, message_id, actor, now)
        result.sent.append(notice)
    return result


def _record(archive: Archive, notice: Notice, message_id: str, actor: str, now: datetime) -> None:
    detail = {"kind": notice.kind, "custodian": notice.custodian, "to": list(notice.to),
              "subject": notice.subject, "keys": list(notice.keys), "message_id": message_id}
    rows = [NoticeRow(key, notice.kind, notice.custodian, notice.to, notice.subject, now, message_id)
            for key in notice.keys]
    archive.catalog.record_notice(rows, AuditEvent(actor, "notice", now, detail))
