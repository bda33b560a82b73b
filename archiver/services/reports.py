"""The 44 U.S.C. 2911 forwarding report: status per record, totals per custodian and month,
custodians at risk, and records that may have been unlawfully disposed of."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Protocol, TextIO

from archiver.core.apps import account_app
from archiver.core.custodians import Custodian
from archiver.core.forwarding import Status, is_at_risk
from archiver.model import utc_iso
from archiver.storage.catalog import ReportRow

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


_str = encode_basestring  # a str as a JSON string, as json.dumps(..., ensure_ascii=False) writes it
LATE_SHOWN = 1000  # late records the text and HTML pages list; --json and --csv give every one


@dataclass
class ForwardingReport:
    """Totals per custodian and per month of creation, and the first late records.

    It holds aggregates only, so it stays small however many records the archive holds; the
    records themselves go to a ``RecordSink`` as the rows pass (``--json``, ``--csv``).
    """

    generated_at: datetime
    custodians: list[CustodianTotals]
    months: dict[str, Counter[str]]
    unlawful_disposition_candidates: list[ReportRow]
    late: list[ReportRow]  # the first LATE_SHOWN late records, in catalog order
    late_count: int = 0
    records: int = 0
    disposed: int = 0  # records lawfully destroyed under their schedules
    disposed_segments: Mapping[str, datetime] = field(default_factory=dict)  # segment -> when destroyed

    @property
    def totals(self) -> Counter[str]:
        return sum((c.counts for c in self.custodians), Counter())

    @property
    def at_risk(self) -> list[AccountSync]:
        return [a for c in self.custodians for a in c.accounts if a.at_risk]

    def disposed_at(self, row: ReportRow) -> datetime | None:
        """When disposition destroyed ``row``'s record, or None while it is held."""
        return disposed_at(row, self.disposed_segments)

    def summary_json(self) -> dict[str, Any]:
        """The report's JSON object up to its record lists (``late``, candidates, ``records``)."""
        totals = self.totals
        return {
            "generated_at": utc_iso(self.generated_at),
            "totals": {s.value: totals[s] for s in STATUSES},
            "on_time_rate": on_time_rate(totals),
            "custodians": [c.to_json() for c in self.custodians],
            "months": {m: {s.value: c[s] for s in STATUSES} | {"on_time_rate": on_time_rate(c)}
                       for m, c in sorted(self.months.items())},
            "at_risk": [a.to_json() for a in self.at_risk],
            "disposed": self.disposed,
        }


class RecordSink(Protocol):
    """What takes each record of the forwarding report as the catalog rows pass."""

    def add(self, row: ReportRow, disposed_at: datetime | None) -> None: ...


def disposed_at(row: ReportRow, disposed_segments: Mapping[str, datetime]) -> datetime | None:
    """When disposition destroyed ``row``'s segment (its row stays in the catalog), or None."""
    return disposed_segments.get(row.segment) if row.segment is not None else None


def forwarding_report(rows: Iterable[ReportRow], last_sync: Mapping[tuple[str, str], datetime],
                      custodians: Iterable[Custodian], now: datetime,
                      disposed_segments: Mapping[str, datetime] | None = None,
                      sink: RecordSink | None = None) -> ForwardingReport:
    """Build the report in one pass over every catalog row (records and tombstones), with syncs and the registry.

    ``disposed_segments`` (segment name -> when it was destroyed) flags the records disposition
    destroyed: their rows stay in the catalog, but they are no longer held. Each record goes to
    ``sink`` as it passes; only counts, conversation refs and deleted messages are kept.
    """
    gone = disposed_segments or {}
    report = ForwardingReport(now, [], {}, [], [], disposed_segments=gone)
    totals: dict[str, CustodianTotals] = {}
    months: dict[str, Counter[str]] = defaultdict(Counter)
    deleted, business_threads = [], set()
    for row in rows:
        if row.deleted:
            deleted.append(row)  # few: messages the export says were deleted
        if row.label != "record":
            continue
        if not row.system:
            business_threads.add(row.conversation_ref)
        gone = disposed_at(row, report.disposed_segments)
        _count(report, totals, months, row, gone is not None)
        if sink is not None:
            sink.add(row, gone)
    for account in account_syncs(last_sync, custodians, now):
        totals.setdefault(account.custodian, CustodianTotals(account.custodian)).accounts.append(account)
    for (custodian_id, _app), at in last_sync.items():
        entry = totals.setdefault(custodian_id, CustodianTotals(custodian_id))
        entry.last_sync = max(entry.last_sync or at, at)
    report.custodians, report.months = [totals[c] for c in sorted(totals)], dict(months)
    report.unlawful_disposition_candidates = [r for r in deleted if r.conversation_ref in business_threads]
    return report


