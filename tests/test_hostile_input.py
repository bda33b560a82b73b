"""Hostile input end to end: what a bad export leaves at rest, key files, read-only archives.

A quarantine reason names the field, the position and the kind of fault, never the value: the
catalog and the audit log must not hold a byte of the export's text outside sealed envelopes.
"""

from __future__ import annotations

import json
from pathlib import Path

from archiver.archive import Archive
from archiver.config import load_settings
from tests.conftest import CliRunner

CANARY = "CANARY-5d41402abc4b2a76"
GOOD = {"source": "sms", "conversation": "Port ops", "sender": "+15205550100", "sent_at": "2026-01-05T09:00:00-05:00",
        "body": "Approved: move the inspection to gate 3."}


def _catalog_bytes(folder: Path) -> bytes:
    """Every byte of the SQLite catalog, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in (folder / "archive").glob("catalog.sqlite*") if p.is_file())


def test_quarantine_reasons_never_copy_values_from_the_export(cli: CliRunner, archive_dir: Path) -> None:
    hostile = [{**GOOD, "sent_at": CANARY}, {**GOOD, "sent_at": "2026-01-05T09:00:00 " + CANARY},
               {**GOOD, "direction": CANARY}, {**GOOD, "account": CANARY}, {**GOOD, "recipients": CANARY},
               {**GOOD, "attachments": [{"size": CANARY}]}, {**GOOD, "attachments": [{"name": [CANARY]}]},
               {**GOOD, "body": [CANARY]}, {**GOOD, "flags": CANARY}]
    lines = [json.dumps(GOOD), *map(json.dumps, hostile), json.dumps(CANARY), '{"body": "' + CANARY,
             '{"n": ' + "7" * 5000 + ', "x": "' + CANARY + '"}']
    export = archive_dir / "hostile.jsonl"
    export.write_text("\n".join(lines) + "\n")
    result = cli("ingest", export, "--custodian", "+15205550100", "--json")
    assert result.code == 2, result.err
    receipt = json.loads(result.out)
    assert receipt["records"] == 1 and receipt["quarantined"] == len(lines) - 1
    reasons = [q["reason"] for q in receipt["quarantine"]]
    assert "not a valid message: sent_at: not an ISO 8601 timestamp" in reasons
    assert "not a valid message: direction: not one of sent, received" in reasons
    assert all(CANARY not in reason for reason in reasons)
    assert CANARY.encode() not in _catalog_bytes(archive_dir)
    archive = Archive.open(load_settings(None, cwd=archive_dir))
    try:
        entries = list(archive.catalog.audit_entries())
        assert [q.line for q in archive.catalog.quarantine()] == list(range(2, len(lines) + 1))
    finally:
        archive.close()
    assert {"ingest", "quarantine"} <= {e.event.action for e in entries}
    assert all(CANARY not in json.dumps(e.event.detail) for e in entries)
