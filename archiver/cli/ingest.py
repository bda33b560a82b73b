"""The officer's commands: ``ingest`` exports, ``parse`` and ``classify`` them without storing, ``connectors``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archiver.cli import common, progress
from archiver.connector import ConnectorRegistry, messages_only
from archiver.core.apps import app_of_connector
from archiver.core.retention import load_schedules
from archiver.errors import Rejection, UsageError
from archiver.services.build import build_classifier
from archiver.services.evaluation import evaluate, read_labeled, render_evaluation
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.receipt import render_receipt


def register(commands: Any) -> None:
    """Add ``ingest``, ``parse``, ``classify`` and ``connectors``."""
    ingest = commands.add_parser("ingest", help="archive exported chats and print the receipt")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--custodian", required=True, help="whose export this is")
    ingest.add_argument("--account", choices=("personal", "official"), default="personal",
                        help="the account the export comes from (default: personal)")
    common.add_parse_options(ingest)
    ingest.add_argument("--json", action="store_true", help="print the receipt as one JSON object")
    ingest.set_defaults(handler=_ingest)

    parse = commands.add_parser("parse", help="print normalized JSONL; stores nothing")
    parse.add_argument("file", type=Path, metavar="FILE")
    parse.add_argument("--custodian", default="", help="custodian (tells sent from received)")
    common.add_parse_options(parse)
    parse.set_defaults(handler=_parse)

    classify = commands.add_parser("classify", help="record/nonrecord decision per message; stores nothing")
    classify.add_argument("file", type=Path, metavar="FILE", nargs="?")
    classify.add_argument("--evaluate", type=Path, metavar="LABELED",
                          help="measure the rules on labeled JSONL: precision, recall, confusion, errors")
    classify.add_argument("--custodian", default="", help="custodian (tells sent from received)")
    common.add_parse_options(classify)
    classify.add_argument("--json", action="store_true", help="one JSON object per message")
    classify.set_defaults(handler=_classify)

    connectors = commands.add_parser("connectors", help="list the installed connectors")
    connectors.add_argument("--json", action="store_true")
    connectors.set_defaults(handler=_connectors)


def _ingest(args: argparse.Namespace) -> int:
    settings = common.settings_for(args)
    registry = ConnectorRegistry.from_entry_points()
    if args.connector != "auto":
        registry.get(args.connector)
    with common.open_archive(args, settings) as archive:
        options = IngestOptions(custodian=args.custodian, connector=args.connector, tz=args.tz,
                                account=args.account, actor=common.actor(settings), date_order=args.date_order)
        with progress.bar("ingest", "messages", quiet=args.json) as advance:
            ingestor = Ingestor(archive, registry, build_classifier(settings),
                                load_schedules(settings.schedules), options, common.now(), advance)
            receipt = ingestor.run(args.files)
    if args.json:
        print(json.dumps(receipt.to_json(), indent=2))
    else:
        print(render_receipt(receipt))
    for refused in receipt.refused:
        print(f"archiver: error: {refused.file}: {refused.refused}", file=sys.stderr)
    return receipt.exit_code


def _parse(args: argparse.Namespace) -> int:
    rejected = 0
    for item in common.parse_items(args):
        if isinstance(item, Rejection):
            rejected += common.report_rejection(item)
        else:
            common.write_json(sys.stdout, item.to_json())
    return 2 if rejected else 0


def _classify(args: argparse.Namespace) -> int:
    settings = common.settings_for(args)
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
    for message, result in classifier.classify_stream(messages_only(common.parse_items(args, settings), rejections)):
        if args.json:
            common.write_json(sys.stdout, {**result.to_json(), "sent_at": message.sent_at.isoformat(),
                                     "sender": message.sender, "source_ref": message.source_ref.to_json()})
        else:
            label = "review" if result.review else result.label
            weighed = f"  ({'; '.join(result.evidence)})" if result.evidence else ""
            print(f"{label:<9} {result.confidence:4.2f}  {result.schedule or '-':<12} "
                  f"{message.sent_at.isoformat()}  {','.join(result.reasons)}{weighed}")
    for rejection in rejections:
        common.report_rejection(rejection)
    return 2 if rejections else 0


def _connectors(args: argparse.Namespace) -> int:
    registry = ConnectorRegistry.from_entry_points()
    if args.json:
        print(json.dumps([{"name": c.name, "app": app_of_connector(c.name), "description": c.description}
                          for c in registry.all()], indent=2))
    else:
        for connector in registry.all():
            print(f"{connector.name:<12} {app_of_connector(connector.name) or '-':<10} {connector.description}")
    return 0
