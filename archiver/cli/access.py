"""Who may do what: ``role grant|revoke|list``, ``case open|close|list`` and the ``audit`` view."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archiver.cli import common
from archiver.model import utc_iso
from archiver.services.access import (
    ROLES,
    Principal,
    close_case,
    grant_role,
    list_cases,
    list_grants,
    open_case,
    revoke_role,
)
from archiver.services.audit_view import AuditFilter, audit_view


def register(commands: Any) -> None:
    """Add ``role``, ``case`` and ``audit``."""
    _register_role(commands)
    _register_case(commands)
    audit = commands.add_parser("audit", help="read the audit log (audited); sealed details opened for those entitled")
    audit.add_argument("--case", help="only entries of this case")
    audit.add_argument("--actor", help="only entries by this actor")
    audit.add_argument("--from", dest="start", type=common.day, help="from this UTC day (YYYY-MM-DD)")
    audit.add_argument("--to", dest="end", type=common.day, help="to this UTC day (YYYY-MM-DD), inclusive")
    audit.add_argument("--json", action="store_true", help="one JSON object per entry")
    audit.set_defaults(handler=_audit)


def _register_role(commands: Any) -> None:
    role = commands.add_parser("role", help="grant and revoke roles (admins; audited)")
    actions = role.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(role, actions, "an action")
    grant = actions.add_parser("grant", help="give an actor a role")
    grant.add_argument("actor", help="login name, service account, or IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    grant.add_argument("role", choices=ROLES)
    grant.add_argument("--custodian", action="append", default=[], metavar="ID",
                       help="officer: a custodian whose records they read (default: the actor's own id); repeatable")
    grant.set_defaults(handler=_role_grant)
    revoke = actions.add_parser("revoke", help="take a role away")
    revoke.add_argument("actor")
    revoke.add_argument("role", choices=ROLES)
    revoke.set_defaults(handler=_role_revoke)
    listing = actions.add_parser("list", help="every actor holding a role")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_role_list)


def _register_case(commands: Any) -> None:
    case = commands.add_parser("case", help="investigation cases (investigators open and close them; audited)")
    actions = case.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(case, actions, "an action")
    opening = actions.add_parser("open", help="open a case; its reason is kept sealed")
    opening.add_argument("id", help="case id: letters, digits, - _ . /, up to 64")
    opening.add_argument("--reason", required=True, help="why (kept sealed: it may name people)")
    opening.set_defaults(handler=_case_open)
    closing = actions.add_parser("close", help="close a case: nothing more can be done under it")
    closing.add_argument("id")
    closing.add_argument("--reason", help="why (kept sealed)")
    closing.set_defaults(handler=_case_close)
    listing = actions.add_parser("list", help="every case, open and closed (not their reasons)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_case_list)


def _role_grant(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        held = grant_role(archive, common.actor(archive.settings), args.actor, args.role, common.now(),
                          tuple(args.custodian))
    print(f"{held.actor} now holds {_roles(held)}")
    return 0


def _role_revoke(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        held = revoke_role(archive, common.actor(archive.settings), args.actor, args.role, common.now())
    print(f"{held.actor} now holds {_roles(held) or 'no role'}")
    return 0


def _role_list(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        grants = list_grants(archive, common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps([{"actor": g.actor, "roles": sorted(g.roles), "custodians": sorted(g.custodians)}
                          for g in grants], indent=2))
        return 0
    for g in grants:
        reads = f"  (reads {', '.join(sorted(g.custodians))})" if g.has("officer") else ""
        print(f"{g.actor}: {_roles(g)}{reads}")
    return 0


def _roles(held: Principal) -> str:
    return ", ".join(role for role in ROLES if held.has(role))


def _case_open(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        case = open_case(archive, common.actor(archive.settings), args.id, args.reason, common.now())
    print(f"Case {case.id} opened by {case.opened_by}")
    return 0


def _case_close(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        case = close_case(archive, common.actor(archive.settings), args.id, common.now(), args.reason)
    print(f"Case {case.id} closed by {case.closed_by}")
    return 0


def _case_list(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        cases = list_cases(archive, common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps([case.to_json() for case in cases], indent=2))
        return 0
    print(f"{len(cases)} case(s)")
    for case in cases:
        state = f"closed {utc_iso(case.closed_at)} by {case.closed_by}" if case.closed_at else "OPEN"
        print(f"  {case.id}  {state}  opened {utc_iso(case.opened_at)} by {case.opened_by}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    wanted = AuditFilter(args.case, args.actor, args.start, args.end)
    with common.open_archive(args) as archive:
        entries = audit_view(archive, common.actor(archive.settings), common.now(), wanted)
    for entry in entries:
        if args.json:
            common.write_json(sys.stdout, entry)
        else:
            detail = json.dumps(entry["detail"], ensure_ascii=False, sort_keys=True)
            print(f"{entry['seq']:>6}  {entry['at']}  {entry['actor']}  {entry['action']}  "
                  f"{entry['case_id'] or '-'}  {detail}")
    return 0
