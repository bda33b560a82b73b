"""The ``archiver`` command: a thin shell over the service functions.

Exit codes: 0 success, 1 a finding (verify found damage; a report found late records when
asked to fail on them), 2 bad input or usage. Errors name the file, line and cause.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from archiver import __version__
from archiver.archive import Archive, init_archive
from archiver.classify import Classifier, load_rules
from archiver.config import Settings, load_settings, load_zone
from archiver.connector import Connector, ConnectorRegistry, ParseContext, ParsedItem, messages_only
from archiver.errors import ArchiverError, Rejection, UsageError
from archiver.ingest import IngestOptions, Ingestor
from archiver.receipt import render_receipt
from archiver.reports import forwarding_report, render_forwarding
from archiver.retention import load_schedules
from archiver.verify import verify


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except ArchiverError as exc:
        print(f"archiver: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("archiver: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archiver", description="Records-retention archiver for messaging apps.")
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("--config", help="configuration file (default: $ARCHIVER_CONFIG or ./archiver.yaml)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    init = commands.add_parser("init", help="create an archive (config, key file, store, catalog)")
    init.add_argument("directory", nargs="?", default=".", help="folder to initialise (default: .)")
    init.set_defaults(handler=_cmd_init)

    ingest = commands.add_parser("ingest", help="archive exported chats and print the receipt")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--custodian", required=True, help="whose export this is")
    ingest.add_argument("--account", choices=("personal", "official"), default="personal",
                        help="the account the export comes from (default: personal)")
    _add_parse_options(ingest)
    ingest.add_argument("--json", action="store_true", help="print the receipt as one JSON object")
    ingest.set_defaults(handler=_cmd_ingest)

    parse = commands.add_parser("parse", help="print normalized JSONL; stores nothing")
    parse.add_argument("file", type=Path, metavar="FILE")
    parse.add_argument("--custodian", default="", help="custodian (tells sent from received)")
    _add_parse_options(parse)
    parse.set_defaults(handler=_cmd_parse)

    classify = commands.add_parser("classify", help="record/nonrecord decision per message; stores nothing")
    classify.add_argument("file", type=Path, metavar="FILE")
    classify.add_argument("--custodian", default="", help="custodian (tells sent from received)")
    _add_parse_options(classify)
    classify.add_argument("--json", action="store_true", help="one JSON object per message")
    classify.set_defaults(handler=_cmd_classify)

    report = commands.add_parser("report", help="compliance reports")
    reports = report.add_subparsers(title="reports", metavar="REPORT")
    forwarding = reports.add_parser("forwarding", help="44 U.S.C. 2911 status per record and custodian")
    forwarding.add_argument("--json", action="store_true")
    forwarding.add_argument("--fail-on-late", action="store_true", help="exit 1 when any record is late")
    forwarding.set_defaults(handler=_cmd_report_forwarding)

    connectors = commands.add_parser("connectors", help="list the installed connectors")
    connectors.add_argument("--json", action="store_true")
    connectors.set_defaults(handler=_cmd_connectors)

    check = commands.add_parser("verify", help="recheck every object, envelope, catalog entry and the audit chain")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_cmd_verify)
    return parser


def _add_parse_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--connector", default="auto", help="connector name, or auto (default) to detect")
    command.add_argument("--tz", help="IANA zone for exports that carry local times (e.g. America/New_York)")


def _settings(args: argparse.Namespace, cwd: Path | None = None) -> Settings:
    return load_settings(args.config, cwd=cwd)


def _cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    result = init_archive(directory, _settings(args, cwd=directory.resolve()))
    made = [what for what, new in (("archiver.yaml", result.config_created), ("key file", result.key_created)) if new]
    print(f"Archive ready in {result.directory} (key {result.key_id})"
          + (f"; created {', '.join(made)}" if made else "; already initialised"))
    if result.key_created:
        print("Keep a copy of the key file somewhere safe and apart from the archive: without it "
              "nothing in the archive can be read.")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    registry = ConnectorRegistry.from_entry_points()
    if args.connector != "auto":
        registry.get(args.connector)
    archive = Archive.open(settings)
    try:
        options = IngestOptions(custodian=args.custodian, connector=args.connector, tz=args.tz,
                                account=args.account, actor=_actor())
        ingestor = Ingestor(archive, registry, Classifier(load_rules(settings.rules)),
                            load_schedules(settings.schedules), options, _now())
        receipt = ingestor.run(args.files)
    finally:
        archive.close()
    if args.json:
        print(json.dumps(receipt.to_json(), indent=2))
    else:
        print(render_receipt(receipt))
    for refused in receipt.refused:
        print(f"archiver: error: {refused.file}: {refused.refused}", file=sys.stderr)
    return receipt.exit_code


def _cmd_parse(args: argparse.Namespace) -> int:
    rejected = 0
    for item in _parse_items(args):
        if isinstance(item, Rejection):
            rejected += _report_rejection(item)
        else:
            _write_json(sys.stdout, item.to_json())
    return 2 if rejected else 0


def _cmd_classify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    classifier = Classifier(load_rules(settings.rules))
    rejections: list[Rejection] = []
    for message, result in classifier.classify_stream(messages_only(_parse_items(args, settings), rejections)):
        if args.json:
            _write_json(sys.stdout, {**result.to_json(), "sent_at": message.sent_at.isoformat(),
                                     "sender": message.sender, "source_ref": message.source_ref.to_json()})
        else:
            print(f"{result.label:<9} {result.confidence:4.2f}  {result.schedule or '-':<12} "
                  f"{message.sent_at.isoformat()}  {','.join(result.reasons)}")
    for rejection in rejections:
        _report_rejection(rejection)
    return 2 if rejections else 0


def _cmd_report_forwarding(args: argparse.Namespace) -> int:
    archive = Archive.open(_settings(args))
    try:
        report = forwarding_report(archive.catalog.rows(label="record"), archive.catalog.last_sync(), _now())
    finally:
        archive.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render_forwarding(report))
    return 1 if args.fail_on_late and report.late else 0


def _cmd_connectors(args: argparse.Namespace) -> int:
    registry = ConnectorRegistry.from_entry_points()
    if args.json:
        print(json.dumps([{"name": c.name, "description": c.description} for c in registry.all()], indent=2))
    else:
        for connector in registry.all():
            print(f"{connector.name:<12} {connector.description}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    archive = Archive.open(_settings(args))
    try:
        report = verify(archive)
    finally:
        archive.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"Checked {report.segments} segments, {report.frames} frames, {report.records} catalogued records, "
              f"{report.audit_entries} audit entries: {'OK' if report.ok else f'{len(report.problems)} problem(s)'}")
        for problem in report.problems:
            print(f"  {problem}")
    return 0 if report.ok else 1


def _parse_items(args: argparse.Namespace, settings: Settings | None = None) -> Iterator[ParsedItem]:
    settings = settings or _settings(args)
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    registry = ConnectorRegistry.from_entry_points()
    connector: Connector = registry.detect(args.file) if args.connector == "auto" else registry.get(args.connector)
    zone = load_zone(args.tz) if args.tz else settings.zone_for(args.custodian, None)
    names = settings.custodian(args.custodian).names
    yield from connector.parse(args.file, ParseContext(custodian=args.custodian, tz=zone, custodian_names=names))


def _report_rejection(rejection: Rejection) -> int:
    where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
    print(f"archiver: rejected {where}: {rejection.reason}", file=sys.stderr)
    return 1


def _write_json(stream: TextIO, value: dict[str, Any]) -> None:
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _now() -> datetime:
    return datetime.now(timezone.utc)
