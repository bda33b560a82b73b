"""Events: an end of tenure, a case closed or a superseded item dates the records waiting on it.

Dates move only later (catalog rows, segment rows, the store's retention), every event is
audited and listed, and ``verify`` accepts a date an event moved (it reads the sealed
amendment) while still naming a date edited by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.core import retention
from archiver.core.events import Event
from archiver.core.retention import EventKind, load_schedules
from archiver.errors import AccessDenied
from archiver.services.disposition import writing
from archiver.services.events import new_event_name, record_event
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from tests.catalog_sql import SEGMENT_NAME, catalog_db, key_text, stored
from tests.conftest import CliRunner

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
AGENCY = """\
schedule: AGENCY 1
title: Agency file plan
source: test
items:
  - id: AGENCY-1-010
    title: Messages of officials, cut off at the end of their tenure
    authority: DAA-0000-2026-0001-0001
    instruction: Cut off at end of tenure. Destroy 7 years after cutoff.
    cutoff: event
    event: end_of_tenure
    retain: {years: 7}
    action: destroy
    permanent: false
"""
BASE = {"source": "signal", "conversation": "Port ops", "recipients": ["Jorge Rivera"], "direction": "received",
        "account": "personal", "attachments": []}


def _export(folder: Path, name: str, *sent: str) -> Path:
    path = folder / f"{name}.jsonl"
    lines = [{**BASE, "conversation": f"Port ops {name}", "sender": "Sgt. Lee", "sent_at": at,
              "body": f"Release truck {n}, approved by the chief"}
             for n, at in enumerate(sent)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def folder(cli: CliRunner, archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An archive whose officials' records wait on the end of their tenure: two custodians."""
    (archive_dir / "agency").mkdir()
    (archive_dir / "agency" / "plan.yaml").write_text(AGENCY, encoding="utf-8")
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\nschedules: [agency]\n")
    # The agency files officials' messages under its own item (an NA-1005 may set any cutoff).
    monkeypatch.setitem(retention.ROLE_SCHEDULE, "official", "AGENCY-1-010")
    for custodian in ("Jorge Rivera", "Ana Diaz"):
        export = _export(archive_dir, custodian.split()[0], "2026-03-01T09:00:00Z", "2026-03-01T09:05:00Z")
        result = cli("ingest", export, "--custodian", custodian, "--tz", "UTC")
        assert result.code == 0, result.err
    return archive_dir


@pytest.fixture
def archive(folder: Path) -> Iterator[Archive]:
    opened = Archive.open(load_settings(cwd=folder))
    yield opened
    opened.close()


def _rows(folder: Path, custodian: str) -> list[tuple[str | None, str | None]]:
    with catalog_db(folder) as db:
        return list(db.execute(f"SELECT m.disposition_date, s.retain_until FROM messages m JOIN segments s "
                               f"ON s.name = {SEGMENT_NAME} WHERE m.custodian = ? AND m.label = 'record'",
                               (stored(db, "custodian", custodian),)))


def _tenure(archive: Archive, custodian: str, day: date, actor: str = "records-officer", name: str = "") -> int:
    event = Event(name=name or new_event_name("end_of_tenure", NOW), kind=EventKind.END_OF_TENURE, day=day,
                  recorded_by=actor, recorded_at=NOW, custodians=(custodian,))
    return record_event(archive, event, "left the agency").records


def test_records_wait_on_the_event_until_it_is_recorded(folder: Path) -> None:
    rows = _rows(folder, "Jorge Rivera")
    assert rows and all(row == (None, None) for row in rows)


def test_end_of_tenure_dates_that_custodians_records_only(cli: CliRunner, folder: Path) -> None:
    result = cli("event", "record", "end-of-tenure", "--custodian", "Jorge Rivera", "--date", "2027-06-30",
                 "--reason", "detail ended", "--json")
    assert result.code == 0, result.err
    recorded = result.json()
    assert recorded["records_dated"] == 2 and recorded["custodians"] == ["Jorge Rivera"]
    assert "detail ended" not in result.out  # the reason is kept sealed
    # Cut off on the day tenure ended, destroyed 7 years after; the waiting segment takes that date.
    assert _rows(folder, "Jorge Rivera") == [("2034-06-30", "2034-06-30")] * 2
    assert _rows(folder, "Ana Diaz") == [(None, None)] * 2
    listed = cli("event", "list", "--json").json()
    assert [(e["kind"], e["date"]) for e in listed] == [("end_of_tenure", "2027-06-30")]
    audit = cli("audit", "--json")
    assert audit.code == 0 and "event-record" in audit.out