def _count(report: ForwardingReport, totals: dict[str, CustodianTotals], months: dict[str, Counter[str]],
           row: ReportRow, disposed: bool) -> None:
    status = row.forwarding_status
    entry = totals.get(row.custodian) or totals.setdefault(row.custodian, CustodianTotals(row.custodian))
    entry.counts[status] += 1
    entry.by_direction[row.direction][status] += 1
    months[row.sent_at[:7]][status] += 1  # YYYY-MM of a UTC ISO timestamp
    report.records += 1
    report.disposed += disposed
    if status == Status.LATE:
        report.late_count += 1
        if len(report.late) < LATE_SHOWN:
            report.late.append(row)


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
    lines.append(f"Late records: {report.late_count}")
    for row in report.late:
        gone = report.disposed_at(row)
        lines.append(f"  {row.id}  {row.custodian}  {row.direction:<8} {row.sent_at}  "
                     f"deadline {row.deadline or '-'}  {row.days_late} days late"
                     + (f"  DISPOSED {utc_iso(gone)}" if gone else ""))
    if report.late_count > len(report.late):
        lines.append(f"  ... and {report.late_count - len(report.late)} more (--json and --csv list every one)")
    if report.disposed:
        lines.append(f"Disposed of under their schedules: {report.disposed} record(s), no longer held "
                     "(--json and --csv give each one's disposed_at)")
    candidates = report.unlawful_disposition_candidates
    if candidates:
        lines.append(f"Possible unlawful disposition (36 CFR 1230): {len(candidates)} message(s) deleted "
                     "in threads that hold records")
        for row in candidates:
            lines.append(f"  {row.id}  {row.custodian}  {row.source}  deleted message sent {row.sent_at}")
    return "\n".join(lines)


class CsvSink:
    """``--csv``: one row per record, written as it passes."""

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        self.writer.writeheader()

    def add(self, row: ReportRow, disposed_at: datetime | None) -> None:
        self.writer.writerow(record_json(row, disposed_at))


class JsonSink:
    """``--json``: the whole report as one JSON object, each record a line of its own.

    The summary comes first in the document but is known only after the last row, so the late
    records and the records are spooled, already encoded, to two anonymous temporary files
    (unlinked from the start: nothing is left behind, even by a killed run). They hold what the
    catalog holds (ids, custodian ids, dates, statuses), never message text.
    """

    def __init__(self) -> None:
        self.late = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.records = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, row: ReportRow, disposed_at: datetime | None) -> None:
        line = record_line(row, disposed_at)
        if row.forwarding_status == Status.LATE:
            self.late.write(line + "\n")
        self.records.write(line + "\n")

    def write(self, report: ForwardingReport, out: TextIO) -> None:
        """Write the document to ``out``: the summary, then every list, then close the spools."""
        out.write(json.dumps(report.summary_json(), indent=2, ensure_ascii=False)[:-2] + ",\n")
        candidates = (json.dumps(candidate_json(r), ensure_ascii=False) for r in report.unlawful_disposition_candidates)
        with self.late, self.records:
            _json_list(out, "late", _spooled(self.late))
            out.write(",\n")
            _json_list(out, "unlawful_disposition_candidates", candidates)
            out.write(",\n")
            _json_list(out, "records", _spooled(self.records))
        out.write("\n}\n")


def _spooled(spool: TextIO) -> Iterator[str]:
    spool.seek(0)
    return (line.rstrip("\n") for line in spool)


def _json_list(out: TextIO, key: str, items: Iterable[str]) -> None:
    """``"key": [...]`` inside the report's object, one encoded item a line."""
    out.write(f"  {json.dumps(key)}: [")
    separator = "\n    "
    for item in items:
        out.write(separator + item)
        separator = ",\n    "
    out.write("\n  ]" if separator != "\n    " else "]")


def csv_text(fields: list[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header line, one line per row (every report's ``--csv``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def record_json(row: ReportRow, disposed_at: datetime | None = None) -> dict[str, Any]:
    """One record's 2911 facts, as in the JSON and CSV reports; ``disposed_at`` once destroyed."""
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "direction": row.direction,
            "account": row.account, "sent_at": row.sent_at, "ingested_at": row.ingested_at,
            "deadline": row.deadline, "status": row.forwarding_status,
            "days_late": row.days_late, "schedule": row.schedule,
            "disposed_at": utc_iso(disposed_at) if disposed_at else None}


def record_line(row: ReportRow, disposed_at: datetime | None = None) -> str:
    """``record_json`` encoded as one line of JSON, written out field by field: a third of what
    json's encoder costs per record, which counts at a million records."""
    return (f'{{"id": {_str(row.id)}, "custodian": {_str(row.custodian)}, "source": {_str(row.source)}, '
            f'"direction": {_str(row.direction)}, "account": {_str(row.account)}, "sent_at": {_str(row.sent_at)}, '
            f'"ingested_at": {_str(row.ingested_at)}, "deadline": {_optional(row.deadline)}, '
            f'"status": {_str(row.forwarding_status)}, "days_late": {int(row.days_late)}, '
            f'"schedule": {_optional(row.schedule)}, '
            f'"disposed_at": {_str(utc_iso(disposed_at)) if disposed_at else "null"}}}')


def _optional(text: str | None) -> str:
    return "null" if text is None else _str(text)


def candidate_json(row: ReportRow) -> dict[str, Any]:
    """A message the export says was deleted: where it was, and which export and line tell."""
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "conversation_ref": row.conversation_ref,
            "sent_at": row.sent_at, "source_line": row.source_line, "export_sha256": row.export_sha256}
