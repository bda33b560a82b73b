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

The report holds one keyed entry per message of the custodians' conversations while it
runs; its output holds custodian ids, keyed refs, apps, times and record ids only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.core.custodians import Custodian, find_custodian
from archiver.model import FLAG_DELETED, utc_iso
from archiver.services.access import authorize
from archiver.services.reports import candidate_json, csv_text
from archiver.storage.archive import Archive
from archiver.storage.catalog import CatalogRow, report_row

ROLES = ("records-officer", "investigator")
CSV_FIELDS = ["id", "holder", "sender", "source", "conversation_ref", "sender_conversation_refs", "sent_at", "label"]

Thread = tuple[str, str]  # (custodian, conversation_ref): one custodian's copy of a conversation
CopyKey = int             # a sender's number (see _Identities) over the 128 bits of a copy_key


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


@dataclass(frozen=True, slots=True)
class _Copy:
    """A copy one custodian holds of another custodian's message: what a gap would name."""

    key: CopyKey
    sender: str
    record_id: str
    sent_at: datetime
    source: str
    label: str


@dataclass
class _Thread:
    """What the report keeps of one custodian's copy of a conversation: a count per copy key."""

    copies: Counter[CopyKey] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    from_others: list[_Copy] = field(default_factory=list)

    def add(self, key: CopyKey, sent_at: datetime) -> None:
        self.copies[key] += 1
        self.first = min(self.first or sent_at, sent_at)
        self.last = max(self.last or sent_at, sent_at)


class _Identities:
    """Who sent a row: a registered custodian, else the keyed handle; numbered, to keep keys small ints."""

    def __init__(self, archive: Archive, custodians: Iterable[Custodian]) -> None:
        named: dict[str, set[str]] = defaultdict(set)
        for person in custodians:
            for handle in (person.id, *person.aliases):
                named[archive.sender_ref(handle)].add(person.id)
        # A handle two custodians share names neither.
        self.custodians = {ref: next(iter(ids)) for ref, ids in named.items() if len(ids) == 1}
        self._numbers: dict[str, int] = {}

    def sender(self, row: CatalogRow) -> str | None:
        """The registered custodian who sent ``row``, if known."""
        return row.custodian if row.direction == "sent" else self.custodians.get(row.sender_ref or "")

    def key(self, sender: str | None, row: CatalogRow) -> CopyKey:
        identity = f"custodian:{sender}" if sender else f"handle:{row.sender_ref}"
        number = self._numbers.setdefault(identity, len(self._numbers))
        return (number << 128) | int(row.copy_key or "0", 16)


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
    threads: dict[Thread, _Thread] = defaultdict(_Thread)
    deleted = []
    for row in archive.catalog.rows():
        if FLAG_DELETED in row.flags and custodian in (None, row.custodian):
            deleted.append(row)
        _file(threads, identities, row)
    links = _links(threads)
    gaps = [gap for thread, seen in threads.items() for gap in _missing(thread, seen, threads, links.get(thread, ()))
            if custodian in (None, gap.holder, gap.sender)]
    gaps.sort(key=lambda g: (g.sent_at, g.holder, g.record_id))
    deleted.sort(key=lambda r: (r.sent_at, r.custodian, r.id))
    return GapsReport(now, gaps, deleted, sum(len(linked) for linked in links.values()) // 2)


def _file(threads: dict[Thread, _Thread], identities: _Identities, row: CatalogRow) -> None:
    """Count one row's copy in its thread; keep it aside when another custodian sent it."""
    if row.copy_key is None or row.sender_ref is None or row.system:
        return
    sender = identities.sender(row)
    key = identities.key(sender, row)
    thread = threads[(row.custodian, row.conversation_ref)]
    thread.add(key, row.sent_at)
    if sender and sender != row.custodian:
        thread.from_others.append(_Copy(key, sender, row.id, row.sent_at, row.source, row.label))


def _links(threads: dict[Thread, _Thread]) -> dict[Thread, set[Thread]]:
    """Threads of different custodians that share a message: the same conversation."""
    holders: dict[CopyKey, tuple[Thread, ...]] = {}
    for thread, seen in threads.items():
        for key in seen.copies:
            holders[key] = (*holders.get(key, ()), thread)
    links: dict[Thread, set[Thread]] = defaultdict(set)
    for together in holders.values():
        for thread in together if len(together) > 1 else ():
            links[thread].update(other for other in together if other[0] != thread[0])
    return links


def _missing(thread: Thread, seen: _Thread, threads: dict[Thread, _Thread], linked: Iterable[Thread]) -> Iterator[Gap]:
    """The copies ``thread`` holds from another custodian that the sender's linked threads lack."""
    counted: Counter[CopyKey] = Counter()
    for copy in sorted(seen.from_others, key=lambda c: (c.sent_at, c.record_id)):
        theirs = sorted(other for other in linked if other[0] == copy.sender)
        if not _covers([threads[other] for other in theirs], copy.sent_at):
            continue  # the sender's exports do not reach this time (or hold no copy of the conversation)
        counted[copy.key] += 1
        if counted[copy.key] > sum(threads[other].copies[copy.key] for other in theirs):
            yield Gap(copy.record_id, thread[0], copy.sender, copy.source, thread[1], tuple(ref for _, ref in theirs),
                      copy.sent_at, copy.label)


def _covers(spans: list[_Thread], at: datetime) -> bool:
    """Whether ``at`` lies within the time the given threads' exports cover."""
    firsts = [s.first for s in spans if s.first is not None]
    lasts = [s.last for s in spans if s.last is not None]
    return bool(firsts) and min(firsts) <= at <= max(lasts)


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
