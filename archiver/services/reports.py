"""The 44 U.S.C. 2911 forwarding report: status per record, totals per custodian and month,
custodians at risk, and records that may have been unlawfully disposed of."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring
from operator import attrgetter
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


@dataclass
class RowPass:
    """What a pass over catalog rows gathers for the report: counts, and the few rows it lists.

    Passes over consecutive runs of each custodian's rows (``merged``) gather what one pass over
    them all would: the report can be read by two processes at once.
    """

    # Records by (custodian, direction, month sent, status): one count a row, split up at the end.
    counts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    late: list[ReportRow] = field(default_factory=list)  # the first LATE_SHOWN, in catalog order
    deleted: list[ReportRow] = field(default_factory=list)  # few: messages the export says were deleted
    business_threads: set[str] = field(default_factory=set)  # conversations holding a record
    late_count: int = 0
    records: int = 0
    disposed: int = 0

    def add(self, row: ReportRow, disposed: bool) -> None:
        """Count one record."""
        status = row.forwarding_status
        self.counts[row.custodian, row.direction, row.sent_at[:7], status] += 1  # YYYY-MM of UTC ISO text
        self.records += 1
        self.disposed += disposed
        if status == Status.LATE:
            self.late_count += 1
            if len(self.late) < LATE_SHOWN:
                self.late.append(row)

    def merged(self, later: RowPass) -> RowPass:
        """This pass and one over the later run of each custodian's rows, as one pass over both."""
        return RowPass(self.counts + later.counts, _in_catalog_order(self.late, later.late)[:LATE_SHOWN],
                       _in_catalog_order(self.deleted, later.deleted), self.business_threads | later.business_threads,
                       self.late_count + later.late_count, self.records + later.records,
                       self.disposed + later.disposed)

    def totals(self) -> tuple[dict[str, CustodianTotals], dict[str, Counter[str]]]:
        """The counts per custodian (and direction) and per month."""
        totals: dict[str, CustodianTotals] = {}
        months: dict[str, Counter[str]] = defaultdict(Counter)
        for (custodian, direction, month, status), count in self.counts.items():
            entry = totals.get(custodian) or totals.setdefault(custodian, CustodianTotals(custodian))
            entry.counts[status] += count
            entry.by_direction[direction][status] += count
            months[month][status] += count
        return totals, dict(months)


def _in_catalog_order(earlier: list[ReportRow], later: list[ReportRow]) -> list[ReportRow]:
    """Rows of two runs in catalog order: custodians in the order of their ids (as the catalog
    lists them), the earlier run first within each (a stable sort keeps each run's order)."""
    return sorted(earlier + later, key=attrgetter("custodian"))


def pass_rows(rows: Iterable[ReportRow], disposed_segments: Mapping[str, datetime],
              sink: RecordSink | None = None) -> RowPass:
    """One pass over catalog rows (records and tombstones): each record counted and handed to ``sink``."""
    gathered = RowPass()
    deleted, business_threads = gathered.deleted, gathered.business_threads
    for row in rows:
        if row.deleted:
            deleted.append(row)
        if row.label != "record":
            continue
        if not row.system:
            business_threads.add(row.conversation_ref)
        gone = disposed_at(row, disposed_segments)
        gathered.add(row, gone is not None)
        if sink is not None:
            sink.add(row, gone)
    return gathered


def report_of(gathered: RowPass, last_sync: Mapping[tuple[str, str], datetime], custodians: Iterable[Custodian],
              now: datetime, disposed_segments: Mapping[str, datetime]) -> ForwardingReport:
    """The report from what the passes over the rows gathered, with syncs and the registry."""
    totals, months = gathered.totals()
    for account in account_syncs(last_sync, custodians, now):
        totals.setdefault(account.custodian, CustodianTotals(account.custodian)).accounts.append(account)
    for (custodian_id, _app), at in last_sync.items():
        entry = totals.setdefault(custodian_id, CustodianTotals(custodian_id))
        entry.last_sync = max(entry.last_sync or at, at)
    threads = gathered.business_threads
    return ForwardingReport(now, [totals[c] for c in sorted(totals)], months,
                            [r for r in gathered.deleted if r.conversation_ref in threads], gathered.late,
                            gathered.late_count, gathered.records, gathered.disposed, disposed_segments)


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
    """``--csv``: one row per record, written as it passes; or, ``spooled``, kept in a ``Spool``
    (as ``JsonSink`` keeps its lines) until ``write_joined`` writes the runs of several processes
    in catalog order."""

    def __init__(self, out: TextIO, spooled: bool = False) -> None:
        self.out = out
        self.records = Spool() if spooled else None
        self._line = io.StringIO()
        self._custodian: str | None = None
        self.writer = csv.DictWriter(self._line if spooled else out, fieldnames=CSV_FIELDS, lineterminator="\n")
        if not spooled:
            self.writer.writeheader()

    @property
    def spools(self) -> tuple[Spool, ...]:
        return () if self.records is None else (self.records,)

    def add(self, row: ReportRow, disposed_at: datetime | None) -> None:
        if self.records is None:
            self.writer.writerow(record_json(row, disposed_at))
            return
        if row.custodian != self._custodian:
            self._custodian = row.custodian
            self.records.mark(row.custodian)
        self._line.seek(0)
        self._line.truncate()
        self.writer.writerow(record_json(row, disposed_at))
        self.records.file.write(self._line.getvalue().encode())

    def spooled(self) -> CsvSink:
        """A sink for one process's run of the rows, to be written to this one's output by ``write_joined``."""
        return CsvSink(self.out, spooled=True)

    def flush(self) -> None:
        for spool in self.spools:
            spool.file.flush()

    def write_joined(self, runs: Sequence[CsvSink]) -> None:
        """After the header, the lines ``runs`` spooled, each run a later part of every custodian's
        rows than the one before, in catalog order; then close their spools."""
        write = _bytes_writer(self.out)  # the header, written already, is flushed first
        with contextlib.ExitStack() as spools:
            for run in runs:
                spools.enter_context(run.records.file)  # type: ignore[union-attr]
            for block in joined([run.records for run in runs]):  # type: ignore[misc]
                write(block + b"\n")


