"""Events that cut off records waiting on them: ``event record end-of-tenure|case-closed|superseded``
and ``event list``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from archiver.cli import common
from archiver.core.events import Event
from archiver.core.retention import EventKind
from archiver.services.events import EventResult, list_events, new_event_name, record_event

_KINDS = {"end-of-tenure": EventKind.END_OF_TENURE, "case-closed": EventKind.CASE_CLOSED,
          "superseded": EventKind.SUPERSEDED}


def register(commands: Any) -> None:
    """Add ``event record ...`` and ``event list``."""
    event = commands.add_parser("event", help="events that fix the cutoff of records waiting on them")
    actions = event.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(event, actions, "an action")
    record = actions.add_parser("record", help="record an event (records officers; audited)")
    kinds = record.add_subparsers(title="events", metavar="EVENT")
    common.needs_choice(record, kinds, "an event")
    tenure = _kind(kinds, "end-of-tenure", "a custodian's tenure ended (e.g. a Capstone official left)")
    tenure.add_argument("--custodian", required=True, help="whose tenure ended (id, name or alias)")
    case = _kind(kinds, "case-closed", "a case closed: records of items cut off at case closed")
    case.add_argument("--case", required=True, help="the case that closed")
    case.add_argument("--custodian", action="append", required=True,
                      help="a custodian whose records belong to the case (repeat for each)")
    superseded = _kind(kinds, "superseded", "records of an item were superseded (e.g. copied to the record copy)")
    superseded.add_argument("--schedule", action="append", required=True, help="the item superseded (repeatable)")
    superseded.add_argument("--custodian", action="append", help="only these custodians' records (repeatable)")
    listing = actions.add_parser("list", help="every recorded event")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _kind(kinds: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = kinds.add_parser(name, help=help_text)
    command.add_argument("--date", required=True, type=common.day, help="the day it happened (YYYY-MM-DD)")
    command.add_argument("--reason", help="why, or a reference (kept sealed: it may name people)")
    command.add_argument("--json", action="store_true")
    command.set_defaults(handler=_record, kind=_KINDS[name])
    return command


def _record(args: argparse.Namespace) -> int:
    custodian = getattr(args, "custodian", None)
    custodians = [custodian] if isinstance(custodian, str) else custodian or []
    with common.open_archive(args) as archive:
        now = common.now()
        event = Event(name=new_event_name(args.kind.value, now), kind=args.kind, day=args.date,
                      recorded_by=common.actor(archive.settings), recorded_at=now, custodians=tuple(custodians),
                      schedules=tuple(getattr(args, "schedule", None) or ()), case=getattr(args, "case", None))
        result = record_event(archive, event, args.reason)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    print(_summary(result))
    return 0


def _summary(result: EventResult) -> str:
    event = result.event
    return (f"Event {event.name} recorded: {event.kind.value} on {event.day.isoformat()}; "
            f"{result.records} record(s) in {len(result.segments)} segment(s) got a disposition date "
            "(dates only move later)")


def _list(args: argparse.Namespace) -> int:
    with common.open_archive(args, read_only=True) as archive:
        events = list_events(archive, common.actor(archive.settings), common.now())
    if args.json:
        print(json.dumps([event.to_json() for event in events], indent=2))
        return 0
    print(f"{len(events)} event(s)")
    for event in events:
        scope = ", ".join(filter(None, [f"case {event.case}" if event.case else "",
                                        "custodians " + " ".join(event.custodians) if event.custodians else "",
                                        "items " + " ".join(event.schedules) if event.schedules else ""]))
        print(f"  {event.name}  {event.kind.value} on {event.day.isoformat()}  {scope}  "
              f"recorded by {event.recorded_by}")
    return 0
