"""The 44 U.S.C. 2911 forwarding report: status per record, totals per custodian and month,
custodians at risk, and records that may have been unlawfully disposed of."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.core.apps import account_app
from archiver.core.custodians import Custodian
from archiver.core.forwarding import Status, is_at_risk
from archiver.model import FLAG_DELETED, utc_iso
from archiver.storage.catalog import CatalogRow

STATUSES = (Status.COPIED, Status.FORWARDED, Status.LATE, Status.NOT_APPLICABLE)
SUBJECT = (Status.COPIED, Status.FORWARDED, Status.LATE)  # statuses of records 2911 applies to
CSV_FIELDS = ["id", "custodian", "source", "direction", "account", "sent_at", "ingested_at", "deadline", "status",
              "days_late", "schedule", "disposed_at"]


def on_time_rate(counts: Counter[str]) -> float | None:
    """Share of records subject to 2911 that were copied or forwarded in time."""
    subject = sum(counts[s] for s in SUBJECT)
    return round((counts[Status.COPIED] + counts[Status.FORWARDED]) / subject, 4) if subject else None


@dataclass
class AccountSync:
    """When one personal account of a custodian was last synced, and whether that is too long ago."""

    custodian: str
    app: str
    last_sync: datetime | None
    at_risk: bool
    since: datetime | None = None  # what the window runs from: the last sync, else registration

    def to_json(self) -> dict[str, Any]:
        return {"custodian": self.custodian, "app": self.app, "at_risk": self.at_risk,
                "last_sync": utc_iso(self.last_sync) if self.last_sync else None}


@dataclass
class CustodianTotals:
    """One custodian's records by 2911 status, split by direction, and their accounts' syncs."""

    custodian: str
    counts: Counter[str] = field(default_factory=Counter)
    by_direction: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    accounts: list[AccountSync] = field(default_factory=list)  # the registered personal accounts
    last_sync: datetime | None = None  # the latest sync of any app, registered or not

    @property
    def at_risk(self) -> bool:
        return any(a.at_risk for a in self.accounts)

    def to_json(self) -> dict[str, Any]:
        return {"custodian": self.custodian, **{s.value: self.counts[s] for s in STATUSES},
                "on_time_rate": on_time_rate(self.counts),
                "sent": {s.value: self.by_direction["sent"][s] for s in STATUSES},
                "received": {s.value: self.by_direction["received"][s] for s in STATUSES},
                "last_sync": utc_iso(self.last_sync) if self.last_sync else None, "at_risk": self.at_risk,
                "accounts": [a.to_json() for a in self.accounts]}


@dataclass
class ForwardingReport:
    """Every record's 2911 status, with totals per custodian and per month of creation."""

    generated_at: datetime
    records: list[CatalogRow]
    custodians: list[CustodianTotals]
    months: dict[str, Counter[str]]
    unlawful_disposition_candidates: list[CatalogRow]
    disposed: dict[str, datetime] = field(default_factory=dict)  # record id -> when it was lawfully destroyed

    @property
    def totals(self) -> Counter[str]:
        return sum((c.counts for c in self.custodians), Counter())

    @property
    def late(self) -> list[CatalogRow]:
        return [r for r in self.records if r.forwarding_status == Status.LATE]

    @property
    def at_risk(self) -> list[AccountSync]:
        return [a for c in self.custodians for a in c.accounts if a.at_risk]

    def to_json(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "generated_at": utc_iso(self.generated_at),
            "totals": {s.value: totals[s] for s in STATUSES},
            "on_time_rate": on_time_rate(totals),
            "custodians": [c.to_json() for c in self.custodians],
            "months": {m: {s.value: c[s] for s in STATUSES} | {"on_time_rate": on_time_rate(c)}
                       for m, c in sorted(self.months.items())},
            "at_risk": [a.to_json() for a in self.at_risk],
            "disposed": len(self.disposed),
            "late": [record_json(r, self.disposed.get(r.id)) for r in self.late],
            "unlawful_disposition_candidates": [candidate_json(r) for r in self.unlawful_disposition_candidates],
            "records": [record_json(r, self.disposed.get(r.id)) for r in self.records],
        }


