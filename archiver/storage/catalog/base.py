"""The catalog protocol and the rows it keeps.

The catalog holds what reports and retention need (ids, custodian, dates, classification,
schedule, disposition date, 2911 status, where each record's frame is) and never message
text: conversations and senders appear only as keyed hashes, keywords only as blind-index
tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from archiver.core.apps import recorded_apps
from archiver.core.custodians import Custodian
from archiver.storage.audit import AuditEntry, AuditEvent

if TYPE_CHECKING:
    from archiver.storage.catalog.holdings import HoldingGroup
    from archiver.storage.catalog.report_rows import CopyRow, ReportRow


@dataclass(frozen=True, slots=True)  # slots: an ingest holds tens of thousands until they are committed
class CatalogRow:
    """One message the archive has seen: a stored record, or a nonrecord's tombstone."""

    id: str
    custodian: str
    source: str
    conversation_ref: str
    sent_at: datetime
    direction: str
    account: str
    system: bool
    label: str
    confidence: float
    reasons: tuple[str, ...]
    rules_version: str
    schedule: str | None
    disposition_date: date | None
    forwarding_status: str
    deadline: datetime | None
    days_late: int
    content_hash: str
    export_sha256: str
    source_line: int | None
    ingested_at: datetime
    flags: tuple[str, ...] = ()
    segment: str | None = None
    offset: int | None = None
    length: int | None = None
    fingerprint: str | None = None
    sender_ref: str | None = None  # keyed sender handle and keyed copy identity: every custodian's
    copy_key: str | None = None    # copy of a message shares them (``Archive.copy_refs``, report gaps)


# Fields a tombstone's audit digest leaves out: rows written before they existed lack them.
LATER_FIELDS = ("sender_ref", "copy_key")
# The 2911 statuses of a record whose text credits later copies of it (``compliant_copies``).
COMPLIANT_COPY_STATUSES = ("copied", "forwarded")


class RecordPlace(NamedTuple):
    """Whose a message is, when it was sent and where its frame is: what a hold needs of a row
    (reading whole rows cost a hold over a million records most of its time)."""

    id: str
    custodian: str
    sent_at: datetime
    offset: int | None
    length: int | None

    @classmethod
    def of(cls, row: CatalogRow) -> RecordPlace:
        return cls(row.id, row.custodian, row.sent_at, row.offset, row.length)


@dataclass(frozen=True)
class SegmentRow:
    """A segment object and the disposition group it holds; ``disposed_at`` once destroyed."""

    name: str
    custodian: str
    schedule: str
    retain_until: date | None
    count: int
    created_at: datetime
    disposed_at: datetime | None = None


@dataclass(frozen=True)
class HoldRow:
    """A legal hold: while it is not released, no record it covers may be destroyed.

    It covers the records of ``custodian`` (every custodian when ``None``) sent from ``start``
    to ``end`` inclusive (open-ended when ``None``), whatever their schedule.
    """

    name: str
    reason: str
    custodian: str | None
    start: date | None
    end: date | None
    placed_at: datetime
    placed_by: str
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, custodian: str, sent_at: datetime) -> bool:
        """Whether this hold, while active, covers a record of ``custodian`` sent at ``sent_at``.

        The hold's dates are UTC days: the same instant written with another offset (a frame's
        local time, a catalog row's UTC) must get the same answer wherever it is asked.
        """
        sent_on = sent_at.astimezone(timezone.utc).date()
        return (self.active and (self.custodian is None or self.custodian == custodian)
                and (self.start is None or sent_on >= self.start) and (self.end is None or sent_on <= self.end))


