"""The retention report: what the archive holds under which schedule item, and what comes due.

Built from the catalog's grouped counts (``Catalog.holdings``), never one row per record, so a
report over millions of records stays small. Parts: holdings by item and year sent (UTC);
records already eligible and the forecast of disposition dates by month for 24 months; what each
active hold covers; records waiting on a cutoff event; unscheduled records by custodian; and
review items whose review period ends by the as-of date or in the 30 days after it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TextIO

from dateutil.relativedelta import relativedelta

from archiver.core.retention import UNSCHEDULED, Cutoff, ScheduleSet, load_schedules
from archiver.services.access import authorize
from archiver.services.disposition import resolve_custodian
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from archiver.storage.catalog.holdings import HoldingGroup

FORECAST_MONTHS = 24
REVIEW_SOON = timedelta(days=30)
UNKNOWN = "unknown"  # the action of a schedule item no schedule file defines any more


@dataclass
class Tally:
    """Records and their sealed frame bytes."""

    records: int = 0
    bytes: int = 0

    def add(self, group: HoldingGroup) -> None:
        self.records += group.records
        self.bytes += group.bytes


@dataclass
class HoldCoverage:
    """What one active hold covers: records by (custodian, schedule item)."""

    hold: HoldRow
    covered: Counter[tuple[str, str]] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.hold.name, "custodian": self.hold.custodian, "start": _iso(self.hold.start),
                "end": _iso(self.hold.end), "records": sum(self.covered.values()),
                "covers": [{"custodian": c, "schedule": s, "records": n} for (c, s), n in sorted(self.covered.items())]}


@dataclass
class RetentionReport:
    """Every part of the report, as counts."""

    as_of: date
    custodian: str | None
    months: list[str]
    holdings: dict[tuple[str, int], Tally] = field(default_factory=lambda: defaultdict(Tally))
    disposed: int = 0
    eligible: Counter[str] = field(default_factory=Counter)            # by action: date on or before as-of
    eligible_held: int = 0
    forecast: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # month -> action
    holds: list[HoldCoverage] = field(default_factory=list)
    awaiting: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (item, event, custodian)
    unscheduled: Counter[str] = field(default_factory=Counter)          # by custodian
    review_due: Counter[str] = field(default_factory=Counter)           # by custodian: expired by as-of
    review_soon: Counter[str] = field(default_factory=Counter)          # by custodian: within 30 days after

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object (what ``--json`` streams)."""
        return {
            "as_of": self.as_of.isoformat(), "custodian": self.custodian,
            "bytes_counted": "sealed message frames in segments; attachments are not counted",
            "holdings": [{"schedule": s, "year": y, "records": t.records, "bytes": t.bytes}
                         for (s, y), t in sorted(self.holdings.items())],
            "disposed_records": self.disposed,
            "eligible": {"by_action": dict(sorted(self.eligible.items())), "held": self.eligible_held},
            "forecast": [{"month": m, **{a: n for a, n in sorted(self.forecast.get(m, Counter()).items())}}
                         for m in self.months],
            "holds": [h.to_json() for h in self.holds],
            "awaiting_event": [{"schedule": s, "event": e, "custodian": c, "records": n}
                               for (s, e, c), n in sorted(self.awaiting.items())],
            "unscheduled": [{"custodian": c, "records": n} for c, n in sorted(self.unscheduled.items())],
            "review_due": [{"custodian": c, "due": self.review_due[c], "due_in_30_days": self.review_soon[c]}
                           for c in sorted(self.review_due.keys() | self.review_soon.keys())],
        }


def retention_report(archive: Archive, actor: str, now: datetime, as_of: date | None = None,
                     custodian: str | None = None, schedules: ScheduleSet | None = None) -> RetentionReport:
    """The retention report on ``as_of`` (default: today), for one custodian or all (records officers)."""
    authorize(archive, actor, "records-officer", "run reports", now)
    who = resolve_custodian(archive, custodian) if custodian else None
    schedules = schedules or load_schedules(archive.settings.schedules)
    holds = [h for h in archive.catalog.holds() if h.active]
    return build_report(archive.catalog.holdings(who), holds, schedules, as_of or now.date(), who)


def build_report(groups: Iterable[HoldingGroup], holds: list[HoldRow], schedules: ScheduleSet, as_of: date,
                 custodian: str | None = None) -> RetentionReport:
    """Fold the catalog's grouped counts into the report's parts."""
    report = RetentionReport(as_of, custodian, forecast_months(as_of))
    report.holds = [HoldCoverage(h) for h in holds]
    for group in groups:
        if group.disposed:
            report.disposed += group.records
        elif group.label == "record":
            _add_record(report, group, schedules)
        else:
            _add_review(report, group)
    return report


def forecast_months(as_of: date) -> list[str]:
    """The forecast's months, ``YYYY-MM``: as-of's own month and the 23 after it."""
    first = as_of.replace(day=1)
    return [(first + relativedelta(months=n)).strftime("%Y-%m") for n in range(FORECAST_MONTHS)]


