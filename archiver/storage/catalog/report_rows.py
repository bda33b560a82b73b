"""The lean rows reports read (the 2911 forwarding report's, the gaps report's), so a pass over a
million rows stays cheap."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from archiver.model import FLAG_DELETED, utc_iso

if TYPE_CHECKING:
    from archiver.storage.catalog.base import CatalogRow


class ReportRow(NamedTuple):
    """What the 2911 forwarding report reads of a catalog row, and no more (``Catalog.report_rows``).

    Timestamps stay as the catalog stores them, ISO 8601 in UTC with a ``Z`` (``utc_iso``): the
    report prints them and takes their month as a slice, so parsing each would be wasted.
    """

    id: str
    custodian: str
    source: str
    conversation_ref: str
    sent_at: str
    direction: str
    account: str
    system: bool
    label: str
    forwarding_status: str
    deadline: str | None
    days_late: int
    schedule: str | None
    export_sha256: str
    source_line: int | None
    ingested_at: str
    deleted: bool  # the export says the message was deleted (``FLAG_DELETED``)
    segment: str | None


def report_row(row: CatalogRow) -> ReportRow:
    """``row`` as the forwarding report reads it."""
    return ReportRow(row.id, row.custodian, row.source, row.conversation_ref, utc_iso(row.sent_at), row.direction,
                     row.account, row.system, row.label, row.forwarding_status,
                     utc_iso(row.deadline) if row.deadline else None, row.days_late, row.schedule, row.export_sha256,
                     row.source_line, utc_iso(row.ingested_at), FLAG_DELETED in row.flags, row.segment)


class CopyRow(NamedTuple):
    """What the gaps report reads of a catalog row (``Catalog.copy_rows``): whose copy of which
    conversation it is, who sent it and its keyed copy reference."""

    id: str
    custodian: str
    source: str
    conversation_ref: str
    sent_at: datetime
    direction: str
    system: bool
    label: str
    deleted: bool  # the export says the message was deleted (``FLAG_DELETED``)
    sender_ref: str | None
    copy_key: str | None

    @classmethod
    def of(cls, row: CatalogRow) -> CopyRow:
        return cls(row.id, row.custodian, row.source, row.conversation_ref, row.sent_at, row.direction, row.system,
                   row.label, FLAG_DELETED in row.flags, row.sender_ref, row.copy_key)

