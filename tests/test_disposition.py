"""Disposition and legal holds: what the schedule allows is destroyed, nothing a hold covers."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.errors import RetentionError, UsageError
from archiver.services.disposition import dispose_due, place_hold, release_hold
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import HoldRow
from connectors.jsonl import JsonlConnector
from tests.conftest import CliRunner

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
LATER = datetime(2034, 1, 1, tzinfo=timezone.utc)  # past the 7-year and 180-day items, not permanent ones
BASE = {"source": "signal", "conversation": "Port ops", "recipients": ["Jorge Rivera"], "direction": "received",
        "account": "personal", "attachments": []}


def _ingest(folder: Path, custodian: str, lines: list[dict[str, object]]) -> None:
    export = folder / f"{custodian}.jsonl"
    export.write_text("".join(json.dumps({**BASE, **line}) + "\n" for line in lines), encoding="utf-8")
    archive = Archive.open(load_settings(cwd=folder))
    try:
        options = IngestOptions(custodian=custodian, tz="UTC", actor="test")
        Ingestor(archive, ConnectorRegistry([JsonlConnector()]), Classifier(load_rules()), load_schedules(),
                 options, NOW).run([export])
    finally:
        archive.close()


@pytest.fixture
def archive(archive_dir: Path) -> Archive:
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\n")
    _ingest(archive_dir, "Jorge Rivera", [
        {"sender": "Sgt. Lee", "sent_at": "2026-03-01T09:00:00Z", "body": "Release truck 44, approved by the chief"},
        {"sender": "Sgt. Lee", "sent_at": "2026-03-01T09:05:00Z", "body": "Briefing at 0800 tomorrow in room 2"},
    ])
    _ingest(archive_dir, "Ana Diaz", [
        {"sender": "Cmdte. Ruiz", "sent_at": "2026-02-10T10:00:00Z", "body": "Seized 40 kg at lane 4, report follows",
         "recipients": ["Ana Diaz"]},
    ])
    opened = Archive.open(load_settings(cwd=archive_dir))
    yield opened
    opened.close()


def _hold(name: str, custodian: str | None, start: date | None = None, end: date | None = None) -> HoldRow:
    return HoldRow(name=name, reason="OIG inquiry 2026-014", custodian=custodian, start=start, end=end,
                   placed_at=NOW, placed_by="records-officer")


def test_nothing_is_destroyed_before_its_date(archive: Archive) -> None:
    result = dispose_due(archive, NOW, "test")
    assert result.disposed == [] and result.records_disposed == 0


def test_due_segments_are_destroyed_and_audited(archive: Archive) -> None:
    segments = {s.name: s for s in archive.catalog.segments()}
    result = dispose_due(archive, LATER, "records-officer")
    assert result.records_disposed == 3 and {s.name for s in result.disposed} == set(segments)
    for name in segments:
        assert not archive.store.exists(name)
    assert all(s.disposed_at == LATER for s in archive.catalog.segments())
    entries = [e.event for e in archive.catalog.audit_entries() if e.event.action == "dispose"]
    assert sum(len(e.detail["records"]) for e in entries) == 3
    assert dispose_due(archive, LATER, "records-officer").disposed == []  # nothing twice
    assert verify(archive).ok  # the catalog remembers what was destroyed


def test_disposal_reads_each_segment_once_not_record_by_record(archive: Archive,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[str, str]] = []
    for name in ("get", "get_range"):
        method = getattr(archive.store, name)
        monkeypatch.setattr(archive.store, name,
                            lambda key, *a, _read=method, _name=name: reads.append((_name, key)) or _read(key, *a))
    result = dispose_due(archive, LATER, "records-officer")
    destroyed = {s.name for s in result.disposed}
    assert result.records_disposed == 3
    assert sorted(read for read in reads if read[1] in destroyed) == sorted(("get", name) for name in destroyed)


def test_a_dry_run_destroys_nothing(archive: Archive) -> None:
    result = dispose_due(archive, LATER, "records-officer", dry_run=True)
    assert result.records_disposed == 3
    assert all(archive.store.exists(s.name) for s in archive.catalog.segments())


def test_a_hold_stops_disposition_of_what_it_covers_only(archive: Archive) -> None:
    held = place_hold(archive, _hold("OIG-2026-014", "Jorge Rivera"))
    assert held and all(archive.store.retention(name).legal_hold for name in held)
    result = dispose_due(archive, LATER, "records-officer")
    assert set(result.held) == set(held) and all(v == ["OIG-2026-014"] for v in result.held.values())
    assert [s.custodian for s in result.disposed] == ["Ana Diaz"]
    for name in held:
        assert archive.store.exists(name)
        with pytest.raises(RetentionError, match="legal hold"):
            archive.store.delete(name, LATER.date())  # the store refuses too


def test_a_hold_by_dates_covers_only_records_sent_in_its_range(archive: Archive) -> None:
    held = place_hold(archive, _hold("LIT-7", None, date(2026, 2, 1), date(2026, 2, 28)))
    custodians = {s.custodian for s in archive.catalog.segments() if s.name in held}
    assert custodians == {"Ana Diaz"}


def test_releasing_a_hold_lifts_it_where_no_other_hold_remains(archive: Archive) -> None:
    first = place_hold(archive, _hold("A", "Jorge Rivera"))
    place_hold(archive, _hold("B", None, date(2026, 3, 1), date(2026, 3, 1)))
    lifted = release_hold(archive, "A", "records-officer", "inquiry closed", LATER)
    assert lifted == []  # hold B still covers the same records
    assert all(archive.store.retention(name).legal_hold for name in first)
    assert release_hold(archive, "B", "records-officer", "settled", LATER) == first
    assert not any(archive.store.retention(name).legal_hold for name in first)
    assert {h.name: h.active for h in archive.catalog.holds()} == {"A": False, "B": False}
    assert dispose_due(archive, LATER, "records-officer").records_disposed == 3
    actions = [e.event.action for e in archive.catalog.audit_entries()]
    assert actions.count("hold-place") == 2 and actions.count("hold-release") == 2


def test_hold_mistakes_are_refused_clearly(archive: Archive) -> None:
    place_hold(archive, _hold("A", None))
    with pytest.raises(UsageError, match="already exists"):
        place_hold(archive, _hold("A", None))
    with pytest.raises(UsageError, match="no hold named 'Z'"):
        release_hold(archive, "Z", "x", "y", LATER)
    with pytest.raises(UsageError, match="is after"):
        place_hold(archive, _hold("C", None, date(2026, 3, 2), date(2026, 3, 1)))
    release_hold(archive, "A", "x", "done", LATER)
    with pytest.raises(UsageError, match="already released"):
        release_hold(archive, "A", "x", "again", LATER)


def test_permanent_and_unscheduled_records_are_never_destroyed(archive_dir: Path) -> None:
    _ingest(archive_dir, "Nobody Configured", [
        {"sender": "Sgt. Lee", "sent_at": "2026-03-01T09:00:00Z", "body": "Release truck 44, approved by the chief"}])
    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        result = dispose_due(archive, datetime(2300, 1, 1, tzinfo=timezone.utc), "records-officer")
        assert result.disposed == []  # unscheduled records are kept indefinitely: no date ever comes
    finally:
        archive.close()


def test_hold_reasons_are_kept_sealed_and_read_back_opened(cli: CliRunner, archive: Archive,
                                                             archive_dir: Path) -> None:
    placed = cli("hold", "place", "OIG-11", "--reason", "subpoena naming Zuleika Quarrington",
                 "--custodian", "Jorge Rivera")
    released = cli("hold", "release", "OIG-11", "--reason", "Quarrington matter closed", "--json")
    old = HoldRow(name="OLD-1", reason="written before reasons were sealed", custodian=None,  # covers nothing
                  start=date(1990, 1, 1), end=date(1990, 1, 2), placed_at=NOW, placed_by="records-officer")
    archive.catalog.put_hold(old, AuditEvent("records-officer", "hold-place", NOW, {"hold": old.name,
                                                                                   "reason": old.reason}))
    listing = {h["name"]: h for h in cli("hold", "list", "--json").json()}
    text = cli("hold", "list").out
    audit = [e.event.detail["reason"] for e in archive.catalog.audit_entries()
             if e.event.action in ("hold-place", "hold-release") and e.event.detail["hold"] == "OIG-11"]
    at_rest = [p for p in (archive_dir / "archive").rglob("*") if p.is_file() and b"Quarrington" in p.read_bytes()]
    assert placed.code == 0 and released.json()["release_reason"] == "Quarrington matter closed"
    assert listing["OIG-11"]["reason"] == "subpoena naming Zuleika Quarrington"
    assert listing["OIG-11"]["release_reason"] == "Quarrington matter closed"
    assert listing["OLD-1"]["reason"] == "written before reasons were sealed"
    assert "subpoena naming Zuleika Quarrington" in text and "written before reasons were sealed" in text
    assert len(audit) == 2 and all(set(reason) == {"sealed", "object"} for reason in audit)
    assert at_rest == []
    assert verify(archive).ok


def test_hold_and_dispose_commands(cli: CliRunner, archive: Archive, archive_dir: Path) -> None:
    placed = cli("hold", "place", "OIG-9", "--reason", "subpoena", "--custodian", "Jorge Rivera",
                 "--from", "2026-01-01")
    assert placed.code == 0 and "placed" in placed.out
    listing = cli("hold", "list", "--json").json()
    assert listing[0]["name"] == "OIG-9" and listing[0]["released_at"] is None
    assert "ACTIVE" in cli("hold", "list").out
    dry = cli("dispose", "--dry-run", "--json").json()
    assert dry["dry_run"] and dry["records_disposed"] == 0  # today is before every date
    with pytest.raises(SystemExit) as exit_info:
        cli("hold", "place", "X", "--reason", "r", "--from", "not-a-date")
    assert exit_info.value.code == 2
    assert cli("hold", "release", "OIG-9", "--reason", "closed").code == 0
    assert cli("hold", "release", "OIG-9", "--reason", "again").code == 2
