"""Sealed facts in the WORM store that let ``verify`` check the catalog against something it
cannot edit: one manifest per segment and, every so often, the audit chain's head.

A catalog can be edited by whoever reaches the database; the store refuses overwrite and
early delete, and a sealed object cannot be forged without the key. So:

- ``manifest/<segment>`` lists what the segment holds: its custodian, schedule and
  retain-until, and per record the catalog facts that matter (schedule, disposition date,
  2911 status, sent time, custodian, place in the segment) and its attachment objects;
- ``audit/head/<n>`` holds the chain's newest (seq, hash) and where the chain became keyed,
  so deleting the last audit entries, or all of them, shows;
- rows with no sealed object of their own (tombstones, quarantine items, exports) are vouched
  for by a keyed digest in the audit entry written with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from archiver.errors import IntegrityError, ObjectExistsError, ObjectNotFoundError
from archiver.model import canonical_json, parse_json, sealed_json, utc_iso
from archiver.storage.audit import first_keyed
from archiver.storage.catalog.base import CatalogRow, SegmentRow
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.keyed import KeyedHash

if TYPE_CHECKING:
    from archiver.storage.archive import Archive

MANIFEST_PREFIX = "manifest/"
HEAD_PREFIX = "audit/head/"
HEAD_EVERY = 256          # a head is also written within long runs, every this many entries
_HEAD_SPAN = 10 ** 12     # head keys count down from here, so the newest lists first
MANIFEST_FORMAT = "archiver-segment-manifest"
# The catalog facts each manifest entry vouches for (and --deep compares with the frame).
ROW_FACTS = ("custodian", "sent_at", "label", "schedule", "disposition_date", "forwarding_status",
             "deadline", "days_late", "segment", "offset", "length")


@dataclass(frozen=True)
class AuditHead:
    """The audit chain's newest entry when the head was written."""

    seq: int
    hash: str
    keyed_from: int | None


def _plain(value: Any) -> Any:
    """A catalog value as JSON (instants in UTC, days in ISO form)."""
    if value is None or isinstance(value, (str, int, float)):  # most values: asked first
        return value
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return list(value) if isinstance(value, tuple) else value


def row_facts(row: CatalogRow) -> dict[str, Any]:
    """The facts of ``row`` a manifest vouches for."""
    return {name: _plain(getattr(row, name)) for name in ROW_FACTS}


def differing_facts(row: CatalogRow, sealed: dict[str, Any]) -> list[str]:
    """Names of the facts where the catalog row and the sealed ones disagree."""
    facts = row_facts(row)
    return [name for name in ROW_FACTS if name in sealed and facts[name] != sealed[name]]


def row_digest(key: KeyedHash, kind: str, row: Any, ignore: tuple[str, ...] = ()) -> str:
    """Keyed digest of a catalog row (a dataclass), written into the audit entry that adds it;
    ``ignore`` names fields a later identical write may leave as they were."""
    # The row's own fields, not asdict(): the rows are flat, and asdict deep-copies every value.
    fields = {name: _plain(getattr(row, name)) for name in _field_names(type(row), ignore)}
    return key.hex(canonical_json([kind, fields]))


