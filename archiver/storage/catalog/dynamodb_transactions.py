"""Exactly-once writes to the DynamoDB catalog: units of work planned against what was read.

Writes go through TransactWriteItems (at most 100 items each) whose conditions
restate what was read: a new item ``attribute_not_exists(pk)``, a replacement "the label is
still what I read", the audit head "the sequence is still what I read". A cancelled
transaction is re-read and re-planned, so concurrent writers neither duplicate rows nor fork
the audit chain: the next entry number comes from a conditional write of the head item in the
same transaction as the entry. Botocore gives every transaction an idempotency token, so a
network retry of a transaction that did land does not apply it twice.

A unit declares the items it reads and plans its writes from them; ``_write`` reads them all
at once, packs as many planned units as fit into each transaction, and chains their audit
entries through the head item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from archiver.errors import CatalogError
from archiver.model import utc_iso
from archiver.storage.audit import GENESIS, AuditEntry, AuditEvent, chain
from archiver.storage.catalog.dynamodb_items import AUDIT, HEAD_KEY, Item, Key, _key, _n, _s
from archiver.storage.catalog.dynamodb_table import DynamoTable

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
MAX_TRANSACTION_BYTES = 3_000_000  # DynamoDB allows 4 MB; our estimate is the JSON request size
MAX_CONFLICT_RETRIES = 30

# Attributes the write planner reads before deciding (labels, pointers, heads, sync times).
_STATE_ATTRIBUTES = ("pk", "sk", "label", "id", "ingested_at", "sent_at", "at", "seq", "hash")
_RETRYABLE_REASONS = {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                      "ProvisionedThroughputExceeded", "RequestLimitExceeded"}

Seen = dict[str, str]  # the _STATE_ATTRIBUTES of an item as read, all as strings


@dataclass(frozen=True)
class _Op:
    """One element of a TransactWriteItems request, with the item it touches."""

    key: Key
    request: dict[str, Any]
    size: int


@dataclass
class _Step:
    """What one unit of work writes, given what is in the table now."""

    ops: list[_Op] = field(default_factory=list)
    effects: dict[Key, Seen | None] = field(default_factory=dict)
    audit: AuditEvent | None = None


@dataclass(frozen=True)
class _Unit:
    """A unit of work: the items it must read first, and how it turns them into writes."""

    needs: tuple[Key, ...]
    plan: Callable[[_State], _Step]


class _State:
    """What the planner knows of the table: the items read, updated by the writes planned."""

    def __init__(self, items: dict[Key, Seen | None]) -> None:
        self.items = items

    def get(self, key: Key) -> Seen | None:
        return self.items[key]  # KeyError: a unit did not declare what it reads

    def head(self) -> tuple[int, str]:
        head = self.items[HEAD_KEY]
        return (int(head["seq"]), head["hash"]) if head else (0, GENESIS)


class _Conflict(Exception):
    """A transaction was cancelled because the table changed since it was planned."""


class TransactionalTable(DynamoTable):
    """The catalog's table with its transactional writes (see the module docstring)."""

    _audit_key: bytes | None = None  # keys the audit chain once the catalog is told its key

    def _transact(self, ops: Sequence[_Op]) -> None:
        try:
            self._client.transact_write_items(TransactItems=[op.request for op in ops])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in ("TransactionCanceledException", "TransactionConflictException"):
                reasons = {str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])}
                if reasons <= _RETRYABLE_REASONS:
                    raise _Conflict() from None
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None

    def _op(self, kind: str, key: Key, body: dict[str, Any], condition: str | None = None,
            names: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> _Op:
        request: dict[str, Any] = {"TableName": self.table, **body}
        if condition:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        document = {kind: request}
        return _Op(key, document, len(orjson.dumps(document)))

    def _put(self, key: Key, item: Item, new: bool = False, condition: str | None = None,
             names: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> _Op:
        """A Put of ``item`` at ``key``; ``new``: only if nothing is there."""
        return self._op("Put", key, {"Item": {**_key(key), **item}},
                        "attribute_not_exists(pk)" if new else condition, names, values)

    def _write(self, units: Sequence[_Unit]) -> list[AuditEntry]:
        """Apply ``units`` in order, packing as many as fit into each transaction; returns the
        audit entries written. A cancelled transaction is re-read, re-planned and retried."""
        entries: list[AuditEntry] = []
        start, attempt = 0, 0
        state = self._load(units)
        while start < len(units):
            ops: list[_Op] = []
            keys: set[Key] = set()
            size = 0
            written: list[AuditEntry] = []
            head_before = state.get(HEAD_KEY)
            end = start
            while end < len(units):
                step = units[end].plan(state)
                seq, prev = state.head()
                entry = chain(seq + 1, step.audit, prev, self._audit_key) if step.audit is not None else None
                new_ops = step.ops + ([self._audit_op(entry)] if entry else [])
                new_keys = {op.key for op in new_ops}
                head = 1 if written or entry else 0  # the head item is written once per transaction
                new_size = sum(op.size for op in new_ops)
                if len(ops) + len(new_ops) + head > MAX_TRANSACTION_ITEMS or size + new_size > MAX_TRANSACTION_BYTES \
                        or len(new_keys) < len(new_ops) or keys & new_keys:
                    if end == start:
                        raise CatalogError(f"DynamoDB table {self.table}: one catalog write is larger than a "
                                           "DynamoDB transaction allows")
                    break
                ops += new_ops
                keys |= new_keys
                size += new_size
                state.items.update(step.effects)
                if entry is not None:
                    written.append(entry)
                    state.items[HEAD_KEY] = {"seq": str(entry.seq), "hash": entry.hash}
                end += 1
            if written:
                ops.append(self._head_op(written[-1], head_before))
            try:
                if ops:
                    self._transact(ops)
            except _Conflict:
                attempt += 1
                if attempt > MAX_CONFLICT_RETRIES:
                    raise CatalogError(f"DynamoDB table {self.table}: other writers keep changing the catalog; "
                                       "try again") from None
                self._backoff(min(attempt, 6))
                state = self._load(units[start:])
                continue
            entries += written
            start, attempt = end, 0
        return entries

    def _load(self, units: Sequence[_Unit]) -> _State:
        keys = list(dict.fromkeys([HEAD_KEY, *(key for unit in units for key in unit.needs)]))
        items: dict[Key, Seen | None] = dict.fromkeys(keys)
        for item in self._batch_get(keys, _STATE_ATTRIBUTES):
            items[(item["pk"]["S"], item["sk"]["S"])] = {
                name: value.get("S", value.get("N", "")) for name, value in item.items() if name not in ("pk", "sk")}
        return _State(items)

    def _audit_op(self, entry: AuditEntry) -> _Op:
        event = entry.event
        item: Item = {"type": _s("audit"), "seq": _n(entry.seq), "at": _s(utc_iso(event.at)),
                      "actor": _s(event.actor), "action": _s(event.action),
                      "detail": _s(json.dumps(event.detail, sort_keys=True)),
                      "prev_hash": _s(entry.prev_hash), "hash": _s(entry.hash)}
        if event.case_id is not None:
            item["case_id"] = _s(event.case_id)
        return self._put((AUDIT, f"{entry.seq:020d}"), item, new=True)

    def _head_op(self, entry: AuditEntry, before: Seen | None) -> _Op:
        item = {"type": _s("audit-head"), "seq": _n(entry.seq), "hash": _s(entry.hash)}
        if before is None:
            return self._put(HEAD_KEY, item, new=True)
        # The chain stays linear: this transaction lands only if nobody appended since we read.
        return self._put(HEAD_KEY, item, condition="#seq = :seq", names={"#seq": "seq"},
                         values={":seq": _n(int(before["seq"]))})

    def _audit_unit(self, event: AuditEvent) -> _Unit:
        return _Unit((), lambda state: _Step(audit=event))

