"""The search filters as command-line options, shared by ``search`` and ``export``."""

from __future__ import annotations

import argparse
from datetime import datetime

from archiver.errors import UsageError
from archiver.services.search import DEFAULT_LIMIT, Query, day_or_instant

LABELS = ("record", "review", "nonrecord")


def add_search_filters(command: argparse.ArgumentParser) -> None:
    """Add the options that narrow which records a search (or an export) takes."""
    command.add_argument("--custodian", help="custodian id, name or alias")
    command.add_argument("--participant", help="a sender or recipient: name, phone number, e-mail or handle")
    command.add_argument("--conversation", help="conversation (chat or thread) name")
    command.add_argument("--from", dest="start", type=_when, help="sent on or after (date or instant)")
    command.add_argument("--to", dest="end", type=_until, help="sent on or before (a date: the whole day)")
    command.add_argument("--source", help="app: whatsapp, signal, sms, imessage, telegram, email...")
    command.add_argument("--label", choices=LABELS, help="default: records and review items")
    command.add_argument("--schedule", help="schedule item, e.g. GRS-6.1-011")
    command.add_argument("--hold", help="records a named legal hold covers")
    command.add_argument("--has-attachment", action="store_true")
    command.add_argument("--personal-info", action="store_true",
                         help="records carrying others' personal information (DOB, passport, A-number, SSN, plate)")
    command.add_argument("--outside-party", action="store_true",
                         help="a foreign official or outside party took part")
    command.add_argument("--all", dest="all_words", metavar="WORDS", help="every one of these words")
    command.add_argument("--any", dest="any_words", metavar="WORDS", help="at least one of these words")
    command.add_argument("--phrase", metavar="TEXT", help="these words in this order")


def query_from(args: argparse.Namespace) -> Query:
    """The ``Query`` the filter options (and ``--limit``, where the command has it) ask for."""
    return Query(custodian=args.custodian, participant=args.participant, conversation=args.conversation,
                 start=args.start, end=args.end, source=args.source, label=args.label, schedule=args.schedule,
                 hold=args.hold, has_attachment=args.has_attachment, personal_info=args.personal_info,
                 outside_party=args.outside_party, all_words=args.all_words, any_words=args.any_words,
                 phrase=args.phrase, limit=getattr(args, "limit", DEFAULT_LIMIT))


def _when(text: str, end: bool = False) -> datetime:
    try:
        return day_or_instant(text, end)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _until(text: str) -> datetime:
    return _when(text, end=True)
