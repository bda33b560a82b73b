"""Investigators find and read under a case; officers only their own; records officers no text; all audited."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import AccessDenied
from archiver.services.search import Query, search
from archiver.storage.archive import Archive
from tests.conftest import CliRunner

INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
OTHER = [
    {"source": "whatsapp", "conversation": "Sector Sur", "sender": "Ana Diaz", "recipients": ["+52 631 555 0101"],
     "sent_at": "2026-12-10T16:00:00Z", "direction": "sent", "account": "personal",
     "body": "Passenger Maria José Quintero-Lopez DOB 3 dic 1985 passport X7734521, phone (520) 555-0177"},
    {"source": "whatsapp", "conversation": "Sector Sur", "sender": "+52 631 555 0101", "recipients": ["Ana Diaz"],
     "sent_at": "2026-12-10T16:05:00Z", "direction": "received", "account": "personal",
     "body": "Recibido, revisamos el vehículo en la garita esta tarde"},
    {"source": "whatsapp", "conversation": "Sector Sur", "sender": "Ana Diaz", "recipients": ["+52 631 555 0101"],
     "sent_at": "2026-12-10T16:09:00Z", "direction": "sent", "account": "personal",
     "body": "Second traveler born 1979-07-21 crossing tomorrow, lane 2 inspection"},
]


def as_actor(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("ARCHIVER_ACTOR", name)


@pytest.fixture
def archive(cli: CliRunner, archive_dir: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two custodians' records; an investigator, an officer and a records officer besides the admin."""
    other = archive_dir / "ana.jsonl"
    other.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in OTHER), encoding="utf-8")
    assert cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--personal",
               "whatsapp:+1 520 555 0100").code == 0
    assert cli("custodian", "add", "a.diaz", "--name", "Ana Diaz", "--personal", "whatsapp:+1 520 555 0177",
               "--official", "ana.diaz@cbp.dhs.gov").code == 0
    assert cli("ingest", *samples, *INGEST).code == 0
    assert cli("ingest", other, "--custodian", "a.diaz").code == 0
    for actor, role, *scope in [("ivy", "investigator"), ("ana", "officer", "--custodian", "a.diaz"),
                                ("rob", "records-officer")]:
        granted = cli("role", "grant", actor, role, *scope)
        assert granted.code == 0, granted.err
    as_actor(monkeypatch, "ivy")
    assert cli("case", "open", "OIG-2026-015", "--reason", "disclosures to foreign officials").code == 0
    return archive_dir


def found_ids(cli: CliRunner, *args: str) -> set[str]:
    result = cli("search", *args, "--json")
    assert result.code == 0, result.err
    return {hit["id"] for hit in result.json()["hits"]}  # type: ignore[index]


def test_an_investigator_without_an_open_case_gets_nothing(cli: CliRunner, archive: Path) -> None:
    refused = cli("search", "--all", "pasaporte")
    assert refused.code == 2 and "--case" in refused.err and refused.out == ""
    closed = cli("search", "--all", "pasaporte", "--case", "NO-SUCH-CASE")
    assert closed.code == 2 and "NO-SUCH-CASE" in closed.err
    assert cli("show", "0" * 32).code == 2


def test_keywords_numbers_dates_and_phrases_are_found(cli: CliRunner, archive: Path) -> None:
    case = ("--case", "OIG-2026-015")
    passport = found_ids(cli, "--all", "pasaporte", *case)
    assert len(passport) == 1
    assert found_ids(cli, "--all", "G48213377", *case) == passport
    assert found_ids(cli, "--all", "g48213377", *case) == passport
    assert found_ids(cli, "--phrase", "fecha de nacimiento", *case) == passport
    assert found_ids(cli, "--phrase", "nacimiento fecha", *case) == set()
    either = found_ids(cli, "--any", "G48213377 X7734521", *case)
    assert len(either) == 2 and passport < either
    result = cli("search", "--all", "pasaporte", *case, "--json").json()
    [hit] = result["hits"]  # type: ignore[index]
    assert "G48213377" in hit["snippet"] and hit["sender"] == "Comandante Ruiz" and hit["custodian"] == "j.rivera"


