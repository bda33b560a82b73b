"""The 44 U.S.C. 2911 forwarding report: status per record and totals per custodian."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.catalog import CatalogRow
from archiver.forwarding import Status, is_at_risk
from archiver.model import utc_iso

STATUSES = (Status.COPIED, Status.FORWARDED, Status.LATE, Status.NOT_APPLICABLE)


@dataclass
class CustodianTotals:
    """One custodian's records by 2911 status, and whether unseen records may be at risk."""

    custodian: str
    counts: Counter[str] = field(default_factory=Counter)
    last_sync: datetime | None = None
    at_risk: bool = False

    def to_json(self) -> dict[str, Any]:
        subject = sum(self.counts[s] for s in (Status.COPIED, Status.FORWARDED, Status.LATE))
        on_time = self.counts[Status.COPIED] + self.counts[Status.FORWARDED]
        return {"custodian": self.custodian, **{s.value: self.counts[s] for s in STATUSES},
                "on_time_rate": round(on_time / subject, 4) if subject else None,
                "last_sync": utc_iso(self.last_sync) if self.last_sync else None, "at_risk": self.at_risk}


@dataclass
class ForwardingReport:
    """Every record's 2911 status, with per-custodian totals."""

    generated_at: datetime
    records: list[CatalogRow]
    custodians: list[CustodianTotals]

    @property
    def late(self) -> list[CatalogRow]:
        return [r for r in self.records if r.forwarding_status == Status.LATE]

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": utc_iso(self.generated_at),
            "totals": {s.value: sum(c.counts[s] for c in self.custodians) for s in STATUSES},
            "custodians": [c.to_json() for c in self.custodians],
            "at_risk": [c.custodian for c in self.custodians if c.at_risk],
            "records": [_record_json(r) for r in self.records],
        }


def forwarding_report(rows: Iterable[CatalogRow], last_sync: dict[str, datetime],
                      now: datetime) -> ForwardingReport:
    """Build the report from the catalog's record rows (nonrecords are not subject to 2911)."""
    records = [r for r in rows if r.label == "record"]
    totals: dict[str, CustodianTotals] = {}
    for row in records:
        totals.setdefault(row.custodian, CustodianTotals(row.custodian)).counts[row.forwarding_status] += 1
    for custodian, synced in last_sync.items():
        totals.setdefault(custodian, CustodianTotals(custodian)).last_sync = synced
    for entry in totals.values():
        entry.at_risk = is_at_risk(last_sync=entry.last_sync, now=now) if entry.last_sync else False
    return ForwardingReport(now, records, [totals[c] for c in sorted(totals)])


def render_forwarding(report: ForwardingReport) -> str:
    """The report as a records officer reads it at the terminal."""
    lines = [f"44 U.S.C. 2911 forwarding report, {utc_iso(report.generated_at)}",
             f"{'custodian':<24}{'copied':>8}{'forwarded':>11}{'late':>6}{'official':>10}{'on time':>9}  last sync"]
    for entry in report.custodians:
        data = entry.to_json()
        rate = f"{data['on_time_rate']:.0%}" if data["on_time_rate"] is not None else "-"
        sync = data["last_sync"] or "never"
        risk = "  AT RISK: last sync older than 20 days" if entry.at_risk else ""
        lines.append(f"{entry.custodian:<24}{data['copied']:>8}{data['forwarded']:>11}{data['late']:>6}"
                     f"{data['not_applicable']:>10}{rate:>9}  {sync}{risk}")
    late = report.late
    lines.append(f"Late records: {len(late)}")
    for row in late:
        lines.append(f"  {row.id}  {row.custodian}  {row.direction:<8} sent {utc_iso(row.sent_at)}  "
                     f"deadline {utc_iso(row.deadline) if row.deadline else '-'}  {row.days_late} days late")
    return "\n".join(lines)


def _record_json(row: CatalogRow) -> dict[str, Any]:
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "direction": row.direction,
            "account": row.account, "sent_at": utc_iso(row.sent_at), "ingested_at": utc_iso(row.ingested_at),
            "deadline": utc_iso(row.deadline) if row.deadline else None, "status": row.forwarding_status,
            "days_late": row.days_late, "schedule": row.schedule}