def test_verify_accepts_an_event_and_still_names_a_hand_edit(cli: CliRunner, folder: Path) -> None:
    assert cli("event", "record", "end-of-tenure", "--custodian", "Jorge Rivera", "--date", "2027-06-30").code == 0
    for deep in ((), ("--deep",)):
        result = cli("verify", *deep)
        assert result.code == 0, result.out
    with catalog_db(folder) as db:
        stored_id = db.execute("SELECT id FROM messages WHERE custodian = ? AND label = 'record' LIMIT 1",
                               (stored(db, "custodian", "Jorge Rivera"),)).fetchone()[0]
        db.execute("UPDATE messages SET disposition_date = '2028-01-01' WHERE id = ?", (stored_id,))
    record_id = key_text(stored_id)
    for deep, against in (((), "sealed manifest"), (("--deep",), "sealed frame")):
        result = cli("verify", *deep)
        assert result.code == 1
        assert f"record {record_id}: disposition date in catalog differs from its {against}" in result.out


def test_dates_move_only_later(archive: Archive, folder: Path) -> None:
    # Named so that the later event sorts first: order of names must not decide the dates.
    assert _tenure(archive, "Jorge Rivera", date(2027, 6, 30), name="2026-c") == 2
    assert _tenure(archive, "Jorge Rivera", date(2026, 12, 31), name="2026-b") == 0  # an earlier day moves nothing
    assert _rows(folder, "Jorge Rivera") == [("2034-06-30", "2034-06-30")] * 2
    assert _tenure(archive, "Jorge Rivera", date(2028, 1, 15), name="2026-a") == 2
    assert _rows(folder, "Jorge Rivera") == [("2035-01-15", "2035-01-15")] * 2
    assert verify(archive, deep=True).ok


def test_a_dated_segment_has_its_store_retention_extended(cli: CliRunner, folder: Path, archive: Archive) -> None:
    _tenure(archive, "Ana Diaz", date(2026, 12, 31))
    before = {s.name for s in archive.catalog.segments()}
    # Ingested after the event: dated at once, in a dated segment.
    later = _export(folder, "Ana-late", "2026-04-01T09:00:00Z")
    assert cli("ingest", later, "--custodian", "Ana Diaz", "--tz", "UTC").code == 0
    dated = [s for s in archive.catalog.segments() if s.custodian == "Ana Diaz" and s.name not in before]
    assert [s.retain_until for s in dated] == [date(2033, 12, 31)]
    assert archive.store.retention(dated[0].name).retain_until == date(2033, 12, 31)
    _tenure(archive, "Ana Diaz", date(2027, 3, 31))
    segment = next(s for s in archive.catalog.segments() if s.name == dated[0].name)
    assert segment.retain_until == date(2034, 3, 31)
    assert archive.store.retention(segment.name).retain_until == date(2034, 3, 31)
    assert verify(archive, deep=True).ok


def test_only_a_records_officer_records_events(archive: Archive) -> None:
    with pytest.raises(AccessDenied):
        _tenure(archive, "Jorge Rivera", date(2027, 6, 30), actor="officer")
    assert archive.catalog.documents("event") == {}


def test_a_killed_run_is_finished_by_the_next_writer(archive: Archive, folder: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(archive.catalog), "set_dispositions", killed)
    with pytest.raises(KeyboardInterrupt):
        _tenure(archive, "Jorge Rivera", date(2027, 6, 30))
    monkeypatch.undo()
    assert _rows(folder, "Jorge Rivera") == [(None, None)] * 2 and archive.catalog.intents()
    with writing(archive, NOW):
        pass
    assert _rows(folder, "Jorge Rivera") == [("2034-06-30", "2034-06-30")] * 2 and not archive.catalog.intents()
    assert len(archive.catalog.documents("event")) == 1
    assert verify(archive, deep=True).ok


@pytest.mark.parametrize(("args", "says"), [
    (("superseded", "--schedule", "GRS-6.1-011", "--date", "2027-01-01"), "not cut off by a superseded event"),
    (("end-of-tenure", "--custodian", "Nobody Known", "--date", "2027-01-01"), "Nobody Known"),
])
def test_bad_events_are_refused_in_one_line(cli: CliRunner, folder: Path, args: tuple[str, ...], says: str) -> None:
    result = cli("event", "record", *args)
    assert result.code == 2
    assert says in result.err and len(result.err.strip().splitlines()) == 1
    assert cli("event", "list", "--json").json() == []


@pytest.mark.parametrize(("args", "says"), [
    (("case-closed", "--case", "C-1", "--date", "2027-01-01"), "--custodian"),
    (("end-of-tenure", "--custodian", "Jorge Rivera", "--date", "30/06/2027"), "not a date"),
])
def test_incomplete_events_are_usage_errors(cli: CliRunner, folder: Path, capsys: pytest.CaptureFixture[str],
                                            args: tuple[str, ...], says: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli("event", "record", *args)
    assert exit_.value.code == 2 and says in capsys.readouterr().err


def test_superseded_dates_the_items_it_names(archive: Archive) -> None:
    schedules = load_schedules()
    event = Event(name=new_event_name("superseded", NOW), kind=EventKind.SUPERSEDED, day=date(2026, 5, 1),
                  recorded_by="records-officer", recorded_at=NOW, schedules=("GRS-5.2-020",))
    assert record_event(archive, event, schedules=schedules).records == 0  # nothing filed under it here
    assert [e["schedules"] for e in archive.catalog.documents("event").values()] == [["GRS-5.2-020"]]
