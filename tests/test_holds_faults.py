"""Holds, disposition and concurrent runs under faults: nothing held or scheduled can be lost."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from archiver.cli import common as cli_common
from archiver.config import load_settings
from archiver.errors import CatalogError
from archiver.services.compliance import sweep
from archiver.services.disposition import dispose_due, place_hold, release_hold
from archiver.services.notifiers import MailFileNotifier
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow, sqlite_lock
from tests.conftest import CliRunner

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
LATER = datetime(2040, 1, 1, tzinfo=timezone.utc)  # past every 7-year date below, before permanent ones


class _Killed(BaseException):
    """Stands for SIGKILL at one exact point: nothing after it runs, no handler sees it."""


def _chat(path: Path, lines: list[str], media: dict[str, bytes] | None = None) -> Path:
    """A WhatsApp export: a plain chat, or a zip with its media when ``media`` is given."""
    text = "".join(line + "\n" for line in lines)
    if media is None:
        path.write_text(text, encoding="utf-8")
        return path
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("_chat.txt", text)
        for name, data in media.items():
            bundle.writestr(name, data)
    return path


def _open(folder: Path) -> Archive:
    return Archive.open(load_settings(cwd=folder))


@pytest.fixture
def officer(cli: CliRunner, archive_dir: Path) -> Path:
    """An archive where j.rivera ("Jorge Rivera", alias "Rivera J") is registered and has records."""
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\n")
    added = cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--alias", "Rivera J", "--role", "official")
    assert added.code == 0, added.err
    export = _chat(archive_dir / "WhatsApp Chat with Lee.txt", [
        "3/1/19, 9:00 AM - Sgt. Lee: Approved, release truck 44 to secondary inspection",
        "3/1/20, 9:05 AM - Sgt. Lee: Send the seizure report to the port director today"])
    assert cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy").code == 0
    return archive_dir


def _hold(name: str, custodian: str | None, start: date | None = None, end: date | None = None) -> HoldRow:
    return HoldRow(name=name, reason="OIG inquiry 2026-015", custodian=custodian, start=start, end=end,
                   placed_at=NOW, placed_by="records-officer")


# -- 1. a custodian named by id, name or alias ---------------------------------------------


def test_ingest_under_a_custodian_name_files_under_its_id(officer: Path, cli: CliRunner) -> None:
    export = _chat(officer / "WhatsApp Chat with Ortiz.txt", [
        "3/2/19, 9:00 AM - Sgt. Ortiz: Approved, hold the shipment for the port director"])
    assert cli("ingest", export, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        assert {row.custodian for row in archive.catalog.rows()} == {"j.rivera"}
    finally:
        archive.close()



@pytest.mark.parametrize("named", ["j.rivera", "Jorge Rivera", "jorge rivera", "Rivera J"])
def test_a_hold_names_its_custodian_by_id_name_or_alias(officer: Path, named: str) -> None:
    archive = _open(officer)
    try:
        held = place_hold(archive, _hold("OIG-2026-015", named))
        assert len(held) == 2  # both of j.rivera's segments
        assert [h.custodian for h in archive.catalog.holds()] == ["j.rivera"]
        result = dispose_due(archive, LATER, "records-officer")
        assert result.disposed == [] and set(result.held) == set(held)
    finally:
        archive.close()


def test_a_hold_on_an_unknown_custodian_is_refused(cli: CliRunner, officer: Path) -> None:
    result = cli("hold", "place", "OIG-1", "--reason", "subpoena", "--custodian", "nobody.here")
    assert result.code == 2 and "nobody.here" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert cli("hold", "list", "--json").json() == []
    placed = cli("hold", "place", "OIG-2", "--reason", "subpoena", "--custodian", "Jorge Rivera")
    assert placed.code == 0 and "2 segment(s)" in placed.out


# -- 2. an object shared by records under different holds ----------------------------------


def test_releasing_one_hold_keeps_an_attachment_another_hold_protects(cli: CliRunner, officer: Path) -> None:
    photo = b"\xff\xd8 seized cargo photo"
    export = _chat(officer / "WhatsApp Chat - Port.zip", [
        "5/2/18, 9:00 AM - Sgt. Lee: IMG-0001.jpg (file attached)",
        "Approved, release truck 44 after inspection of the seized cargo",
        "5/2/19, 9:00 AM - Sgt. Lee: IMG-0001.jpg (file attached)",
        "Approved, release truck 45 after inspection of the seized cargo"], {"IMG-0001.jpg": photo})
    assert cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        (attachment,) = list(archive.store.list("att/"))
        place_hold(archive, _hold("H2018", "j.rivera", date(2018, 1, 1), date(2018, 12, 31)))
        place_hold(archive, _hold("H2019", "j.rivera", date(2019, 1, 1), date(2019, 12, 31)))
        release_hold(archive, "H2018", "records-officer", "closed", LATER)
        assert archive.store.retention(attachment).legal_hold  # the 2019 record still needs it
        dispose_due(archive, LATER, "records-officer")
        assert archive.store.exists(attachment)
    finally:
        archive.close()


def _photo_chat(folder: Path) -> Path:
    photo = b"\xff\xd8 seized cargo photo"
    return _chat(folder / "WhatsApp Chat - Port.zip", [
        "5/2/18, 9:00 AM - Sgt. Lee: IMG-0001.jpg (file attached)",
        "Approved, release truck 44 after inspection of the seized cargo",
        "5/2/18, 9:05 AM - Sgt. Lee: Hold trailer 12 at lane 9 until the manifest is checked",
        "5/2/18, 9:10 AM - Sgt. Lee: Send the seizure report to the port director today"], {"IMG-0001.jpg": photo})


def test_a_hold_finds_attachments_in_the_sealed_manifest_not_record_by_record(
        cli: CliRunner, officer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("ingest", _photo_chat(officer), "--custodian", "j.rivera", "--tz", "UTC",
               "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        (attachment,) = list(archive.store.list("att/"))
        ranged: list[str] = []
        get_range = archive.store.get_range
        monkeypatch.setattr(archive.store, "get_range", lambda key, *a: ranged.append(key) or get_range(key, *a))
        place_hold(archive, _hold("H2018", "j.rivera", date(2018, 1, 1), date(2018, 12, 31)))
        assert archive.store.retention(attachment).legal_hold
        assert ranged == []  # one manifest read per segment, no record read alone
    finally:
        archive.close()


def test_a_hold_reads_only_segments_with_a_record_near_its_span(cli: CliRunner, officer: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Records of 2019, 2020 and 30-31 March 2020 (UTC days at the span's edges: each is read).
    export = _chat(officer / "WhatsApp Chat with Ortiz.txt", [
        "3/30/20, 11:59 PM - Sgt. Ortiz: Approved, release truck 47 to secondary inspection",
        "3/31/20, 12:01 AM - Sgt. Ortiz: Approved, release truck 49 to secondary inspection"])
    assert cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        by_day = {r.sent_at.date(): r.segment for s in archive.catalog.segments()
                  for r in archive.catalog.segment_rows(s.name)}
        read: list[str] = []
        places = archive.catalog.segment_places
        monkeypatch.setattr(archive.catalog, "segment_places", lambda name: read.append(name) or places(name))
        place_hold(archive, _hold("H2020", "j.rivera", date(2020, 3, 1), date(2020, 3, 30)))
        assert by_day[date(2019, 3, 1)] not in read  # a year away: never read
        held = {day: archive.store.retention(segment).legal_hold for day, segment in by_day.items()}
        assert held == {date(2019, 3, 1): False, date(2020, 3, 1): True, date(2020, 3, 30): True,
                        date(2020, 3, 31): by_day[date(2020, 3, 31)] == by_day[date(2020, 3, 30)]}
    finally:
        archive.close()


def test_a_segment_without_its_manifest_has_its_attachments_held_from_its_records(
        cli: CliRunner, officer: Path) -> None:
    """A run killed between a segment and its manifest leaves the segment without one until recovery."""
    assert cli("ingest", _photo_chat(officer), "--custodian", "j.rivera", "--tz", "UTC",
               "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        (attachment,) = list(archive.store.list("att/"))
        for manifest in archive.store.list("manifest/"):
            for path in (officer / "archive").rglob("*"):
                if path.is_file() and path.as_posix().endswith(manifest):
                    path.chmod(0o600)
                    path.unlink()
        assert list(archive.store.list("manifest/")) == []
        place_hold(archive, _hold("H2018", "j.rivera", date(2018, 1, 1), date(2018, 12, 31)))
        assert archive.store.retention(attachment).legal_hold
    finally:
        archive.close()


# -- 3. records archived while a hold is active ---------------------------------------------


def test_a_hold_dates_by_the_utc_day_wherever_the_record_was_sent(cli: CliRunner, officer: Path) -> None:
    archive = _open(officer)
    try:
        place_hold(archive, _hold("OIG-2026-016", "j.rivera", date(2021, 6, 2), date(2021, 6, 2)))
    finally:
        archive.close()
    # 20:00 in Phoenix on 1 June is 03:00 UTC on 2 June: inside the hold, in the catalog and the store alike.
    export = _chat(officer / "WhatsApp Chat with Ortiz.txt", [
        "6/1/21, 8:00 PM - Sgt. Ortiz: Approved, release truck 48 to secondary inspection"])
    assert cli("ingest", export, "--custodian", "j.rivera", "--tz", "America/Phoenix", "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        [segment] = [s.name for s in archive.catalog.segments()
                     if any(r.sent_at.year == 2021 for r in archive.catalog.segment_rows(s.name))]
        assert archive.store.retention(segment).legal_hold
        assert dispose_due(archive, LATER, "records-officer").held == {segment: ["OIG-2026-016"]}
    finally:
        archive.close()


def test_records_archived_under_an_active_hold_are_held_in_the_store(cli: CliRunner, officer: Path) -> None:
    archive = _open(officer)
    try:
        before = {s.name for s in archive.catalog.segments()}
        place_hold(archive, _hold("OIG-2026-015", "j.rivera", date(2021, 1, 1)))
    finally:
        archive.close()
    photo = b"\xff\xd8 lane four photo"
    export = _chat(officer / "WhatsApp Chat - Lane.zip", [
        "6/1/21, 9:00 AM - Sgt. Lee: IMG-0002.jpg (file attached)",
        "Approved, release truck 46 after inspection of the seized cargo",
        "6/1/18, 9:00 AM - Sgt. Lee: Approved, release truck 47 to secondary inspection"], {"IMG-0002.jpg": photo})
    assert cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy").code == 0
    archive = _open(officer)
    try:
        new = {s.name: s for s in archive.catalog.segments() if s.name not in before}
        held = {name for name in new if archive.store.retention(name).legal_hold}
        covered = {name for name in new if any(r.sent_at.year == 2021 for r in archive.catalog.segment_rows(name))}
        assert covered and held == covered  # the 2018 record is outside the hold's dates
        (attachment,) = list(archive.store.list("att/"))
        assert archive.store.retention(attachment).legal_hold
    finally:
        archive.close()


def test_an_ingest_waits_for_a_hold_being_placed(officer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Placement holds the writer lock: an ingest cannot slip a segment in between."""
    monkeypatch.setattr(sqlite_lock, "LOCK_WAIT_SECONDS", 0.3)
    archive, other = _open(officer), _open(officer)
    try:
        def ingest_meanwhile(key: str, on: bool) -> None:
            with pytest.raises(CatalogError, match="another archiver process holds the archive"):
                with other.catalog.exclusive():
                    pass
            original(key, on)

        original = archive.store.set_legal_hold
        monkeypatch.setattr(archive.store, "set_legal_hold", ingest_meanwhile)
        place_hold(archive, _hold("OIG-2026-015", "j.rivera"))
    finally:
        archive.close()
        other.close()


