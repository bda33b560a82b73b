"""Search: which records say what, by whom, to whom, about whom, for those entitled to ask.

Keywords, participants, conversations, numbers and dates are looked up in the blind index
(keyed tokens: the catalog holds no word); catalog facts (custodian, time, app, label,
schedule, hold, classifier reasons) narrow the candidates; a phrase is then checked on the
decrypted text. Who may see what is decided here, for the CLI and the Lambda handlers alike:

- an investigator searches every custodian, only under an open case, and reads the text;
- an officer searches only the custodians their role names, and reads the text;
- a records officer sees catalog facts only, never a word of a message.

Every search is an audit entry: the case, the actor, the query (sealed: it may name people)
and the ids returned. A refusal is audited by ``access.authorize``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, NoReturn

from archiver.core.terms import (
    HAS_ATTACHMENT,
    INDEX_VERSION,
    conversation_term,
    normalize_words,
    participant_key,
    participant_term,
    word_terms,
)
from archiver.errors import AccessDenied, UsageError
from archiver.model import day_start, parse_instant, utc_iso
from archiver.services.access import ACTION_REFUSED, Principal, principal, require_open_case, sealed
from archiver.services.build import build_directory
from archiver.services.disposition import resolve_custodian
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog.base import CatalogRow, HoldRow, RowFilter, TokenGroup
from archiver.storage.records import RecordDocument, read_document

SEARCHERS = ("investigator", "officer", "records-officer")
OUTSIDE_PARTY_REASONS = frozenset({"outside-party-participant"})
PERSONAL_INFO_PREFIX = "pii-"
DEFAULT_LIMIT = 100
SNIPPET_CHARS = 60
HITS_READ_AT_ONCE = 500  # catalog rows read by id at a time while hits are made
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Query:
    """What an investigator asks; every filter given must hold (``any_words``: one of them)."""

    custodian: str | None = None
    participant: str | None = None
    conversation: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    source: str | None = None
    label: str | None = None
    schedule: str | None = None
    hold: str | None = None
    has_attachment: bool = False
    personal_info: bool = False
    outside_party: bool = False
    all_words: str | None = None
    any_words: str | None = None
    phrase: str | None = None
    limit: int = DEFAULT_LIMIT

    def reads_text(self) -> bool:
        """Whether the query looks into what messages say (words, people, conversations)."""
        return bool(self.all_words or self.any_words or self.phrase or self.participant or self.conversation)

    def to_json(self) -> dict[str, Any]:
        """The query as the audit entry keeps it (sealed)."""
        return {name: utc_iso(value) if isinstance(value, datetime) else value
                for name, value in asdict(self).items() if value not in (None, False)}


@dataclass(frozen=True)
class Hit:
    """One record found: catalog facts for every searcher, the text's parts only for readers."""

    row: CatalogRow
    held: bool
    disposed: bool = False
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    conversation: str | None = None
    snippet: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = self.row
        return {"id": row.id, "sent_at": utc_iso(row.sent_at), "custodian": row.custodian, "source": row.source,
                "direction": row.direction, "label": row.label, "schedule": row.schedule, "held": self.held,
                "disposed": self.disposed, "forwarding_status": row.forwarding_status,
                "sender": self.sender, "recipients": list(self.recipients), "conversation": self.conversation,
                "snippet": self.snippet}


@dataclass
class SearchResult:
    """How many records matched, and the hits (at most the query's limit), in time order, made as
    they are taken: ``returned`` of them, audited before the first is made."""

    hits: Iterable[Hit]
    total: int
    returned: int
    case_id: str | None = None

    def heading(self) -> dict[str, Any]:
        """Everything but the hits."""
        return {"case": self.case_id, "total": self.total, "returned": self.returned}

    def to_json(self) -> dict[str, Any]:
        return {**self.heading(), "hits": [hit.to_json() for hit in self.hits]}


