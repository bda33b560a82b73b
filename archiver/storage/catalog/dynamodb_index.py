"""The DynamoDB catalog's blind index and the reads investigators need (search, context).

Tokens live in ``tok#<token>`` partitions (items of up to 2000 ids), so a search reads one
partition per token and then the matching rows by BatchGetItem (100 keys a call). A
conversation's messages are pointed to from ``conv#<conversation_ref>`` items sorted by
``<sent_at>#<id>`` (written with the row), so the context around a message is a few bounded
queries and one BatchGetItem per 100 rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import Any

from archiver.core.terms import INDEX_VERSION
from archiver.model import parse_instant, utc_iso
from archiver.storage.catalog.base import CatalogRow, RecordPlace, RowFilter, TokenGroup
from archiver.storage.catalog.dynamodb_items import (
    INDEX_VERSION_KEY,
    ROW_CUSTODIANS,
    SEGMENTS,
    TOKEN_PREFIX,
    Item,
    Key,
    _conversation_key,
    _key,
    _msg_key,
    _row_from,
    _s,
    _text,
)
from archiver.storage.catalog.dynamodb_table import DynamoTable
from archiver.storage.catalog.finding import find_rows
from archiver.storage.catalog.instant_order import (
    AFTER_SECOND,
    FRACTIONS_END,
    in_time_order,
    is_whole_second,
    second_of,
)
from archiver.storage.catalog.report_rows import CopyRow

TOKEN_IDS_PER_ITEM = 2000    # 2000 ids of 32 hex characters stay far below the 400 KB item limit


class IndexedTable(DynamoTable):
    """The index half of ``DynamoCatalog``."""

    _index_claimed = False

    def index_version(self) -> int | None:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(INDEX_VERSION_KEY),
                          ConsistentRead=True).get("Item")
        if item is not None:
            return int(_text(item, "value") or 0)
        # Written before versions were recorded: its index holds body words only.
        return 1 if self._has_rows() else None

    def _has_rows(self) -> bool:
        page = self._call(self._client.query, TableName=self.table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": _s(ROW_CUSTODIANS)}, ConsistentRead=True, Limit=1)
        return bool(page.get("Items"))

    def set_index_version(self, version: int) -> None:
        self._call(self._client.put_item, TableName=self.table,
                   Item={**_key(INDEX_VERSION_KEY), "value": _s(str(version))})

    def _claim_new_index(self) -> None:
        """Before the first commit into an empty catalog, record the current index version."""
        if not self._index_claimed and self.index_version() is None:
            self._conditional(self._client.put_item, TableName=self.table,
                              Item={**_key(INDEX_VERSION_KEY), "value": _s(str(INDEX_VERSION))},
                              ConditionExpression="attribute_not_exists(pk)")
        self._index_claimed = True

    def reset_index(self) -> None:
        # Token partitions are named by their token, so finding them all takes one scan of the table.
        self._batch_write([{"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}}
                           for item in self._scan_prefix(TOKEN_PREFIX)])

    def _scan_prefix(self, prefix: str) -> Iterator[Item]:
        kwargs: dict[str, Any] = {"TableName": self.table, "FilterExpression": "begins_with(pk, :prefix)",
                                  "ExpressionAttributeValues": {":prefix": _s(prefix)},
                                  "ProjectionExpression": "pk, sk", "ConsistentRead": True}
        while True:
            page = self._call(self._client.scan, **kwargs)
            yield from page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_copy_refs(self, entries: Sequence[tuple[str, str | None, str | None]]) -> None:
        # One update per row: only reindex backfills, once per archive.
        for record_id, sender_ref, copy_key in entries:
            if sender_ref is not None and copy_key is not None:
                self._conditional(self._client.update_item, TableName=self.table, Key=_key(_msg_key(record_id)),
                                  UpdateExpression="SET sender_ref = :sender, copy_key = :copy",
                                  ConditionExpression="attribute_exists(pk)",
                                  ExpressionAttributeValues={":sender": _s(sender_ref), ":copy": _s(copy_key)})

    def _forget_copy_refs(self, row: CatalogRow) -> None:
        """Drop a destroyed row's keyed text and sender references, and its fingerprint pointer."""
        if row.fingerprint:
            self._conditional(self._client.delete_item, TableName=self.table,
                              Key=_key((f"fp#{row.fingerprint}#{row.custodian}", "fp")),
                              ConditionExpression="#id = :id", ExpressionAttributeNames={"#id": "id"},
                              ExpressionAttributeValues={":id": _s(row.id)})
        if row.fingerprint or row.sender_ref or row.copy_key:
            self._call(self._client.update_item, TableName=self.table, Key=_key(_msg_key(row.id)),
                       UpdateExpression="REMOVE fingerprint, sender_ref, copy_key")

    def add_index(self, entries: Sequence[tuple[str, list[str]]]) -> None:
        wanted = {record_id: tokens for record_id, tokens in entries if tokens}
        rows = list(self._batch_get((_msg_key(i) for i in wanted), ("id", "conversation_ref", "sent_at")))
        present = sorted(_text(item, "id") or "" for item in rows)
        group = "index:" + hashlib.sha256(" ".join(present).encode()).hexdigest()[:16]
        by_token: dict[str, list[str]] = {}
        for record_id in present:
            for token in wanted[record_id]:
                by_token.setdefault(token, []).append(record_id)
        puts = [{**_key((f"{TOKEN_PREFIX}{token}", f"{group}#{n:04d}")), "type": _s("token"),
                 "ids": {"SS": ids[first:first + TOKEN_IDS_PER_ITEM]}}
                for token, ids in by_token.items()
                for n, first in enumerate(range(0, len(ids), TOKEN_IDS_PER_ITEM))]
        # Rows written before conversation pointers existed get theirs here.
        puts += [{**_key(_conversation_key(_text(item, "conversation_ref") or "",
                                           parse_instant(_text(item, "sent_at") or ""), _text(item, "id") or "")),
                  "type": _s("conversation"), "id": item["id"]} for item in rows]
        self._batch_write([{"PutRequest": {"Item": item}} for item in puts])

    def _unindex(self, entries: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Take destroyed records' ids out of their tokens' items: an item left with no id is
        deleted. Idempotent (an id already taken out is not found again), so a killed run redoes it."""
        by_token: dict[str, set[str]] = {}
        for record_id, tokens in entries:
            for token in tokens:
                by_token.setdefault(token, set()).add(record_id)
        deletes = []
        for token, gone in by_token.items():
            for item in self._query(f"{TOKEN_PREFIX}{token}", projection=("pk", "sk", "ids")):
                held = set(item.get("ids", {}).get("SS", []))
                key = {"pk": item["pk"], "sk": item["sk"]}
                if held <= gone:
                    deletes.append({"DeleteRequest": {"Key": key}})
                elif held & gone:
                    self._call(self._client.update_item, TableName=self.table, Key=key,
                               UpdateExpression="DELETE ids :gone",
                               ExpressionAttributeValues={":gone": {"SS": sorted(held & gone)}})
        self._batch_write(deletes)

    def search_tokens(self, tokens: Iterable[str]) -> set[str]:
        found: set[str] | None = None
        for token in dict.fromkeys(tokens):
            found = self._token_ids(token) if found is None else found & self._token_ids(token)
            if not found:
                return set()
        return self._not_settled(found or set())

    def search_any(self, tokens: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for token in dict.fromkeys(tokens):
            found |= self._token_ids(token)
        return self._not_settled(found)

    def _token_ids(self, token: str) -> set[str]:
        return {i for item in self._query(f"{TOKEN_PREFIX}{token}", projection=("ids",))
                for i in item.get("ids", {}).get("SS", [])}

    def _not_settled(self, ids: set[str]) -> set[str]:
        # As in SQLite, a review item settled as a nonrecord no longer answers a search.
        return {_text(item, "id") or "" for item in self._batch_get((_msg_key(i) for i in ids), ("id", "label"))
                if _text(item, "label") != "nonrecord"}

    def segment_rows(self, name: str) -> Iterator[CatalogRow]:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key((SEGMENTS, name)),
                          ConsistentRead=True, ProjectionExpression="#ids",
                          ExpressionAttributeNames={"#ids": "ids"}).get("Item")
        ids = item.get("ids", {}).get("SS", []) if item else []
        # A row replaced since (a review item filed as a record) now lives in another segment.
        rows = [row for row in map(_row_from, self._batch_get(_msg_key(i) for i in ids)) if row.segment == name]
        yield from sorted(rows, key=lambda row: (row.offset or 0, row.id))

    def segment_places(self, name: str) -> Iterator[RecordPlace]:
        return map(RecordPlace.of, self.segment_rows(name))  # the network, not the rows, is the cost here

    def segments_sent_between(self, custodian: str | None, start: datetime | None, end: datetime | None) -> set[str]:
        return {row.segment for row in self.rows(custodian)  # type: ignore[attr-defined]  # DynamoCatalog's
                if row.segment is not None and (start is None or row.sent_at >= start)
                and (end is None or row.sent_at < end)}

    def copy_rows(self) -> Iterator[CopyRow]:
        return map(CopyRow.of, self.rows())  # type: ignore[attr-defined]  # DynamoCatalog's

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, CatalogRow]:
        return {row.id: row for row in map(_row_from, self._batch_get(_msg_key(i) for i in ids))}

    def find(self, groups: Sequence[TokenGroup], where: RowFilter,
             limit: int | None) -> tuple[int, Iterator[CatalogRow]]:
        return find_rows(self, groups, where, limit)  # type: ignore[arg-type]

    def conversation_rows(self, conversation_ref: str, around: datetime, before: int, after: int) -> list[CatalogRow]:
        partition, at = _conversation_key(conversation_ref, around, "")[0], utc_iso(around)
        earlier = list(islice(self._pointers(partition, at, False, before), before)) if before > 0 else []
        later = list(islice(self._pointers(partition, at, True, after), after)) if after > 0 else []
        ids = [*reversed(earlier), *later]
        rows = self.rows_by_id(ids)
        return [rows[i] for i in ids if i in rows]

    def _pointers(self, partition: str, at: str, forward: bool, wanted: int) -> Iterator[str]:
        """Ids of a conversation's messages in time order from instant ``at``: at or after it
        (``forward``), else before it, nearest first. Keys of ``at``'s own second that sort on
        the wrong side of it are read apart (``archiver.storage.catalog.instant_order``)."""
        second = second_of(at)
        if is_whole_second(at):  # all of its second is at or after it: fractions come later
            ranges = [("sk > :a", (second,))] if forward else [("sk < :a", (second,))]
        elif forward:
            ranges = [("sk BETWEEN :a AND :b", (at, second + FRACTIONS_END)), ("sk > :a", (second + AFTER_SECOND,))]
        else:  # the fractions before it, then its second's whole-second keys, then earlier seconds
            ranges = [("sk BETWEEN :a AND :b", (second + ".", at)), ("begins_with(sk, :a)", (second + "Z#",)),
                      ("sk < :a", (second,))]
        items = chain.from_iterable(self._query(partition, projection=("sk", "id"), sort=sort, values=values,
                                                forward=forward, page=wanted + 1) for sort, values in ranges)
        return (_text(item, "id") or "" for item in in_time_order(items, _sort_key, forward))


def _sort_key(item: Item) -> str:
    return str(item["sk"]["S"])


def conversation_pointer(row: CatalogRow) -> tuple[Key, Item]:
    """The ``conv#`` item that places a row in its conversation's time order."""
    return _conversation_key(row.conversation_ref, row.sent_at, row.id), {"type": _s("conversation"), "id": _s(row.id)}
