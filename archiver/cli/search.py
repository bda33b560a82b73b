"""``archiver search`` and ``archiver show``: what investigators and officers find and read."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archiver.cli import common
from archiver.cli.filters import add_search_filters, query_from
from archiver.model import utc_iso
from archiver.services.reading import DEFAULT_CONTEXT, Shown, show
from archiver.services.search import DEFAULT_LIMIT, Hit, search
from archiver.services.watchlist import PersonResult, search_people


def register(commands: Any) -> None:
    """Add ``search`` and ``show``."""
    find = commands.add_parser("search", help="find records (investigators under a case; audited)")
    find.add_argument("--case", help="the open case this search is for (investigators: required)")
    add_search_filters(find)
    find.add_argument("--people", type=Path, metavar="FILE.csv",
                      help="watch list: name[,dob,passport,a_number,phone,email] per row")
    find.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"hits shown (default {DEFAULT_LIMIT})")
    find.add_argument("--json", action="store_true")
    find.set_defaults(handler=_search)
    read = commands.add_parser("show", help="read one record and the messages around it (audited)")
    read.add_argument("record_id")
    read.add_argument("--case", help="the open case this read is for (investigators: required)")
    read.add_argument("--context", type=int, default=DEFAULT_CONTEXT,
                      help=f"messages shown before and after (default {DEFAULT_CONTEXT})")
    read.add_argument("--json", action="store_true")
    read.set_defaults(handler=_show)


def _search(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        actor = common.actor(archive.settings)
        if args.people:
            people = search_people(archive, actor, args.people, query_from(args), args.case, common.now())
            return _print_people(people, args.json)
        result = search(archive, actor, query_from(args), args.case, common.now())
        # Hits are made (their records read) as they are written, one at a time.
        if args.json:
            sys.stdout.write(json.dumps(result.heading(), ensure_ascii=False)[:-1] + ', "hits": ')
            common.write_json_array(sys.stdout, (hit.to_json() for hit in result.hits))
            sys.stdout.write("}\n")
            return 0
        print(f"{result.total} record(s) found" + (f", first {result.returned} shown" if result.total > result.returned
                                                   else "") + (f" (case {result.case_id})" if result.case_id else ""))
        for hit in result.hits:
            print(_hit_lines(hit))
    return 0


def _print_people(people: list[PersonResult], as_json: bool) -> int:
    if as_json:
        print(json.dumps({"people": [person.to_json() for person in people]}, indent=2, ensure_ascii=False))
        return 0
    for result in people:
        custodians = ", ".join(f"{c} {n}" for c, n in sorted(result.by_custodian.items())) or "-"
        found_by = ", ".join(f"{k} {n}" for k, n in sorted(result.matched_by.items())) or "-"
        print(f"line {result.person.line}: {result.person.name}: {result.total} record(s); "
              f"by custodian: {custodians}; found by: {found_by}")
        for hit in result.hits:
            print("  " + _hit_lines(hit).replace("\n", "\n  "))
    return 0


def _hit_lines(hit: Hit) -> str:
    row = hit.row
    state = "DISPOSED" if hit.disposed else ("HELD" if hit.held else "")
    line = (f"{utc_iso(row.sent_at)}  {row.custodian:<14} {row.source:<9} {row.label:<6} {row.schedule or '-':<14} "
            f"2911 {row.forwarding_status:<14} {state:<8} {row.id}")
    if hit.sender is None:
        return line
    recipients = ", ".join(hit.recipients) or "-"
    return f"{line}\n    {hit.sender} -> {recipients} in \"{hit.conversation}\"\n    {hit.snippet}"


def _show(args: argparse.Namespace) -> int:
    with common.open_archive(args) as archive:
        shown = show(archive, common.actor(archive.settings), args.record_id, args.case, args.context, common.now())
    if args.json:
        print(json.dumps(shown.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(_render(shown))
    return 0


def _render(shown: Shown) -> str:
    message, row = shown.document.message, shown.row
    attachments = [a.get("name") or a.get("sha256") or "?" for a in message["attachments"]]
    head = [f"Record {row.id} (read: audited)",
            f"{message['source']} \"{message['conversation']}\", {message['direction']}, sent {message['sent_at']} "
            f"({utc_iso(row.sent_at)})",
            f"From {message['sender']} to {', '.join(message['recipients']) or '-'}",
            f"Custodian {row.custodian}; {row.label} under {row.schedule or '-'} until {row.disposition_date or '-'}"
            f"{'; HELD' if shown.held else ''}; 2911 {row.forwarding_status}",
            f"Classified {row.label} {row.confidence:.2f}: {', '.join(row.reasons) or '-'}",
            f"Export {row.export_sha256} line {row.source_line or '-'}, ingested {utc_iso(row.ingested_at)}",
            f"Attachments: {', '.join(attachments) or '-'}"]
    context = [_context_line(doc.message) for doc in shown.before] + [">>> " + _context_line(message)] + \
              [_context_line(doc.message) for doc in shown.after]
    return "\n".join(head + ["", *context])


def _context_line(message: dict[str, Any]) -> str:
    return f"[{message['sent_at']}] {message['sender']}: {message['body']}"