class Spool:
    """Encoded lines in an anonymous temporary file (unlinked from the start: nothing is left
    behind, even by a killed run), and where each custodian's lines begin."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.spans: list[tuple[str, int]] = []  # (custodian, offset of its first line), in order

    def mark(self, custodian: str) -> None:
        """The lines written next are ``custodian``'s."""
        self.spans.append((custodian, self.file.tell()))

    def blocks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The lines from ``start`` to ``end`` (or the end), a run of whole lines at a time, each
        run without its last newline: read in large blocks, not a line at a time."""
        self.file.flush()
        left = (self.file.seek(0, 2) if end is None else end) - start
        self.file.seek(start)
        rest = b""
        while left > 0:
            data = rest + self.file.read(min(left, SPOOL_BLOCK))
            left -= len(data) - len(rest)
            cut = data.rfind(b"\n") + 1
            data, rest = data[:cut], data[cut:]
            if data:
                yield data[:-1]

    def ranges(self) -> dict[str, tuple[int, int]]:
        """Where each custodian's lines lie."""
        ends = [offset for _, offset in self.spans[1:]] + [self.file.seek(0, 2)]
        return {custodian: (start, end) for (custodian, start), end in zip(self.spans, ends, strict=True)}


SPOOL_BLOCK = 1 << 20


def joined(spools: Sequence[Spool]) -> Iterator[bytes]:
    """The lines of spools that each took a later run of every custodian's rows than the one
    before, in catalog order: by custodian (as the catalog lists them, by id), then run by run."""
    if len(spools) == 1:
        yield from spools[0].blocks()
        return
    ranges = [spool.ranges() for spool in spools]
    for custodian in sorted({c for spool in spools for c, _ in spool.spans}):
        for spool, where in zip(spools, ranges, strict=True):
            if custodian in where:
                yield from spool.blocks(*where[custodian])


class JsonSink:
    """``--json``: the whole report as one JSON object, each record a line of its own.

    The summary comes first in the document but is known only after the last row, so the late
    records and the records are spooled, already encoded. They hold what the catalog holds (ids,
    custodian ids, dates, statuses), never message text.
    """

    def __init__(self) -> None:
        self.late, self.records = Spool(), Spool()
        self._custodian: str | None = None
        self._write_late, self._write_record = self.late.file.write, self.records.file.write

    def add(self, row: ReportRow, disposed_at: datetime | None) -> None:
        if row.custodian != self._custodian:
            self._custodian = row.custodian
            self.late.mark(row.custodian)
            self.records.mark(row.custodian)
        line = f"{record_line(row, disposed_at)}\n".encode()
        if row.forwarding_status == Status.LATE:
            self._write_late(line)
        self._write_record(line)

    @property
    def spools(self) -> tuple[Spool, ...]:
        return self.late, self.records

    def flush(self) -> None:
        """Write what is buffered to the spools' files (which a forked process shares)."""
        self.late.file.flush()
        self.records.file.flush()

    def write(self, report: ForwardingReport, out: TextIO, later: Sequence[JsonSink] = ()) -> None:
        """Write the document to ``out``: the summary, then every list, then close the spools.
        ``later``: sinks that took later runs of each custodian's rows (``pass_rows``), joined in."""
        write = _bytes_writer(out)
        write(json.dumps(report.summary_json(), indent=2, ensure_ascii=False)[:-2].encode() + b",\n")
        candidates = ["\n".join(json.dumps(candidate_json(r), ensure_ascii=False)
                                for r in report.unlawful_disposition_candidates).encode()]
        sinks = (self, *later)
        with contextlib.ExitStack() as spools:
            for spool in (spool for sink in sinks for spool in (sink.late, sink.records)):
                spools.enter_context(spool.file)
            _json_list(write, "late", joined([sink.late for sink in sinks]))
            write(b",\n")
            _json_list(write, "unlawful_disposition_candidates", candidates)
            write(b",\n")
            _json_list(write, "records", joined([sink.records for sink in sinks]))
        write(b"\n}\n")


def _bytes_writer(out: TextIO) -> Callable[[bytes], object]:
    """Write UTF-8 to ``out``'s byte stream when it has one (the spooled lines are already
    encoded, so hundreds of megabytes are not decoded and encoded again), else decode."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        return lambda data: out.write(data.decode("utf-8"))
    out.flush()
    return buffer.write  # type: ignore[no-any-return]


def _json_list(write: Callable[[bytes], object], key: str, blocks: Iterable[bytes]) -> None:
    """``"key": [...]`` inside the report's object, one encoded item a line; ``blocks`` are runs
    of items, one a line, each run without its last newline."""
    write(f"  {json.dumps(key)}: [".encode())
    first = True
    for block in blocks:
        if block:
            write((b"\n    " if first else b",\n    ") + block.replace(b"\n", b",\n    "))
            first = False
    write(b"]" if first else b"\n  ]")


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
