"""``archiver verify``: recheck the store, the catalog and the audit chain."""

from __future__ import annotations

import argparse
import json
from typing import Any

from archiver.cli import common, progress
from archiver.services.verify import verify


def register(commands: Any) -> None:
    """Add ``verify``."""
    check = commands.add_parser("verify", help="recheck every object, envelope, catalog entry and the audit chain")
    check.add_argument("--deep", action="store_true",
                       help="also compare every catalog row, fact by fact, with its sealed record document")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        common.require(archive, ("records-officer", "admin"), "verify the archive")
        total = sum(1 for s in archive.catalog.segments() if s.disposed_at is None)
        with progress.bar("verify", "segments", total, quiet=args.json) as advance:
            report = verify(archive, deep=args.deep, progress=advance)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"Checked {report.segments} segments, {report.frames} frames, {report.objects} other objects, "
              f"{report.manifests} segment manifests, {report.records} catalogued records, "
              f"{report.audit_entries} audit entries{' (deep)' if report.deep else ''}: "
              f"{'OK' if report.ok else f'{len(report.problems)} problem(s)'}")
        for problem in report.problems:
            print(f"  {problem}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if report.ok else 1
