"""The disclosure accounting (``report disclosures``, 5 U.S.C. 552a(c)): every record by which a
custodian sent personal information of others, or a document, to a foreign official or an
outside party.

A record is a disclosure when the custodian sent it (a message in a group where a foreign
official takes part counts; one received from the official does not), the classifier found
personal information of others or a shared file in it, and a recipient is a foreign official
or an outside party by the participant directory (or the classifier said so when it ran).
The catalog narrows the candidates by their classifier reasons; each candidate's sealed record
is then opened to learn who received it and the purpose it states. What the report holds is
metadata and kinds: dates, custodian and recipient handles with their role and organization,
kinds of information, how many people a list names, a purpose category. Never a name, date of
birth or number of the people whose information was sent.

Streamed: records are read one at a time and each disclosure is written as it is found.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TextIO

from archiver.core.classify import Classifier
from archiver.core.custodians import find_custodian
from archiver.core.disclosure import (
    KINDS,
    LIST_KIND,
    OUTSIDE_REASON,
    OUTSIDE_ROLES,
    PERSONAL_KINDS,
    entries,
    kinds_of,
    stated_purpose,
)
from archiver.core.participants import ParticipantDirectory
from archiver.model import Message, day_start, parse_instant, utc_iso
from archiver.services.access import authorize
from archiver.services.build import build_classifier
from archiver.storage.archive import Archive
from archiver.storage.catalog import CatalogRow
from archiver.storage.records import read_document

ROLES = ("records-officer", "investigator")
CSV_FIELDS = ["id", "custodian", "sent_at", "source", "conversation_ref", "sender", "recipients", "roles",
              "organizations", "kinds", "people", "purpose", "official_account"]


@dataclass(frozen=True)
class Recipient:
    """A foreign official or outside party who received the information."""

    handle: str
    role: str
    organization: str


@dataclass(frozen=True)
class Disclosure:
    """One accounted disclosure: when, by whom, to whom, what kinds, why, from which account."""

    record_id: str
    custodian: str
    sent_at: datetime
    source: str
    conversation_ref: str
    sender: str
    recipients: tuple[Recipient, ...]
    kinds: tuple[str, ...]
    people: int
    purpose: str
    official_account: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.record_id, "custodian": self.custodian, "sent_at": utc_iso(self.sent_at),
                "source": self.source, "conversation_ref": self.conversation_ref, "sender": self.sender,
                "recipients": [{"handle": r.handle, "role": r.role, "organization": r.organization}
                               for r in self.recipients],
                "kinds": list(self.kinds), "people": self.people, "purpose": self.purpose,
                "official_account": self.official_account}

    def csv_row(self) -> dict[str, Any]:
        return {**self.to_json(), "recipients": "; ".join(r.handle for r in self.recipients),
                "roles": "; ".join(r.role for r in self.recipients),
                "organizations": "; ".join(r.organization for r in self.recipients),
                "kinds": "; ".join(self.kinds)}


def disclosures(archive: Archive, actor: str, now: datetime, start: date | None = None, end: date | None = None,
                custodian: str | None = None) -> Iterator[Disclosure]:
    """The disclosures sent from ``start`` to ``end`` (UTC days, inclusive) by ``custodian`` (id,
    name or alias; every custodian when None), in catalog order. Records officers and investigators
    only: refused at once, before anything is read."""
    authorize(archive, actor, ROLES, "run the disclosure accounting", now)
    registered = find_custodian(archive.catalog.custodians(), custodian) if custodian else None
    who = registered.id if registered else custodian
    window = (day_start(start) if start else None, day_start(end, 1) if end else None)
    return _disclosures(archive, build_classifier(archive.settings), who, window)


def _disclosures(archive: Archive, classifier: Classifier, custodian: str | None,
                 window: tuple[datetime | None, datetime | None]) -> Iterator[Disclosure]:
    directory = classifier.participants or ParticipantDirectory()
    for row in archive.catalog.rows(custodian=custodian, label="record"):
        if _candidate(row, window):
            found = _disclosure(archive, classifier, directory, row)
            if found is not None:
                yield found


def _candidate(row: CatalogRow, window: tuple[datetime | None, datetime | None]) -> bool:
    """Whether the catalog says the custodian sent personal information or a file, in the window."""
    start, end = window
    return (row.direction == "sent" and not row.system and row.segment is not None
            and any(reason in KINDS for reason in row.reasons)
            and (start is None or row.sent_at >= start) and (end is None or row.sent_at < end))


def _disclosure(archive: Archive, classifier: Classifier, directory: ParticipantDirectory,
                row: CatalogRow) -> Disclosure | None:
    """The disclosure ``row`` is, once its sealed record says who received it; None if nobody outside."""
    assert row.segment is not None and row.offset is not None and row.length is not None
    message = read_document(archive, row.id, row.segment, row.offset, row.length).message
    recipients = tuple(Recipient(handle, participant.role, participant.organization_name)
                       for handle in message["recipients"]
                       if (participant := directory.get(handle)) is not None and participant.role in OUTSIDE_ROLES)
    if not recipients and OUTSIDE_REASON not in row.reasons:
        return None
    kinds = kinds_of(row.reasons)
    people = _people(classifier, message) if PERSONAL_KINDS & set(row.reasons) else 0
    if people > 1:
        kinds.append(LIST_KIND)
    return Disclosure(row.id, row.custodian, row.sent_at, row.source, row.conversation_ref, message["sender"],
                      recipients, tuple(kinds), people, stated_purpose(message["body"]), row.account == "official")


def _people(classifier: Classifier, message: dict[str, Any]) -> int:
    """How many lines of the message carry personal information of someone (each a person)."""
    sent_at = parse_instant(message["sent_at"])
    return sum(
        any(reason in PERSONAL_KINDS for reason in classifier.classify(
            Message(source=message["source"], conversation="", sender="", sent_at=sent_at, body=part)).reasons)
        for part in entries(message["body"])) or 1


# -- output: each format written as the disclosures come ------------------------------------------------

class DisclosureWriter(Protocol):
    """One output of the report."""

    def add(self, disclosure: Disclosure) -> None: ...

    def finish(self, count: int) -> None: ...


def write_disclosures(items: Iterator[Disclosure], writers: Sequence[DisclosureWriter]) -> int:
    """Write every disclosure to every writer as it comes; returns how many there were."""
    count = 0
    for disclosure in items:
        count += 1
        for writer in writers:
            writer.add(disclosure)
    for writer in writers:
        writer.finish(count)
    return count


class TextWriter:
    """The report as a records officer or an investigator reads it at the terminal."""

    def __init__(self, out: TextIO, now: datetime) -> None:
        self.out = out
        out.write(f"Accounting of disclosures (5 U.S.C. 552a(c)), {utc_iso(now)}\n")

    def add(self, d: Disclosure) -> None:
        to = ", ".join(f"{r.handle} ({r.role}{', ' + r.organization if r.organization else ''})"
                       for r in d.recipients) or "an outside party (by the classifier)"
        account = "official account" if d.official_account else "personal account"
        people = f", {d.people} people" if d.people > 1 else ""
        self.out.write(f"  {utc_iso(d.sent_at)}  {d.custodian} ({d.sender}, {d.source}, {account}) to {to}: "
                       f"{', '.join(d.kinds)}{people}; purpose: {d.purpose}  [{d.record_id}]\n")

    def finish(self, count: int) -> None:
        self.out.write(f"Disclosures: {count}\n")


class JsonWriter:
    """One JSON object: ``generated_at``, the ``disclosures`` array, then their ``count``."""

    def __init__(self, out: TextIO, now: datetime) -> None:
        self.out, self.first = out, True
        out.write(f'{{"generated_at": {json.dumps(utc_iso(now))}, "disclosures": [')

    def add(self, d: Disclosure) -> None:
        self.out.write(("\n  " if self.first else ",\n  ") + json.dumps(d.to_json(), ensure_ascii=False))
        self.first = False

    def finish(self, count: int) -> None:
        self.out.write(f'\n], "count": {count}}}\n')


class CsvWriter:
    """One CSV row per disclosure; several recipients, roles and kinds separated by ``; ``."""

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        self.writer.writeheader()

    def add(self, d: Disclosure) -> None:
        self.writer.writerow(d.csv_row())

    def finish(self, count: int) -> None:
        return


class HtmlWriter:
    """A self-contained, printable HTML page with one table row per disclosure (every value escaped)."""

    HEADS = ("Sent (UTC)", "Custodian", "Sender", "App", "Recipient", "Role", "Organization", "Kinds of information",
             "People", "Stated purpose", "Account", "Record")

    def __init__(self, out: TextIO, now: datetime) -> None:
        self.out = out
        title = f"Accounting of disclosures (5 U.S.C. 552a(c)), generated {utc_iso(now)}"
        out.write(f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                  "<style>body{font:14px/1.4 system-ui,Arial,sans-serif;margin:24px}table{border-collapse:collapse}"
                  "th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}"
                  "th{background:#f0f0f0}</style></head><body>\n"
                  f"<h1>{html.escape(title)}</h1>\n<table><thead><tr>"
                  + "".join(f"<th>{h}</th>" for h in self.HEADS) + "</tr></thead><tbody>\n")

    def add(self, d: Disclosure) -> None:
        cells = (utc_iso(d.sent_at), d.custodian, d.sender, d.source, *self._recipients(d), ", ".join(d.kinds),
                 str(d.people), d.purpose, "official" if d.official_account else "personal", d.record_id)
        self.out.write("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>\n")

    @staticmethod
    def _recipients(d: Disclosure) -> tuple[str, str, str]:
        if not d.recipients:
            return "outside party (by the classifier)", "", ""
        return ("; ".join(r.handle for r in d.recipients), "; ".join(r.role for r in d.recipients),
                "; ".join(r.organization for r in d.recipients))

    def finish(self, count: int) -> None:
        self.out.write(f'</tbody></table>\n<p id="count">Disclosures: {count}</p>\n</body></html>\n')
