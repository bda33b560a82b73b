"""Watch-list search: for each person on an investigator's list, every record that names or
identifies them (by name, date of birth, passport, A-number, phone or e-mail), across all
custodians, with counts per person and per custodian.

A watch list is a list of U.S. persons: the file's content goes into the audit entry sealed,
and nothing of it is written anywhere else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.core.terms import date_terms, name_terms, normalize_words, number_terms, participant_term, word_terms
from archiver.core.watchlist import Person, parse_watch_list
from archiver.errors import UsageError
from archiver.services.search import Hit, Query, Searcher
from archiver.storage.archive import Archive

MAX_WATCH_LIST_BYTES = 4 * 1024**2


@dataclass(frozen=True)
class PersonResult:
    """What the archive holds on one person of the list: counts, the ids of the records shown
    (at most the query's limit, in time order), and their hits, made as they are taken."""

    person: Person
    total: int
    by_custodian: dict[str, int]
    matched_by: dict[str, int]
    shown: list[str]
    hits: Iterable[Hit]

    def to_json(self) -> dict[str, Any]:
        return {"line": self.person.line, "name": self.person.name, "total": self.total,
                "by_custodian": self.by_custodian, "matched_by": self.matched_by,
                "hits": [hit.to_json() for hit in self.hits]}


def read_watch_list(path: Path) -> list[Person]:
    """The people of the CSV at ``path``; ``UsageError`` naming the file, line and cause."""
    try:
        if path.stat().st_size > MAX_WATCH_LIST_BYTES:
            raise UsageError(f"{path}: a watch list is at most {MAX_WATCH_LIST_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the watch list: {exc}") from None
    people = parse_watch_list(text, str(path))
    if not people:
        raise UsageError(f"{path}: the watch list names nobody")
    return people


def search_people(archive: Archive, actor: str, path: Path, query: Query, case_id: str | None,
                  at: datetime) -> list[PersonResult]:
    """Every record naming or identifying each person of the watch list at ``path`` (audited)."""
    people = read_watch_list(path)
    groups = {person.line: _identifier_terms(person, str(path)) for person in people}
    request = {"people": [asdict(person) for person in people], "filters": query.to_json()}
    searcher = Searcher(archive, actor, case_id, at, "search-people", request, reads_text=True)
    results = [_person_result(searcher, person, groups[person.line], query) for person in people]
    returned = dict.fromkeys(record_id for result in results for record_id in result.shown)
    # Before any hit is made (a hit reads its record): nothing is seen unaudited.
    searcher.audit("search-people", list(returned), sum(result.total for result in results))
    return results


def _identifier_terms(person: Person, source: str) -> dict[str, tuple[list[str], bool]]:
    """Per identifier of ``person``: its index terms and whether all of them must be present."""
    where = f"{source}:{person.line}"
    terms: dict[str, tuple[list[str], bool]] = {}
    names = name_terms(person.name)
    if names:
        terms["name"] = (names, True)
    if person.dob:
        try:
            terms["dob"] = (date_terms(person.dob), False)
        except ValueError as exc:
            raise UsageError(f"{where}: dob {person.dob!r}: {exc}") from None
    for column in ("passport", "a_number"):
        value = getattr(person, column)
        if value and not number_terms(value):
            raise UsageError(f"{where}: {column} {value!r} holds no number")
        if value:
            terms[column] = (number_terms(value), False)
    if person.phone:
        terms["phone"] = ([*number_terms(person.phone), participant_term(person.phone)], False)
    if person.email:
        terms["email"] = ([participant_term(person.email)], False)
        terms["email in text"] = (word_terms(person.email), True)
    return terms


def _person_result(searcher: Searcher, person: Person, terms: dict[str, tuple[list[str], bool]],
                   query: Query) -> PersonResult:
    """The records any identifier of ``person`` finds, each counted once, under the first that found it."""
    index = searcher.archive.blind_index
    found: dict[str, tuple[str, datetime, str]] = {}  # id: (identifier that found it, sent at, custodian)
    for identifier, (wanted, every) in terms.items():
        for row in searcher.find(query, [(index.tokens(wanted), every)], None)[1]:
            found.setdefault(row.id, (identifier.removesuffix(" in text"), row.sent_at, row.custodian))
    shown = sorted(found, key=lambda record_id: (found[record_id][1], record_id))[:query.limit]
    return PersonResult(person, len(found), dict(Counter(custodian for *_, custodian in found.values())),
                        dict(Counter(by for by, *_ in found.values())), shown,
                        searcher.hits(shown, normalize_words(person.name)))
