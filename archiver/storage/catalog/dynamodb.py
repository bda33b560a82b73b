"""The DynamoDB catalog (serverless): the same protocol and semantics as the SQLite catalog.

URL: ``dynamodb://TABLE`` or ``dynamodb://TABLE?region=us-gov-west-1``; boto3 finds credentials
and region the usual way and honours ``AWS_ENDPOINT_URL``. ``archiver init`` creates the table
when it is missing (on-demand billing, SSE with a KMS key, point-in-time recovery, deletion
protection); every other command refuses a missing table.

Single-table design. Every item has ``pk``/``sk`` (strings); fixed partition names hold no
``#``, so they never meet the ``xxx#...`` partitions::

    pk                    sk                     what
    msg#<id>              row                    one CatalogRow (never message text)
    row-custodians        c#<custodian>          custodians that have rows (drives rows())
    fp#<fp>#<custodian>   fp                     earliest copied/forwarded record with that text
                                                 fingerprint (compliant_copies, one BatchGet)
    tok#<token>           <group>#<n>            blind index: ids holding a keyed-hash token;
                                                 group = segment:<name> or row:<id>
    segments              <name>                 SegmentRow + ids of its rows (segment_rows)
    pending               <name>                 segments begun, not committed
    audit                 <seq, 20 digits>       audit entries, in chain order
    audit-head            head                   seq and hash of the last entry
    exports               <ingested_at>#<uuid>   export history
    sync / sync-app       c#<custodian> / json   last personal ingest per custodian / per app
    custodians, holds     <id> / <name>          JSON documents
    intents               <kind>/<name>          a dispose or hold act begun, not finished (JSON)
    notices               <key>                  notices sent (each key once)
    quarantine            <hash of item>         one entry per bad item of an export
    meta                  key_id                 the archive's key
    meta                  id_scheme              which message ids the archive holds (archiver.core.identity)
    lock                  writer                 the writer lock (owner token + lease)

Global secondary indexes (all projection ALL, sparse: only the items named carry the keys):

- ``gsi1`` message rows by custodian in date order: ``cust#<custodian>`` / ``<sent_at>#<id>``
  (``rows(custodian)``; ``utc_iso`` strings end in ``Z``, so this sorts as SQLite's
  ``ORDER BY custodian, sent_at, id``).
- ``gsi2`` message rows by label (record / nonrecord / review) per custodian, in date order:
  ``label#<label>#<custodian>`` / ``<sent_at>#<id>``: the record set the 2911 forwarding
  report, the compliance sweep and ``verify`` walk, and the review queue, without reading
  tombstones.
- ``gsi3`` notices by send time: ``notices`` / ``<sent_at>#<key>``.
- ``gsi4`` quarantine in arrival order: ``quarantine`` / ``<ns clock>#<n>``.

Segments and holds need no index: the ``segments`` partition is sorted by name, and segment
names begin with their retain-until date, so it is also the disposition-date order the
disposition sweep walks; ``segment_rows`` reads the ids kept on the segment item with
strongly consistent reads (a hold check must never miss a row through index lag). GSI reads
are eventually consistent: ``rows``, ``notices`` and ``quarantine`` may lag a write by
moments; every write decision (duplicates, replacements, notices sent, the audit head) reads
the table itself, consistently.

Exactly once. Writes go through TransactWriteItems (at most 100 items each) whose conditions
restate what was read: a new item ``attribute_not_exists(pk)``, a replacement "the label is
still what I read", the audit head "the sequence is still what I read". A cancelled
transaction is re-read and re-planned, so concurrent writers neither duplicate rows nor fork
the audit chain: the next entry number comes from a conditional write of the head item in the
same transaction as the entry. Botocore gives every transaction an idempotency token, so a
network retry of a transaction that did land does not apply it twice.

A segment of up to 1000 rows needs several transactions. They are applied in order, as many
writes per transaction as fit: rows (with their fingerprint pointers and custodian markers),
then the blind-index items, and LAST one transaction holding the segment item, the removal of
its pending mark and its audit entry. A crash between chunks leaves some rows and the pending
mark; the next ingest recovers the segment from the store and commits it again, and every
row already present is skipped (its condition is read first), so nothing is written twice and
the audit entry is written once. A commit small enough for one transaction (a review
decision, a small export) is atomic as in SQLite. Tombstone batches without a segment have no
mark: a crash part-way leaves part of them, and ingesting the export again adds the rest.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from archiver.core.apps import split_apps
from archiver.core.custodians import Custodian
from archiver.errors import ArchiverError, CatalogError, ConfigError, KeyProviderError
from archiver.model import parse_instant, utc_iso
from archiver.storage.audit import GENESIS, AuditEntry, AuditEvent, chain
from archiver.storage.catalog.base import (
    CatalogRow,
    CommitBatch,
    ExportRow,
    HoldRow,
    NoticeRow,
    QuarantineRow,
    SegmentRow,
    hold_from_json,
    hold_json,
    latest_syncs,
)

LOCK_WAIT_SECONDS = 30.0     # as long as the SQLite catalog waits for its file lock
LOCK_LEASE_SECONDS = 60.0    # a lock left by a killed process is free again after this
LOCK_POLL_SECONDS = 0.5
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
MAX_TRANSACTION_BYTES = 3_000_000  # DynamoDB allows 4 MB; our estimate is the JSON request size
MAX_CONFLICT_RETRIES = 30
BATCH_GET_KEYS = 100         # DynamoDB's limit per BatchGetItem
BATCH_WRITE_ITEMS = 25       # DynamoDB's limit per BatchWriteItem
MAX_UNPROCESSED_RETRIES = 10
TOKEN_IDS_PER_ITEM = 2000    # 2000 ids of 32 hex characters stay far below the 400 KB item limit
INDEXES = ("gsi1", "gsi2", "gsi3", "gsi4")

ROW_SK = "row"
ROW_CUSTODIANS = "row-custodians"
SEGMENTS = "segments"
PENDING = "pending"
AUDIT = "audit"
HEAD_KEY = ("audit-head", "head")
EXPORTS = "exports"
SYNC = "sync"
SYNC_APP = "sync-app"
CUSTODIANS = "custodians"
HOLDS = "holds"
INTENTS = "intents"
NOTICES = "notices"
QUARANTINE = "quarantine"
META_KEY = ("meta", "key_id")
ID_SCHEME_KEY = ("meta", "id_scheme")
LOCK_KEY = ("lock", "writer")

# Attributes the write planner reads before deciding (labels, pointers, heads, sync times).
_STATE_ATTRIBUTES = ("pk", "sk", "label", "id", "ingested_at", "sent_at", "at", "seq", "hash")
_RETRYABLE_REASONS = {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                      "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
               "Throttling", "TooManyRequestsException"}
_ACCESS = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
           "ExpiredTokenException", "MissingAuthenticationTokenException", "IncompleteSignatureException"}
_COMPLIANT = ("copied", "forwarded")

Key = tuple[str, str]
Item = dict[str, Any]
Seen = dict[str, str]  # the _STATE_ATTRIBUTES of an item as read, all as strings
T = TypeVar("T")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _key(key: Key) -> Item:
    return {"pk": _s(key[0]), "sk": _s(key[1])}


def _text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value is not None else None


def _number(item: Item, name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value is not None else None


def _msg_key(record_id: str) -> Key:
    return (f"msg#{record_id}", ROW_SK)


def _quarantine_key(row: QuarantineRow) -> Key:
    # As SQLite's unique index: a missing line counts as line 0.
    identity = json.dumps([row.export_sha256, row.file, row.line or 0, row.reason])
    return (QUARANTINE, hashlib.sha256(identity.encode()).hexdigest())


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


class DynamoCatalog:
    """Catalog in one DynamoDB table (see the module docstring for its layout)."""

    def __init__(self, table: str, region: str | None = None, create: bool = False) -> None:
        self.table = table
        self.region = region
        self._audit_key: bytes | None = None
        try:
            self._client = boto3.session.Session().client(
                "dynamodb", region_name=region,
                config=Config(retries={"mode": "standard", "max_attempts": 8}))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        if create:
            self.create_if_missing()
        else:
            self._check_table(self._call(self._client.describe_table, TableName=table)["Table"])

    @classmethod
    def from_url(cls, url: str, create: bool = False) -> DynamoCatalog:
        """The catalog named by ``dynamodb://TABLE[?region=REGION]``."""
        parts = urlsplit(url)
        table, query = parts.netloc, parse_qs(parts.query)
        if parts.scheme != "dynamodb" or parts.path not in ("", "/") or not table \
                or not all(ch.isalnum() or ch in "_.-" for ch in table) or not 3 <= len(table) <= 255:
            raise ConfigError(f"catalog {url!r}: use dynamodb://TABLE (3-255 letters, digits, _ . -), "
                              "optionally ?region=REGION")
        unknown = set(query) - {"region"}
        if unknown:
            raise ConfigError(f"catalog {url!r}: unknown option {sorted(unknown)[0]!r}; only region= is understood")
        region = query.get("region", [None])[-1]
        return cls(table, region, create)

    # -- table -------------------------------------------------------------------------------

    def create_if_missing(self) -> bool:
        """Create the table (and wait until it is active) unless it exists; True if created."""
        try:
            description = self._client.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        else:
            self._check_table(description)
            self._wait_active()
            return False
        names = ["pk", "sk", *(f"{index}{part}" for index in INDEXES for part in ("pk", "sk"))]
        try:
            self._client.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in names],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                GlobalSecondaryIndexes=[{
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": f"{index}pk", "KeyType": "HASH"},
                                  {"AttributeName": f"{index}sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"}} for index in INDEXES],
                SSESpecification={"Enabled": True, "SSEType": "KMS"},
                DeletionProtectionEnabled=True)  # a catalog of federal records is not deleted by accident
        except ClientError as exc:
            # Another process creating it at the same moment is fine: wait for it below.
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        self._wait_active()
        self._enable_point_in_time_recovery()
        return True

    def _wait_active(self) -> None:
        try:
            self._client.get_waiter("table_exists").wait(TableName=self.table,
                                                         WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        except (BotoCoreError, ClientError) as exc:
            raise CatalogError(f"DynamoDB table {self.table} did not become active: {exc}") from None

    def _enable_point_in_time_recovery(self) -> None:
        # Right after creation DynamoDB may still be preparing backups; it says so, and we wait.
        for attempt in range(30):
            try:
                self._client.update_continuous_backups(
                    TableName=self.table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ContinuousBackupsUnavailableException" \
                        or attempt == 29:
                    raise CatalogError(f"DynamoDB table {self.table} was created, but point-in-time recovery "
                                       f"could not be enabled ({exc}); enable it on the table before archiving"
                                       ) from None
            except BotoCoreError as exc:
                raise self._error(exc) from None
            time.sleep(2)

    def _check_table(self, description: dict[str, Any]) -> None:
        keys = {(k["AttributeName"], k["KeyType"]) for k in description.get("KeySchema", [])}
        indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
        missing = [index for index in INDEXES if index not in indexes]
        if keys != {("pk", "HASH"), ("sk", "RANGE")} or missing:
            raise ConfigError(f"DynamoDB table {self.table} is not an archiver catalog (it needs keys pk/sk and "
                              f"indexes {', '.join(INDEXES)}); name another table, or a new one for 'archiver init'")

    # -- AWS calls and errors ------------------------------------------------------------------

    def _call(self, operation: Callable[..., T], **kwargs: Any) -> T:
        try:
            return operation(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None

    def _conditional(self, operation: Callable[..., Any], **kwargs: Any) -> bool:
        """Run a conditional write; False when its condition did not hold (not an error)."""
        try:
            operation(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._error(exc) from None
        except BotoCoreError as exc:
            raise self._error(exc) from None
        return True

    def _error(self, exc: BotoCoreError | ClientError) -> ArchiverError:
        """The user-facing error for a failed AWS call (no traceback, no request dump)."""
        where = f"DynamoDB table {self.table}"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ConfigError(f"{where}: no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or run where an IAM role applies")
        if isinstance(exc, NoRegionError):
            return ConfigError(f"{where}: no AWS region; set AWS_REGION (or AWS_DEFAULT_REGION), or add "
                               "?region=REGION to the catalog URL")
        if isinstance(exc, ConnectionError):
            return CatalogError(f"{where}: cannot reach DynamoDB ({exc})")
        if not isinstance(exc, ClientError):
            return CatalogError(f"{where}: {exc}")
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if code == "ResourceNotFoundException":
            return ConfigError(f"{where} does not exist{' in ' + self.region if self.region else ''}; "
                               f"run 'archiver init' with ARCHIVER_CATALOG=dynamodb://{self.table} to create it")
        if code in _ACCESS:
            return ConfigError(f"{where}: access denied ({code}: {message}); check the credentials and that "
                               "their IAM policy allows this table")
        if code in _THROTTLING:
            return CatalogError(f"{where}: DynamoDB is throttling requests and retries did not get through; "
                                "try again later")
        return CatalogError(f"{where}: {code}: {message}")

    def _backoff(self, attempt: int) -> None:
        time.sleep(min(2.0, 0.02 * 2 ** attempt) * (0.5 + random.random()))

    def _query(self, partition: str, index: str | None = None, projection: Sequence[str] = ()) -> Iterator[Item]:
        """Every item of one partition of the table (consistent) or of a GSI, page after page."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ExpressionAttributeValues": {":p": _s(partition)}}
        if index is None:
            kwargs.update(KeyConditionExpression="pk = :p", ConsistentRead=True)
        else:
            kwargs.update(IndexName=index, KeyConditionExpression=f"{index}pk = :p")
        if projection:
            kwargs.update(ProjectionExpression=", ".join(f"#a{i}" for i in range(len(projection))),
                          ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(projection)})
        while True:
            page = self._call(self._client.query, **kwargs)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _batch_get(self, keys: Iterable[Key], projection: Sequence[str] = ()) -> Iterator[Item]:
        """The items of ``keys`` that exist (strongly consistent), retrying unprocessed keys."""
        unique = list(dict.fromkeys(keys))
        request: dict[str, Any] = {"ConsistentRead": True}
        if projection:
            request.update(ProjectionExpression=", ".join(f"#a{i}" for i in range(len(projection))),
                           ExpressionAttributeNames={f"#a{i}": name for i, name in enumerate(projection)})
        for start in range(0, len(unique), BATCH_GET_KEYS):
            pending: dict[str, Any] = {self.table: {**request, "Keys": [_key(k) for k in
                                                                       unique[start:start + BATCH_GET_KEYS]]}}
            for attempt in range(MAX_UNPROCESSED_RETRIES + 1):
                page = self._call(self._client.batch_get_item, RequestItems=pending)
                yield from page.get("Responses", {}).get(self.table, [])
                pending = page.get("UnprocessedKeys") or {}
                if not pending:
                    break
                if attempt == MAX_UNPROCESSED_RETRIES:
                    raise CatalogError(f"DynamoDB table {self.table}: DynamoDB is throttling reads and retries did "
                                       "not get through; try again later")
                self._backoff(attempt)

    def _batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """Unconditional puts and deletes (idempotent ones only), retrying unprocessed items."""
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending: dict[str, Any] = {self.table: list(requests[start:start + BATCH_WRITE_ITEMS])}
            for attempt in range(MAX_UNPROCESSED_RETRIES + 1):
                page = self._call(self._client.batch_write_item, RequestItems=pending)
                pending = page.get("UnprocessedItems") or {}
                if not pending:
                    break
                if attempt == MAX_UNPROCESSED_RETRIES:
                    raise CatalogError(f"DynamoDB table {self.table}: DynamoDB is throttling writes and retries "
                                       "did not get through; try again later")
                self._backoff(attempt)

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

    # -- transactional writes ------------------------------------------------------------------

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
        return _Op(key, document, len(json.dumps(document)))

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

    # -- protocol ------------------------------------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The archive's writer lock: a lock item with an owner token and a lease kept alive
        while held; waits up to ``LOCK_WAIT_SECONDS`` for another holder, then ``CatalogError``."""
        owner = uuid.uuid4().hex
        self._wait_for(lambda: self._take_lock(owner))
        keeper = _LeaseKeeper(self, owner)
        keeper.start()
        try:
            yield
        finally:
            keeper.stop()
            self._release_lock(owner)
        if keeper.lost:
            raise CatalogError(f"DynamoDB table {self.table}: the writer lock lapsed during this run and another "
                               "process took it; what was written is consistent, but run 'archiver verify'")

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Read under the lock in shared mode: wait (as ``exclusive`` does) while a writer holds it.
        A reader takes no item, so a writer that starts later is not kept out."""
        self._wait_for(self._lock_free)
        yield

    def _wait_for(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not ready():
            if time.monotonic() > deadline:
                raise CatalogError(f"DynamoDB table {self.table}: another archiver process holds the archive; "
                                   f"try again when it has finished (a lock left by a stopped process lapses "
                                   f"{LOCK_LEASE_SECONDS:.0f} s after its last renewal)")
            time.sleep(LOCK_POLL_SECONDS)

    def _lock_free(self) -> bool:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(LOCK_KEY),
                          ConsistentRead=True).get("Item")
        return item is None or (_number(item, "expires") or 0) < time.time() * 1000

    def _take_lock(self, owner: str) -> bool:
        now = time.time()
        return self._conditional(
            self._client.put_item, TableName=self.table,
            Item={**_key(LOCK_KEY), "type": _s("lock"), "owner": _s(owner),
                  "expires": _n(int((now + LOCK_LEASE_SECONDS) * 1000))},
            ConditionExpression="attribute_not_exists(pk) OR #expires < :now",
            ExpressionAttributeNames={"#expires": "expires"},
            ExpressionAttributeValues={":now": _n(int(now * 1000))})

    def _renew_lock(self, owner: str) -> bool:
        """Extend the lease of the lock held by ``owner``; False if it is no longer theirs."""
        return self._conditional(
            self._client.update_item, TableName=self.table, Key=_key(LOCK_KEY),
            UpdateExpression="SET #expires = :expires", ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#expires": "expires", "#owner": "owner"},
            ExpressionAttributeValues={":expires": _n(int((time.time() + LOCK_LEASE_SECONDS) * 1000)),
                                       ":owner": _s(owner)})

    def _release_lock(self, owner: str) -> None:
        # A lock no longer ours (lapsed and taken over) is not ours to delete.
        self._conditional(self._client.delete_item, TableName=self.table, Key=_key(LOCK_KEY),
                          ConditionExpression="#owner = :owner", ExpressionAttributeNames={"#owner": "owner"},
                          ExpressionAttributeValues={":owner": _s(owner)})

    def bound_key(self) -> str | None:
        return self._meta(META_KEY)

    def bind_key(self, key_id: str) -> None:
        self._put_meta_once(META_KEY, key_id)  # the first key binds the archive
        bound = self.bound_key()
        if bound != key_id:
            raise KeyProviderError(f"DynamoDB table {self.table}: this archive was created with key {bound}, but "
                                   f"the key provider holds {key_id}; use the archive's own key")

    def id_scheme(self) -> str | None:
        return self._meta(ID_SCHEME_KEY)

    def set_id_scheme(self, scheme: str) -> None:
        self._put_meta_once(ID_SCHEME_KEY, scheme)

    def _meta(self, key: tuple[str, str]) -> str | None:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(key), ConsistentRead=True).get("Item")
        return _text(item, "value") if item else None

    def _put_meta_once(self, key: tuple[str, str], value: str) -> None:
        self._conditional(self._client.put_item, TableName=self.table, Item={**_key(key), "value": _s(value)},
                          ConditionExpression="attribute_not_exists(pk)")

    def known_labels(self, ids: Sequence[str]) -> dict[str, str]:
        return {_text(item, "id") or "": _text(item, "label") or ""
                for item in self._batch_get((_msg_key(i) for i in ids), ("id", "label"))}

    def begin_segments(self, names: Sequence[str]) -> None:
        self._batch_write([{"PutRequest": {"Item": {**_key((PENDING, name)), "type": _s("pending")}}}
                           for name in dict.fromkeys(names)])

    def pending_segments(self) -> list[str]:
        return [item["sk"]["S"] for item in self._query(PENDING, projection=("sk",))]

    def drop_pending(self, name: str) -> None:
        self._call(self._client.delete_item, TableName=self.table, Key=_key((PENDING, name)))

    def commit(self, batches: Sequence[CommitBatch]) -> None:
        units: list[_Unit] = []
        for batch in batches:
            units += [self._row_unit(row) for row in batch.rows]
            units += self._token_units(batch)
            if batch.segment is not None or batch.audit is not None:
                units.append(self._close_unit(batch))
        self._write(units)

    def _row_unit(self, row: CatalogRow) -> _Unit:
        msg = _msg_key(row.id)
        marker = (ROW_CUSTODIANS, f"c#{row.custodian}")
        pointer = (f"fp#{row.fingerprint}#{row.custodian}", "fp") \
            if row.fingerprint and row.label == "record" and row.forwarding_status in _COMPLIANT else None

        def plan(state: _State) -> _Step:
            current = state.get(msg)
            old = current["label"] if current else None
            # A record replaces a tombstone or review entry; a settled nonrecord replaces a review
            # entry; a record is never replaced; anything else already present is left alone.
            if not (old is None or (row.label == "record" and old in ("nonrecord", "review"))
                    or (row.label == "nonrecord" and old == "review")):
                return _Step()
            step = _Step()
            if old is None:
                step.ops.append(self._put(msg, _row_item(row), new=True))
            else:
                step.ops.append(self._put(msg, _row_item(row), condition="#label = :old", names={"#label": "label"},
                                          values={":old": _s(old)}))
            step.effects[msg] = {"label": row.label}
            if state.get(marker) is None:
                step.ops.append(self._put(marker, {"type": _s("row-custodian"), "custodian": _s(row.custodian)}))
                step.effects[marker] = {}
            if pointer is not None:
                self._plan_pointer(state, step, pointer, row)
            return step

        return _Unit((msg, marker) + ((pointer,) if pointer else ()), plan)

    def _plan_pointer(self, state: _State, step: _Step, pointer: Key, row: CatalogRow) -> None:
        """Keep the fingerprint pointing at the earliest compliant copy (by ingest, then send time)."""
        current = state.get(pointer)
        if current is not None and (parse_instant(current["ingested_at"]), parse_instant(current["sent_at"])) \
                <= (row.ingested_at, row.sent_at):
            return
        item = {"type": _s("fingerprint"), "id": _s(row.id), "ingested_at": _s(utc_iso(row.ingested_at)),
                "sent_at": _s(utc_iso(row.sent_at))}
        if current is None:
            step.ops.append(self._put(pointer, item, new=True))
        else:
            step.ops.append(self._put(pointer, item, condition="#id = :id", names={"#id": "id"},
                                      values={":id": _s(current["id"])}))
        step.effects[pointer] = {"id": row.id, "ingested_at": utc_iso(row.ingested_at),
                                 "sent_at": utc_iso(row.sent_at)}

    def _token_units(self, batch: CommitBatch) -> list[_Unit]:
        wanted = {record_id: tokens for record_id, tokens in batch.keywords if tokens}
        groups: dict[tuple[str, str], set[str]] = {}
        for record_id, tokens in wanted.items():
            group = f"segment:{batch.segment.name}" if batch.segment is not None else f"row:{record_id}"
            for token in tokens:
                groups.setdefault((token, group), set()).add(record_id)
        units = []
        for (token, group), ids in groups.items():
            ordered = sorted(ids)
            for number, first in enumerate(range(0, len(ordered), TOKEN_IDS_PER_ITEM)):
                units.append(self._token_unit((f"tok#{token}", f"{group}#{number:04d}"),
                                              ordered[first:first + TOKEN_IDS_PER_ITEM]))
        return units

    def _token_unit(self, key: Key, ids: list[str]) -> _Unit:
        needs = tuple(_msg_key(i) for i in ids)

        def plan(state: _State) -> _Step:
            # As in SQLite, a token is indexed for every id that is in the catalog after the rows.
            present = [i for i, k in zip(ids, needs, strict=True) if state.get(k) is not None]
            if not present:
                return _Step()
            return _Step([self._put(key, {"type": _s("token"), "ids": {"SS": present}})])

        return _Unit(needs, plan)

    def _close_unit(self, batch: CommitBatch) -> _Unit:
        segment = batch.segment
        if segment is None:
            return _Unit((), lambda state: _Step(audit=batch.audit))
        key = (SEGMENTS, segment.name)
        ids = sorted({row.id for row in batch.rows if row.segment == segment.name})

        def plan(state: _State) -> _Step:
            step = _Step(audit=batch.audit)
            if state.get(key) is None:
                step.ops.append(self._put(key, _segment_item(segment, ids), new=True))
                step.effects[key] = {}
            # The pending mark goes only with the segment item and the audit entry, after every row.
            step.ops.append(self._op("Delete", (PENDING, segment.name), {"Key": _key((PENDING, segment.name))}))
            return step

        return _Unit((key,), plan)

    def add_quarantine(self, rows: Sequence[QuarantineRow], audit: AuditEvent | None) -> None:
        clock = time.time_ns()
        units = [self._quarantine_unit(row, f"{clock:020d}#{number:08d}") for number, row in enumerate(rows)]
        if audit is not None:
            units.append(self._audit_unit(audit))
        self._write(units)

    def _quarantine_unit(self, row: QuarantineRow, arrival: str) -> _Unit:
        key = _quarantine_key(row)

        def plan(state: _State) -> _Step:
            if state.get(key) is not None:
                return _Step()  # the same bad item of the same export is listed once
            item: Item = {"type": _s("quarantine"), "gsi4pk": _s(QUARANTINE), "gsi4sk": _s(arrival),
                          "export_sha256": _s(row.export_sha256), "file": _s(row.file), "reason": _s(row.reason),
                          "at": _s(utc_iso(row.at))}
            if row.line is not None:
                item["line"] = _n(row.line)
            if row.object_key is not None:
                item["object_key"] = _s(row.object_key)
            return _Step([self._put(key, item, new=True)], {key: {}})

        return _Unit((key,), plan)

    def add_export(self, export: ExportRow, audit: AuditEvent) -> None:
        syncs: list[tuple[Key, Item]] = []
        if export.account == "personal":
            syncs.append(((SYNC, f"c#{export.custodian}"), {"custodian": _s(export.custodian)}))
            syncs += [((SYNC_APP, json.dumps([export.custodian, app])), {"custodian": _s(export.custodian),
                                                                        "app": _s(app)})
                      for app in export.synced_apps]

        def plan(state: _State) -> _Step:
            item = {"type": _s("export"), "sha256": _s(export.sha256), "name": _s(export.name),
                    "connector": _s(export.connector), "custodian": _s(export.custodian),
                    "account": _s(export.account), "ingested_at": _s(utc_iso(export.ingested_at)),
                    "actor": _s(export.actor), "apps": _s(",".join(export.synced_apps))}
            step = _Step([self._put((EXPORTS, f"{utc_iso(export.ingested_at)}#{uuid.uuid4().hex}"), item, new=True)],
                         audit=audit)
            at = utc_iso(export.ingested_at)
            for key, attributes in syncs:
                current = state.get(key)
                if current is not None and parse_instant(current["at"]) >= export.ingested_at:
                    continue
                sync_item = {"type": _s("sync"), "at": _s(at), **attributes}
                if current is None:
                    step.ops.append(self._put(key, sync_item, new=True))
                else:
                    step.ops.append(self._put(key, sync_item, condition="#at = :at", names={"#at": "at"},
                                              values={":at": _s(current["at"])}))
                step.effects[key] = {"at": at}
            return step

        self._write([_Unit(tuple(key for key, _ in syncs), plan)])

    def append_audit(self, event: AuditEvent) -> AuditEntry:
        return self._write([self._audit_unit(event)])[0]

    def use_audit_key(self, key: bytes) -> None:
        self._audit_key = key

    def audit_head(self) -> tuple[int, str]:
        return self._load([]).head()

    def exports(self) -> Iterator[ExportRow]:
        for item in self._query(EXPORTS):
            yield ExportRow(_text(item, "sha256") or "", _text(item, "name") or "", _text(item, "connector") or "",
                            _text(item, "custodian") or "", _text(item, "account") or "",
                            parse_instant(_text(item, "ingested_at") or ""), _text(item, "actor") or "",
                            split_apps(_text(item, "apps")))

    def audit_entries(self) -> Iterator[AuditEntry]:
        for item in self._query(AUDIT):
            event = AuditEvent(_text(item, "actor") or "", _text(item, "action") or "",
                               parse_instant(_text(item, "at") or ""), json.loads(_text(item, "detail") or "{}"),
                               _text(item, "case_id"))
            yield AuditEntry(_number(item, "seq") or 0, event, _text(item, "prev_hash") or "",
                             _text(item, "hash") or "")

    def rows(self, custodian: str | None = None, label: str | None = None) -> Iterator[CatalogRow]:
        custodians = [custodian] if custodian is not None else \
            [_text(item, "custodian") or "" for item in self._query(ROW_CUSTODIANS)]
        for name in custodians:
            if label is None:
                items = self._query(f"cust#{name}", index="gsi1")
            else:
                items = self._query(f"label#{label}#{name}", index="gsi2")
            for item in items:
                yield _row_from(item)

    def row(self, record_id: str) -> CatalogRow | None:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(_msg_key(record_id)),
                          ConsistentRead=True).get("Item")
        return _row_from(item) if item else None

    def segments(self) -> Iterator[SegmentRow]:
        for item in self._query(SEGMENTS, projection=("sk", "custodian", "schedule", "retain_until", "count",
                                                             "created_at", "disposed_at")):
            retain_until, disposed_at = _text(item, "retain_until"), _text(item, "disposed_at")
            yield SegmentRow(item["sk"]["S"], _text(item, "custodian") or "", _text(item, "schedule") or "",
                             date.fromisoformat(retain_until) if retain_until else None, _number(item, "count") or 0,
                             parse_instant(_text(item, "created_at") or ""),
                             parse_instant(disposed_at) if disposed_at else None)

    def segment_rows(self, name: str) -> Iterator[CatalogRow]:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key((SEGMENTS, name)),
                          ConsistentRead=True, ProjectionExpression="#ids",
                          ExpressionAttributeNames={"#ids": "ids"}).get("Item")
        ids = item.get("ids", {}).get("SS", []) if item else []
        # A row replaced since (a review item filed as a record) now lives in another segment.
        rows = [row for row in map(_row_from, self._batch_get(_msg_key(i) for i in ids)) if row.segment == name]
        yield from sorted(rows, key=lambda row: (row.offset or 0, row.id))

    def put_hold(self, hold: HoldRow, audit: AuditEvent, intent: str | None = None) -> None:
        key = (HOLDS, hold.name)
        item = {"type": _s("hold"), "document": _s(json.dumps(hold_json(hold), sort_keys=True))}
        self._write([_Unit((), lambda state: _Step([self._put(key, item), *self._drop_intent_ops(intent)],
                                                   audit=audit))])

    def holds(self) -> list[HoldRow]:
        return [hold_from_json(json.loads(_text(item, "document") or "{}")) for item in self._query(HOLDS)]

    def mark_disposed(self, segment: str, disposed_at: datetime, audit: AuditEvent, intent: str | None = None) -> None:
        key = (SEGMENTS, segment)

        def plan(state: _State) -> _Step:
            step = _Step(audit=audit)
            if state.get(key) is not None:
                step.ops.append(self._op("Update", key, {"Key": _key(key), "UpdateExpression": "SET #d = :d"},
                                         "attribute_exists(pk)", {"#d": "disposed_at"},
                                         {":d": _s(utc_iso(disposed_at))}))
            step.ops.extend(self._drop_intent_ops(intent))
            return step

        self._write([_Unit((key,), plan)])

    def begin_intent(self, name: str, document: dict[str, Any]) -> None:
        item = {**_key((INTENTS, name)), "type": _s("intent"), "document": _s(json.dumps(document, sort_keys=True))}
        self._call(self._client.put_item, TableName=self.table, Item=item)

    def intents(self) -> dict[str, dict[str, Any]]:
        return {item["sk"]["S"]: json.loads(_text(item, "document") or "{}") for item in self._query(INTENTS)}

    def drop_intent(self, name: str) -> None:
        self._call(self._client.delete_item, TableName=self.table, Key=_key((INTENTS, name)))

    def _drop_intent_ops(self, intent: str | None) -> list[_Op]:
        """The delete of an intent, to go in the transaction that completes its act."""
        return [] if intent is None else [self._op("Delete", (INTENTS, intent), {"Key": _key((INTENTS, intent))})]

    def quarantine(self) -> Iterator[QuarantineRow]:
        for item in self._query(QUARANTINE, index="gsi4"):
            yield QuarantineRow(_text(item, "export_sha256") or "", _text(item, "file") or "", _number(item, "line"),
                                _text(item, "reason") or "", _text(item, "object_key"),
                                parse_instant(_text(item, "at") or ""))

    def last_sync(self) -> dict[str, datetime]:
        return {_text(item, "custodian") or "": parse_instant(_text(item, "at") or "")
                for item in self._query(SYNC)}

    def last_sync_by_account(self) -> dict[tuple[str, str], datetime]:
        # Items written before apps were recorded name a connector instead of an app.
        return latest_syncs((_text(item, "custodian") or "", _text(item, "connector") or "",
                             [app] if (app := _text(item, "app")) else None, parse_instant(_text(item, "at") or ""))
                            for item in self._query(SYNC_APP))

    def compliant_copies(self, custodian: str, fingerprints: Sequence[str]) -> dict[str, CatalogRow]:
        pointers = {_text(item, "id") or "": item["pk"]["S"]
                    for item in self._batch_get(((f"fp#{fp}#{custodian}", "fp") for fp in fingerprints if fp),
                                                ("pk", "id"))}
        return {row.fingerprint or "": row for row in map(_row_from, self._batch_get(_msg_key(i) for i in pointers))}

    def put_custodian(self, custodian: Custodian, audit: AuditEvent) -> None:
        key = (CUSTODIANS, custodian.id)
        body = {"Key": _key(key),
                "UpdateExpression": "SET #t = :t, #doc = :doc, #upd = :upd, #reg = if_not_exists(#reg, :reg)"}
        names = {"#t": "type", "#doc": "document", "#upd": "updated_at", "#reg": "registered_at"}
        values = {":t": _s("custodian"), ":doc": _s(json.dumps(custodian.to_json(), sort_keys=True)),
                  ":upd": _s(utc_iso(audit.at)), ":reg": _s(utc_iso(custodian.registered_at or audit.at))}
        self._write([_Unit((), lambda state: _Step([self._op("Update", key, body, None, names, values)],
                                                   audit=audit))])

    def custodians(self) -> list[Custodian]:
        return [Custodian.from_json(json.loads(_text(item, "document") or "{}"))
                for item in self._query(CUSTODIANS)]

    def get_custodian(self, custodian_id: str) -> Custodian | None:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key((CUSTODIANS, custodian_id)),
                          ConsistentRead=True).get("Item")
        return Custodian.from_json(json.loads(_text(item, "document") or "{}")) if item else None

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        return {item["sk"]["S"] for item in self._batch_get(((NOTICES, key) for key in keys), ("sk",))}

    def record_notice(self, rows: Sequence[NoticeRow], audit: AuditEvent) -> None:
        self._write([*(self._notice_unit(row) for row in rows), self._audit_unit(audit)])

    def _notice_unit(self, row: NoticeRow) -> _Unit:
        key = (NOTICES, row.key)

        def plan(state: _State) -> _Step:
            if state.get(key) is not None:
                return _Step()  # sent before: a notice is recorded once
            item: Item = {"type": _s("notice"), "gsi3pk": _s(NOTICES),
                          "gsi3sk": _s(f"{utc_iso(row.sent_at)}#{row.key}"), "kind": _s(row.kind),
                          "custodian": _s(row.custodian),
                          "recipients": _s(json.dumps(list(row.recipients))), "subject": _s(row.subject),
                          "sent_at": _s(utc_iso(row.sent_at))}
            if row.message_id is not None:
                item["message_id"] = _s(row.message_id)
            return _Step([self._put(key, item, new=True)], {key: {}})

        return _Unit((key,), plan)

    def notices(self) -> Iterator[NoticeRow]:
        for item in self._query(NOTICES, index="gsi3"):
            yield NoticeRow(item["sk"]["S"], _text(item, "kind") or "", _text(item, "custodian") or "",
                            tuple(json.loads(_text(item, "recipients") or "[]")), _text(item, "subject") or "",
                            parse_instant(_text(item, "sent_at") or ""), _text(item, "message_id"))

    def search_tokens(self, tokens: Iterable[str]) -> set[str]:
        found: set[str] | None = None
        for token in dict.fromkeys(tokens):
            ids = {i for item in self._query(f"tok#{token}", projection=("ids",))
                   for i in item.get("ids", {}).get("SS", [])}
            found = ids if found is None else found & ids
            if not found:
                return set()
        if not found:
            return set()
        # As in SQLite, a review item settled as a nonrecord no longer answers a search.
        return {_text(item, "id") or "" for item in self._batch_get((_msg_key(i) for i in found), ("id", "label"))
                if _text(item, "label") != "nonrecord"}

    def close(self) -> None:
        self._client.close()


class _LeaseKeeper:
    """Renews the writer lock's lease in the background while it is held."""

    def __init__(self, catalog: DynamoCatalog, owner: str) -> None:
        self._catalog, self._owner = catalog, owner
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archiver-lock-lease", daemon=True)
        self.lost = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(LOCK_LEASE_SECONDS / 4):
            try:
                if not self._catalog._renew_lock(self._owner):
                    self.lost = True
                    return
            except ArchiverError:
                continue  # a passing network or throttling error: the lease still has time left


def _segment_item(segment: SegmentRow, ids: list[str]) -> Item:
    item: Item = {"type": _s("segment"), "custodian": _s(segment.custodian), "schedule": _s(segment.schedule),
                  "count": _n(segment.count), "created_at": _s(utc_iso(segment.created_at))}
    if segment.retain_until is not None:
        item["retain_until"] = _s(segment.retain_until.isoformat())
    if segment.disposed_at is not None:
        item["disposed_at"] = _s(utc_iso(segment.disposed_at))
    if ids:
        item["ids"] = {"SS": ids}
    return item


def _row_item(row: CatalogRow) -> Item:
    """A row as an item: the same fields as SQLite's columns (hashes, ids, dates, labels; no text)."""
    order = f"{utc_iso(row.sent_at)}#{row.id}"
    item: Item = {
        "type": _s("message"), "gsi1pk": _s(f"cust#{row.custodian}"), "gsi1sk": _s(order),
        "gsi2pk": _s(f"label#{row.label}#{row.custodian}"), "gsi2sk": _s(order),
        "id": _s(row.id), "custodian": _s(row.custodian), "source": _s(row.source),
        "conversation_ref": _s(row.conversation_ref), "sent_at": _s(utc_iso(row.sent_at)),
        "direction": _s(row.direction), "account": _s(row.account), "system": {"BOOL": bool(row.system)},
        "label": _s(row.label), "confidence": _s(repr(float(row.confidence))),
        "reasons": _s(json.dumps(list(row.reasons))), "rules_version": _s(row.rules_version),
        "forwarding_status": _s(row.forwarding_status), "days_late": _n(row.days_late),
        "content_hash": _s(row.content_hash), "export_sha256": _s(row.export_sha256),
        "ingested_at": _s(utc_iso(row.ingested_at)), "flags": _s(json.dumps(list(row.flags)))}
    optional: dict[str, dict[str, str] | None] = {
        "schedule": _s(row.schedule) if row.schedule is not None else None,
        "disposition_date": _s(row.disposition_date.isoformat()) if row.disposition_date else None,
        "deadline": _s(utc_iso(row.deadline)) if row.deadline else None,
        "source_line": _n(row.source_line) if row.source_line is not None else None,
        "segment": _s(row.segment) if row.segment is not None else None,
        "offset": _n(row.offset) if row.offset is not None else None,
        "length": _n(row.length) if row.length is not None else None,
        "fingerprint": _s(row.fingerprint) if row.fingerprint is not None else None}
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


def _row_from(item: Item) -> CatalogRow:
    disposition, deadline = _text(item, "disposition_date"), _text(item, "deadline")
    return CatalogRow(
        id=_text(item, "id") or "", custodian=_text(item, "custodian") or "", source=_text(item, "source") or "",
        conversation_ref=_text(item, "conversation_ref") or "", sent_at=parse_instant(_text(item, "sent_at") or ""),
        direction=_text(item, "direction") or "", account=_text(item, "account") or "",
        system=bool(item.get("system", {}).get("BOOL", False)), label=_text(item, "label") or "",
        confidence=float(_text(item, "confidence") or 0), reasons=tuple(json.loads(_text(item, "reasons") or "[]")),
        rules_version=_text(item, "rules_version") or "", schedule=_text(item, "schedule"),
        disposition_date=date.fromisoformat(disposition) if disposition else None,
        forwarding_status=_text(item, "forwarding_status") or "",
        deadline=parse_instant(deadline) if deadline else None, days_late=_number(item, "days_late") or 0,
        content_hash=_text(item, "content_hash") or "", export_sha256=_text(item, "export_sha256") or "",
        source_line=_number(item, "source_line"), ingested_at=parse_instant(_text(item, "ingested_at") or ""),
        flags=tuple(json.loads(_text(item, "flags") or "[]")), segment=_text(item, "segment"),
        offset=_number(item, "offset"), length=_number(item, "length"), fingerprint=_text(item, "fingerprint"))
