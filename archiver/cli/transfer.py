"""``transfer plan|export|confirm|list``: permanent records to the National Archives."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archiver.cli import common
from archiver.services import transfer
from archiver.services.disposal_plan import read_plan
from archiver.services.transfer_bag import TransferRequest, export_transfer
from archiver.services.transfer_state import TRANSFER_PLAN_KIND


def register(commands: Any) -> None:
    """Add ``transfer plan|export|confirm|list``."""
    group = commands.add_parser("transfer", help="transfer permanent records to NARA: plan, export, confirm, list")
    actions = group.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(group, actions, "an action")
    plan = actions.add_parser("plan", help="list what is due for transfer and what is kept back, and why "
                                           "(changes nothing)")
    plan.add_argument("--as-of", type=common.day, help="the day to plan for (default: today)")
    plan.add_argument("--out", type=Path, help="write the plan (JSON) to this file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=_plan)
    export = actions.add_parser("export", help="write the plan's records, decrypted, as a BagIt bag for NARA")
    export.add_argument("plan", type=Path)
    export.add_argument("--out", type=Path, required=True, help="a new or empty folder for the bag")
    export.add_argument("--agency", required=True, help="the transferring agency (bag-info Source-Organization)")
    export.add_argument("--json", action="store_true", help="print the transfer as JSON")
    export.set_defaults(handler=_export)
    confirm = actions.add_parser("confirm", help="record that NARA accepted legal custody (audited)")
    confirm.add_argument("id", help="the transfer id (see 'archiver transfer list')")
    confirm.add_argument("--accession", required=True, help="NARA's accession number")
    confirm.add_argument("--date", type=common.day, help="the day NARA accepted legal custody (default: today)")
    confirm.add_argument("--reason", required=True, help="why (sealed in the audit log)")
    confirm.set_defaults(handler=_confirm)
    listing = actions.add_parser("list", help="every transfer with its state, counts and accession")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _plan(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        now = common.now()
        plan = transfer.make_transfer_plan(archive, args.as_of or now.date(), common.actor(archive.settings), now)
    return common.print_plan(
        args, plan, f"Transfer plan {plan['digest'][:12]} as of {plan['as_of']}: {plan['records']} record(s) in "
        f"{len(plan['eligible'])} segment(s) due",
        lambda e: f"DUE {e['segment']}  {e['count']} record(s)  {e['schedule']} ({e['authority']}), "
                  f"cutoff {e['cutoff']}, transfer date {e['transfer_date']}")


def _export(args: argparse.Namespace) -> int:
    plan = read_plan(args.plan, TRANSFER_PLAN_KIND)
    with common.open_archive(args) as archive:
        done = export_transfer(archive, TransferRequest(plan, args.out, args.agency),
                               common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    print(f"Transfer {done['id']}: {done['records']} record(s) written to {done['bag']}; "
          "exported, awaiting NARA's acceptance (then: archiver transfer confirm)")
    return 0


def _confirm(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        now = common.now()
        done = transfer.confirm(archive, args.id, args.accession, args.date or now.date(), args.reason,
                                common.actor(archive.settings), now)
    print(f"Transfer {done['id']} accepted by NARA: accession {done['accession']}, legal custody accepted "
          f"{done['accepted_on']}; its {done['records']} record(s) can now be planned for disposal")
    return 0


def _list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        found = transfer.list_transfers(archive, common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(f"{len(found)} transfer(s)")
    for t in found:
        state = (f"accepted, accession {t['accession']} on {t['accepted_on']}" if t["accession"]
                 else "exported, awaiting NARA's acceptance")
        print(f"  {t['id']}  {t['records']} record(s)  {state}  exported {t['exported_at']} by {t['exported_by']}")
    return 0
