"""``archiver reindex``: rebuild the blind index from the sealed records."""

from __future__ import annotations

import argparse
import json
from typing import Any

from archiver.cli import common
from archiver.services.reindex import reindex


def register(commands: Any) -> None:
    """Add ``reindex``."""
    command = commands.add_parser("reindex", help="rebuild the search index from the sealed records "
                                                  "(numbers, dates, participants, conversations, attachments)")
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_reindex)


def _reindex(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        result = reindex(archive, common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"Reindexed {result.records} records and {result.review_items} review items from {result.segments} "
              f"segments: {result.terms} terms; index version {result.previous_version} -> {result.version}")
    return 0
