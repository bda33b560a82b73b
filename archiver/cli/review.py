"""``archiver review``: the queue of uncertain nonrecords awaiting a records officer."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archiver.cli import common
from archiver.core.retention import load_schedules
from archiver.model import utc_iso
from archiver.services.review import DECISIONS, decide, expire_reviews, list_reviews, open_review


def register(commands: Any) -> None:
    """Add ``review list|show|decide|expire``."""
    review = commands.add_parser("review", help="uncertain nonrecords awaiting a records officer's decision")
    actions = review.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(review, actions, "an action")
    listing = actions.add_parser("list", help="items awaiting review (metadata only)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_review_list)
    show = actions.add_parser("show", help="open one item to read it (audited)")
    show.add_argument("id")
    show.add_argument("--reason", required=True, help="why it is opened (recorded in the audit log)")
    show.add_argument("--json", action="store_true", help="the item (message and classification) as one JSON object")
    show.set_defaults(handler=_review_show)
    decide_cmd = actions.add_parser("decide", help="settle an item as a record or a nonrecord (audited)")
    decide_cmd.add_argument("id")
    decide_cmd.add_argument("decision", choices=DECISIONS)
    decide_cmd.add_argument("--reason", required=True, help="the records officer's reason")
    decide_cmd.set_defaults(handler=_review_decide)
    expire = actions.add_parser("expire", help="file items past their review period as records (run daily)")
    expire.set_defaults(handler=_review_expire)


def _review_list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, "records-officer", "list review items")
        items = list_reviews(archive)
    if args.json:
        common.write_json_array(sys.stdout, (item.to_json() for item in items))
        return 0
    print(f"{len(items)} item(s) await review")
    for item in items:
        print(f"  {item.id}  {item.custodian:<16} {item.source:<9} sent {utc_iso(item.sent_at)}  "
              f"expires {item.expires or '-'}  {item.confidence:.2f} {','.join(item.reasons)}")
    return 0


def _review_show(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        opened = open_review(archive, args.id, common.actor(archive.settings), args.reason, common.now())
    if args.json:
        print(json.dumps(opened, indent=2, ensure_ascii=False))
        return 0
    print(_render_review(opened))
    return 0


def _render_review(opened: dict[str, Any]) -> str:
    message, result = opened["message"], opened["classification"]
    return (f"Review item {opened['id']} (opened: audited)\n"
            f"{message['source']} \"{message['conversation']}\", {message['direction']} {message['sent_at']}\n"
            f"From {message['sender']} to {', '.join(message['recipients']) or '-'}\n"
            f"Classified {result['label']} {result['confidence']:.2f}: {', '.join(result['reasons']) or '-'}\n"
            f"{message['body']}")


def _review_decide(args: argparse.Namespace) -> int:
    settings = common.settings_for(args)
    with common.open_archive(args, settings) as archive:
        row = decide(archive, args.id, args.decision, args.reason, common.actor(settings), common.now(),
                     load_schedules(settings.schedules))
    filed = f" under {row.schedule}" if row.label == "record" else ""
    print(f"{row.id} decided {row.label}{filed}")
    return 0


def _review_expire(args: argparse.Namespace) -> int:
    settings = common.settings_for(args)
    with common.open_archive(args, settings) as archive:
        expired = expire_reviews(archive, common.now(), common.actor(settings), load_schedules(settings.schedules))
    print(f"{len(expired)} review item(s) past their review period filed as records")
    return 0
