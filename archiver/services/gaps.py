"""Deleted-message reconciliation (``report gaps``): what one custodian's phone still shows
that another custodian's own export of the same conversation lacks.

When two registered custodians take part in one conversation, each export holds the other's
messages. A message custodian A's export holds as sent by custodian B, that B's exports of
that conversation lack, was possibly deleted by B before the export. Copies are matched on
keyed references the catalog keeps (``Archive.copy_refs``): the sender's handle, and the
app, the minute sent and the text; never on plaintext. A sender's handle is tied to a
custodian when the report runs, by the registry's names and handles, so registering a
custodian later needs no re-ingest.

The same conversation has other refs in each export (a 1:1 chat is titled by the other
person in each phone), so two custodians' conversations are the same when they share a
message. Only messages sent within the span the other's export of it covers count: a
message sent after B's export was made is not missing from it. Identical messages are
counted, so one of two "ok"s sent in the same minute can be missing.

Each message's keyed copy reference goes to a temporary SQLite database (an unnamed one, which
SQLite removes when it is closed, and which holds keyed references, ids and times only, as the
catalog does), so the report's memory does not grow with the archive; it holds in memory one
entry per conversation copy, the deleted notices and the gaps it finds. Its output holds
custodian ids, keyed refs, apps, times and record ids only.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from archiver.core.custodians import Custodian, find_custodian
from archiver.model import utc_iso
from archiver.services.access import authorize
from archiver.services.reports import candidate_json, csv_text
from archiver.storage.archive import Archive
from archiver.storage.catalog import CatalogRow, CopyRow, report_row
from archiver.storage.catalog.sqlite_codec import instant, micros

ROLES = ("records-officer", "investigator")
CSV_FIELDS = ["id", "holder", "sender", "source", "conversation_ref", "sender_conversation_refs", "sent_at", "label"]

Thread = tuple[str, str]  # (custodian, conversation_ref): one custodian's copy of a conversation
CopyKey = bytes           # a sender's number (see _Identities), then the copy_key's text
SPOOL_BATCH = 10_000      # rows written to the spool at a time
SPOOL_CACHE_KB = 16_384   # the spool's page cache; the rest of it stays on disk


@dataclass(frozen=True)
class Gap:
    """A message possibly deleted before export: the surviving copy and who lacks it."""

    record_id: str
    holder: str                 # whose export holds it
    sender: str                 # who sent it, and whose export of the conversation lacks it
    source: str
    conversation_ref: str
    sender_conversations: tuple[str, ...]
    sent_at: datetime
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.record_id, "holder": self.holder, "sender": self.sender, "source": self.source,
                "conversation_ref": self.conversation_ref,
                "sender_conversation_refs": " ".join(self.sender_conversations),
                "sent_at": utc_iso(self.sent_at), "label": self.label}


@dataclass
class GapsReport:
    """Possibly deleted messages, and the "This message was deleted" notices the exports hold."""

    generated_at: datetime
    gaps: list[Gap]
    deleted_notices: list[CatalogRow]
    conversations_matched: int

    def to_json(self) -> dict[str, Any]:
        return {"generated_at": utc_iso(self.generated_at), "conversations_matched": self.conversations_matched,
                "possibly_deleted": len(self.gaps), "gaps": [gap.to_json() for gap in self.gaps],
                "deleted_notices": [candidate_json(report_row(row)) for row in self.deleted_notices]}


class _Identities:
    """Who sent a row: a registered custodian, else the keyed handle; numbered, to keep keys short."""

    def __init__(self, archive: Archive, custodians: Iterable[Custodian]) -> None:
        named: dict[str, set[str]] = defaultdict(set)
        for person in custodians:
            for handle in (person.id, *person.aliases):
                named[archive.sender_ref(handle)].add(person.id)
        # A handle two custodians share names neither.
        self.custodians = {ref: next(iter(ids)) for ref, ids in named.items() if len(ids) == 1}
        self._numbers: dict[str, int] = {}

    def sender(self, row: CopyRow) -> str | None:
        """The registered custodian who sent ``row``, if known."""
        return row.custodian if row.direction == "sent" else self.custodians.get(row.sender_ref or "")

    def key(self, sender: str | None, row: CopyRow) -> CopyKey:
        identity = f"custodian:{sender}" if sender else f"handle:{row.sender_ref}"
        number = self._numbers.setdefault(identity, len(self._numbers))
        return number.to_bytes(4, "big") + (row.copy_key or "").encode()


class _Copies:
    """Every message's copy key by thread, spooled to a temporary SQLite database; in memory, each
    thread's number, custodian and span of send times."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # "": a temporary database on disk, removed when closed
        self.db.executescript(f"""PRAGMA cache_size = -{SPOOL_CACHE_KB}; PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE copies (key BLOB NOT NULL, thread INTEGER NOT NULL, custodian INTEGER NOT NULL);
            CREATE TABLE others (thread INTEGER NOT NULL, sent INTEGER NOT NULL, id TEXT NOT NULL, key BLOB NOT NULL,
                                 sender TEXT NOT NULL, source TEXT NOT NULL, label TEXT NOT NULL);""")
        self.threads: dict[Thread, int] = {}
        self.names: list[Thread] = []
        self.first: list[datetime] = []
        self.last: list[datetime] = []
        self._custodians: dict[str, int] = {}
        self._copies: list[tuple[CopyKey, int, int]] = []
        self._others: list[tuple[int, int, str, CopyKey, str, str, str]] = []

    def file(self, identities: _Identities, row: CopyRow) -> None:
        """Count one row's copy in its thread; keep it aside when another custodian sent it."""
        if row.copy_key is None or row.sender_ref is None or row.system:
            return
        sender = identities.sender(row)
        key = identities.key(sender, row)
        thread = self._thread((row.custodian, row.conversation_ref), row.sent_at)
        self._copies.append((key, thread, self._custodians.setdefault(row.custodian, len(self._custodians))))
        if sender and sender != row.custodian:
            self._others.append((thread, micros(row.sent_at), row.id, key, sender, row.source, row.label))
        if len(self._copies) >= SPOOL_BATCH:
            self._flush()

    def _thread(self, name: Thread, sent_at: datetime) -> int:
        number = self.threads.get(name)
        if number is None:
            number = self.threads[name] = len(self.names)
            self.names.append(name)
            self.first.append(sent_at)
            self.last.append(sent_at)
        else:
            self.first[number] = min(self.first[number], sent_at)
            self.last[number] = max(self.last[number], sent_at)
        return number

    def _flush(self) -> None:
        self.db.executemany("INSERT INTO copies VALUES (?, ?, ?)", self._copies)
        self.db.executemany("INSERT INTO others VALUES (?, ?, ?, ?, ?, ?, ?)", self._others)
        self._copies, self._others = [], []

    def links(self) -> dict[int, set[int]]:
        """Threads of different custodians that share a message: the same conversation."""
        self._flush()
        self.db.execute("CREATE INDEX copies_by_key ON copies (key, custodian, thread)")
        links: dict[int, set[int]] = defaultdict(set)
        # Only a key two custodians hold links threads: SQLite finds those keys on the index.
        rows = self.db.execute("SELECT key, thread, custodian FROM copies WHERE key IN "
                               "(SELECT key FROM copies GROUP BY key HAVING min(custodian) < max(custodian)) "
                               "ORDER BY key")
        for _, group in groupby(rows, key=lambda row: row[0]):
            together = {(thread, custodian) for _, thread, custodian in group}
            for thread, custodian in together:
                links[thread].update(other for other, theirs in together if theirs != custodian)
        return links

    def from_others(self) -> Iterator[tuple[int, list[tuple[int, str, CopyKey, str, str, str]]]]:
        """Each thread's copies of messages another custodian sent, in order of sending (and id)."""
        rows = self.db.execute("SELECT thread, sent, id, key, sender, source, label FROM others "
                               "ORDER BY thread, sent, id")
        for thread, group in groupby(rows, key=lambda row: row[0]):
            yield thread, [row[1:] for row in group]

    def count(self, key: CopyKey, threads: list[int]) -> int:
        """How many copies of ``key`` the given threads hold."""
        marks = ", ".join("?" * len(threads))
        found: int = self.db.execute(f"SELECT count(*) FROM copies WHERE key = ? AND thread IN ({marks})",
                                     (key, *threads)).fetchone()[0]
        return found

    def covers(self, threads: list[int], at: datetime) -> bool:
        """Whether ``at`` lies within the time the given threads' exports cover."""
        return bool(threads) and min(self.first[t] for t in threads) <= at <= max(self.last[t] for t in threads)

    def close(self) -> None:
        self.db.close()


