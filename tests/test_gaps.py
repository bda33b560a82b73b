"""report gaps: messages one custodian's export holds as sent by another registered custodian
that the other's own export of the same conversation lacks (possibly deleted before export)."""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import AccessDenied
from archiver.services.gaps import gaps_report
from archiver.storage.archive import Archive
from tests.conftest import CliRunner

GROUP = "WhatsApp Chat with Port Ops Nogales.txt"
B_ON_A_PHONE = "+1 520 555 0199"  # officer B is not in officer A's contacts: the number shows
B_MESSAGES = [f"Lane {n} inspection done, truck {100 + n} released to the yard" for n in range(1, 11)]
DELETED = {3, 6, 8}  # of B's messages, those B's own export no longer holds


def _line(minute: int, sender: str, body: str) -> str:
    return f"3/2/26, {8 + minute // 60}:{minute % 60:02d} AM - {sender}: {body}\n"


def _exports(folder: Path) -> tuple[Path, Path]:
    """The same group as officer A's phone and as officer B's phone exported it."""
    a_lines, b_lines = [], []
    for n, body in enumerate(B_MESSAGES, start=1):
        minute = n * 5
        a_lines.append(_line(minute, B_ON_A_PHONE, body))
        if n not in DELETED:
            b_lines.append(_line(minute, "Bob Kent", body))
        others = (_line(minute + 1, "Ana Diaz", f"Copy, logging truck {100 + n} in the lane report"),
                  _line(minute + 2, "Sgt. Lee", f"Yard has room for truck {100 + n}"))
        a_lines += others
        b_lines += others
    for owner, lines in (("a", a_lines), ("b", b_lines)):
        (folder / owner).mkdir(exist_ok=True)
        (folder / owner / GROUP).write_text("".join(lines), encoding="utf-8")
    return folder / "a" / GROUP, folder / "b" / GROUP


@pytest.fixture
def custodians(cli: CliRunner, archive_dir: Path) -> Path:
    assert cli("custodian", "add", "a.diaz", "--name", "Ana Diaz").code == 0
    assert cli("custodian", "add", "b.kent", "--name", "Bob Kent", "--personal", f"whatsapp:{B_ON_A_PHONE}").code == 0
    return archive_dir


def _ingest(cli: CliRunner, export: Path, custodian: str) -> None:
    result = cli("ingest", export, "--custodian", custodian, "--tz", "America/Phoenix", "--json")
    assert result.code == 0, result.err


@pytest.mark.parametrize("a_first", [True, False])
def test_the_three_messages_missing_from_the_senders_export_are_listed(cli: CliRunner, custodians: Path,
                                                                        a_first: bool) -> None:
    a_export, b_export = _exports(custodians)
    order = [(a_export, "a.diaz"), (b_export, "b.kent")]
    for export, custodian in order if a_first else order[::-1]:
        _ingest(cli, export, custodian)
    result = cli("report", "gaps", "--json")
    assert result.code == 0, result.err
    data = result.json()
    gaps = data["gaps"]  # type: ignore[index]
    assert data["possibly_deleted"] == 3 and data["conversations_matched"] == 1  # type: ignore[index]
    assert {(g["holder"], g["sender"], g["source"]) for g in gaps} == {("a.diaz", "b.kent", "whatsapp")}
    expected = {datetime(2026, 3, 2, 15, n * 5, tzinfo=timezone.utc) for n in DELETED}  # 8:xx in Phoenix
    assert {datetime.fromisoformat(g["sent_at"].replace("Z", "+00:00")) for g in gaps} == expected
    with closing(Archive.open(load_settings(cwd=custodians), read_only=True)) as archive:
        rows = archive.catalog.rows_by_id([g["id"] for g in gaps])
    assert {row.custodian for row in rows.values()} == {"a.diaz"} and len(rows) == 3
    assert all(g["conversation_ref"] == rows[g["id"]].conversation_ref for g in gaps)


def test_the_report_reads_at_the_terminal_and_as_csv_without_text(cli: CliRunner, custodians: Path) -> None:
    a_export, b_export = _exports(custodians)
    _ingest(cli, a_export, "a.diaz")
    _ingest(cli, b_export, "b.kent")
    text = cli("report", "gaps").out
    assert "Possibly deleted before export: 3 message(s)" in text and "missing from b.kent's export" in text
    rows = list(csv.DictReader(io.StringIO(cli("report", "gaps", "--csv").out)))
    assert len(rows) == 3 and {r["holder"] for r in rows} == {"a.diaz"}
    assert len(cli("report", "gaps", "--custodian", "Bob Kent", "--json").json()["gaps"]) == 3  # type: ignore[index]
    for option in ((), ("--json",), ("--csv",)):
        out = cli("report", "gaps", *option).out
        # The number in any spelling; a bare "555" could be the start of a random record id.
        assert "truck" not in out and "Port Ops" not in out and "Sgt. Lee" not in out
        assert "555 0199" not in out and "5550199" not in out


