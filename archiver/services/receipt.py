"""The ingest receipt: an account of every input message, for the officer and for machines."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from archiver.errors import Rejection

UNRESOLVED_SHOWN = 20


@dataclass
class FileReceipt:
    """What became of one export file."""

    file: str
    sha256: str | None = None
    connector: str | None = None
    parsed: int = 0
    records: int = 0
    nonrecords: int = 0
    duplicates: int = 0
    quarantined: int = 0
    in_review: int = 0  # of the nonrecords, those kept sealed for a records officer's decision
    refused: str | None = None  # why the file (or its unread remainder) could not be parsed

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Receipt:
    """Totals over every file of one ``ingest`` run.

    ``parsed == records + nonrecords + duplicates + quarantined`` always holds.
    """

    custodian: str
    files: list[FileReceipt] = field(default_factory=list)
    quarantine: list[Rejection] = field(default_factory=list)
    forwarding: Counter[str] = field(default_factory=Counter)
    schedules: Counter[str] = field(default_factory=Counter)
    attachments_stored: int = 0
    attachments_missing: int = 0
    unresolved: list[str] = field(default_factory=list)  # handles the participant directory does not list
    warnings: list[str] = field(default_factory=list)  # what the officer should fix, though nothing was lost

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def refused(self) -> list[FileReceipt]:
        return [f for f in self.files if f.refused]

    @property
    def exit_code(self) -> int:
        """2 when anything could not be read (a file refused or an item quarantined)."""
        return 2 if self.refused or self.quarantine else 0

    def to_json(self) -> dict[str, Any]:
        counts = {name: self.total(name)
                  for name in ("parsed", "records", "nonrecords", "in_review", "duplicates", "quarantined")}
        return {
            "custodian": self.custodian,
            **counts,
            "quarantine": [r.as_dict() for r in self.quarantine],
            "refused": [{"file": f.file, "reason": f.refused} for f in self.refused],
            "copied": self.forwarding["copied"],
            "forwarded": self.forwarding["forwarded"],
            "late": self.forwarding["late"],
            "not_applicable": self.forwarding["not_applicable"],
            "schedules": dict(sorted(self.schedules.items())),
            "attachments": {"stored": self.attachments_stored, "missing": self.attachments_missing},
            "unresolved_participants": sorted(self.unresolved),
            "warnings": list(self.warnings),
            "files": [f.to_json() for f in self.files],
        }


def unregistered_warning(custodian: str, schedule: str) -> str:
    """The warning for an ingest under a custodian the registry does not list."""
    return (f"custodian {custodian!r} is not registered: its records are filed under the default schedule "
            f"{schedule} and no personal account of it is tracked for 44 U.S.C. 2911; register it with "
            "'archiver custodian add'")


def render_receipt(receipt: Receipt) -> str:
    """The receipt as the officer reads it at the terminal."""
    data = receipt.to_json()
    lines = [f"Ingest receipt for custodian {receipt.custodian}"]
    for f in receipt.files:
        via = f" via {f.connector}" if f.connector else ""
        lines.append(f"  {f.file}{via}: {f.parsed} parsed, {f.records} records, {f.nonrecords} nonrecords, "
                     f"{f.duplicates} already archived, {f.quarantined} quarantined")
        if f.refused:
            lines.append(f"    REFUSED: {f.refused}")
    lines.append(f"Total: {data['parsed']} parsed = {data['records']} records + {data['nonrecords']} nonrecords "
                 f"+ {data['duplicates']} already archived + {data['quarantined']} quarantined")
    if data["in_review"]:
        lines.append(f"Review: {data['in_review']} of the nonrecords are uncertain and wait, sealed, for a records "
                     "officer ('archiver review list')")
    lines.append(f"44 U.S.C. 2911: {data['copied']} copied to an official account, {data['forwarded']} forwarded "
                 f"within 20 days, {data['late']} late, {data['not_applicable']} from official accounts")
    if receipt.schedules:
        lines.append("Schedules: " + ", ".join(f"{k} {v}" for k, v in data["schedules"].items()))
    lines.append(f"Attachments: {receipt.attachments_stored} stored, {receipt.attachments_missing} "
                 "missing from the export")
    if receipt.unresolved:
        shown = sorted(receipt.unresolved)
        more = f" and {len(shown) - UNRESOLVED_SHOWN} more (--json lists all)" if len(shown) > UNRESOLVED_SHOWN else ""
        lines.append(f"Participants not in the directory ({len(shown)}): "
                     f"{', '.join(shown[:UNRESOLVED_SHOWN])}{more}")
    lines += [f"Warning: {warning}" for warning in receipt.warnings]
    for rejection in receipt.quarantine:
        where = f"{rejection.file}:{rejection.line}" if rejection.line else rejection.file
        lines.append(f"  QUARANTINED {where}: {rejection.reason}")
    return "\n".join(lines)
