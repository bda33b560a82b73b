"""Which records are incomplete, and how (36 CFR 1236.22: a records officer must see it).

Connectors flag what an export could not give: an attachment the export left out, a message
deleted or edited before the export, recipients the export does not name. This report
counts those flags per custodian and source and lists every incomplete record with where it
came from (export hash and line), so a records officer can ask the officer for a fuller
export. It reads only the catalog: no message text.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from archiver.model import (
    FLAG_ATTACHMENT_MISSING,
    FLAG_DELETED,
    FLAG_EDITED,
    FLAG_RECIPIENTS_UNKNOWN,
    FLAG_UNDELIVERED,
    utc_iso,
)
from archiver.services.reports import csv_text
from archiver.storage.catalog import CatalogRow

FLAGS = (FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, FLAG_UNDELIVERED)
FLAG_TITLES = {
    FLAG_ATTACHMENT_MISSING: "attachment missing from the export",
    FLAG_DELETED: "deleted or unsent before the export",
    FLAG_EDITED: "edited (the export holds the last version)",
    FLAG_RECIPIENTS_UNKNOWN: "recipients not named by the export",
    FLAG_UNDELIVERED: "written but never delivered (a draft, outbox or failed message)",
}
CSV_FIELDS = ["id", "custodian", "source", "conversation_ref", "sent_at", "flags", "export_sha256", "source_line"]


class IncompleteRecord(NamedTuple):
    """What the report lists of one incomplete record (not its whole catalog row: at a million
    messages the report held tens of thousands)."""

    id: str
    custodian: str
    source: str
    conversation_ref: str
    sent_at: datetime
    flags: tuple[str, ...]
    export_sha256: str
    source_line: int | None

    @classmethod
    def of(cls, row: CatalogRow) -> IncompleteRecord:
        return cls(row.id, row.custodian, row.source, row.conversation_ref, row.sent_at, row.flags,
                   row.export_sha256, row.source_line)


@dataclass
class CompletenessReport:
    """Records by completeness flag, per custodian and source, and the incomplete records."""

    records: int = 0
    counts: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    incomplete: list[IncompleteRecord] = field(default_factory=list)

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "incomplete": len(self.incomplete),
            "totals": {flag: self.totals[flag] for flag in FLAGS},
            "by_custodian": [{"custodian": custodian, "source": source, **{flag: counts[flag] for flag in FLAGS}}
                             for (custodian, source), counts in sorted(self.counts.items())],
            "records_incomplete": [incomplete_json(row) for row in self.incomplete],
        }


def completeness_report(rows: Iterable[CatalogRow]) -> CompletenessReport:
    """Count the flags of every record (nonrecord tombstones and review items aside)."""
    report = CompletenessReport()
    for row in rows:
        if row.label != "record" or row.system:
            continue
        report.records += 1
        flags = [flag for flag in row.flags if flag in FLAG_TITLES]
        if flags:
            report.counts[(row.custodian, row.source)].update(flags)
            report.incomplete.append(IncompleteRecord.of(row))
    report.incomplete.sort(key=lambda r: (r.custodian, r.source, r.sent_at, r.id))
    return report


def render_completeness(report: CompletenessReport) -> str:
    """The report as a records officer reads it at the terminal."""
    lines = [f"Completeness: {len(report.incomplete)} of {report.records} records are incomplete"]
    totals = report.totals
    for flag in FLAGS:
        lines.append(f"  {totals[flag]:>7}  {FLAG_TITLES[flag]}")
    if report.counts:
        lines.append("By custodian and source:")
        for (custodian, source), counts in sorted(report.counts.items()):
            detail = ", ".join(f"{counts[flag]} {flag}" for flag in FLAGS if counts[flag])
            lines.append(f"  {custodian} / {source}: {detail}")
        lines.append("Incomplete records (id, custodian, source, sent, flags, export and line):")
        for row in report.incomplete:
            lines.append(f"  {row.id}  {row.custodian}  {row.source}  {utc_iso(row.sent_at)}  {','.join(row.flags)}  "
                         f"{row.export_sha256[:12]}:{row.source_line or '-'}")
    return "\n".join(lines)


def render_completeness_csv(report: CompletenessReport) -> str:
    """One row per incomplete record."""
    return csv_text(CSV_FIELDS, (incomplete_json(row) for row in report.incomplete))


def incomplete_json(row: IncompleteRecord) -> dict[str, Any]:
    """One incomplete record: who, which export and line, and what is missing."""
    return {"id": row.id, "custodian": row.custodian, "source": row.source, "conversation_ref": row.conversation_ref,
            "sent_at": utc_iso(row.sent_at), "flags": ",".join(row.flags), "export_sha256": row.export_sha256,
            "source_line": row.source_line}
