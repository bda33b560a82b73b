"""Which 2911 notices are due (pure: the sweep supplies the facts and "now").

- Before the deadline, the officer is reminded to sync a personal account on the configured
  days after its last sync (every record sent since then is due 20 days after it).
- After the deadline, the supervisor and the records officer are told: an account unsynced
  for more than 20 days is at risk, and records archived late are listed.

Every notice carries idempotency keys; a key already in the ledger is never sent again.
Notices name records by id and dates only, never by content.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from archiver.core.custodians import Custodian
from archiver.core.forwarding import WINDOW
from archiver.model import utc_iso
from archiver.services.reports import AccountSync
from archiver.storage.catalog import CatalogRow

KIND_REMINDER = "sync-reminder"
KIND_AT_RISK = "at-risk"
KIND_LATE = "late-records"
# A late-records notice names at most this many records (about 150 bytes each): an SNS message
# holds at most 256 KB, and a first sweep over years of backlog may find tens of thousands late.
LISTED_LATE_RECORDS = 200


class LateRecord(NamedTuple):
    """What a late-records notice says of one record archived after its 2911 deadline: a sweep
    holds one per late record of the archive, so not the whole catalog row."""

    id: str
    custodian: str
    direction: str
    sent_at: datetime
    deadline: datetime | None
    ingested_at: datetime
    days_late: int

    @classmethod
    def of(cls, row: CatalogRow) -> LateRecord:
        return cls(row.id, row.custodian, row.direction, row.sent_at, row.deadline, row.ingested_at, row.days_late)


@dataclass(frozen=True)
class Notice:
    """One message to send; ``keys`` are recorded in the ledger once it is sent."""

    kind: str
    custodian: str
    to: tuple[str, ...]
    subject: str
    body: str
    keys: tuple[str, ...] = field(default=())


@dataclass
class NoticePlan:
    """Notices due now, and custodians who could not be notified (no address).

    ``already_sent`` counts notices due now that an earlier sweep sent (a custodian's late
    records make one notice); ``late_already_reported`` counts late records, not notices.
    """

    notices: list[Notice] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    already_sent: int = 0
    late_already_reported: int = 0


def candidate_keys(accounts: Iterable[AccountSync], late: Iterable[LateRecord], now: datetime,
                   reminder_days: Sequence[int]) -> list[str]:
    """Every key a plan could use, so the caller can ask the ledger about them in one go."""
    keys = [k for a in accounts for k in (_reminder_key(a, now, reminder_days), _risk_key(a))
            if k]
    return keys + [_late_key(row) for row in late]


def plan_notices(accounts: Iterable[AccountSync], late: Iterable[LateRecord], custodians: Mapping[str, Custodian],
                 now: datetime, reminder_days: Sequence[int], records_officer: str | None,
                 already_sent: set[str]) -> NoticePlan:
    """The notices due at ``now`` that were not sent before."""
    plan = NoticePlan()
    for account in accounts:
        custodian = custodians.get(account.custodian, Custodian(account.custodian))
        notice = _account_notice(account, custodian, now, reminder_days, records_officer)
        if notice is None:
            continue
        if notice.keys[0] in already_sent:
            plan.already_sent += 1
        else:
            _add(plan, notice)
    by_custodian: dict[str, list[LateRecord]] = {}
    for row in late:
        by_custodian.setdefault(row.custodian, []).append(row)
    for custodian_id, rows in sorted(by_custodian.items()):
        new = [r for r in rows if _late_key(r) not in already_sent]
        plan.late_already_reported += len(rows) - len(new)
        if not new:
            plan.already_sent += 1
            continue
        _add(plan, _late_notice(custodians.get(custodian_id, Custodian(custodian_id)), new, records_officer))
    return plan


def _account_notice(account: AccountSync, custodian: Custodian, now: datetime, reminder_days: Sequence[int],
                    records_officer: str | None) -> Notice | None:
    """The at-risk notice or the sync reminder an account is due at ``now``, if any."""
    if account.at_risk:
        key = _risk_key(account)
        return _at_risk_notice(account, custodian, records_officer, key) if key else None
    key = _reminder_key(account, now, reminder_days)
    return _reminder_notice(account, custodian, now, key) if key else None


def _add(plan: NoticePlan, notice: Notice) -> None:
    if notice.to:
        plan.notices.append(notice)
    else:
        plan.problems.append(f"{notice.kind} notice for custodian {notice.custodian} has no recipient: register "
                             "an official e-mail, a supervisor, or set records_officer")


def _reminder_key(account: AccountSync, now: datetime,
                  reminder_days: Sequence[int]) -> str | None:
    since = account.since
    if since is None or account.at_risk:
        return None
    due = [d for d in reminder_days if now - since >= timedelta(days=d)]
    # Only the latest reminder due: a sweep that missed day 14 but runs on day 19 sends day 18's.
    return f"{KIND_REMINDER}/{account.custodian}/{account.app}/{utc_iso(since)}/{max(due)}" if due else None


def _risk_key(account: AccountSync) -> str | None:
    since = account.since
    label = utc_iso(since) if since else "never"
    return f"{KIND_AT_RISK}/{account.custodian}/{account.app}/{label}" if account.at_risk else None


def _late_key(row: LateRecord) -> str:
    return f"{KIND_LATE}/{row.id}"


def _reminder_notice(account: AccountSync, custodian: Custodian, now: datetime, key: str) -> Notice:
    since = account.since or now
    deadline = since + WINDOW
    body = (f"Your last {account.app} export reached the records archive on {utc_iso(since)}.\n"
            f"Any federal record you created or sent from that personal account since then must be copied or "
            f"forwarded to an official account within 20 days (44 U.S.C. 2911): the earliest of them fall due "
            f"on {utc_iso(deadline)}.\nExport the chats and run 'archiver ingest' before then.\n")
    return Notice(KIND_REMINDER, custodian.id, _addresses(custodian.email),
                  f"Reminder: sync your {account.app} records by {deadline:%Y-%m-%d}", body, (key,))


def _at_risk_notice(account: AccountSync, custodian: Custodian, records_officer: str | None, key: str) -> Notice:
    if account.last_sync:
        when = f"was last synced on {utc_iso(account.last_sync)}, more than 20 days ago"
    else:
        registered = f" since its registration on {utc_iso(custodian.registered_at)}" if custodian.registered_at else ""
        when = f"has never been synced{registered}"
    body = (f"The {account.app} account of custodian {custodian.id} {when}.\n"
            "Federal records created on that personal account since then may be past their 44 U.S.C. 2911 "
            "deadline, and are not in the archive. Please follow up with the custodian.\n")
    return Notice(KIND_AT_RISK, custodian.id, _addresses(custodian.supervisor, records_officer),
                  f"2911 at risk: {custodian.id} has not synced {account.app} in over 20 days", body, (key,))


def _late_notice(custodian: Custodian, rows: list[LateRecord], records_officer: str | None) -> Notice:
    """One notice for all of a custodian's newly late records, listing the first sent of them."""
    ordered = sorted(rows, key=lambda r: (r.sent_at, r.id))
    listed = ordered[:LISTED_LATE_RECORDS]
    lines = [f"  {r.id}  {r.direction:<8} {utc_iso(r.sent_at)}  deadline "
             f"{utc_iso(r.deadline) if r.deadline else '-'}  archived {utc_iso(r.ingested_at)}  "
             f"{r.days_late} day(s) late" for r in listed]
    body = (f"{len(rows)} record(s) of custodian {custodian.id} reached the archive after the 20-day deadline "
            "of 44 U.S.C. 2911")
    if len(listed) < len(ordered):
        body += (f", sent from {utc_iso(ordered[0].sent_at)} to {utc_iso(ordered[-1].sent_at)}, up to "
                 f"{max(r.days_late for r in ordered)} day(s) late. The {len(listed)} sent first are listed; "
                 "'archiver report forwarding --csv' lists every record with its 2911 status")
    body += ":\n" + "\n".join(lines) + "\n"
    return Notice(KIND_LATE, custodian.id, _addresses(custodian.supervisor, records_officer),
                  f"2911 late: {len(rows)} record(s) of {custodian.id} archived after the deadline", body,
                  tuple(_late_key(r) for r in rows))


def _addresses(*candidates: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for a in candidates if a))