def test_a_participant_by_name_number_in_three_formats_or_handle(cli: CliRunner, archive: Path) -> None:
    case = ("--case", "OIG-2026-015")
    by_number = found_ids(cli, "--participant", "+52 631 555 0101", *case)
    assert len(by_number) == 3
    assert found_ids(cli, "--participant", "526315550101", *case) == by_number
    assert found_ids(cli, "--participant", "(631) 555-0101", *case) == by_number
    jorge = found_ids(cli, "--participant", "Jorge Rivera", *case)
    assert jorge and jorge == found_ids(cli, "--participant", "j.rivera", *case)
    copied = found_ids(cli, "--participant", "jorge.rivera@cbp.dhs.gov", *case)
    assert copied and copied <= found_ids(cli, "--source", "email", *case)


def test_a_person_is_found_by_any_of_their_handles(cli: CliRunner, archive: Path) -> None:
    case = ("--case", "OIG-2026-015")
    ana = found_ids(cli, "--participant", "Ana Diaz", *case)
    assert len(ana) == 3
    for handle in ("a.diaz", "ANA DIAZ", "+1 520 555 0177", "5205550177", "(520) 555-0177", "ana.diaz@cbp.dhs.gov"):
        assert found_ids(cli, "--participant", handle, *case) == ana, handle
    # The participant directory ties a display name and a number to one person.
    assert len(found_ids(cli, "--participant", "(631) 555-0101", *case)) == 3
    (archive / "directory.csv").write_text("handle,name,role,official\n"
                                           "Comandante Ruiz,Carlos Ruiz,foreign-official,false\n"
                                           "+52 631 555 0101,Carlos Ruiz,foreign-official,false\n")
    with (archive / "archiver.yaml").open("a") as config:
        config.write("participants: directory.csv\n")
    ruiz = found_ids(cli, "--participant", "carlos ruiz", *case, "--limit", "1000")
    assert len(ruiz) > 3
    for handle in ("(631) 555-0101", "Comandante Ruiz", "Ruiz Carlos"):
        assert found_ids(cli, "--participant", handle, *case, "--limit", "1000") == ruiz, handle


def test_catalog_filters_combine(cli: CliRunner, archive: Path) -> None:
    case = ("--case", "OIG-2026-015")
    everything = found_ids(cli, *case, "--limit", "1000")
    ana = found_ids(cli, *case, "--custodian", "Ana Diaz")
    assert len(ana) == 3 and ana < everything
    later = found_ids(cli, *case, "--custodian", "a.diaz", "--from", "2026-12-10T16:04:00Z")
    earlier = found_ids(cli, *case, "--custodian", "a.diaz", "--to", "2026-12-10T16:04:00Z")
    assert len(later) == 2 and len(earlier) == 1 and later | earlier == ana
    assert found_ids(cli, *case, "--custodian", "a.diaz", "--from", "2026-12-10", "--to", "2026-12-10") == ana
    assert found_ids(cli, *case, "--custodian", "a.diaz", "--to", "2026-12-09") == set()
    assert found_ids(cli, *case, "--source", "email") and found_ids(cli, *case, "--source", "email") < everything
    pii = found_ids(cli, *case, "--personal-info")
    assert found_ids(cli, "--all", "pasaporte", *case) <= pii
    assert found_ids(cli, *case, "--has-attachment")


def test_a_watch_list_finds_people_by_name_in_any_order_or_only_by_date_of_birth(cli: CliRunner,
                                                                                  archive: Path) -> None:
    people = archive / "people.csv"
    people.write_text("name,dob,passport,a_number,phone,email\n"
                      "quintero-lopez maría josé,12/03/1985,,,,\n"
                      "Nobody Matches,21-07-79,,,,\n"
                      "Hector Salas Duarte,,,,,\n", encoding="utf-8")
    result = cli("search", "--people", people, "--case", "OIG-2026-015", "--json")
    assert result.code == 0, result.err
    maria, born, hector = result.json()["people"]  # type: ignore[index]
    assert maria["total"] == 1 and maria["by_custodian"] == {"a.diaz": 1}
    assert born["total"] == 1 and born["matched_by"] == {"dob": 1}
    assert hector["total"] >= 1 and hector["by_custodian"].keys() == {"j.rivera"}
    outside = cli("search", "--people", people, "--case", "OIG-2026-015", "--outside-party", "--json")
    assert outside.code == 0
    with sqlite3.connect(archive / "archive" / "catalog.sqlite") as db:
        (detail,) = db.execute("SELECT detail FROM audit WHERE action = 'search-people' ORDER BY seq").fetchone()
    shown = [hit["id"] for person in (maria, born, hector) for hit in person["hits"]]
    assert json.loads(detail)["results"] == list(dict.fromkeys(shown))  # the audit names every hit shown