def test_no_gap_without_the_senders_export_or_after_it_ends(cli: CliRunner, custodians: Path) -> None:
    a_export, b_export = _exports(custodians)
    _ingest(cli, a_export, "a.diaz")
    # B's export is not in the archive yet: nothing can be said missing from it.
    assert cli("report", "gaps", "--json").json()["possibly_deleted"] == 0  # type: ignore[index]
    # B's export was made at 08:20: B's later messages on A's phone are not missing from it.
    lines = b_export.read_text(encoding="utf-8").splitlines(keepends=True)
    b_export.write_text("".join(line for line in lines if line.startswith(("3/2/26, 8:0", "3/2/26, 8:1"))),
                        encoding="utf-8")
    _ingest(cli, b_export, "b.kent")
    gaps = cli("report", "gaps", "--json").json()["gaps"]  # type: ignore[index]
    assert [g["sent_at"] for g in gaps] == ["2026-03-02T15:15:00Z"]  # message 3, within the export's span


def test_one_of_two_identical_messages_in_a_minute_can_be_missing(cli: CliRunner, custodians: Path) -> None:
    a_export, b_export = _exports(custodians)
    a_export.write_text(a_export.read_text(encoding="utf-8") + _line(59, B_ON_A_PHONE, "ok")
                        + _line(59, B_ON_A_PHONE, "ok") + _line(61, "Sgt. Lee", "closing the yard"), encoding="utf-8")
    b_export.write_text(b_export.read_text(encoding="utf-8") + _line(59, "Bob Kent", "ok")
                        + _line(61, "Sgt. Lee", "closing the yard"), encoding="utf-8")
    _ingest(cli, a_export, "a.diaz")
    _ingest(cli, b_export, "b.kent")
    gaps = cli("report", "gaps", "--json").json()["gaps"]  # type: ignore[index]
    assert len(gaps) == 4 and sum(g["sent_at"] == "2026-03-02T15:59:00Z" for g in gaps) == 1


def test_deleted_notices_are_listed_too(cli: CliRunner, custodians: Path) -> None:
    a_export, b_export = _exports(custodians)
    a_export.write_text(a_export.read_text(encoding="utf-8") + _line(70, "Sgt. Lee", "This message was deleted"),
                        encoding="utf-8")
    _ingest(cli, a_export, "a.diaz")
    data = cli("report", "gaps", "--json").json()
    assert [(n["custodian"], n["sent_at"]) for n in data["deleted_notices"]] == [  # type: ignore[index]
        ("a.diaz", "2026-03-02T16:10:00Z")]


def test_records_officers_and_investigators_only(cli: CliRunner, custodians: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for actor, role in (("ivy", "investigator"), ("ana", "officer")):
        assert cli("role", "grant", actor, role, *(("--custodian", "a.diaz") if role == "officer" else ())).code == 0
    monkeypatch.setenv("ARCHIVER_ACTOR", "ivy")
    assert cli("report", "gaps").code == 0
    monkeypatch.setenv("ARCHIVER_ACTOR", "ana")
    refused = cli("report", "gaps")
    assert refused.code == 2 and "records-officer or investigator role is required" in refused.err
    with closing(Archive.open(load_settings(cwd=custodians))) as archive, pytest.raises(AccessDenied):
        gaps_report(archive, "ana", datetime(2026, 3, 3, tzinfo=timezone.utc))


def test_reindex_gives_messages_archived_before_the_report_their_references(cli: CliRunner, custodians: Path) -> None:
    a_export, b_export = _exports(custodians)
    _ingest(cli, a_export, "a.diaz")
    _ingest(cli, b_export, "b.kent")
    with closing(sqlite3.connect(custodians / "archive" / "catalog.sqlite")) as db, db:
        db.execute("UPDATE messages SET sender_ref = NULL, copy_key = NULL")  # as an archive from before
    assert cli("report", "gaps", "--json").json()["possibly_deleted"] == 0  # type: ignore[index]
    assert cli("reindex").code == 0
    assert cli("report", "gaps", "--json").json()["possibly_deleted"] == 3  # type: ignore[index]