def hold_json(hold: HoldRow) -> dict[str, str | None]:
    """A hold as JSON, for catalogs that store it as one document."""
    def text(value: date | datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {"name": hold.name, "reason": hold.reason, "custodian": hold.custodian, "start": text(hold.start),
            "end": text(hold.end), "placed_at": text(hold.placed_at), "placed_by": hold.placed_by,
            "released_at": text(hold.released_at), "released_by": hold.released_by,
            "release_reason": hold.release_reason}


def hold_from_json(data: dict[str, str | None]) -> HoldRow:
    """The inverse of ``hold_json``."""
    def day(key: str) -> date | None:
        value = data.get(key)
        return date.fromisoformat(value) if value else None

    def instant(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if value else None

    placed_at = instant("placed_at")
    if placed_at is None:
        raise ValueError("a hold needs placed_at")
    return HoldRow(name=str(data["name"]), reason=str(data["reason"]), custodian=data.get("custodian"),
                   start=day("start"), end=day("end"), placed_at=placed_at, placed_by=str(data["placed_by"]),
                   released_at=instant("released_at"), released_by=data.get("released_by"),
                   release_reason=data.get("release_reason"))


TokenGroup = tuple[Sequence[str], bool]  # blind-index tokens, and whether all (else any) must be held


@dataclass(frozen=True)
class RowFilter:
    """Catalog facts a search narrows by; every one given must hold."""

    custodians: frozenset[str] | None = None  # None: any custodian
    start: datetime | None = None             # sent at or after
    end: datetime | None = None               # sent before
    source: str | None = None
    label: str | None = None                  # None: records and review items, not tombstones
    schedule: str | None = None
    reason_prefixes: tuple[str, ...] = ()     # for each, a classifier reason starting with it

    def passes(self, row: CatalogRow) -> bool:
        """Whether ``row`` passes every filter given."""
        return ((self.custodians is None or row.custodian in self.custodians)
                and (row.label == self.label if self.label else row.label != "nonrecord")
                and (self.start is None or row.sent_at >= self.start)
                and (self.end is None or row.sent_at < self.end)
                and (self.source is None or row.source == self.source)
                and (self.schedule is None or row.schedule == self.schedule)
                and all(any(reason.startswith(prefix) for reason in row.reasons) for prefix in self.reason_prefixes))


@dataclass(frozen=True)
class QuarantineRow:
    """An item that could not be archived, and where the export copy holding it is kept."""

    export_sha256: str
    file: str
    line: int | None
    reason: str
    object_key: str | None
    at: datetime


@dataclass(frozen=True)
class ExportRow:
    """One ingest of one export file: the chain of custody starts here."""

    sha256: str
    name: str
    connector: str
    custodian: str
    account: str
    ingested_at: datetime
    actor: str
    apps: tuple[str, ...] | None = None  # the apps it synced; None: its connector's app

    @property
    def synced_apps(self) -> tuple[str, ...]:
        """The apps whose personal accounts this export synced (a refused file syncs none)."""
        return recorded_apps(self.connector, self.apps)


def latest_syncs(exports: Iterable[tuple[str, str, Sequence[str] | None, datetime]]) -> dict[tuple[str, str], datetime]:
    """Per (custodian, app), the latest of the given (custodian, connector, apps, ingested_at) syncs."""
    latest: dict[tuple[str, str], datetime] = {}
    for custodian, connector, apps, at in exports:
        for app in recorded_apps(connector, apps):
            if (custodian, app) not in latest or at > latest[(custodian, app)]:
                latest[(custodian, app)] = at
    return latest


@dataclass(frozen=True)
class CommitBatch:
    """Rows to add together: a segment's records (with its blind-index tokens, segment row and
    audit entry), or a batch of tombstones."""

    rows: Sequence[CatalogRow]
    keywords: Sequence[tuple[str, Sequence[str]]] = ()
    segment: SegmentRow | None = None
    audit: AuditEvent | None = None


@dataclass(frozen=True)
class NoticeRow:
    """A notice that was sent: its key makes every notice go out once."""

    key: str
    kind: str
    custodian: str
    recipients: tuple[str, ...]
    subject: str
    sent_at: datetime
    message_id: str | None


class Catalog(Protocol):
    """Record index, quarantine list, export history and audit log."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the archive's writer lock: one ingest at a time."""
        ...

    def shared(self) -> AbstractContextManager[None]:
        """Take the archive's lock in shared mode (``verify``): waits while a writer holds it, so a
        reader never sees a run's half-written state."""
        ...

    def bound_key(self) -> str | None:
        """The id of the key this archive was created with, if any."""
        ...

    def bind_key(self, key_id: str) -> None:
        """Record the archive's key on first use; ``KeyProviderError`` if another key is used later."""
        ...

    def id_scheme(self) -> str | None:
        """Which message ids the archive holds (``archiver.core.identity``); None before the first ingest
        that recorded it."""
        ...

    def set_id_scheme(self, scheme: str) -> None:
        """Record the archive's id scheme; the first one recorded stays."""
        ...

    def known_labels(self, ids: Sequence[str]) -> dict[str, str]:
        """Of ``ids``, those already in the catalog, with their label (record or nonrecord)."""
        ...

    def begin_segments(self, names: Sequence[str]) -> None:
        """Note that segments are about to be written (crash recovery looks here)."""
        ...

    def pending_segments(self) -> list[str]:
        """Segments begun but never committed."""
        ...

    def drop_pending(self, name: str) -> None: ...

    def add(self, batches: Sequence[CommitBatch]) -> None:
        """Add batches as ``commit`` does, to be committed by the next ``commit`` (the catalog may
        commit them at once): this catalog object reads them meanwhile, others may not."""
        ...

    def commit(self, batches: Sequence[CommitBatch] = ()) -> None:
        """Add every batch, with those added since the last commit, in one transaction: rows
        (ignoring ids already present, except that a record replaces a tombstone), blind-index
        tokens, segment rows (clearing their pending marks) and audit entries."""
        ...

    def add_quarantine(self, rows: Sequence[QuarantineRow], audit: AuditEvent | None) -> None: ...

    def add_export(self, export: ExportRow, audit: AuditEvent) -> None: ...

    def append_audit(self, event: AuditEvent) -> AuditEntry: ...

    def use_audit_key(self, key: bytes) -> None:
        """Link audit entries appended from now on with HMAC under ``key`` (see ``archiver.storage.audit``)."""
        ...

    def audit_head(self) -> tuple[int, str]:
        """The newest audit entry's sequence number and hash; ``(0, GENESIS)`` for an empty log."""
        ...

    def audit_entries(self) -> Iterator[AuditEntry]: ...

    def exports(self) -> Iterator[ExportRow]:
        """Every export ingested, oldest first."""
        ...

    def rows(self, custodian: str | None = None, label: str | None = None) -> Iterator[CatalogRow]: ...

    def report_rows(self) -> Iterator[ReportRow]:
        """What the forwarding report reads, as ``report_row`` gives it, in ``rows()`` order, read
        without building a ``CatalogRow``: every record, and every message the export says was
        deleted (``FLAG_DELETED``); other tombstones and review items are left out."""
        ...

    def row(self, record_id: str) -> CatalogRow | None:
        """One message's row, or None."""
        ...

    def segments(self) -> Iterator[SegmentRow]: ...

    def quarantine(self) -> Iterator[QuarantineRow]: ...

    def last_sync(self) -> dict[str, datetime]:
        """Per custodian, when an export from a personal account was last ingested."""
        ...

    def last_sync_by_account(self) -> dict[tuple[str, str], datetime]:
        """Per (custodian, app), when an export from a personal account was last ingested (rows
        written before apps were recorded count for their connector's app)."""
        ...

    def compliant_copies(self, custodian: str, fingerprints: Sequence[str]) -> dict[str, CatalogRow]:
        """Per fingerprint, the earliest archived record with that text that was copied or forwarded."""
        ...

    def put_custodian(self, custodian: Custodian, audit: AuditEvent) -> None: ...

    def custodians(self) -> list[Custodian]: ...

    def get_custodian(self, custodian_id: str) -> Custodian | None: ...

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` whose notice was already sent."""
        ...

    def record_notice(self, rows: Sequence[NoticeRow], audit: AuditEvent) -> None:
        """Mark a sent notice's keys (one transaction, with its audit entry)."""
        ...

    def notices(self) -> Iterator[NoticeRow]: ...

    def segment_rows(self, name: str) -> Iterator[CatalogRow]:
        """The rows whose frames are in segment ``name``."""
        ...

    def segment_places(self, name: str) -> Iterator[RecordPlace]:
        """``RecordPlace.of`` each of ``segment_rows(name)``, in that order, without whole rows
        where the catalog can."""
        ...

    def copy_rows(self) -> Iterator[CopyRow]:
        """``CopyRow.of`` each of ``rows()``, in that order, without whole rows where the catalog can."""
        ...

    def segments_sent_between(self, custodian: str | None, start: datetime | None, end: datetime | None) -> set[str]:
        """The segments holding a row of ``custodian`` (None: anyone's) sent from ``start`` to before
        ``end`` (None: no bound), found on the catalog's index of send times where it can."""
        ...

    def put_hold(self, hold: HoldRow, audit: AuditEvent, intent: str | None = None) -> None:
        """Add a hold, or replace the one of the same name (its release), with its audit entry,
        clearing ``intent`` in the same transaction. A hold row is never deleted: release (which
        is audited) is the only way a hold stops covering records, so every hold row has a
        ``hold-place`` audit entry and every released one a ``hold-release`` entry."""
        ...

    def holds(self) -> list[HoldRow]:
        """Every hold, released ones included, by name."""
        ...

    def mark_disposed(self, segment: str, disposed_at: datetime, audit: AuditEvent, intent: str | None = None,
                      keywords: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        """Record that a segment was destroyed: its row gets ``disposed_at``, in one transaction
        with the audit entry and the clearing of ``intent``. Its message rows stay (the catalog
        remembers what was disposed of), without anything derived from their content: the
        blind-index tokens ``keywords`` (each record's, as ``add_index`` took them) are removed
        and the keyed text and sender references (fingerprint, sender_ref, copy_key) cleared."""
        ...

    def set_dispositions(self, segment: str, retain_until: date | None, dates: dict[str, date | None]) -> None:
        """Set the disposition date of rows of ``segment`` (by id) and the segment's retain-until, when
        an event fixes their cutoff. The caller moves dates only later and records the change sealed."""
        ...

    def begin_intent(self, name: str, document: dict[str, Any]) -> None:
        """Note, before acting on the store, an act that the next writer must finish if this
        run is killed (a disposition, a hold placed or released); replaces one of the same name."""
        ...

    def intents(self) -> dict[str, dict[str, Any]]:
        """Acts begun and not finished, by name."""
        ...

    def drop_intent(self, name: str) -> None:
        """Forget an intent whose act was not carried out (the store refused it)."""
        ...

    def put_document(self, kind: str, name: str, document: dict[str, Any], audit: AuditEvent) -> None:
        """Add or replace the ``kind`` document named ``name`` (a role grant, a case), in one
        transaction with its audit entry."""
        ...

    def documents(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every document of ``kind``, by name."""
        ...

    def search_tokens(self, tokens: Iterable[str]) -> set[str]:
        """Ids of records and review items whose blind index holds every token (none for no token)."""
        ...

    def search_any(self, tokens: Iterable[str]) -> set[str]:
        """Ids of records and review items whose blind index holds any of the tokens."""
        ...

    def rows_by_id(self, ids: Sequence[str]) -> dict[str, CatalogRow]:
        """The rows of those ``ids`` the catalog holds, by id."""
        ...

    def find(self, groups: Sequence[TokenGroup], where: RowFilter,
             limit: int | None) -> tuple[int, Iterator[CatalogRow]]:
        """Rows whose index holds every group (all of a group's tokens, or any; none: every row) and that
        pass ``where``: how many, and the first ``limit`` (None: all) in time order, read as taken."""
        ...

    def conversation_rows(self, conversation_ref: str, around: datetime, before: int, after: int) -> list[CatalogRow]:
        """Rows of one conversation (every label) in send order: the last ``before`` sent before
        ``around``, then the first ``after`` sent at or after it."""
        ...

    def index_version(self) -> int | None:
        """Which terms the blind index holds (``archiver.core.terms.INDEX_VERSION``): 1 for an archive
        written before versions were recorded, 0 while a reindex is unfinished, None for an empty one."""
        ...

    def set_index_version(self, version: int) -> None: ...

    def reset_index(self) -> None:
        """Drop every blind-index token (reindex, before ``add_index``)."""
        ...

    def add_index(self, entries: Sequence[tuple[str, list[str]]]) -> None:
        """Add (id, tokens) pairs to the blind index; ids the catalog does not hold are skipped."""
        ...

    def holdings(self, custodian: str | None = None) -> Iterator[HoldingGroup]:
        """Records and review items (of ``custodian``, or everyone's) counted per group
        (``archiver.storage.catalog.holdings``), in no particular order."""
        ...

    def set_copy_refs(self, entries: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Set (id, sender_ref, copy_key) on rows written before they were kept (reindex)."""
        ...

    def close(self) -> None: ...