def day_or_instant(text: str, end: bool = False) -> datetime:
    """``--from``/``--to``: a date (the whole UTC day) or an instant with its offset."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return day_start(day, 1 if end else 0)
        return parse_instant(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD) or an instant (YYYY-MM-DDTHH:MM:SSZ)") from None


class Searcher:
    """One search or read: who asks, under which case, what they may see, and the lookups."""

    def __init__(self, archive: Archive, actor: str, case_id: str | None, at: datetime, action: str,
                 request: dict[str, Any], reads_text: bool) -> None:
        """``request``: what is asked, as its audit entry keeps it (sealed); ``reads_text``: it
        needs message text (keywords, participants, a read)."""
        self.archive, self.at, self.case_id, self.request = archive, at, case_id, request
        self.principal: Principal = principal(archive, actor)
        if not any(self.principal.has(role) for role in SEARCHERS):
            self.refuse(action, f"the {' or '.join(SEARCHERS)} role is required "
                                 f"(ask an admin: archiver role grant {actor} ROLE)")
        if case_id is not None:
            require_open_case(archive, actor, case_id, at)
        self.investigating = self.principal.has("investigator") and case_id is not None
        self._own_only = not self.investigating and self.principal.has("officer") and (
            reads_text or not self.principal.has("records-officer"))
        if not (self.investigating or self._own_only or self.principal.has("records-officer")):
            self.refuse(action, "an investigator searches and reads only under an open case: give --case ID")
        if reads_text and not (self.investigating or self._own_only):
            self.refuse(action, "this needs message text, which the records-officer role does not read; "
                                 "investigators read under a case, officers their own records")
        self._holds: list[HoldRow] | None = None
        self._disposed: set[str] | None = None
        if archive.catalog.index_version() not in (None, INDEX_VERSION):  # None: nothing archived yet
            raise UsageError("this archive's search index is older than this archiver or its rebuild was "
                             "interrupted; an admin runs 'archiver reindex' (audited)")

    def refuse(self, action: str, why: str) -> NoReturn:
        """Audit the refusal (with what was asked, sealed) and raise ``AccessDenied``."""
        detail = {"action": action, "why": why, "query": sealed(self.archive, self.request)}
        event = AuditEvent(self.principal.actor, ACTION_REFUSED, self.at, detail, self.case_id)
        self.archive.catalog.append_audit(event)
        raise AccessDenied(f"{self.principal.actor} may not {action}: {why}")

    def scope(self) -> frozenset[str] | None:
        """The custodians this principal may search; None for all (investigators, records officers)."""
        return self.principal.custodians if self._own_only else None

    def reads(self, row: CatalogRow) -> bool:
        """Whether this principal may read the record's text."""
        return self.investigating or (self._own_only and row.custodian in self.principal.custodians)

    def token_groups(self, query: Query) -> list[TokenGroup]:
        """(tokens, all of them?) per filter the index answers."""
        index, groups = self.archive.blind_index, []
        words = [*word_terms(query.all_words or ""), *word_terms(query.phrase or "")]
        if words:
            groups.append((index.tokens(words), True))
        if query.any_words:
            any_terms = word_terms(query.any_words)
            if not any_terms:
                raise UsageError("--any names no word")
            groups.append((index.tokens(any_terms), False))
        if query.participant:
            groups.append((index.tokens(self.participant_terms(query.participant)), False))
        if query.conversation:
            groups.append(([index.token(conversation_term(query.conversation))], True))
        if query.has_attachment:
            groups.append(([index.token(HAS_ATTACHMENT)], True))
        return groups

    def participant_terms(self, text: str) -> list[str]:
        """A participant as every handle they are known by: the text itself, every name and
        account of a registered custodian it names, and the directory's handles for that person
        (compared as handles are: case aside, phone numbers by their last ten digits)."""
        key, handles = participant_key(text), {text}
        for custodian in self.archive.catalog.custodians():
            names = (custodian.id, *custodian.aliases)
            if any(participant_key(name) == key for name in names):
                handles |= set(names)
        handles |= build_directory(self.archive.settings).handles_named(text)
        return sorted({participant_term(handle) for handle in handles if handle})

    def row_filter(self, query: Query) -> RowFilter | None:
        """The catalog facts ``query`` narrows by, within this principal's scope and the named
        hold's reach; None when they exclude everything."""
        custodians = self.scope()
        named = resolve_custodian(self.archive, query.custodian) if query.custodian else None
        if named is not None:
            custodians = frozenset({named}) & custodians if custodians is not None else frozenset({named})
        start, end = query.start, query.end
        if query.hold:
            hold = self._hold(query.hold)
            if not hold.active:
                return None
            if hold.custodian is not None:
                held = frozenset({hold.custodian})
                custodians = held if custodians is None else custodians & held
            start = max(filter(None, (start, day_start(hold.start) if hold.start else None)), default=None)
            end = min(filter(None, (end, day_start(hold.end, 1) if hold.end else None)), default=None)
        prefixes = ((PERSONAL_INFO_PREFIX,) if query.personal_info else ()) + \
                   (tuple(OUTSIDE_PARTY_REASONS) if query.outside_party else ())
        return RowFilter(custodians, start, end, query.source, query.label, query.schedule, prefixes)

    def find(self, query: Query, groups: list[TokenGroup], limit: int | None) -> tuple[int, list[CatalogRow]]:
        """How many records match, and the first ``limit`` in time order."""
        where = self.row_filter(query)
        return (0, []) if where is None else self.archive.catalog.find(groups, where, limit)

    def _hold(self, name: str) -> HoldRow:
        if self._holds is None:
            self._holds = self.archive.catalog.holds()
        for hold in self._holds:
            if hold.name == name:
                return hold
        raise UsageError(f"no hold named {name!r}; see 'archiver hold list'")

    def held(self, row: CatalogRow) -> bool:
        """Whether an active hold covers the record."""
        if self._holds is None:
            self._holds = self.archive.catalog.holds()
        return any(hold.active and hold.covers(row.custodian, row.sent_at) for hold in self._holds)

    def disposed(self, row: CatalogRow) -> bool:
        """Whether the record's segment was destroyed by disposition (nothing left to read)."""
        if self._disposed is None:
            self._disposed = {s.name for s in self.archive.catalog.segments() if s.disposed_at}
        return row.segment is None or row.segment in self._disposed

    def has_document(self, row: CatalogRow) -> bool:
        """Whether the record has a sealed document to read: not a tombstone, not destroyed."""
        return not (row.label == "nonrecord" or self.disposed(row) or row.offset is None or row.length is None)

    def document(self, row: CatalogRow) -> RecordDocument | None:
        """The sealed record, opened; None for a tombstone or a destroyed record."""
        if not self.has_document(row):
            return None
        assert row.segment is not None and row.offset is not None and row.length is not None
        return read_document(self.archive, row.id, row.segment, row.offset, row.length)

    def hits(self, ids: Sequence[str], words: Sequence[str]) -> Iterator[Hit]:
        """The hit of each record of ``ids``, in that order; rows are read ``HITS_READ_AT_ONCE`` at a
        time, so a long list of hits is never held whole."""
        for start in range(0, len(ids), HITS_READ_AT_ONCE):
            chunk = ids[start:start + HITS_READ_AT_ONCE]
            rows = self.archive.catalog.rows_by_id(chunk)
            yield from (self.hit(rows[record_id], words) for record_id in chunk)

    def hit(self, row: CatalogRow, words: Sequence[str]) -> Hit:
        """The hit for ``row``: the text's parts only when this principal reads text."""
        held, disposed = self.held(row), self.disposed(row)
        if not self.reads(row):
            return Hit(row, held, disposed)
        document = self.document(row)
        if document is None:
            return Hit(row, held, disposed)
        message = document.message
        return Hit(row, held, disposed, message["sender"], tuple(message["recipients"]), message["conversation"],
                   snippet(message["body"], words))

    def audit(self, action: str, ids: Sequence[str], total: int) -> None:
        """The audit entry of the search or read: what was asked, sealed; the ids returned in
        the clear (keyed hashes)."""
        detail = {"query": sealed(self.archive, self.request), "results": list(ids), "total": total,
                  "reads_text": self.investigating or self._own_only}
        self.archive.catalog.append_audit(AuditEvent(self.principal.actor, action, self.at, detail, self.case_id))


