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
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from archiver import __version__
from archiver.archive import Archive, init_archive
from archiver.catalog import HoldRow
from archiver.catalog.base import hold_json
from archiver.completeness import completeness_report, render_completeness, render_completeness_csv
from archiver.compliance import custodian_overview, register_custodian, sweep
from archiver.config import ROLE_SCHEDULE, Settings, load_settings, load_zone
from archiver.connector import (
    DATE_ORDERS,
    Connector,
    ConnectorRegistry,
    ParseContext,
    ParsedItem,
    check_export_file,
    messages_only,
)
from archiver.custodians import Custodian, PersonalAccount
from archiver.disposition import dispose_due, place_hold, release_hold
from archiver.errors import ArchiverError, Rejection, UsageError
from archiver.evaluation import evaluate, read_labeled, render_evaluation
from archiver.ingest import IngestOptions, Ingestor
from archiver.model import utc_iso
from archiver.notifiers import open_notifier
from archiver.receipt import render_receipt
from archiver.report_html import render_html
from archiver.reports import forwarding_report, render_csv, render_forwarding
from archiver.retention import load_schedules
from archiver.review import DECISIONS, decide, expire_reviews, list_reviews, open_review
from archiver.services import build_classifier
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
    classify.add_argument("file", type=Path, metavar="FILE", nargs="?")
    classify.add_argument("--evaluate", type=Path, metavar="LABELED",
                          help="measure the rules on labeled JSONL: precision, recall, confusion, errors")
    classify.add_argument("--custodian", default="", help="custodian (tells sent from received)")
    _add_parse_options(classify)
    classify.add_argument("--json", action="store_true", help="one JSON object per message")
    classify.set_defaults(handler=_cmd_classify)

    report = commands.add_parser("report", help="compliance reports")
    reports = report.add_subparsers(title="reports", metavar="REPORT")
    forwarding = reports.add_parser("forwarding", help="44 U.S.C. 2911 status per record and custodian")
    output = forwarding.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per record")
    forwarding.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page with charts")
    forwarding.add_argument("--fail-on-late", action="store_true", help="exit 1 when any record is late")
    forwarding.set_defaults(handler=_cmd_report_forwarding)
    completeness = reports.add_parser("completeness", help="records an export left incomplete, and how")
    output = completeness.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    output.add_argument("--csv", action="store_true", help="one CSV row per incomplete record")
    completeness.set_defaults(handler=_cmd_report_completeness)

    _add_custodian_commands(commands)
    _add_review_commands(commands)
    _add_disposition_commands(commands)

    sweep_cmd = commands.add_parser("sweep", help="send due 2911 reminders and late/at-risk notices (once each)")
    sweep_cmd.add_argument("--json", action="store_true")
    sweep_cmd.set_defaults(handler=_cmd_sweep)

    connectors = commands.add_parser("connectors", help="list the installed connectors")
    connectors.add_argument("--json", action="store_true")
    connectors.set_defaults(handler=_cmd_connectors)

    check = commands.add_parser("verify", help="recheck every object, envelope, catalog entry and the audit chain")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_cmd_verify)
    return parser


def _add_custodian_commands(commands: Any) -> None:
    custodian = commands.add_parser("custodian", help="the custodian registry")
    actions = custodian.add_subparsers(title="actions", metavar="ACTION")
    add = actions.add_parser("add", help="register a custodian (or change one with --update)")
    add.add_argument("id", help="custodian id, as given to ingest --custodian")
    add.add_argument("--name", default="", help="full name (36 CFR 1236.22: handles resolve to real names)")
    add.add_argument("--role", choices=sorted(ROLE_SCHEDULE), help="Capstone role: selects the GRS 6.1 item")
    add.add_argument("--tz", help="IANA zone the custodian's exports are read in")
    add.add_argument("--supervisor", help="supervisor's e-mail, told of late records and missed syncs")
    add.add_argument("--official", action="append", default=[], metavar="ACCOUNT",
                     help="official account (e-mail, phone, handle); repeatable")
    add.add_argument("--personal", action="append", default=[], metavar="APP:HANDLE",
                     help="non-official account used for business, e.g. whatsapp:+15205550100; repeatable")
    add.add_argument("--alias", action="append", default=[], metavar="NAME",
                     help="another name the custodian appears under in exports; repeatable")
    add.add_argument("--update", action="store_true", help="replace an existing entry")
    add.set_defaults(handler=_cmd_custodian_add)
    listing = actions.add_parser("list", help="list registered custodians")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_custodian_list)
    show = actions.add_parser("show", help="one custodian: accounts, last syncs, records by 2911 status")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_cmd_custodian_show)


