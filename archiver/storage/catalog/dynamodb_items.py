"""The DynamoDB catalog's key layout and how its items encode catalog rows.

It names the partitions and keys, and turns rows into items and back (attribute values as
DynamoDB's typed JSON); it makes no AWS call.

Single-table design. Every item has ``pk``/``sk`` (strings); fixed partition names hold no
``#``, so they never meet the ``xxx#...`` partitions::

    pk                    sk                     what
    msg#<id>              row                    one CatalogRow (never message text)
    row-custodians        c#<custodian>          custodians that have rows (drives rows())
    fp#<fp>#<custodian>   fp                     earliest copied/forwarded record with that text
                                                 fingerprint (compliant_copies, one BatchGet)
    tok#<token>           <group>#<n>            blind index: ids holding a keyed-hash token;
                                                 group = segment:<name>, row:<id> or index:<hash>
                                                 (written by reindex)
    conv#<conv ref>       <sent_at>#<id>         a message in its conversation's time order
                                                 (conversation_rows; written with the row)
    segments              <name>                 SegmentRow + ids of its rows (segment_rows)
    pending               <name>                 segments begun, not committed
    audit                 <seq, 20 digits>       audit entries, in chain order
    audit-head            head                   seq and hash of the last entry
    exports               <ingested_at>#<uuid>   export history
    sync / sync-app       c#<custodian> / json   last personal ingest per custodian / per app
    custodians, holds     <id> / <name>          JSON documents
    intents               <kind>/<name>          a dispose or hold act begun, not finished (JSON)
    notices               <key>                  notices sent (each key once)
    doc#<kind>            <name>                 JSON documents: role grants (kind grant, by actor),
                                                 investigation cases (kind case, by case id)
    quarantine            <hash of item>         one entry per bad item of an export
    meta                  key_id                 the archive's key
    meta                  id_scheme              which message ids the archive holds (archiver.core.identity)
    meta                  index_version          which terms the blind index holds (archiver.core.terms)
    lock                  writer                 the writer lock (owner token + lease)

Global secondary indexes (all projection ALL, sparse: only the items named carry the keys):

- ``gsi1`` message rows by custodian in date order: ``cust#<custodian>`` / ``<sent_at>#<id>``
  (``rows(custodian)``; in the order of SQLite's ``ORDER BY custodian, sent_at, id`` once
  ``by_sent_at`` has put each second's whole-second keys before its fractional ones).
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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from archiver.model import FLAG_DELETED, parse_instant, utc_iso
from archiver.storage.catalog.base import CatalogRow, QuarantineRow, SegmentRow
from archiver.storage.catalog.instant_order import in_time_order
from archiver.storage.catalog.report_rows import ReportRow

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
INDEX_VERSION_KEY = ("meta", "index_version")
TOKEN_PREFIX = "tok#"
LOCK_KEY = ("lock", "writer")

Key = tuple[str, str]
Item = dict[str, Any]


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


def by_sent_at(items: Iterable[Item]) -> Iterator[Item]:
    """Message or notice items read in the order of a key that begins with their send time, in
    time order (``archiver.storage.catalog.instant_order``)."""
    return in_time_order(items, lambda item: _text(item, "sent_at") or "")


def _conversation_key(conversation_ref: str, sent_at: datetime, record_id: str) -> Key:
    return (f"conv#{conversation_ref}", f"{utc_iso(sent_at)}#{record_id}")


def _quarantine_key(row: QuarantineRow) -> Key:
    # As SQLite's unique index: a missing line counts as line 0.
    identity = json.dumps([row.export_sha256, row.file, row.line or 0, row.reason])
    return (QUARANTINE, hashlib.sha256(identity.encode()).hexdigest())


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
        "fingerprint": _s(row.fingerprint) if row.fingerprint is not None else None,
        "sender_ref": _s(row.sender_ref) if row.sender_ref is not None else None,
        "copy_key": _s(row.copy_key) if row.copy_key is not None else None}
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
        offset=_number(item, "offset"), length=_number(item, "length"), fingerprint=_text(item, "fingerprint"),
        sender_ref=_text(item, "sender_ref"), copy_key=_text(item, "copy_key"))


# What ``report_rows`` reads of each message item: ``ReportRow``'s fields, ``flags`` for ``deleted``.
REPORT_ATTRIBUTES = tuple(name for name in ReportRow._fields if name != "deleted") + ("flags",)


def _report_row_from(item: Item) -> ReportRow:
    flags = _text(item, "flags") or "[]"
    return ReportRow(
        _text(item, "id") or "", _text(item, "custodian") or "", _text(item, "source") or "",
        _text(item, "conversation_ref") or "", _text(item, "sent_at") or "", _text(item, "direction") or "",
        _text(item, "account") or "", bool(item.get("system", {}).get("BOOL", False)), _text(item, "label") or "",
        _text(item, "forwarding_status") or "", _text(item, "deadline"), _number(item, "days_late") or 0,
        _text(item, "schedule"), _text(item, "export_sha256") or "", _number(item, "source_line"),
        _text(item, "ingested_at") or "", flags != "[]" and FLAG_DELETED in json.loads(flags), _text(item, "segment"))