@lru_cache(maxsize=32)
def _field_names(kind: type, ignore: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of a row class but ``ignore``, looked up once (``verify`` digests every tombstone)."""
    return tuple(field.name for field in dataclass_fields(kind) if field.name not in ignore)


def manifest_key(segment: str) -> str:
    """Where the manifest of ``segment`` is kept."""
    return MANIFEST_PREFIX + segment


def manifest_object(archive: Archive, segment: SegmentRow, rows: Sequence[CatalogRow],
                    attachments: Sequence[Sequence[str | None]]) -> tuple[str, bytes, date | None]:
    """The sealed manifest of a segment as ``(key, data, retain_until)``: kept as long as the segment."""
    key = manifest_key(segment.name)
    document = {"format": MANIFEST_FORMAT, "version": 1, "segment": segment.name,
                "custodian": segment.custodian, "schedule": segment.schedule,
                "retain_until": _plain(segment.retain_until), "count": segment.count,
                "records": {row.id: {**row_facts(row), "attachments": [a for a in objects if a]}
                            for row, objects in zip(rows, attachments, strict=True)}}
    return key, seal(archive.keys, key, sealed_json(document)), segment.retain_until


def write_manifest(archive: Archive, segment: SegmentRow, rows: Sequence[CatalogRow],
                   attachments: Sequence[Sequence[str | None]]) -> None:
    """Store a segment's manifest unless it is there already (a recovered segment's may be)."""
    try:
        archive.store.put(*manifest_object(archive, segment, rows, attachments))
    except ObjectExistsError:
        pass


def read_manifest(archive: Archive, key: str) -> dict[str, Any]:
    """The opened manifest (or any sealed JSON object) under ``key`` (``IntegrityError`` if it
    does not authenticate)."""
    return parse_json(open_sealed(archive.keys, key, archive.store.get(key)))  # type: ignore[no-any-return]


def manifest_attachments(archive: Archive, segment: str) -> dict[str, list[str]]:
    """Each record's attachment objects, by record id, as the sealed manifest of ``segment`` lists
    them; empty when it has none that opens (a run killed before writing it, until recovery does;
    or one damaged, which ``verify`` reports): the records' own documents tell then."""
    try:
        manifest = read_manifest(archive, manifest_key(segment))
    except (ObjectNotFoundError, IntegrityError):
        return {}
    return {record_id: facts["attachments"] for record_id, facts in manifest["records"].items()}


def sealed_of_plan(archive: Archive, prefix: str, digest: str,
                   candidate: Callable[[str], bool]) -> dict[str, Any] | None:
    """The sealed JSON object under ``prefix`` made for the plan ``digest`` (its ``plan``), if
    any, opening only the keys ``candidate`` admits: how a rerun finds what a run killed before
    the catalog recorded it left in the store."""
    for key in archive.store.list(prefix):
        if candidate(key):
            found = read_manifest(archive, key)
            if found["plan"] == digest:
                return found
    return None


def head_key(seq: int) -> str:
    """Where the head at ``seq`` is kept; counts down so that a listing yields the newest first."""
    return f"{HEAD_PREFIX}{_HEAD_SPAN - seq:012d}"


def newest_head(archive: Archive) -> AuditHead | None:
    """The newest audit head in the store (one listing page, whatever the number of heads)."""
    key = next(iter(archive.store.list(HEAD_PREFIX)), None)
    return read_head(archive, key) if key else None


def read_head(archive: Archive, key: str) -> AuditHead:
    """One sealed audit head."""
    data = read_manifest(archive, key)
    return AuditHead(int(data["seq"]), str(data["hash"]), data.get("keyed_from"))


def write_head(archive: Archive, newest: AuditHead | None = None) -> AuditHead | None:
    """Seal the catalog's chain head into the store unless it is already there."""
    seq, hash_ = archive.catalog.audit_head()
    newest = newest or newest_head(archive)
    if seq == 0 or (newest is not None and newest.seq >= seq):
        return newest
    # The switch to the keyed chain is carried from head to head; found by a walk only once.
    keyed_from = newest.keyed_from if newest and newest.keyed_from else first_keyed(archive.catalog.audit_entries())
    head = AuditHead(seq, hash_, keyed_from)
    key = head_key(seq)
    try:
        archive.store.put(key, seal(archive.keys, key, canonical_json(asdict(head))), None)
    except ObjectExistsError:
        pass  # another process wrote the same head
    return head


def heads(archive: Archive, keys: Iterable[str] | None = None) -> Iterable[AuditHead]:
    """Every audit head in the store, newest first (``keys``: theirs, listed already)."""
    return (read_head(archive, key) for key in (archive.store.list(HEAD_PREFIX) if keys is None else keys))