def _add_disposition_commands(commands: Any) -> None:
    hold = commands.add_parser("hold", help="legal holds: no record they cover can be destroyed")
    actions = hold.add_subparsers(title="actions", metavar="ACTION")
    place = actions.add_parser("place", help="place a hold (audited); the store holds every covered object")
    place.add_argument("name", help="a name that is never reused, e.g. the case number")
    place.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    place.add_argument("--custodian", help="only this custodian's records (default: every custodian)")
    place.add_argument("--from", dest="start", type=_day, help="records sent on or after this date (YYYY-MM-DD)")
    place.add_argument("--to", dest="end", type=_day, help="records sent on or before this date (YYYY-MM-DD)")
    place.set_defaults(handler=_cmd_hold_place)
    release = actions.add_parser("release", help="release a hold (audited)")
    release.add_argument("name")
    release.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    release.set_defaults(handler=_cmd_hold_release)
    listing = actions.add_parser("list", help="every hold, released ones included")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_hold_list)
    dispose = commands.add_parser("dispose", help="destroy records whose schedule allows it and no hold covers")
    dispose.add_argument("--dry-run", action="store_true", help="only list what would be destroyed")
    dispose.add_argument("--json", action="store_true")
    dispose.set_defaults(handler=_cmd_dispose)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _add_review_commands(commands: Any) -> None:
    review = commands.add_parser("review", help="uncertain nonrecords awaiting a records officer's decision")
    actions = review.add_subparsers(title="actions", metavar="ACTION")
    listing = actions.add_parser("list", help="items awaiting review (metadata only)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_review_list)
    show = actions.add_parser("show", help="open one item to read it (audited)")
    show.add_argument("id")
    show.add_argument("--reason", required=True, help="why it is opened (recorded in the audit log)")
    show.set_defaults(handler=_cmd_review_show)
    decide_cmd = actions.add_parser("decide", help="settle an item as a record or a nonrecord (audited)")
    decide_cmd.add_argument("id")
    decide_cmd.add_argument("decision", choices=DECISIONS)
    decide_cmd.add_argument("--reason", required=True, help="the records officer's reason")
    decide_cmd.set_defaults(handler=_cmd_review_decide)
    expire = actions.add_parser("expire", help="file items past their review period as records (run daily)")
    expire.set_defaults(handler=_cmd_review_expire)


def _add_parse_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--connector", default="auto", help="connector name, or auto (default) to detect")
    command.add_argument("--tz", help="IANA zone for exports that carry local times (e.g. America/New_York)")
    command.add_argument("--date-order", choices=DATE_ORDERS,
                         help="how numeric dates read (WhatsApp), when the export cannot tell day from month")


def _settings(args: argparse.Namespace, cwd: Path | None = None) -> Settings:
    return load_settings(args.config, cwd=cwd)


def _cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    result = init_archive(directory, _settings(args, cwd=directory.resolve()))
    kms = result.key_id.startswith("kms:")
    key = "KMS derivation root (keys/derivation-root in the store)" if kms else "key file"
    made = [what for what, new in (("archiver.yaml", result.config_created), (key, result.key_created)) if new]
    print(f"Archive ready in {result.directory} (key {result.key_id})"
          + (f"; created {', '.join(made)}" if made else "; already initialised"))
    if result.key_created and kms:
        print("Never schedule the KMS key for deletion and never delete keys/derivation-root: without "
              "either, nothing in the archive can be read.")
    elif result.key_created:
        print("Keep a copy of the key file somewhere safe and apart from the archive: without it "
              "nothing in the archive can be read.")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    registry = ConnectorRegistry.from_entry_points()
    if args.connector != "auto":
        registry.get(args.connector)
    with _open_archive(args, settings) as archive:
        options = IngestOptions(custodian=args.custodian, connector=args.connector, tz=args.tz,
                                account=args.account, actor=_actor(), date_order=args.date_order)
        ingestor = Ingestor(archive, registry, build_classifier(settings),
                            load_schedules(settings.schedules), options, _now())
        receipt = ingestor.run(args.files)
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
    classifier = build_classifier(settings)
    if args.evaluate:
        if args.file:
            raise UsageError("give either FILE or --evaluate LABELED, not both")
        evaluation = evaluate(read_labeled(args.evaluate), classifier)
        print(json.dumps(evaluation.to_json(), indent=2, ensure_ascii=False) if args.json
              else render_evaluation(evaluation))
        return 0
    if not args.file:
        raise UsageError("classify needs a FILE (or --evaluate LABELED)")
    rejections: list[Rejection] = []
    for message, result in classifier.classify_stream(messages_only(_parse_items(args, settings), rejections)):
        if args.json:
            _write_json(sys.stdout, {**result.to_json(), "sent_at": message.sent_at.isoformat(),
                                     "sender": message.sender, "source_ref": message.source_ref.to_json()})
        else:
            label = "review" if result.review else result.label
            print(f"{label:<9} {result.confidence:4.2f}  {result.schedule or '-':<12} "
                  f"{message.sent_at.isoformat()}  {','.join(result.reasons)}")
    for rejection in rejections:
        _report_rejection(rejection)
    return 2 if rejections else 0


def _cmd_review_list(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        items = list_reviews(archive)
    if args.json:
        print(json.dumps([i.to_json() for i in items], indent=2))
        return 0
    print(f"{len(items)} item(s) await review")
    for item in items:
        print(f"  {item.id}  {item.custodian:<16} {item.source:<9} sent {utc_iso(item.sent_at)}  "
              f"expires {item.expires or '-'}  {item.confidence:.2f} {','.join(item.reasons)}")
    return 0


def _cmd_review_show(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        opened = open_review(archive, args.id, _actor(), args.reason, _now())
    print(json.dumps(opened, indent=2, ensure_ascii=False))
    return 0


def _cmd_review_decide(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _open_archive(args, settings) as archive:
        row = decide(archive, args.id, args.decision, args.reason, _actor(), _now(), load_schedules(settings.schedules))
    filed = f" under {row.schedule}" if row.label == "record" else ""
    print(f"{row.id} decided {row.label}{filed}")
    return 0


def _cmd_review_expire(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _open_archive(args, settings) as archive:
        expired = expire_reviews(archive, _now(), _actor(), load_schedules(settings.schedules))
    print(f"{len(expired)} review item(s) past their review period filed as records")
    return 0


def _cmd_report_forwarding(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        catalog = archive.catalog
        report = forwarding_report(catalog.rows(), catalog.last_sync_by_account(), catalog.custodians(), _now())
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif args.csv:
        sys.stdout.write(render_csv(report))
    elif not args.html:
        print(render_forwarding(report))
    return 1 if args.fail_on_late and report.late else 0


def _cmd_report_completeness(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        report = completeness_report(archive.catalog.rows(label="record"))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    elif args.csv:
        sys.stdout.write(render_completeness_csv(report))
    else:
        print(render_completeness(report))
    return 0


def _cmd_hold_place(args: argparse.Namespace) -> int:
    hold = HoldRow(name=args.name, reason=args.reason, custodian=args.custodian, start=args.start, end=args.end,
                   placed_at=_now(), placed_by=_actor())
    with _open_archive(args) as archive:
        segments = place_hold(archive, hold)
    print(f"Hold {hold.name} placed: {len(segments)} segment(s) under legal hold in the store")
    return 0


def _cmd_hold_release(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        lifted = release_hold(archive, args.name, _actor(), args.reason, _now())
    print(f"Hold {args.name} released: legal hold lifted on {len(lifted)} segment(s) no other hold covers")
    return 0


def _cmd_hold_list(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        holds = archive.catalog.holds()
    if args.json:
        print(json.dumps([hold_json(h) for h in holds], indent=2))
        return 0
    print(f"{len(holds)} hold(s)")
    for h in holds:
        scope = f"{h.custodian or 'every custodian'}, sent {h.start or '...'} to {h.end or '...'}"
        state = f"released {h.released_at:%Y-%m-%d} by {h.released_by}" if h.released_at else "ACTIVE"
        print(f"  {h.name}  {state}  {scope}  placed {h.placed_at:%Y-%m-%d} by {h.placed_by}: {h.reason}")
    return 0


def _cmd_dispose(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        result = dispose_due(archive, _now(), _actor(), dry_run=args.dry_run)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    verb = "would destroy" if result.dry_run else "destroyed"
    print(f"Disposition on {result.today}: {verb} {len(result.disposed)} segment(s), "
          f"{result.records_disposed} record(s)")
    for segment in result.disposed:
        print(f"  {segment.name}  {segment.custodian}  {segment.schedule}  due {segment.retain_until}")
    for name, holds in sorted(result.held.items()):
        print(f"  HELD {name}: {', '.join(holds)}")
    for name, why in sorted(result.not_destroyed.items()):
        print(f"  KEPT {name}: {why}")
    return 0


def _cmd_custodian_add(args: argparse.Namespace) -> int:
    custodian = Custodian(id=args.id, name=args.name, role=args.role, timezone=args.tz, supervisor=args.supervisor,
                          official_accounts=tuple(args.official),
                          personal_accounts=tuple(PersonalAccount.parse(a) for a in args.personal),
                          names=tuple(args.alias))
    with _open_archive(args) as archive:
        stored = register_custodian(archive, custodian, _actor(), _now(), update=args.update)
    print(f"Custodian {stored.id} {'updated' if args.update else 'registered'}")
    return 0


def _cmd_custodian_list(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        custodians = archive.catalog.custodians()
    if args.json:
        print(json.dumps([c.to_json() for c in custodians], indent=2))
    for c in [] if args.json else custodians:
        accounts = ", ".join(str(a) for a in c.personal_accounts) or "-"
        print(f"{c.id:<20} {c.name or '-':<24} {c.role or 'unscheduled':<10} {c.timezone or '-':<20} {accounts}")
    return 0


def _cmd_custodian_show(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        overview = custodian_overview(archive, args.id, _now())
    if args.json:
        print(json.dumps(overview, indent=2))
        return 0
    for key in ("id", "name", "role", "timezone", "supervisor", "official_accounts", "personal_accounts",
                "registered_at"):
        value = overview[key]
        print(f"{key.replace('_', ' '):<18} {', '.join(value) if isinstance(value, list) else value or '-'}")
    for account in overview["accounts"]:
        risk = "  AT RISK" if account["at_risk"] else ""
        print(f"{'last sync':<18} {account['app']}: {account['last_sync'] or 'never'}{risk}")
    for direction, counts in overview["records"].items():
        print(f"{direction + ' records':<18} " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        notifier = open_notifier(archive.settings.notifier, archive.settings.base_dir)
        result = sweep(archive, notifier, _now(), _actor())
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"Sweep: {len(result.sent)} notice(s) sent, {result.already_sent} sent before")
        for notice in result.sent:
            print(f"  {notice.kind:<14} {notice.custodian:<20} to {', '.join(notice.to)}: {notice.subject}")
    for problem in result.problems:
        print(f"archiver: {problem}", file=sys.stderr)
    return result.exit_code


@contextmanager
def _open_archive(args: argparse.Namespace, settings: Settings | None = None) -> Iterator[Archive]:
    archive = Archive.open(settings or _settings(args))
    try:
        yield archive
    finally:
        archive.close()


def _cmd_connectors(args: argparse.Namespace) -> int:
    registry = ConnectorRegistry.from_entry_points()
    if args.json:
        print(json.dumps([{"name": c.name, "description": c.description} for c in registry.all()], indent=2))
    else:
        for connector in registry.all():
            print(f"{connector.name:<12} {connector.description}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    with _open_archive(args) as archive:
        report = verify(archive)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"Checked {report.segments} segments, {report.frames} frames, {report.objects} other objects, "
              f"{report.records} catalogued records, "
              f"{report.audit_entries} audit entries: {'OK' if report.ok else f'{len(report.problems)} problem(s)'}")
        for problem in report.problems:
            print(f"  {problem}")
    return 0 if report.ok else 1


def _parse_items(args: argparse.Namespace, settings: Settings | None = None) -> Iterator[ParsedItem]:
    settings = settings or _settings(args)
    check_export_file(args.file)
    registry = ConnectorRegistry.from_entry_points()
    connector: Connector = registry.detect(args.file) if args.connector == "auto" else registry.get(args.connector)
    if args.connector == "auto":
        print(f"archiver: {args.file}: read as {connector.name} ({connector.description})", file=sys.stderr)
    zone_name = args.tz or settings.timezone
    zone = load_zone(zone_name) if zone_name else None
    yield from connector.parse(args.file, ParseContext(custodian=args.custodian, tz=zone,
                                                               date_order=args.date_order))


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