def search(archive: Archive, actor: str, query: Query, case_id: str | None, at: datetime) -> SearchResult:
    """Run ``query`` for ``actor``: the hits they may see, audited with the query and the ids."""
    if query.limit < 1:
        raise UsageError("--limit must be at least 1")
    searcher = Searcher(archive, actor, case_id, at, "search", query.to_json(), query.reads_text())
    words = [*normalize_words(query.all_words or ""), *normalize_words(query.any_words or ""),
             *normalize_words(query.phrase or "")]
    ids: list[str] = []
    if query.phrase:  # the index finds the words; the decrypted text says whether they stand in a row
        total = 0
        for row in searcher.find(query, searcher.token_groups(query), None)[1]:
            document = searcher.document(row)
            if document is not None and has_phrase(document.message["body"], query.phrase):
                total += 1
                if len(ids) < query.limit:
                    ids.append(row.id)
    else:
        total, rows = searcher.find(query, searcher.token_groups(query), query.limit)
        ids = [row.id for row in rows]
    searcher.audit("search", ids, total)  # before any hit is made: nothing is seen unaudited
    return SearchResult(searcher.hits(ids, words), total, len(ids), case_id)


def has_phrase(body: str, phrase: str) -> bool:
    """Whether the phrase's words appear in ``body`` in a row (case and accents aside)."""
    wanted, words = normalize_words(phrase), normalize_words(body)
    if not wanted:
        return False
    return any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


def snippet(body: str, words: Sequence[str]) -> str:
    """A short piece of ``body`` around the first of ``words`` (its start when none is there)."""
    wanted = set(words)
    start = 0
    for match in _WORD.finditer(body) if wanted else ():
        if wanted.intersection(normalize_words(match.group())):
            start = max(0, match.start() - SNIPPET_CHARS // 2)
            break
    piece = " ".join(body[start:start + SNIPPET_CHARS * 2].split())
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS * 2 < len(body) else "")

