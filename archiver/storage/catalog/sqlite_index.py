"""The SQLite catalog's blind index, the reads investigators need (search, context) and the
retention report's grouped counts.

The blind index is a contentless FTS5 table (``keywords``) of keyed-hash tokens keyed by the
message row's rowid: it answers "which records hold this term" holding no term at all. Its
version (``archiver.core.terms.INDEX_VERSION``) is kept in ``meta``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from itertools import chain
from typing import Any

from archiver.core.terms import INDEX_VERSION
from archiver.model import FLAG_DELETED
from archiver.storage.catalog.base import CatalogRow, RecordPlace, RowFilter, TokenGroup
from archiver.storage.catalog.holdings import HoldingGroup
from archiver.storage.catalog.report_rows import CopyRow
from archiver.storage.catalog.sqlite_codec import Strings, instant, iso_text, micros, packed, unpacked
from archiver.storage.catalog.sqlite_schema import COLUMNS

CHUNK = 500  # SQLite's bound-parameter limit is far above this; keeps statements small
INDEX_VERSION_META = "index_version"
ROW_COLUMNS = ", ".join(COLUMNS)


class SqliteIndex:
    """The index half of ``SqliteCatalog``: it needs the connection and the transaction of the catalog."""

    _db: sqlite3.Connection
    _strings: Strings

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _index(self, db: sqlite3.Connection, keywords: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Add each id's tokens (ids not in the catalog are skipped, as in DynamoDB)."""
        db.executemany("INSERT INTO keywords (rowid, tokens) VALUES (?, ?)", _indexed_rows(db, keywords, None))

    def _unindex(self, db: sqlite3.Connection, segment: str, keywords: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Remove the tokens of a destroyed segment's records. A contentless FTS5 table deletes a row
        only when told the very tokens it was given, so an index of another version (tokens of other
        terms) is left to the reindex that version needs anyway: it skips destroyed segments."""
        version = db.execute("SELECT value FROM meta WHERE name = ?", (INDEX_VERSION_META,)).fetchone()
        if version is not None and int(version[0]) == INDEX_VERSION:
            db.executemany("INSERT INTO keywords (keywords, rowid, tokens) VALUES ('delete', ?, ?)",
                           _indexed_rows(db, keywords, self._strings.known(segment)))

    def _claim_new_index(self, db: sqlite3.Connection) -> None:
        """The first commit into an empty catalog writes the current index version."""
        if db.execute("SELECT 1 FROM meta WHERE name = ?", (INDEX_VERSION_META,)).fetchone() is None \
                and db.execute("SELECT 1 FROM messages LIMIT 1").fetchone() is None:
            db.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (INDEX_VERSION_META, str(INDEX_VERSION)))

    def index_version(self) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (INDEX_VERSION_META,)).fetchone()
        if row is not None:
            return int(row[0])
        # Written before versions were recorded: its index holds body words only.
        return 1 if self._db.execute("SELECT 1 FROM messages LIMIT 1").fetchone() else None

    def set_index_version(self, version: int) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
                       "value = excluded.value", (INDEX_VERSION_META, str(version)))

    def reset_index(self) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO keywords (keywords) VALUES ('delete-all')")  # contentless FTS5: drop every token

    def add_index(self, entries: Sequence[tuple[str, list[str]]]) -> None:
        with self._transaction() as db:
            self._index(db, entries)

    def set_copy_refs(self, entries: Sequence[tuple[str, str | None, str | None]]) -> None:
        with self._transaction() as db:
            db.executemany("UPDATE messages SET sender_ref = ?, copy_key = ? WHERE id = ?",
                           [(packed(sender_ref), packed(copy_key), packed(record_id))
                            for record_id, sender_ref, copy_key in entries])

    def search_tokens(self, tokens: Iterable[str]) -> set[str]:
        return self._match(" AND ".join(f'"{t}"' for t in dict.fromkeys(tokens)))

    def search_any(self, tokens: Iterable[str]) -> set[str]:
        return self._match(" OR ".join(f'"{t}"' for t in dict.fromkeys(tokens)))

    def _match(self, query: str) -> set[str]:
        if not query:
            return set()
        # A review item settled as a nonrecord no longer answers a search.
        return {unpacked(r[0]) for r in self._db.execute(
            "SELECT m.id FROM keywords JOIN messages m ON m.rowid = keywords.rowid "
            "WHERE keywords MATCH ? AND m.label != 'nonrecord'", (query,))}

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, CatalogRow]:
        found: dict[str, CatalogRow] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start:start + CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update((row.id, row) for row in map(self._row, self._db.execute(
                f"SELECT {ROW_COLUMNS} FROM messages WHERE id IN ({marks})", [packed(i) for i in chunk])))
        return found

    def find(self, groups: Sequence[TokenGroup], where: RowFilter,
             limit: int | None) -> tuple[int, Iterator[CatalogRow]]:
        conditions, params = self._conditions(where)
        match = " AND ".join(f"({(' AND ' if every else ' OR ').join(_quoted(tokens))})" for tokens, every in groups)
        if match:
            conditions.append("rowid IN (SELECT rowid FROM keywords WHERE keywords MATCH ?)")
            params.append(match)
        clause = " AND ".join(conditions)
        (total,) = self._db.execute(f"SELECT count(*) FROM messages WHERE {clause}", params).fetchone()
        rows = self._db.execute(f"SELECT {ROW_COLUMNS} FROM messages WHERE {clause} ORDER BY sent_at, id LIMIT ?",
                                [*params, -1 if limit is None else limit])
        return int(total), map(self._row, rows)

    def holdings(self, custodian: str | None = None) -> Iterator[HoldingGroup]:
        # One grouped query: Python sees a row per group, never per record (sent_at is stored in UTC).
        # The UTC day of an instant: whole seconds rounded down, also before 1970.
        query = ("SELECT m.custodian, m.label, m.schedule, date((m.sent_at - ((m.sent_at % 1000000) + 1000000) "
                 "% 1000000) / 1000000, 'unixepoch'), m.disposition_date, s.disposed_at IS NOT NULL, count(*), "
                 "total(m.frame_length) FROM messages m LEFT JOIN strings g ON g.ref = m.segment "
                 "LEFT JOIN segments s ON s.name = g.value WHERE m.label != 'nonrecord' "
                 "AND (? IS NULL OR m.custodian = ?) GROUP BY 1, 2, 3, 4, 5, 6")
        number = None if custodian is None else self._strings.known(custodian)
        for who, label, schedule, day, disposition, disposed, records, size in self._db.execute(
                query, (number, number)).fetchall():
            yield HoldingGroup(self._strings.value(who), label, self._strings.value(schedule), date.fromisoformat(day),
                               parse_date(disposition), bool(disposed), records, int(size))

    def conversation_rows(self, conversation_ref: str, around: datetime, before: int, after: int) -> list[CatalogRow]:
        at, conversation = micros(around), packed(conversation_ref)
        earlier = self._db.execute(
            f"SELECT {ROW_COLUMNS} FROM messages WHERE conversation_ref = ? AND sent_at < ? "
            "ORDER BY sent_at DESC, id DESC LIMIT ?", (conversation, at, max(before, 0))).fetchall()
        later = self._db.execute(
            f"SELECT {ROW_COLUMNS} FROM messages WHERE conversation_ref = ? AND sent_at >= ? "
            "ORDER BY sent_at, id LIMIT ?", (conversation, at, max(after, 0))).fetchall()
        return [self._row(values) for values in chain(reversed(earlier), later)]

    def placed_rows(self, segment: str | None, labels: Sequence[str] = ()) -> Iterator[tuple[Any, ...]]:
        """Each row's id and the facts a segment's manifest vouches for, as a manifest holds them
        (custodian, sent_at, label, schedule, disposition_date, forwarding_status, deadline,
        days_late, segment, offset, length): of the rows in ``segment``, or with None, of the rows
        in no segment whose label is one of ``labels``, by id. Cheaper than whole rows."""
        query = ("SELECT id, custodian, sent_at, label, schedule, disposition_date, forwarding_status, deadline, "
                 "days_late, segment, frame_offset, frame_length FROM messages WHERE ")
        if segment is not None:
            cursor = self._db.execute(query + "segment = ?", (self._strings.known(segment),))
        else:
            marks = ",".join("?" * len(labels))
            cursor = self._db.execute(query + f"segment IS NULL AND label IN ({marks}) ORDER BY id", list(labels))
        value = self._strings.value
        for (id_, custodian, sent_at, label, schedule, disposition, status, deadline, days_late, place, offset,
             length) in cursor:
            yield (unpacked(id_), value(custodian), iso_text(sent_at), label, value(schedule), disposition, status,
                   None if deadline is None else iso_text(deadline), days_late, value(place), offset, length)

    def placed_segments(self) -> set[str]:
        """Every segment some row is placed in."""
        return {self._strings.value(number) for (number,) in self._db.execute(  # type: ignore[misc]
            "SELECT DISTINCT segment FROM messages WHERE segment IS NOT NULL")}

    def _conditions(self, where: RowFilter) -> tuple[list[str], list[object]]:
        """SQL conditions (and their parameters) for the catalog facts of ``where``."""
        conditions: list[str] = ["label = ?" if where.label else "label != 'nonrecord'"]
        params: list[object] = [where.label] if where.label else []
        if where.custodians is not None:
            conditions.append(f"custodian IN ({','.join('?' * len(where.custodians))})")
            params += [self._strings.known(name) for name in sorted(where.custodians)]
        for column, value, operator in (("sent_at", where.start, ">="), ("sent_at", where.end, "<"),
                                        ("source", where.source, "="), ("schedule", where.schedule, "=")):
            if value is not None:
                conditions.append(f"{column} {operator} ?")
                params.append(micros(value) if isinstance(value, datetime) else self._strings.known(value))
        for prefix in where.reason_prefixes:
            # A reasons value is a JSON list of rule ids: a reason starting with the prefix follows a quote.
            conditions.append("reasons IN (SELECT ref FROM strings WHERE substr(value, 1, 1) = '[' "
                              "AND instr(value, ?) > 0)")
            params.append(json.dumps(prefix)[:-1])
        return conditions, params

    def segment_places(self, name: str) -> Iterator[RecordPlace]:
        value = self._strings.value
        for id_, custodian, sent_at, offset, length in self._db.execute(
                "SELECT id, custodian, sent_at, frame_offset, frame_length FROM messages WHERE segment = ? "
                "ORDER BY frame_offset", (self._strings.known(name),)):
            yield RecordPlace(unpacked(id_), value(custodian), instant(sent_at), offset, length)  # type: ignore[arg-type]

    def segments_sent_between(self, custodian: str | None, start: datetime | None, end: datetime | None) -> set[str]:
        low, high = micros(start) if start else -(2 ** 63), micros(end) if end else 2 ** 63 - 1
        found: set[str] = set()
        for number in self._custodians(custodian):  # each walks the index of custodian and send time
            found.update(self._strings.value(segment) for (segment,) in self._db.execute(  # type: ignore[misc]
                "SELECT DISTINCT segment FROM messages WHERE custodian = ? AND sent_at >= ? AND sent_at < ? "
                "AND segment IS NOT NULL", (number, low, high)))
        return found

    def copy_rows(self) -> Iterator[CopyRow]:
        value = self._strings.value
        query = ("SELECT id, source, conversation_ref, sent_at, direction, system, label, flags, sender_ref, copy_key "
                 "FROM messages WHERE custodian = ? ORDER BY sent_at, id")
        for number in self._custodians(None):
            custodian = value(number)
            for id_, source, conv, sent_at, direction, system, label, flags, sender_ref, copy_key in self._db.execute(
                    query, (number,)):
                yield CopyRow(unpacked(id_), custodian, value(source), unpacked(conv),  # type: ignore[arg-type]
                              instant(sent_at), value(direction), bool(system), label,  # type: ignore[arg-type]
                              bool(flags) and FLAG_DELETED in json.loads(flags), unpacked(sender_ref),
                              unpacked(copy_key))

    def _custodians(self, custodian: str | None) -> list[int]:
        """The numbers of the custodians with rows (or of ``custodian`` only), in the order of their names.

        Rows are read a custodian at a time, so they come in the order of custodians' names
        (their numbers are in the order they were first stored) and each query walks the index."""
        if custodian is not None:
            return [self._strings.known(custodian)]
        numbers = [number for (number,) in self._db.execute(
            "WITH RECURSIVE present(number) AS (SELECT min(custodian) FROM messages UNION ALL "
            "SELECT (SELECT min(custodian) FROM messages WHERE custodian > number) FROM present "
            "WHERE number IS NOT NULL) SELECT number FROM present WHERE number IS NOT NULL")]
        return sorted(numbers, key=self._strings.value)  # type: ignore[arg-type, return-value]

    def _row(self, values: tuple[object, ...]) -> CatalogRow:
        """A ``messages`` row (selected as ``ROW_COLUMNS``) as a ``CatalogRow``."""
        (id_, custodian, source, conv, sent_at, direction, account, system, label, confidence, reasons,
         rules_version, schedule, disposition, status, deadline, days_late, content_hash, export_sha,
         line, ingested_at, flags, segment, offset, length, fingerprint, sender_ref, copy_key) = values
        value = self._strings.value
        return CatalogRow(
            id=unpacked(id_), custodian=value(custodian), source=value(source),  # type: ignore[arg-type]
            conversation_ref=unpacked(conv), sent_at=instant(sent_at),  # type: ignore[arg-type]
            direction=value(direction), account=value(account),  # type: ignore[arg-type]
            system=bool(system), label=str(label), confidence=float(confidence),  # type: ignore[arg-type]
            reasons=tuple(json.loads(value(reasons))), rules_version=value(rules_version),  # type: ignore[arg-type]
            schedule=value(schedule), disposition_date=parse_date(disposition),  # type: ignore[arg-type]
            forwarding_status=str(status), deadline=None if deadline is None else instant(deadline),  # type: ignore[arg-type]
            days_late=int(days_late), content_hash=unpacked(content_hash),  # type: ignore[call-overload, arg-type]
            export_sha256=value(export_sha), source_line=line,  # type: ignore[arg-type]
            ingested_at=instant(ingested_at), flags=tuple(json.loads(flags)) if flags else (),  # type: ignore[arg-type]
            segment=value(segment), offset=offset, length=length,  # type: ignore[arg-type]
            fingerprint=unpacked(fingerprint), sender_ref=unpacked(sender_ref),  # type: ignore[arg-type]
            copy_key=unpacked(copy_key))  # type: ignore[arg-type]

    def _row_values(self, row: CatalogRow) -> tuple[object, ...]:
        """``row`` as the ``messages`` columns store it (``ROW_COLUMNS``), shared values numbered."""
        number = self._strings.number
        return (packed(row.id), number(row.custodian), number(row.source), packed(row.conversation_ref),
                micros(row.sent_at), number(row.direction), number(row.account), int(row.system), row.label,
                row.confidence, number(json.dumps(list(row.reasons))), number(row.rules_version),
                number(row.schedule), day_text(row.disposition_date), row.forwarding_status,
                None if row.deadline is None else micros(row.deadline), row.days_late, packed(row.content_hash),
                number(row.export_sha256), row.source_line, micros(row.ingested_at),
                json.dumps(list(row.flags)) if row.flags else "", number(row.segment), row.offset, row.length,
                packed(row.fingerprint), packed(row.sender_ref), packed(row.copy_key))


def _indexed_rows(db: sqlite3.Connection, keywords: Sequence[tuple[str, Sequence[str]]],
                  segment: int | None) -> list[tuple[int, str]]:
    """(rowid, tokens) of each id with tokens whose row is in the catalog (and in the segment
    numbered ``segment`` if given)."""
    wanted = {packed(record_id): tokens for record_id, tokens in keywords if tokens}
    ids, found = list(wanted), []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found += [(rowid, " ".join(wanted[record_id])) for rowid, record_id in db.execute(
            f"SELECT rowid, id FROM messages WHERE id IN ({marks}) AND (? IS NULL OR segment = ?)",
            [*chunk, segment, segment])]
    return found


def _quoted(tokens: Sequence[str]) -> list[str]:
    return [f'"{token}"' for token in dict.fromkeys(tokens)]


def parse_date(value: str | None) -> date | None:
    """A stored ISO day, or None."""
    return date.fromisoformat(value) if value else None


def day_text(value: date | None) -> str | None:
    """A day as stored: ISO text, or None."""
    return value.isoformat() if value else None
