"""``archiver report``: the 2911 forwarding report, the completeness report, the disclosure
accounting, the deleted-message reconciliation (gaps) and the retention report."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from archiver.cli import common, progress
from archiver.errors import UsageError
from archiver.services.completeness import completeness_report, render_completeness, render_completeness_csv
from archiver.services.disclosures import (
    CsvWriter,
    DisclosureWriter,
    HtmlWriter,
    JsonWriter,
    TextWriter,
    disclosures,
    write_disclosures,
)
from archiver.services.forwarding_parts import pass_catalog
from archiver.services.gaps import gaps_report, render_gaps, render_gaps_csv
from archiver.services.report_html import render_html
from archiver.services.reports import CsvSink, JsonSink, render_forwarding, report_of
from archiver.services.retention_html import render_retention_html
from archiver.services.retention_report import render_retention, render_retention_csv, retention_report, write_json


def register(commands: Any) -> None:
    """Add ``report forwarding``, ``completeness``, ``disclosures``, ``gaps`` and ``retention``."""
    report = commands.add_parser("report", help="compliance reports")
    reports = report.add_subparsers(title="reports", metavar="REPORT")
    common.needs_choice(report, reports, "a report")
    forwarding = reports.add_parser("forwarding", help="44 U.S.C. 2911 status per record and custodian")
    output = forwarding.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per record")
    forwarding.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page with charts")
    forwarding.add_argument("--fail-on-late", action="store_true", help="exit 1 when any record is late")
    forwarding.set_defaults(handler=_report_forwarding)
    completeness = reports.add_parser("completeness", help="records an export left incomplete, and how")
    output = completeness.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per incomplete record")
    completeness.set_defaults(handler=_report_completeness)
    disclosures = reports.add_parser("disclosures", help="personal information sent to foreign officials and "
                                                         "outside parties (5 U.S.C. 552a(c) accounting)")
    output = disclosures.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per disclosure")
    disclosures.add_argument("--html", type=Path, metavar="FILE", help="also write a printable HTML page")
    disclosures.add_argument("--from", dest="start", type=common.day, metavar="YYYY-MM-DD", help="sent on or after")
    disclosures.add_argument("--to", dest="end", type=common.day, metavar="YYYY-MM-DD", help="sent on or before")
    disclosures.add_argument("--custodian", help="custodian id, name or alias")
    disclosures.set_defaults(handler=_report_disclosures)
    gaps = reports.add_parser("gaps", help="messages one custodian's export shows that the sender's own export lacks")
    output = gaps.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per possibly deleted message")
    gaps.add_argument("--custodian", help="custodian id, name or alias: gaps where they hold or lack the message")
    gaps.set_defaults(handler=_report_gaps)
    retention = reports.add_parser("retention", help="holdings by schedule item, the disposition forecast, holds, "
                                                     "records awaiting an event, unscheduled records, reviews due")
    output = retention.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per count")
    retention.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page with charts")
    retention.add_argument("--as-of", type=common.day, metavar="YYYY-MM-DD", help="the report's day (default: today)")
    retention.add_argument("--custodian", help="custodian id, name or alias")
    retention.set_defaults(handler=_report_retention)


def _report_forwarding(args: argparse.Namespace) -> int:
    sink: JsonSink | CsvSink | None = JsonSink() if args.json else CsvSink(sys.stdout) if args.csv else None
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "run reports")
        catalog = archive.catalog
        disposed = {s.name: s.disposed_at for s in catalog.segments() if s.disposed_at is not None}
        with progress.bar("report forwarding", "rows", quiet=args.json) as advance:
            gathered, later = pass_catalog(catalog, disposed, sink, lambda rows: progress.counted(rows, advance),
                                           advance)
        report = report_of(gathered, catalog.last_sync_by_account(), catalog.custodians(), common.now(), disposed)
    if args.html:
        with _html_file(args.html) as page:
            page.write(render_html(report))
    if isinstance(sink, JsonSink):
        sink.write(report, sys.stdout, later)
    elif sink is None and not args.html:
        print(render_forwarding(report))
    return 1 if args.fail_on_late and report.late_count else 0


def _report_completeness(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "run reports")
        with progress.bar("report completeness", "rows", quiet=args.json) as advance:
            report = completeness_report(progress.counted(archive.catalog.rows(label="record"), advance))
    return _emit(args, report, render_completeness, render_completeness_csv)


def _report_disclosures(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        now = common.now()
        found = disclosures(archive, common.actor(archive.settings), now, args.start, args.end, args.custodian)
        with contextlib.ExitStack() as files:
            writers: list[DisclosureWriter] = []
            if args.html:
                writers.append(HtmlWriter(files.enter_context(_html_file(args.html)), now))
            if args.json:
                writers.append(JsonWriter(sys.stdout, now))
            elif args.csv:
                writers.append(CsvWriter(sys.stdout))
            elif not args.html:
                writers.append(TextWriter(sys.stdout, now))
            write_disclosures(found, writers)
    return 0


def _html_file(path: Path) -> TextIO:
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the HTML page ({exc.strerror})") from None


def _report_gaps(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        report = gaps_report(archive, common.actor(archive.settings), common.now(), args.custodian)
    return _emit(args, report, render_gaps, render_gaps_csv)


def _report_retention(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        report = retention_report(archive, common.actor(archive.settings), common.now(), args.as_of, args.custodian)
    if args.html:
        with _html_file(args.html) as page:
            page.write(render_retention_html(report))
    if args.json:
        write_json(report, sys.stdout)
    elif args.csv:
        sys.stdout.write(render_retention_csv(report))
    elif not args.html:
        print(render_retention(report))
    return 0


def _emit(args: argparse.Namespace, report: Any, text: Callable[[Any], str], csv: Callable[[Any], str]) -> int:
    """Print a report as JSON, CSV or text, as the options ask."""
    if args.json:  # written as it is encoded, never as one text
        sys.stdout.writelines(json.JSONEncoder(indent=2).iterencode(report.to_json()))
        sys.stdout.write("\n")
    elif args.csv:
        sys.stdout.write(csv(report))
    else:
        print(text(report))
    return 0
