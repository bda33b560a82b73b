"""The custodian registry (``custodian add|list|show``) and the daily 2911 ``sweep``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archiver.cli import common
from archiver.core.apps import APPS
from archiver.core.custodians import Custodian, PersonalAccount
from archiver.core.retention import ROLE_SCHEDULE
from archiver.services.compliance import custodian_overview, register_custodian, sweep
from archiver.services.notifiers import open_notifier


def register(commands: Any) -> None:
    """Add ``custodian add|list|show`` and ``sweep``."""
    custodian = commands.add_parser("custodian", help="the custodian registry")
    actions = custodian.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(custodian, actions, "an action")
    add = actions.add_parser("add", help="register a custodian (or change one with --update)")
    add.add_argument("id", help="custodian id, as given to ingest --custodian")
    add.add_argument("--name", default="", help="full name (36 CFR 1236.22: handles resolve to real names)")
    add.add_argument("--role", choices=sorted(ROLE_SCHEDULE), help="Capstone role: selects the GRS 6.1 item")
    add.add_argument("--tz", help="IANA zone the custodian's exports are read in")
    add.add_argument("--supervisor", help="supervisor's e-mail, told of late records and missed syncs")
    add.add_argument("--official", action="append", default=[], metavar="ACCOUNT",
                     help="official account (e-mail, phone, handle); repeatable")
    add.add_argument("--personal", action="append", default=[], metavar="APP:HANDLE",
                     help=f"non-official account used for business, e.g. whatsapp:+15205550100; APP is one of "
                          f"{', '.join(APPS)}; repeatable")
    add.add_argument("--alias", action="append", default=[], metavar="NAME",
                     help="another name the custodian appears under in exports; repeatable")
    add.add_argument("--update", action="store_true", help="replace an existing entry")
    add.add_argument("--json", action="store_true", help="print the registered entry as one JSON object")
    add.set_defaults(handler=_custodian_add)
    listing = actions.add_parser("list", help="list registered custodians")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_custodian_list)
    show = actions.add_parser("show", help="one custodian: accounts, last syncs, records by 2911 status")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_custodian_show)
    sweep_cmd = commands.add_parser("sweep", help="send due 2911 reminders and late/at-risk notices (once each)")
    sweep_cmd.add_argument("--json", action="store_true")
    sweep_cmd.set_defaults(handler=_sweep)


def _custodian_add(args: argparse.Namespace) -> int:
    custodian = Custodian(id=args.id, name=args.name, role=args.role, timezone=args.tz, supervisor=args.supervisor,
                          official_accounts=tuple(args.official),
                          personal_accounts=tuple(PersonalAccount.parse(a) for a in args.personal),
                          names=tuple(args.alias))
    with common.open_archive(args) as archive:
        stored = register_custodian(archive, custodian, common.actor(archive.settings), common.now(),
                                    update=args.update)
    if args.json:
        print(json.dumps(stored.to_json(), indent=2))
        return 0
    print(f"Custodian {stored.id} {'updated' if args.update else 'registered'}")
    return 0


def _custodian_list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "list custodians")
        custodians = archive.catalog.custodians()
    if args.json:
        print(json.dumps([c.to_json() for c in custodians], indent=2))
    for c in [] if args.json else custodians:
        accounts = ", ".join(str(a) for a in c.personal_accounts) or "-"
        print(f"{c.id:<20} {c.name or '-':<24} {c.role or 'unscheduled':<10} {c.timezone or '-':<20} {accounts}")
    return 0


def _custodian_show(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "read the custodian registry")
        overview = custodian_overview(archive, args.id, common.now())
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


def _sweep(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        notifier = open_notifier(archive.settings.notifier, archive.settings.base_dir)
        result = sweep(archive, notifier, common.now(), common.actor(archive.settings))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"Sweep: {len(result.sent)} notice(s) sent; {result.already_sent} notice(s) due now were sent before "
              f"(listing {result.late_already_reported} late record(s))")
        for notice in result.sent:
            print(f"  {notice.kind:<14} {notice.custodian:<20} to {', '.join(notice.to)}: {notice.subject}")
    for problem in result.problems:
        print(f"archiver: {problem}", file=sys.stderr)
    return result.exit_code
