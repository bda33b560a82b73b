"""Legal holds (``hold place|release|list``) and ``dispose``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from archiver.cli import common
from archiver.services.disposition import dispose_due, place_hold, release_hold
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
    dispose = commands.add_parser("dispose", help="destroy records whose schedule allows it and no hold covers")
    dispose.add_argument("--dry-run", action="store_true", help="only list what would be destroyed")
    dispose.add_argument("--json", action="store_true")
    dispose.set_defaults(handler=_dispose)


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
        released = next((hold_json(h) for h in archive.catalog.holds() if h.name == args.name), {"name": args.name})
    if args.json:
        print(json.dumps({**released, "segments_released": list(lifted)}, indent=2))
        return 0
    print(f"Hold {args.name} released: legal hold lifted on {len(lifted)} segment(s) no other hold covers")
    return 0


def _hold_list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "list holds")
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


def _dispose(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        result = dispose_due(archive, common.now(), common.actor(archive.settings), dry_run=args.dry_run)
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