def test_an_officer_reads_only_their_own_records(cli: CliRunner, archive: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    as_actor(monkeypatch, "ivy")
    jorge = sorted(found_ids(cli, "--case", "OIG-2026-015", "--custodian", "j.rivera", "--all", "pasaporte"))
    as_actor(monkeypatch, "ana")
    own = cli("search", "--all", "passport", "--json")
    assert own.code == 0 and {h["custodian"] for h in own.json()["hits"]} == {"a.diaz"}  # type: ignore[index]
    assert found_ids(cli, "--all", "pasaporte") == set()
    refused = cli("show", jorge[0])
    assert refused.code == 2 and "another custodian" in refused.err
    [ana_id] = [h["id"] for h in own.json()["hits"]]  # type: ignore[index]
    assert cli("show", ana_id).code == 0


def test_a_records_officer_sees_facts_never_text(cli: CliRunner, archive: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    as_actor(monkeypatch, "rob")
    facts = cli("search", "--custodian", "a.diaz", "--json")
    assert facts.code == 0
    hits = facts.json()["hits"]  # type: ignore[index]
    assert len(hits) == 3 and all(h["snippet"] is None and h["sender"] is None for h in hits)
    for probe in (("--all", "passport"), ("--phrase", "lane 2"), ("--participant", "Ana Diaz")):
        refused = cli("search", *probe)
        assert refused.code == 2 and "records-officer" in refused.err
    assert cli("show", hits[0]["id"]).code == 2


def test_show_prints_the_record_its_metadata_and_its_neighbours(cli: CliRunner, archive: Path) -> None:
    [first, second, third] = sorted(found_ids(cli, "--case", "OIG-2026-015", "--custodian", "a.diaz"),
                                    key=lambda i: cli("show", i, "--case", "OIG-2026-015", "--json",
                                                      "--context", "0").json()["message"]["sent_at"])
    shown = cli("show", second, "--case", "OIG-2026-015", "--context", "1", "--json")
    assert shown.code == 0, shown.err
    data = shown.json()
    assert data["message"]["body"].startswith("Recibido") and data["schedule"]  # type: ignore[index]
    assert [m["body"][:9] for m in data["context_before"]] == ["Passenger"]  # type: ignore[index]
    assert [m["body"][:6] for m in data["context_after"]] == ["Second"]  # type: ignore[index]
    text = cli("show", second, "--case", "OIG-2026-015")
    assert "Recibido" in text.out and "Passenger" in text.out and "2911" in text.out


def test_every_search_read_and_refusal_is_audited_with_the_query_sealed(cli: CliRunner, archive: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("search", "--all", "Quintero", "--case", "OIG-2026-015").code == 0
    assert cli("search", "--all", "Quintero").code == 2
    as_actor(monkeypatch, "rob")
    assert cli("search", "--phrase", "Quintero Lopez").code == 2
    with sqlite3.connect(archive / "archive" / "catalog.sqlite") as db:
        entries = db.execute("SELECT actor, action, case_id, detail FROM audit ORDER BY seq").fetchall()
    searches = [e for e in entries if e[1] in ("search", "refused")]
    assert [(a, act) for a, act, _, _ in searches[-3:]] == [("ivy", "search"), ("ivy", "refused"),
                                                           ("rob", "refused")]
    assert all("quintero" not in detail.lower() for *_, detail in entries)
    assert json.loads(searches[-3][3])["results"]
    as_actor(monkeypatch, "ivy")
    audit = cli("audit", "--case", "OIG-2026-015", "--json")
    assert audit.code == 0 and "Quintero" in audit.out


@pytest.mark.parametrize(("args", "named"), [
    (("--custodian", "nobody.here"), "nobody.here"),
    (("--from", "2026-13-45"), "2026-13-45"),
    (("--hold", "NO-HOLD"), "NO-HOLD"),
    (("--limit", "0"), "--limit"),
])
def test_bad_search_input_is_one_line_and_exit_2(cli: CliRunner, archive: Path, args: tuple[str, ...],
                                                 named: str) -> None:
    try:
        result = cli("search", "--case", "OIG-2026-015", *args)
    except SystemExit as stop:  # argparse refuses a bad --from before the command runs
        assert stop.code == 2
        return
    assert result.code == 2 and named in result.err and result.err.count("\n") == 1 and "Traceback" not in result.err


@pytest.mark.parametrize(("csv_text", "named"), [
    ("who,dob\nx,1\n", "name"),
    ("name,dob\nMaria,not a date\n", "people.csv:2"),
    ("name,dob\n,1985-01-01\n", "people.csv:2"),
    ("name\nA,B,C\n", "people.csv:2"),
])
def test_a_malformed_watch_list_is_refused_naming_its_line(cli: CliRunner, archive: Path, csv_text: str,
                                                           named: str) -> None:
    people = archive / "people.csv"
    people.write_text(csv_text, encoding="utf-8")
    result = cli("search", "--people", people, "--case", "OIG-2026-015")
    assert result.code == 2 and named in result.err and "Traceback" not in result.err


def test_the_service_itself_enforces_the_roles(archive: Path) -> None:
    """What the CLI and the Lambda handlers call: the same refusals without either."""
    at = datetime(2026, 12, 20, tzinfo=timezone.utc)
    with closing(Archive.open(load_settings(cwd=archive))) as opened:
        with pytest.raises(AccessDenied, match="role is required"):
            search(opened, "mallory", Query(all_words="pasaporte"), None, at)
        with pytest.raises(AccessDenied, match="--case"):
            search(opened, "ivy", Query(all_words="pasaporte"), None, at)
        own = search(opened, "ana", Query(all_words="passport pasaporte", limit=10), None, at)
        assert own.total == 0
        assert {hit.row.custodian for hit in search(opened, "ana", Query(), None, at).hits} == {"a.diaz"}
        entries = [entry.event for entry in opened.catalog.audit_entries()][-4:]
    assert [(e.actor, e.action) for e in entries] == [("mallory", "refused"), ("ivy", "refused"),
                                                      ("ana", "search"), ("ana", "search")]
    assert all("pasaporte" not in json.dumps(e.detail) for e in entries)


def test_hits_are_made_as_they_are_taken_and_only_after_the_search_is_audited(archive: Path) -> None:
    at = datetime(2026, 12, 20, tzinfo=timezone.utc)
    with closing(Archive.open(load_settings(cwd=archive))) as opened:
        reads: list[str] = []
        rows_by_id = opened.catalog.rows_by_id
        opened.catalog.rows_by_id = lambda ids: reads.extend(ids) or rows_by_id(ids)  # type: ignore[method-assign]
        result = search(opened, "ivy", Query(limit=1000), "OIG-2026-015", at)
        audited = [entry.event for entry in opened.catalog.audit_entries()][-1]
        assert (audited.action, audited.detail["total"]) == ("search", result.total) and reads == []
        assert len(audited.detail["results"]) == result.returned == result.total > 10
        hits = iter(result.hits)
        first = next(hits)
        assert reads == audited.detail["results"][:len(reads)] and first.row.id == reads[0]
        assert [first.row.id, *(hit.row.id for hit in hits)] == audited.detail["results"]


def test_the_json_of_a_search_is_written_hit_by_hit_and_reads_as_one_object(cli: CliRunner, archive: Path) -> None:
    result = cli("search", "--case", "OIG-2026-015", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == {"case", "total", "returned", "hits"}  # type: ignore[arg-type]
    assert data["returned"] == len(data["hits"]) == min(data["total"], 100)  # type: ignore[index]
    assert result.out.count("\n{") == data["returned"]  # type: ignore[index]  # one hit a line
    empty = cli("search", "--case", "OIG-2026-015", "--all", "quetzalcoatlus", "--json").json()
    assert empty == {"case": "OIG-2026-015", "total": 0, "returned": 0, "hits": []}
