"""What every command module shares: settings, the archive for one command, the actor and the clock, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from archiver.config import Settings, load_settings, load_zone
from archiver.connector import DATE_ORDERS, Connector, ConnectorRegistry, ParseContext, ParsedItem, check_export_file
from archiver.errors import Rejection
from archiver.services.access import authorize
from archiver.services.actors import current_actor
from archiver.storage.archive import Archive


def settings_for(args: argparse.Namespace, cwd: Path | None = None) -> Settings:
    """The settings a command runs with (``--config``, then the environment, then defaults)."""
    return load_settings(args.config, cwd=cwd)


@contextmanager
def open_archive(args: argparse.Namespace, settings: Settings | None = None,
                 read_only: bool = False) -> Iterator[Archive]:
    """The archive for one command; ``read_only`` for commands that write nothing (they then
    also work on an archive that cannot be written, e.g. a read-only copy kept for audit)."""
    archive = Archive.open(settings or settings_for(args), read_only=read_only)
    try:
        yield archive
    finally:
        archive.close()


def actor(settings: Settings) -> str:
    """Who runs the command, as every audit entry records it (``archiver.services.actors``)."""
    return current_actor(settings)


def require(archive: Archive, roles: tuple[str, ...] | str, action: str) -> None:
    """Refuse (exit 2, audited) a listing or report to an actor without one of ``roles``."""
    authorize(archive, actor(archive.settings), roles, action, now())


def now() -> datetime:
    """The command's clock (aware, UTC); the services never read the clock themselves."""
    return datetime.now(timezone.utc)


def write_json(stream: TextIO, value: dict[str, Any]) -> None:
    """One JSON object on one line (JSON Lines)."""
    stream.write(json.dumps(value, ensure_ascii=False) + "\n")


def write_json_array(stream: TextIO, values: Iterable[dict[str, Any]]) -> None:
    """A JSON array written as it goes, one element a line: never the whole text in memory."""
    opening = "[\n"
    for value in values:
        stream.write(opening + json.dumps(value, ensure_ascii=False))
        opening = ",\n"
    stream.write("[]\n" if opening == "[\n" else "\n]\n")


def print_plan(args: argparse.Namespace, plan: dict[str, Any], heading: str,
               entry: Callable[[dict[str, Any]], str]) -> int:
    """Write a disposal or transfer plan to ``--out`` and print it: as JSON, or as its heading, one
    line per segment it lists (``entry``) and one per segment kept, with why."""
    if args.out:
        args.out.write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(plan, indent=2))
        return 0
    print(heading + (f", written to {args.out}" if args.out else ""))
    for segment in plan["eligible"]:
        print("  " + entry(segment))
    for kept in plan["kept"]:
        print(f"  KEPT {kept['segment']}: {kept['reason']}")
    return 0


def needs_choice(command: argparse.ArgumentParser, choices: Any, what: str) -> None:
    """Make ``command`` alone (without one of its subcommands) a usage error of its own, exit 2."""
    def handler(_args: argparse.Namespace) -> int:
        command.print_usage(sys.stderr)
        print(f"{command.prog}: error: name {what}: {', '.join(choices.choices)}", file=sys.stderr)
        return 2

    command.set_defaults(handler=handler)


def day(text: str) -> date:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_parse_options(command: argparse.ArgumentParser) -> None:
    """The options that say how an export reads: connector, zone, date order."""
    command.add_argument("--connector", default="auto", help="connector name, or auto (default) to detect")
    command.add_argument("--tz", help="IANA zone for exports that carry local times (e.g. America/New_York)")
    command.add_argument("--date-order", choices=DATE_ORDERS,
                         help="how numeric dates read (WhatsApp), when the export cannot tell day from month")


def parse_items(args: argparse.Namespace, settings: Settings | None = None) -> Iterator[ParsedItem]:
    """The items of ``args.file`` as its connector reads them (for ``parse`` and ``classify``)."""
    settings = settings or settings_for(args)
    check_export_file(args.file)
    registry = ConnectorRegistry.from_entry_points()
    connector: Connector = registry.detect(args.file) if args.connector == "auto" else registry.get(args.connector)
    if args.connector == "auto":
        print(f"archiver: {args.file}: read as {connector.name} ({connector.description})", file=sys.stderr)
    zone_name = args.tz or settings.timezone
    zone = load_zone(zone_name) if zone_name else None
    yield from connector.parse(args.file, ParseContext(custodian=args.custodian, tz=zone,
                                                               date_order=args.date_order))


def report_rejection(rejection: Rejection) -> int:
    """Print one rejected item on stderr; returns 1 to count it."""
    where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
    print(f"archiver: rejected {where}: {rejection.reason}", file=sys.stderr)
    return 1