# -- 4. a run killed half-way is finished by the next one ------------------------------------


def _kill_on(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, call: int) -> None:
    """Make the ``call``-th call of ``target.name`` complete and then "kill" the process."""
    original = getattr(target, name)
    calls = [0]

    def killing(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls[0] += 1
        if calls[0] == call:
            raise _Killed
        return result

    monkeypatch.setattr(target, name, killing)


def test_a_dispose_killed_after_the_store_delete_is_finished_and_audited(officer: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _open(officer)
    try:
        segments = {s.name for s in archive.catalog.segments()}
        with monkeypatch.context() as patch:
            _kill_on(patch, archive.store, "delete", 1)
            with pytest.raises(_Killed):
                dispose_due(archive, LATER, "records-officer")
        result = dispose_due(archive, LATER, "records-officer")  # no "object ... not found"
        assert result.refused == {}
        assert all(s.disposed_at is not None for s in archive.catalog.segments())
        audited = [e.event.detail["segment"] for e in archive.catalog.audit_entries() if e.event.action == "dispose"]
        assert sorted(audited) == sorted(segments)  # every destruction audited, once
        assert archive.catalog.intents() == {}
    finally:
        archive.close()


def test_a_hold_place_killed_half_way_is_rolled_forward(officer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _open(officer)
    try:
        with monkeypatch.context() as patch:
            _kill_on(patch, archive.store, "set_legal_hold", 1)
            with pytest.raises(_Killed):
                place_hold(archive, _hold("OIG-2026-015", "j.rivera"))
        assert archive.catalog.holds() == []  # killed before the catalog knew
        result = dispose_due(archive, LATER, "records-officer")
        assert result.disposed == [] and len(result.held) == 2  # the next writer finished the placement
        (hold,) = archive.catalog.holds()
        assert hold.name == "OIG-2026-015" and hold.active
        assert all(archive.store.retention(s.name).legal_hold for s in archive.catalog.segments())
        assert [e.event.action for e in archive.catalog.audit_entries()].count("hold-place") == 1
    finally:
        archive.close()


def test_a_hold_release_killed_half_way_is_rolled_forward(officer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _open(officer)
    try:
        place_hold(archive, _hold("OIG-2026-015", "j.rivera"))
        with monkeypatch.context() as patch:
            _kill_on(patch, archive.store, "set_legal_hold", 1)
            with pytest.raises(_Killed):
                release_hold(archive, "OIG-2026-015", "records-officer", "closed", LATER)
        result = dispose_due(archive, LATER, "records-officer")
        assert len(result.disposed) == 2 and result.refused == {}
        assert not archive.catalog.holds()[0].active
        assert [e.event.action for e in archive.catalog.audit_entries()].count("hold-release") == 1
    finally:
        archive.close()


def test_dispose_goes_past_an_object_the_store_refuses(cli: CliRunner, officer: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _open(officer)
    try:
        first, second = sorted(s.name for s in archive.catalog.segments())
        archive.store.set_legal_hold(first, True)  # a store hold the catalog does not know of
    finally:
        archive.close()
    monkeypatch.setattr(cli_common, "now", lambda: LATER)
    monkeypatch.setenv("ARCHIVER_ACTOR", "records-officer")
    plan = officer / "plan.json"
    assert cli("dispose", "plan", "--out", plan).code == 0
    assert cli("dispose", "approve", plan, "--reason", "reviewed").code == 0
    result = cli("dispose", "execute", plan, "--json")
    assert result.code == 1  # a finding: the store kept what the catalog called due
    outcome = result.json()
    assert {r["segment"] for r in outcome["records"]} == {second}
    assert list(outcome["refused"]) == [first] and "legal hold" in outcome["refused"][first]
    assert "ELIGIBLE " + first in cli("dispose", "plan").out  # still due: the next plan lists it again
    archive = _open(officer)
    try:
        assert archive.store.exists(first) and not archive.store.exists(second)
        assert archive.catalog.intents() == {}
    finally:
        archive.close()


# -- 6. commands that change the archive take the writer lock ---------------------------------


@pytest.fixture
def locked(officer: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Archive]:
    """The archive, with its writer lock held by another process."""
    monkeypatch.setattr(sqlite_lock, "LOCK_WAIT_SECONDS", 0.3)
    holder = _open(officer)
    with holder.catalog.exclusive():
        archive = _open(officer)
        yield archive
        archive.close()
    holder.close()


@pytest.mark.parametrize("command", ["dispose", "place", "release", "sweep"])
def test_commands_that_change_the_archive_take_the_writer_lock(locked: Archive, command: str) -> None:
    runs = {"dispose": lambda: dispose_due(locked, LATER, "records-officer"),
            "place": lambda: place_hold(locked, _hold("OIG-1", "j.rivera")),
            "release": lambda: release_hold(locked, "OIG-1", "records-officer", "closed", LATER),
            "sweep": lambda: sweep(locked, MailFileNotifier(Path(locked.settings.store) / "mail"), NOW, "archiver")}
    with pytest.raises(CatalogError, match="another archiver process holds the archive"):
        runs[command]()


def test_the_lock_is_held_across_a_whole_dispose(officer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_lock, "LOCK_WAIT_SECONDS", 0.3)
    archive, other = _open(officer), _open(officer)
    seen = []
    original = archive.store.delete

    def delete_while_another_tries(key: str, today: date) -> None:
        with pytest.raises(CatalogError):
            dispose_due(other, LATER, "records-officer")
        seen.append(key)
        original(key, today)

    try:
        monkeypatch.setattr(archive.store, "delete", delete_while_another_tries)
        assert len(dispose_due(archive, LATER, "records-officer").disposed) == 2
        assert seen
    finally:
        archive.close()
        other.close()

