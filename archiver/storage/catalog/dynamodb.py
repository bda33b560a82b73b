"""The DynamoDB catalog (serverless): the same protocol and semantics as the SQLite catalog.

URL: ``dynamodb://TABLE`` or ``dynamodb://TABLE?region=us-gov-west-1``; boto3 finds credentials
and region the usual way and honours ``AWS_ENDPOINT_URL``. ``archiver init`` creates the table
when it is missing (on-demand billing, SSE with a KMS key, point-in-time recovery, deletion
protection); every other command refuses a missing table.

The parts: ``dynamodb_items`` (the key layout and the item encoding), ``dynamodb_table`` (the
table and the AWS calls), ``dynamodb_transactions`` (exactly-once writes) and ``dynamodb_lock``
(the writer lock); this module is the catalog protocol over them.

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

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from archiver.core.apps import split_apps
from archiver.core.custodians import Custodian
from archiver.errors import ConfigError, KeyProviderError
from archiver.model import parse_instant, utc_iso
from archiver.storage.audit import AuditEntry, AuditEvent
from archiver.storage.catalog.base import (
    COMPLIANT_COPY_STATUSES,
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
from archiver.storage.catalog.dynamodb_documents import DocumentTable
from archiver.storage.catalog.dynamodb_index import TOKEN_IDS_PER_ITEM, IndexedTable, conversation_pointer
from archiver.storage.catalog.dynamodb_items import (
    AUDIT,
    CUSTODIANS,
    EXPORTS,
    HOLDS,
    ID_SCHEME_KEY,
    INTENTS,
    META_KEY,
    NOTICES,
    PENDING,
    QUARANTINE,
    REPORT_ATTRIBUTES,
    ROW_CUSTODIANS,
    SEGMENTS,
    SYNC,
    SYNC_APP,
    TOKEN_PREFIX,
    Item,
    Key,
    _key,
    _msg_key,
    _n,
    _number,
    _quarantine_key,
    _report_row_from,
    _row_from,
    _row_item,
    _s,
    _segment_item,
    _text,
    by_sent_at,
)
from archiver.storage.catalog.dynamodb_lock import LockedTable
from archiver.storage.catalog.dynamodb_transactions import _Op, _State, _Step, _Unit
from archiver.storage.catalog.holdings import HoldingGroup, count_holdings
from archiver.storage.catalog.report_rows import ReportRow


class DynamoCatalog(DocumentTable, LockedTable, IndexedTable):
    """Catalog in one DynamoDB table (see ``dynamodb_items`` for its layout)."""

    @classmethod
    def from_url(cls, url: str, create: bool = False) -> DynamoCatalog:
        """The catalog named by ``dynamodb://TABLE[?region=REGION]``."""
        parts = urlsplit(url)
        table, query = parts.netloc, parse_qs(parts.query)
        if parts.scheme != "dynamodb" or parts.path not in ("", "/") or not table \
                or not all(ch.isalnum() or ch in "_.-" for ch in table) or not 3 <= len(table) <= 255:
            raise ConfigError(f"catalog {url!r}: use dynamodb://TABLE (3-255 letters, digits, _ . -), "
                              "optionally ?region=REGION")
        if unknown := set(query) - {"region"}:
            raise ConfigError(f"catalog {url!r}: unknown option {sorted(unknown)[0]!r}; only region= is understood")
        region = query.get("region", [None])[-1]
        return cls(table, region, create)

    # -- protocol ------------------------------------------------------------------------------

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

    def add(self, batches: Sequence[CommitBatch]) -> None:
        self.commit(batches)  # no write spans calls: each is committed as it comes

    def commit(self, batches: Sequence[CommitBatch] = ()) -> None:
        self._claim_new_index()
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
            if row.fingerprint and row.label == "record" and row.forwarding_status in COMPLIANT_COPY_STATUSES else None

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
            step.ops.append(self._put(*conversation_pointer(row)))
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
                units.append(self._token_unit((f"{TOKEN_PREFIX}{token}", f"{group}#{number:04d}"),
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
        return map(_row_from, self._message_items(custodian, label))

    def report_rows(self) -> Iterator[ReportRow]:
        return (row for row in map(_report_row_from, self._message_items(None, None, REPORT_ATTRIBUTES))
                if row.label == "record" or row.deleted)

    def _message_items(self, custodian: str | None, label: str | None,
                       projection: Sequence[str] = ()) -> Iterator[Item]:
        """Message items by custodian, then send time and id (as SQLite's ``rows()``), of one label if given."""
        custodians = [custodian] if custodian is not None else \
            [_text(item, "custodian") or "" for item in self._query(ROW_CUSTODIANS)]
        for name in custodians:
            partition, index = (f"cust#{name}", "gsi1") if label is None else (f"label#{label}#{name}", "gsi2")
            yield from by_sent_at(self._query(partition, index=index, projection=projection))

    def row(self, record_id: str) -> CatalogRow | None:
        item = self._call(self._client.get_item, TableName=self.table, Key=_key(_msg_key(record_id)),
                          ConsistentRead=True).get("Item")
        return _row_from(item) if item else None

    def holdings(self, custodian: str | None = None) -> Iterator[HoldingGroup]:
        disposed = {s.name for s in self.segments() if s.disposed_at is not None}
        return count_holdings(self.rows(custodian), disposed)

    def segments(self) -> Iterator[SegmentRow]:
        for item in self._query(SEGMENTS, projection=("sk", "custodian", "schedule", "retain_until", "count",
                                                             "created_at", "disposed_at")):
            retain_until, disposed_at = _text(item, "retain_until"), _text(item, "disposed_at")
            yield SegmentRow(item["sk"]["S"], _text(item, "custodian") or "", _text(item, "schedule") or "",
                             date.fromisoformat(retain_until) if retain_until else None, _number(item, "count") or 0,
                             parse_instant(_text(item, "created_at") or ""),
                             parse_instant(disposed_at) if disposed_at else None)

    def put_hold(self, hold: HoldRow, audit: AuditEvent, intent: str | None = None) -> None:
        key = (HOLDS, hold.name)
        item = {"type": _s("hold"), "document": _s(json.dumps(hold_json(hold), sort_keys=True))}
        self._write([_Unit((), lambda state: _Step([self._put(key, item), *self._drop_intent_ops(intent)],
                                                   audit=audit))])

    def holds(self) -> list[HoldRow]:
        return [hold_from_json(json.loads(_text(item, "document") or "{}")) for item in self._query(HOLDS)]

    def mark_disposed(self, segment: str, disposed_at: datetime, audit: AuditEvent, intent: str | None = None,
                      keywords: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        key = (SEGMENTS, segment)
        # Before the transaction, each idempotent: a run killed in between does them again.
        self._unindex(keywords)
        for row in self.segment_rows(segment):
            self._forget_copy_refs(row)

        def plan(state: _State) -> _Step:
            step = _Step(audit=audit)
            if state.get(key) is not None:
                step.ops.append(self._op("Update", key, {"Key": _key(key), "UpdateExpression": "SET #d = :d"},
                                         "attribute_exists(pk)", {"#d": "disposed_at"},
                                         {":d": _s(utc_iso(disposed_at))}))
            step.ops.extend(self._drop_intent_ops(intent))
            return step

        self._write([_Unit((key,), plan)])

    def set_dispositions(self, segment: str, retain_until: date | None, dates: dict[str, date | None]) -> None:
        def update(key: Key, name: str, value: date | None) -> _Unit:
            expression = "SET #v = :v" if value else "REMOVE #v"
            values = {":v": _s(value.isoformat())} if value else None
            body = {"Key": _key(key), "UpdateExpression": expression}
            return _Unit((), lambda state: _Step([self._op("Update", key, body, "attribute_exists(pk)",
                                                           {"#v": name}, values)]))

        self._write([*(update(_msg_key(i), "disposition_date", when) for i, when in dates.items()),
                     update((SEGMENTS, segment), "retain_until", retain_until)])

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
        for item in by_sent_at(self._query(NOTICES, index="gsi3")):
            yield NoticeRow(item["sk"]["S"], _text(item, "kind") or "", _text(item, "custodian") or "",
                            tuple(json.loads(_text(item, "recipients") or "[]")), _text(item, "subject") or "",
                            parse_instant(_text(item, "sent_at") or ""), _text(item, "message_id"))

    def close(self) -> None:
        self._client.close()
