"""``archiver export``: the case package (a signed BagIt bag), and ``export verify`` to check one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archiver.cli import common, progress
from archiver.cli.filters import add_search_filters, query_from
from archiver.errors import UsageError
from archiver.services.export import ExportRequest, export_case, publish_signing_key
from archiver.services.export_verify import verify_bag
from archiver.storage.keys.signing import open_signer


def register(commands: Any) -> None:
    """Add ``export`` and ``export verify``."""
    export = commands.add_parser("export", help="write a signed case package (investigators under a case; audited)")
    export.add_argument("--case", help="the open case the package is for (required)")
    export.add_argument("--out", type=Path, metavar="DIR", help="new or empty folder for the bag (required)")
    export.add_argument("--records", type=Path, metavar="FILE", help="export these record ids (one per line) "
                                                                     "instead of a search's")
    add_search_filters(export)
    export.add_argument("--json", action="store_true")
    export.set_defaults(handler=_export)
    actions = export.add_subparsers(title="checks", metavar="ACTION")
    verify = actions.add_parser("verify", help="check a case package without the archive or its keys")
    verify.add_argument("folder", type=Path, metavar="DIR")
    verify.add_argument("--public-key", type=Path, metavar="FILE",
                        help="the archive's export-signing public key, obtained apart from the bag")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=_verify)
    key = actions.add_parser("key", help="print the archive's export-signing public key and its fingerprint (audited)")
    key.add_argument("--out", type=Path, metavar="FILE", help="write the key (PEM) here instead of printing it")
    key.add_argument("--json", action="store_true")
    key.set_defaults(handler=_key)


def _export(args: argparse.Namespace) -> int:
    if args.out is None or args.case is None:
        raise UsageError("archiver export needs --case ID and --out DIR")
    query = query_from(args)
    if args.records and query.to_json().keys() - {"limit"}:
        raise UsageError("give either --records FILE or search filters, not both")
    request = ExportRequest(args.case, args.out, None if args.records else query, args.records)
    with common.open_archive(args) as archive, progress.bar("export", "records", quiet=args.json) as advance:
        signer = open_signer(archive.settings.key, archive.settings.base_dir, archive.store)
        result = export_case(archive, common.actor(archive.settings), request, signer, common.now(), advance)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(f"Case package {result.out}: {result.records} record(s), {result.conversations} conversation(s), "
          f"{result.attachments} attachment(s); tag manifest SHA-256 {result.tag_manifest_sha256}; "
          f"signed by {result.key_fingerprint} (audited)")
    return 0


def _key(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        public_pem, key_print = publish_signing_key(archive, common.actor(archive.settings), common.now())
    if args.out:
        args.out.write_bytes(public_pem)
    if args.json:
        print(json.dumps({"fingerprint": key_print, "public_key_pem": public_pem.decode("ascii")}, indent=2))
    else:
        print(f"fingerprint {key_print}" if args.out else public_pem.decode("ascii") + f"fingerprint {key_print}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    problems = verify_bag(args.folder, args.public_key)
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems}, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            print(problem)
        print(f"{args.folder}: " + (f"{len(problems)} problem(s)" if problems else
                                    "intact: BagIt valid, signature verified, records and custody agree"))
    return 1 if problems else 0