def _add_record(report: RetentionReport, group: HoldingGroup, schedules: ScheduleSet) -> None:
    item_id = group.schedule or UNSCHEDULED
    report.holdings[(item_id, group.sent_on.year)].add(group)
    sent = datetime.combine(group.sent_on, time(12), timezone.utc)  # hold dates are UTC days
    # Only holds naming this custodian, or no custodian, can cover it: thousands of groups, few holds each.
    covering = [h for h in report.holds if h.hold.custodian in (None, group.custodian)
                and h.hold.covers(group.custodian, sent)]
    for coverage in covering:
        coverage.covered[(group.custodian, item_id)] += group.records
    item = schedules.by_id.get(item_id)
    if item_id == UNSCHEDULED:
        report.unscheduled[group.custodian] += group.records
    elif item is not None and item.cutoff == Cutoff.EVENT and group.disposition_date is None:
        report.awaiting[(item_id, item.event or "", group.custodian)] += group.records
    when = group.disposition_date
    if when is None:
        return
    action = item.action.value if item is not None else UNKNOWN
    if when <= report.as_of:
        report.eligible[action] += group.records
        report.eligible_held += group.records if covering else 0
    elif when.strftime("%Y-%m") <= report.months[-1]:
        report.forecast[when.strftime("%Y-%m")][action] += group.records


def _add_review(report: RetentionReport, group: HoldingGroup) -> None:
    expires = group.disposition_date  # a review item's date is the end of its review period
    if expires is None:
        return
    if expires <= report.as_of:
        report.review_due[group.custodian] += group.records
    elif expires <= report.as_of + REVIEW_SOON:
        report.review_soon[group.custodian] += group.records


def write_json(report: RetentionReport, stream: TextIO) -> None:
    """The report as JSON, written to ``stream`` chunk by chunk."""
    for chunk in json.JSONEncoder(indent=2).iterencode(report.to_json()):
        stream.write(chunk)
    stream.write("\n")


CSV_HEADER = ["part", "schedule", "custodian", "period", "action", "records", "bytes"]


def render_retention_csv(report: RetentionReport) -> str:
    """One CSV row per count, the ``part`` column naming which part of the report it belongs to."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(_csv_rows(report))
    return out.getvalue()


def _csv_rows(report: RetentionReport) -> Iterable[list[object]]:
    for (item, year), tally in sorted(report.holdings.items()):
        yield ["holdings", item, "", year, "", tally.records, tally.bytes]
    for action, n in sorted(report.eligible.items()):
        yield ["eligible", "", "", f"on or before {report.as_of.isoformat()}", action, n, ""]
    for month in report.months:
        for action, n in sorted(report.forecast.get(month, Counter()).items()):
            yield ["forecast", "", "", month, action, n, ""]
    for coverage in report.holds:
        for (who, item), n in sorted(coverage.covered.items()):
            yield [f"hold {coverage.hold.name}", item, who, "", "", n, ""]
    for (item, event, who), n in sorted(report.awaiting.items()):
        yield ["awaiting event", item, who, event, "", n, ""]
    for who, n in sorted(report.unscheduled.items()):
        yield ["unscheduled", UNSCHEDULED, who, "", "", n, ""]
    for who in sorted(report.review_due.keys() | report.review_soon.keys()):
        yield ["review due", "", who, f"by {report.as_of.isoformat()}", "", report.review_due[who], ""]
        yield ["review due", "", who, "in the next 30 days", "", report.review_soon[who], ""]


def render_retention(report: RetentionReport) -> str:
    """The report as text for a terminal."""
    scope = f" for {report.custodian}" if report.custodian else ""
    lines = [f"Retention report{scope} as of {report.as_of.isoformat()}", "",
             "Holdings by schedule item and year sent (bytes: sealed message frames, attachments not counted)"]
    lines += [f"  {item:<16} {year}  {t.records:>10,} records  {t.bytes:>14,} bytes"
              for (item, year), t in sorted(report.holdings.items())] or ["  none"]
    if report.disposed:
        lines.append(f"  ({report.disposed:,} records already destroyed are not counted)")
    eligible = ", ".join(f"{n:,} {a}" for a, n in sorted(report.eligible.items())) or "none"
    lines += ["", f"Eligible on or before {report.as_of.isoformat()}: {eligible} ({report.eligible_held:,} under hold)",
              "", f"Forecast of disposition dates, {report.months[0]} to {report.months[-1]}"]
    lines += [f"  {m}  " + ", ".join(f"{n:,} {a}" for a, n in sorted(report.forecast[m].items()))
              for m in report.months if report.forecast.get(m)] or ["  nothing comes due"]
    lines += ["", "Active holds"]
    lines += [f"  {h.hold.name}: {sum(h.covered.values()):,} records" + "".join(
        f"\n    {who} / {item}: {n:,}" for (who, item), n in sorted(h.covered.items()))
        for h in report.holds] or ["  none"]
    lines += ["", "Records awaiting a cutoff event"]
    lines += [f"  {item} ({event}) {who}: {n:,}" for (item, event, who), n in sorted(report.awaiting.items())] \
        or ["  none"]
    lines += ["", "Unscheduled records by custodian"]
    lines += [f"  {who}: {n:,}" for who, n in sorted(report.unscheduled.items())] or ["  none"]
    lines += ["", "Review items due (review period ends)"]
    lines += [f"  {who}: {report.review_due[who]:,} by {report.as_of.isoformat()}, "
              f"{report.review_soon[who]:,} in the next 30 days"
              for who in sorted(report.review_due.keys() | report.review_soon.keys())] or ["  none"]
    return "\n".join(lines)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
