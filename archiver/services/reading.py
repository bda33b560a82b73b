"""Reading one record: the message, its archive metadata and the messages around it.

Only an investigator under an open case, or an officer for their own records, reads; the
read is an audit entry with the case and every id shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.errors import UsageError
from archiver.model import utc_iso
from archiver.services.search import Searcher
from archiver.storage.archive import Archive
from archiver.storage.catalog.base import CatalogRow
from archiver.storage.records import RecordDocument

DEFAULT_CONTEXT = 5
MAX_CONTEXT = 200


@dataclass(frozen=True)
class Shown:
    """A record as read: its document and catalog row, and its conversation's neighbours."""

    row: CatalogRow
    document: RecordDocument
    held: bool
    before: list[RecordDocument]
    after: list[RecordDocument]

    def to_json(self) -> dict[str, Any]:
        """The normalized message plus archive metadata, and the context in the same form."""
        return {**record_json(self.row, self.document, self.held),
                "context_before": [doc.message for doc in self.before],
                "context_after": [doc.message for doc in self.after]}


def record_json(row: CatalogRow, document: RecordDocument, held: bool) -> dict[str, Any]:
    """One record as an investigator receives it: the message and what the archive knows of it."""
    data = document.data
    return {"id": row.id, "message": document.message, "classification": data["classification"],
            "schedule": row.schedule, "disposition": data["disposition"], "held": held,
            "forwarding": data["forwarding"], "attachment_objects": data["attachment_objects"],
            "ingested_at": utc_iso(row.ingested_at), "export_sha256": row.export_sha256,
            "source_line": row.source_line, "label": row.label}


def show(archive: Archive, actor: str, record_id: str, case_id: str | None, context: int,
         at: datetime) -> Shown:
    """Open ``record_id`` and ``context`` messages either side of it in its conversation (audited)."""
    if not 0 <= context <= MAX_CONTEXT:
        raise UsageError(f"--context must be between 0 and {MAX_CONTEXT}")
    reader = Searcher(archive, actor, case_id, at, "show", {"id": record_id, "context": context}, reads_text=True)
    row = archive.catalog.row(record_id)
    if row is None:
        reader.audit("show", [], 0)
        raise UsageError(f"no record {record_id!r} in this archive")
    if not reader.reads(row):
        reader.refuse("show", "the record is another custodian's; officers read only their own records")
    document = reader.document(row)
    if document is None:
        reader.audit("show", [], 0)
        what = "a nonrecord's tombstone" if row.label == "nonrecord" else "destroyed by disposition"
        raise UsageError(f"record {record_id} has no text to read: {what}")
    # The record is among the rows at or after its own time: ask for one more after it.
    around = archive.catalog.conversation_rows(row.conversation_ref, row.sent_at, context, context + 1) \
        if context else []
    readable = [(other, reader.document(other)) for other in around if other.id != row.id and reader.reads(other)]
    before = [doc for other, doc in readable if doc is not None and (other.sent_at, other.id) < (row.sent_at, row.id)]
    after = [doc for other, doc in readable if doc is not None and (other.sent_at, other.id) > (row.sent_at, row.id)]
    reader.audit("show", [row.id, *(doc.record_id for doc in before + after)], 1)
    return Shown(row, document, reader.held(row), before, after)