def forwarding_report(rows: Iterable[CatalogRow], last_sync: Mapping[tuple[str, str], datetime],
                      custodians: Iterable[Custodian], now: datetime,
                      disposed_segments: Mapping[str, datetime] | None = None) -> ForwardingReport:
    """Build the report from every catalog row (records and tombstones), syncs and the registry.

    ``disposed_segments`` (segment name -> when it was destroyed) flags the records disposition
    destroyed: their rows stay in the catalog, but they are no longer held.
    """
    records, deleted, business_threads = [], [], set()
    for row in rows:
        if row.label == "record":
            records.append(row)
            if not row.system:
                business_threads.add(row.conversation_ref)
        if FLAG_DELETED in row.flags:
            deleted.append(row)
    totals: dict[str, CustodianTotals] = {}
    months: dict[str, Counter[str]] = defaultdict(Counter)
    for row in records:
        entry = totals.setdefault(row.custodian, CustodianTotals(row.custodian))
        entry.counts[row.forwarding_status] += 1
        entry.by_direction[row.direction][row.forwarding_status] += 1
        months[row.sent_at.strftime("%Y-%m")][row.forwarding_status] += 1
    for account in account_syncs(last_sync, custodians, now):
        totals.setdefault(account.custodian, CustodianTotals(account.custodian)).accounts.append(account)
    for (custodian_id, _app), at in last_sync.items():
        entry = totals.setdefault(custodian_id, CustodianTotals(custodian_id))
        entry.last_sync = max(entry.last_sync or at, at)
    candidates = [r for r in deleted if r.conversation_ref in business_threads]
    gone = disposed_segments or {}
    disposed = {r.id: gone[r.segment] for r in records if r.segment is not None and r.segment in gone}
    return ForwardingReport(now, records, [totals[c] for c in sorted(totals)], dict(months), candidates, disposed)


def account_syncs(last_sync: Mapping[tuple[str, str], datetime], custodians: Iterable[Custodian],
                  now: datetime) -> list[AccountSync]:
    """Every personal account the registry lists, with its sync state.

    Only registered accounts are tracked: an app synced but not registered, or a custodian with
    no personal account, is never at risk. An account never synced counts from its custodian's
    registration.
    """
    result = []
    for custodian in sorted(custodians, key=lambda c: c.id):
        for app in sorted({account_app(a.app) for a in custodian.personal_accounts}):
            synced = last_sync.get((custodian.id, app))
            since = synced or custodian.registered_at
            result.append(AccountSync(custodian.id, app, synced, is_at_risk(last_sync=since, now=now), since))
    return result


def render_forwarding(report: ForwardingReport) -> str:
    """The report as a records officer reads it at the terminal."""
    lines = [f"44 U.S.C. 2911 forwarding report, {utc_iso(report.generated_at)}",
             f"{'custodian':<24}{'copied':>8}{'forwarded':>11}{'late':>6}{'official':>10}{'on time':>9}  last sync"]
    for entry in report.custodians:
        data = entry.to_json()
        rate = f"{data['on_time_rate']:.0%}" if data["on_time_rate"] is not None else "-"
        sync = data["last_sync"] or "never"
        risk = "  AT RISK" if entry.at_risk else ""
        lines.append(f"{entry.custodian:<24}{data['copied']:>8}{data['forwarded']:>11}{data['late']:>6}"
                     f"{data['not_applicable']:>10}{rate:>9}  {sync}{risk}")
    for account in report.at_risk:
        since = utc_iso(account.last_sync) if account.last_sync else "never synced"
        lines.append(f"At risk: {account.custodian} {account.app} (last sync {since}): records on the phone "
                     "may be past their 20-day deadline")
    late = report.late
    lines.append(f"Late records: {len(late)}")
    for row in late:
        gone = report.disposed.get(row.id)
        lines.append(f"  {row.id}  {row.custodian}  {row.direction:<8} {utc_iso(row.sent_at)}  "
                     f"deadline {utc_iso(row.deadline) if row.deadline else '-'}  {row.days_late} days late"
                     + (f"  DISPOSED {utc_iso(gone)}" if gone else ""))
    if report.disposed:
        lines.append(f"Disposed of under their schedules: {len(report.disposed)} record(s), no longer held "
                     "(--json and --csv give each one's disposed_at)")
    candidates = report.unlawful_disposition_candidates
    if candidates:
        lines.append(f"Possible unlawful disposition (36 CFR 1230): {len(candidates)} message(s) deleted "
                     "in threads that hold records")
        for row in candidates:
            lines.append(f"  {row.id}  {row.custodian}  {row.source}  deleted message sent {utc_iso(row.sent_at)}")
    return "\n".join(lines)


def render_csv(report: ForwardingReport) -> str:
    """One row per record: the 2911 facts a spreadsheet needs."""
    return csv_text(CSV_FIELDS, (record_json(r, report.disposed.get(r.id)) for r in report.records))


def csv_text(fields: list[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header line, one line per row (every report's ``--csv``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def record_json(row: CatalogRow, disposed_at: datetime | None = None) -> dict[str, Any]:
    """One record's 2911 facts, as in the JSON and CSV reports; ``disposed_at`` once destroyed."""
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "direction": row.direction,
            "account": row.account, "sent_at": utc_iso(row.sent_at), "ingested_at": utc_iso(row.ingested_at),
            "deadline": utc_iso(row.deadline) if row.deadline else None, "status": row.forwarding_status,
            "days_late": row.days_late, "schedule": row.schedule,
            "disposed_at": utc_iso(disposed_at) if disposed_at else None}


def candidate_json(row: CatalogRow) -> dict[str, Any]:
    """A message the export says was deleted: where it was, and which export and line tell."""
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "conversation_ref": row.conversation_ref,
            "sent_at": utc_iso(row.sent_at), "source_line": row.source_line, "export_sha256": row.export_sha256}
