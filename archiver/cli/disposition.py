"""Legal holds (``hold place|release|list``) and ``dispose plan|approve|execute|certificate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archiver.cli import common, progress
from archiver.services import disposal_plan
from archiver.services.disposal_certificate import read_certificate, write_html
from archiver.services.disposition import dispose_due, hold_view, place_hold, release_hold
from archiver.storage.catalog import HoldRow
from archiver.storage.catalog.base import hold_json


def register(commands: Any) -> None:
    """Add ``hold place|release|list`` and ``dispose``."""
    hold = commands.add_parser("hold", help="legal holds: no record they cover can be destroyed")
    actions = hold.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(hold, actions, "an action")
    place = actions.add_parser("place", help="place a hold (audited); the store holds every covered object")
    place.add_argument("name", help="a name that is never reused, e.g. the case number")
    place.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    place.add_argument("--custodian", help="only this custodian's records (default: every custodian)")
    place.add_argument("--from", dest="start", type=common.day, help="records sent on or after this date (YYYY-MM-DD)")
    place.add_argument("--to", dest="end", type=common.day, help="records sent on or before this date (YYYY-MM-DD)")
    place.add_argument("--json", action="store_true", help="print the hold and its segments as one JSON object")
    place.set_defaults(handler=_hold_place)
    release = actions.add_parser("release", help="release a hold (audited)")
    release.add_argument("name")
    release.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    release.add_argument("--json", action="store_true", help="print the hold and its segments as one JSON object")
    release.set_defaults(handler=_hold_release)
    listing = actions.add_parser("list", help="every hold, released ones included")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_hold_list)
    _register_dispose(commands)


def _register_dispose(commands: Any) -> None:
    """``dispose plan|approve|execute|certificate``; ``dispose --dry-run`` lists what is due today."""
    dispose = commands.add_parser("dispose", help="disposition: plan, approve, execute, certificate")
    dispose.add_argument("--dry-run", action="store_true", help="only list what is due today (as 'plan' does)")
    dispose.add_argument("--json", action="store_true")
    actions = dispose.add_subparsers(title="actions", metavar="ACTION")
    plan = actions.add_parser("plan", help="list what is eligible and what is kept, and why (changes nothing)")
    plan.add_argument("--as-of", type=common.day, help="the day to plan for (default: today)")
    plan.add_argument("--out", type=Path, help="write the plan (JSON) to this file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=_plan)
    approve = actions.add_parser("approve", help="approve a plan as a records officer (audited)")
    approve.add_argument("plan", type=Path)
    approve.add_argument("--reason", required=True, help="why (sealed in the audit log)")
    approve.set_defaults(handler=_approve)
    execute = actions.add_parser("execute", help="destroy what an approved plan lists; write the certificate")
    execute.add_argument("plan", type=Path)
    execute.add_argument("--json", action="store_true", help="print the certificate as JSON")
    execute.set_defaults(handler=_execute)
    certificate = actions.add_parser("certificate", help="show a certificate of destruction")
    certificate.add_argument("id")
    certificate.add_argument("--html", type=Path, help="write it as a signed HTML page (signature: FILE.sig)")
    certificate.set_defaults(handler=_certificate)
    common.needs_choice(dispose, actions, "an action")
    usage = dispose.get_default("handler")
    dispose.set_defaults(handler=lambda args: _dispose(args) if args.dry_run else usage(args))


def _hold_place(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        hold = HoldRow(name=args.name, reason=args.reason, custodian=args.custodian, start=args.start, end=args.end,
                       placed_at=common.now(), placed_by=common.actor(archive.settings))
        segments = place_hold(archive, hold)
    if args.json:
        print(json.dumps({**hold_json(hold), "segments_held": list(segments)}, indent=2))
        return 0
    print(f"Hold {hold.name} placed: {len(segments)} segment(s) under legal hold in the store")
    return 0


def _hold_release(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        lifted = release_hold(archive, args.name, common.actor(archive.settings), args.reason, common.now())
        released = next((hold_view(archive, h) for h in archive.catalog.holds() if h.name == args.name),
                        {"name": args.name})
    if args.json:
        print(json.dumps({**released, "segments_released": list(lifted)}, indent=2))
        return 0
    print(f"Hold {args.name} released: legal hold lifted on {len(lifted)} segment(s) no other hold covers")
    return 0


def _hold_list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "list holds")
        holds = [hold_view(archive, h) for h in archive.catalog.holds()]
    if args.json:
        print(json.dumps(holds, indent=2))
        return 0
    print(f"{len(holds)} hold(s)")
    for h in holds:
        scope = f"{h['custodian'] or 'every custodian'}, sent {h['start'] or '...'} to {h['end'] or '...'}"
        state = f"released {str(h['released_at'])[:10]} by {h['released_by']}" if h["released_at"] else "ACTIVE"
        print(f"  {h['name']}  {state}  {scope}  placed {str(h['placed_at'])[:10]} by {h['placed_by']}: {h['reason']}")
    return 0


def _dispose(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        result = dispose_due(archive, common.now(), common.actor(archive.settings), dry_run=True)
    code = 1 if result.refused else 0  # the store kept what the catalog called due: a finding
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return code
    verb = "would destroy" if result.dry_run else "destroyed"
    print(f"Disposition on {result.today}: {verb} {len(result.disposed)} segment(s), "
          f"{result.records_disposed} record(s)")
    for segment in result.disposed:
        print(f"  {segment.name}  {segment.custodian}  {segment.schedule}  due {segment.retain_until}")
    for name, holds in sorted(result.held.items()):
        print(f"  HELD {name}: {', '.join(holds)}")
    for name, why in sorted(result.not_destroyed.items()):
        print(f"  KEPT {name}: {why}")
    for name, why in sorted(result.refused.items()):
        print(f"  REFUSED {name}: {why}")
    return code


def _plan(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        now = common.now()
        plan = disposal_plan.make_plan(archive, args.as_of or now.date(), common.actor(archive.settings), now)
    return common.print_plan(
        args, plan, f"Disposal plan {plan['digest'][:12]} as of {plan['as_of']}: {plan['records']} record(s) in "
        f"{len(plan['eligible'])} segment(s) eligible",
        lambda e: f"ELIGIBLE {e['segment']}  {e['count']} record(s)  {e['schedule']} ({e['authority']}), "
                  f"cutoff {e['cutoff']}, retain {e['retention']}, retain-until {e['retain_until']}")


def _approve(args: argparse.Namespace) -> int:
    plan = disposal_plan.read_plan(args.plan)
    with common.open_archive(args) as archive:
        who = disposal_plan.approve(archive, plan, common.actor(archive.settings), args.reason, common.now())
        needed = archive.settings.disposition_approvals
    print(f"Plan {plan['digest'][:12]} approved by {', '.join(who)} ({len(who)} of {needed} needed)")
    return 0


def _execute(args: argparse.Namespace) -> int:
    plan = disposal_plan.read_plan(args.plan)
    with common.open_archive(args) as archive:
        total = sum(int(entry["count"]) for entry in plan["eligible"])
        with progress.bar("dispose execute", "records", total, quiet=args.json) as advance:
            certificate = disposal_plan.execute(archive, plan, common.actor(archive.settings), common.now(), advance)
    if args.json:
        print(json.dumps(certificate, indent=2))
    else:
        print(f"Destroyed {len(certificate['records'])} record(s); certificate of destruction {certificate['id']}")
        for name, why in sorted(certificate["refused"].items()):
            print(f"  REFUSED {name}: {why}")
    return 1 if certificate["refused"] else 0  # the store kept what the catalog called due: a finding


def _certificate(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        certificate, filed = read_certificate(archive, args.id, common.actor(archive.settings), common.now())
        if args.html:
            signature = write_html(archive, certificate, filed, args.html)
            print(f"Certificate {args.id} written to {args.html}, signature {signature}")
            return 0
    print(json.dumps(certificate, indent=2))
    return 0