def gaps_report(archive: Archive, actor: str, now: datetime, custodian: str | None = None) -> GapsReport:
    """Match every custodian's copies (records officers and investigators only; metadata only).

    ``custodian`` (id, name or alias) keeps the gaps where that custodian holds the copy or lacks it,
    and that custodian's deleted notices.
    """
    authorize(archive, actor, ROLES, "run the gaps report", now)
    registry = archive.catalog.custodians()
    named = find_custodian(registry, custodian) if custodian else None
    custodian = named.id if named else custodian
    identities = _Identities(archive, registry)
    deleted_ids = []
    with closing(_Copies()) as copies:
        for row in archive.catalog.copy_rows():
            if row.deleted and custodian in (None, row.custodian):
                deleted_ids.append(row.id)
            copies.file(identities, row)
        links = copies.links()
        gaps = [gap for thread, held in copies.from_others() for gap in _missing(copies, thread, held,
                                                                                  links.get(thread, set()))
                if custodian in (None, gap.holder, gap.sender)]
    gaps.sort(key=lambda g: (g.sent_at, g.holder, g.record_id))
    deleted = sorted(archive.catalog.rows_by_id(deleted_ids).values(), key=lambda r: (r.sent_at, r.custodian, r.id))
    return GapsReport(now, gaps, deleted, sum(len(linked) for linked in links.values()) // 2)


def _missing(copies: _Copies, thread: int, held: list[tuple[int, str, CopyKey, str, str, str]],
             linked: set[int]) -> Iterator[Gap]:
    """The copies ``thread`` holds from another custodian that the sender's linked threads lack."""
    holder, conversation = copies.names[thread]
    counted: Counter[CopyKey] = Counter()
    for sent, record_id, key, sender, source, label in held:
        sent_at = instant(sent)
        theirs = sorted((other for other in linked if copies.names[other][0] == sender), key=copies.names.__getitem__)
        if not copies.covers(theirs, sent_at):
            continue  # the sender's exports do not reach this time (or hold no copy of the conversation)
        counted[key] += 1
        if counted[key] > copies.count(key, theirs):
            yield Gap(record_id, holder, sender, source, conversation, tuple(copies.names[t][1] for t in theirs),
                      sent_at, label)


def render_gaps(report: GapsReport) -> str:
    """The report as a records officer or an investigator reads it at the terminal."""
    lines = [f"Deleted-message reconciliation, {utc_iso(report.generated_at)}",
             f"Conversations held by two or more custodians: {report.conversations_matched}",
             f"Possibly deleted before export: {len(report.gaps)} message(s)"]
    for gap in report.gaps:
        lines.append(f"  {gap.record_id}  sent by {gap.sender} {utc_iso(gap.sent_at)}  {gap.source} "
                     f"{gap.conversation_ref}  kept by {gap.holder}, missing from {gap.sender}'s export")
    lines.append(f"'This message was deleted' notices in the exports: {len(report.deleted_notices)}")
    for row in report.deleted_notices:
        lines.append(f"  {row.id}  {row.custodian}  {row.source}  deleted message sent {utc_iso(row.sent_at)}")
    return "\n".join(lines)


def render_gaps_csv(report: GapsReport) -> str:
    """One row per possibly deleted message."""
    return csv_text(CSV_FIELDS, (gap.to_json() for gap in report.gaps))
