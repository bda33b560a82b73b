"""``archiver report``: the 2911 forwarding report and the completeness report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archiver.cli import common
from archiver.services.completeness import completeness_report, render_completeness, render_completeness_csv
from archiver.services.report_html import render_html
from archiver.services.reports import forwarding_report, render_csv, render_forwarding


def register(commands: Any) -> None:
    """Add ``report forwarding`` and ``report completeness``."""
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


def _report_forwarding(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "run reports")
        catalog = archive.catalog
        disposed = {s.name: s.disposed_at for s in catalog.segments() if s.disposed_at is not None}
        report = forwarding_report(catalog.rows(), catalog.last_sync_by_account(), catalog.custodians(), common.now(),
                                   disposed)
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif args.csv:
        sys.stdout.write(render_csv(report))
    elif not args.html:
        print(render_forwarding(report))
    return 1 if args.fail_on_late and report.late else 0


def _report_completeness(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "run reports")
        report = completeness_report(archive.catalog.rows(label="record"))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif args.csv:
        sys.stdout.write(render_completeness_csv(report))
    else:
        print(render_completeness(report))
    return 0
