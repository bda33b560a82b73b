"""report disclosures: the 5 U.S.C. 552a(c) accounting of personal information sent to foreign
officials and outside parties, holding metadata and kinds, never the information itself."""

from __future__ import annotations

import csv
import io
from contextlib import closing
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import AccessDenied
from archiver.services.disclosures import disclosures
from archiver.storage.archive import Archive
from tests.conftest import CliRunner

PEOPLE = [("Maria Lopez Garcia", "04/12/1988", "G12345678"), ("Pedro Sanchez Vega", "11/30/1975", "G87654321"),
          ("Luisa Fernandez Mora", "02/07/1990", "G11223344")]
SECRETS = [part for person in PEOPLE for part in (*person[0].split(), person[1], person[2])] + ["1960", "Tia Carmen"]
RUIZ = """3/2/26, 7:05 AM - Cmdte. Ruiz: Buenos dias Jorge, tenemos tres viajeros en la garita
3/2/26, 7:10 AM - Jorge Rivera: Please verify these travelers before the crossing:
{people}
3/2/26, 7:12 AM - Cmdte. Ruiz: Recibido. Other one: Jose Perez, DOB 01/01/1970, passport G99999999
3/2/26, 7:20 AM - Jorge Rivera: Thanks, see you at the meeting on Friday
"""
FAMILY = """3/3/26, 6:00 PM - Jorge Rivera: Happy birthday Tia Carmen! Born on 05/06/1960, what a year
3/3/26, 6:05 PM - Mom: She loved the cake, her birthday party is on Sunday
"""
DIRECTORY = """handle,name,role,official,organization
Cmdte. Ruiz,Comandante Ruiz,foreign-official,false,SEMAR
Mom,Rosa Rivera,family,false,
"""


@pytest.fixture
def archive(cli: CliRunner, archive_dir: Path) -> Path:
    (archive_dir / "directory.csv").write_text(DIRECTORY, encoding="utf-8")
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("participants: directory.csv\n")
    assert cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera").code == 0
    people = "\n".join(f"{name}, DOB {dob}, passport {number}" for name, dob, number in PEOPLE)
    chats = {"WhatsApp Chat with Cmdte. Ruiz.txt": RUIZ.format(people=people), "WhatsApp Chat with Mom.txt": FAMILY}
    for name, text in chats.items():
        (archive_dir / name).write_text(text, encoding="utf-8")
        result = cli("ingest", archive_dir / name, "--custodian", "j.rivera", "--tz", "America/Phoenix")
        assert result.code == 0, result.err
    return archive_dir


def test_the_list_sent_to_the_foreign_official_is_accounted_for(cli: CliRunner, archive: Path) -> None:
    result = cli("report", "disclosures", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["count"] == 1  # type: ignore[index]
    (entry,) = data["disclosures"]  # type: ignore[index]
    assert entry["custodian"] == "j.rivera" and entry["sender"] == "Jorge Rivera"
    assert entry["sent_at"] == "2026-03-02T14:10:00Z" and entry["source"] == "whatsapp"
    assert entry["recipients"] == [{"handle": "Cmdte. Ruiz", "role": "foreign-official", "organization": "SEMAR"}]
    assert entry["kinds"] == ["date of birth", "passport number", "list of names with identifiers"]
    assert entry["people"] == 3 and entry["purpose"] == "identity check" and entry["official_account"] is False


def test_the_outputs_hold_none_of_the_personal_information(cli: CliRunner, archive: Path) -> None:
    outputs = [cli("report", "disclosures", *option).out for option in ((), ("--json",), ("--csv",))]
    assert cli("report", "disclosures", "--html", archive / "disclosures.html").code == 0
    outputs.append((archive / "disclosures.html").read_text(encoding="utf-8"))
    for out in outputs:
        assert "Cmdte. Ruiz" in out and "SEMAR" in out
        leaked = [secret for secret in SECRETS if secret in out]
        assert not leaked, leaked
    rows = list(csv.DictReader(io.StringIO(outputs[2])))
    assert [(r["recipients"], r["organizations"], r["people"]) for r in rows] == [("Cmdte. Ruiz", "SEMAR", "3")]
    assert "Disclosures: 1" in outputs[0] and 'id="count">Disclosures: 1' in outputs[3]


def test_filters_by_date_and_custodian(cli: CliRunner, archive: Path) -> None:
    def count(*args: str) -> int:
        return cli("report", "disclosures", "--json", *args).json()["count"]  # type: ignore[index,no-any-return]

    assert count("--from", "2026-03-02", "--to", "2026-03-02") == 1
    assert count("--from", "2026-03-03") == 0 and count("--to", "2026-03-01") == 0
    assert count("--custodian", "Jorge Rivera") == 1 and count("--custodian", "someone.else") == 0


def test_records_officers_and_investigators_only(cli: CliRunner, archive: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("role", "grant", "ivy", "investigator").code == 0
    assert cli("role", "grant", "jr", "officer", "--custodian", "j.rivera").code == 0
    monkeypatch.setenv("ARCHIVER_ACTOR", "ivy")
    assert cli("report", "disclosures", "--json").json()["count"] == 1  # type: ignore[index]
    monkeypatch.setenv("ARCHIVER_ACTOR", "jr")
    refused = cli("report", "disclosures")
    assert refused.code == 2 and "records-officer or investigator role is required" in refused.err
    with closing(Archive.open(load_settings(cwd=archive))) as opened, pytest.raises(AccessDenied):
        disclosures(opened, "jr", datetime(2026, 3, 4, tzinfo=timezone.utc), date(2026, 3, 1))


def test_a_message_to_a_group_where_a_foreign_official_takes_part_counts(cli: CliRunner, archive: Path) -> None:
    group = archive / "WhatsApp Chat with Sector Sur.txt"
    group.write_text("3/4/26, 9:00 AM - Cmdte. Ruiz: Buenos dias a todos\n"
                     "3/4/26, 9:01 AM - Sgt. Lee: Morning\n"
                     "3/4/26, 9:05 AM - Jorge Rivera: Lookout for the truck with plates VXR-4471 heading north\n",
                     encoding="utf-8")
    assert cli("ingest", group, "--custodian", "j.rivera", "--tz", "America/Phoenix").code == 0
    found = cli("report", "disclosures", "--json", "--from", "2026-03-04").json()["disclosures"]  # type: ignore[index]
    assert [(d["kinds"], d["purpose"], [r["handle"] for r in d["recipients"]]) for d in found] == [
        (["license plate"], "vehicle lookout", ["Cmdte. Ruiz"])]
    assert "VXR" not in cli("report", "disclosures").out
