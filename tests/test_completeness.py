"""The completeness report: which records an export left incomplete, and how."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import CliRunner

BASE = {"source": "signal", "conversation": "Port ops", "sender": "Sgt. Lee", "recipients": ["Jorge Rivera"],
        "direction": "received", "account": "personal", "attachments": []}


def _export(tmp_path: Path) -> Path:
    lines = [
        {**BASE, "sent_at": "2026-03-01T09:00:00-07:00", "body": "Manifest for truck 44 attached",
         "attachments": [{"name": "manifest.pdf", "media_type": "application/pdf", "missing": True}],
         "flags": ["attachment_missing"]},
        {**BASE, "sent_at": "2026-03-01T09:05:00-07:00", "body": "Release truck 44 at lane 2, approved by the chief",
         "flags": ["edited"]},
        {**BASE, "sent_at": "2026-03-01T09:10:00-07:00", "body": "Hold the driver until HSI arrives",
         "recipients": [], "flags": ["recipients_unknown"]},
        {**BASE, "sent_at": "2026-03-01T09:15:00-07:00", "body": "Lane 4 reopened at 0930, report filed"},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_incomplete_records_are_counted_and_listed(cli: CliRunner, archive_dir: Path) -> None:
    ingest = cli("ingest", _export(archive_dir), "--custodian", "Jorge Rivera", "--json")
    assert ingest.json()["records"] == 4
    data = cli("report", "completeness", "--json").json()
    assert data["records"] == 4 and data["incomplete"] == 3
    assert data["totals"] == {"attachment_missing": 1, "deleted": 0, "edited": 1, "recipients_unknown": 1,
                              "undelivered": 0}
    assert data["by_custodian"] == [{"custodian": "Jorge Rivera", "source": "signal", "attachment_missing": 1,
                                     "deleted": 0, "edited": 1, "recipients_unknown": 1, "undelivered": 0}]
    lines = {r["flags"]: r["source_line"] for r in data["records_incomplete"]}
    assert lines == {"attachment_missing": 1, "edited": 2, "recipients_unknown": 3}


def test_the_report_reads_at_the_terminal_and_as_csv(cli: CliRunner, archive_dir: Path) -> None:
    cli("ingest", _export(archive_dir), "--custodian", "Jorge Rivera")
    text = cli("report", "completeness").out
    assert "3 of 4 records are incomplete" in text
    assert "attachment missing from the export" in text and "Jorge Rivera / signal" in text
    rows = list(csv.DictReader(io.StringIO(cli("report", "completeness", "--csv").out)))
    assert [r["flags"] for r in rows] == ["attachment_missing", "edited", "recipients_unknown"]


def test_the_report_holds_no_message_text(cli: CliRunner, archive_dir: Path) -> None:
    cli("ingest", _export(archive_dir), "--custodian", "Jorge Rivera")
    for option in ((), ("--json",), ("--csv",)):
        out = cli("report", "completeness", *option).out
        assert "Manifest" not in out and "truck" not in out and "Port ops" not in out
