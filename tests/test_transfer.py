"""Transfer of permanent records to NARA: plan, a bag NARA reads with no key, acceptance, then disposal."""

from __future__ import annotations

import csv
import json
import zipfile
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import bagit
import pytest

from archiver.config import load_settings
from archiver.storage.archive import Archive
from archiver.storage.store import LocalDirStore
from tests.conftest import SAMPLES, CliRunner

NOW = datetime(2026, 12, 1, 15, tzinfo=timezone.utc)
CANARY = "CANARY-transfer-7f3a9c"
REASON_CANARY = "CANARY-acceptance-letter-51e2"
CHAT = SAMPLES / "WhatsApp Chat - Port Ops Nogales.zip"
PDF = "00000009-Lane4-referrals.pdf"
AGENCY = "U.S. Customs and Border Protection"
CAPSTONE = "GRS-6.1-010"


def _jsonl(path: Path, lines: list[dict[str, object]]) -> Path:
    base = {"source": "signal", "conversation": "Lane 4", "recipients": ["Ana Diaz"], "direction": "received",
            "account": "personal", "attachments": []}
    path.write_text("".join(json.dumps({**base, **line}) + "\n" for line in lines), encoding="utf-8")
    return path


def _chat_of_2008(folder: Path) -> Path:
    """The sample WhatsApp chat and its PDF, moved to October 2008 (due for transfer on 2023-12-31)."""
    target = folder / "WhatsApp Chat - Port Ops 2008.zip"
    with zipfile.ZipFile(CHAT) as source, zipfile.ZipFile(target, "w") as copy:
        text = source.read("_chat.txt").decode("utf-8").replace(".26, ", ".08, ")
        copy.writestr("_chat.txt", text.replace("42 kg", f"42 kg {CANARY}"))
        copy.writestr(PDF, source.read(PDF))
    return target


@pytest.fixture
def archive(cli: CliRunner, archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Capstone records: Jorge's of 2008 (due) and 2020 (not yet), Ana's of 2009 (due)."""
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: capstone\n")
    assert cli("ingest", _chat_of_2008(archive_dir), "--custodian", "Jorge Rivera", "--tz", "America/Phoenix").code == 0
    recent = _jsonl(archive_dir / "jorge-2020.jsonl", [{"sender": "Sgt. Lee", "sent_at": "2020-03-01T09:00:00Z",
                                                         "body": "Release truck 44, approved by the chief"}])
    assert cli("ingest", recent, "--custodian", "Jorge Rivera").code == 0
    ana = _jsonl(archive_dir / "ana-2009.jsonl", [{"sender": "Cmdte. Ruiz", "sent_at": "2009-02-10T10:00:00Z",
                                                   "body": "Seized 40 kg at lane 4, report follows"}])
    assert cli("ingest", ana, "--custodian", "Ana Diaz").code == 0
    from archiver.cli import common
    monkeypatch.setattr(common, "now", lambda: NOW)
    monkeypatch.setenv("ARCHIVER_ACTOR", "records-officer")
    return archive_dir


def _plan(cli: CliRunner, folder: Path) -> dict[str, object]:
    result = cli("transfer", "plan", "--out", folder / "transfer-plan.json", "--json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[return-value]


def _export(cli: CliRunner, folder: Path) -> dict[str, object]:
    result = cli("transfer", "export", folder / "transfer-plan.json", "--out", folder / "nara", "--agency", AGENCY,
                 "--json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[return-value]


def _segment(plan: dict[str, object], custodian: str) -> str:
    return next(e["segment"] for e in plan["eligible"] if e["custodian"] == custodian)  # type: ignore[attr-defined]


def _audit_count(folder: Path) -> int:
    import sqlite3
    with sqlite3.connect(folder / "archive" / "catalog.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM audit").fetchone()[0])


def test_plan_lists_due_permanent_records_and_keeps_back_held_and_not_yet_due(cli: CliRunner,
                                                                               archive: Path) -> None:
    assert cli("hold", "place", "OIG-1", "--custodian", "Ana Diaz", "--reason", "inquiry").code == 0
    before = _audit_count(archive)
    plan = _plan(cli, archive)
    assert _audit_count(archive) == before  # planning changes nothing
    [due] = plan["eligible"]  # type: ignore[misc]
    assert (due["custodian"], due["schedule"], due["transfer_date"]) == ("Jorge Rivera", CAPSTONE, "2023-12-31")
    assert due["authority"] == "DAA-GRS-2014-0001-0001" and due["cutoff"] == "calendar_year"
    assert due["count"] == len(due["records"]) == plan["records"] > 1
    reasons = sorted(k["reason"] for k in plan["kept"])  # type: ignore[attr-defined]
    assert reasons == ["not yet due: transfer date 2035-12-31",
                       "under legal hold OIG-1: a frozen record is neither destroyed nor transferred"]
    text = cli("transfer", "plan")
    assert text.code == 0 and "DUE" in text.out and "KEPT" in text.out and "2023-12-31" in text.out


def test_export_writes_a_bag_that_validates_and_whose_records_read_with_no_key(cli: CliRunner, archive: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(cli, archive)
    ranged: list[str] = []
    get_range = LocalDirStore.get_range
    monkeypatch.setattr(LocalDirStore, "get_range",
                        lambda self, key, *a: ranged.append(key) or get_range(self, key, *a))
    done = _export(cli, archive)
    assert ranged == []  # each segment read once, whole, not record by record
    bag_dir = Path(str(done["bag"]))
    assert list((archive / "nara").iterdir()) == [bag_dir]  # nothing half-written beside the bag
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # raises on any missing, extra or changed file
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = bag.info
    assert info["Source-Organization"] == AGENCY and info["Schedule-Item"] == CAPSTONE
    assert info["Disposition-Authority"] == "DAA-GRS-2014-0001-0001" and info["Bagging-Date"]
    assert info["Payload-Oxum"] and "2008-10-05" in info["External-Description"]
    records = [json.loads(p.read_text(encoding="utf-8")) for p in (bag_dir / "data" / "records").glob("*.json")]
    planned = [r["id"] for e in plan["eligible"] for r in e["records"]]  # type: ignore[attr-defined]
    assert sorted(r["id"] for r in records) == sorted(planned) and len(plan["eligible"]) == 2  # type: ignore[arg-type]
    seized = next(r for r in records if CANARY in r["text"])
    assert seized["sender"] == "Jorge Rivera" and seized["app"] == "whatsapp" and seized["sent_at"].startswith("2008")
    assert seized["schedule"] == CAPSTONE and seized["transfer_date"] == "2023-12-31" and seized["content_hash"]
    [attachment] = [a for r in records for a in r["attachments"] if a["file"]]
    with zipfile.ZipFile(CHAT) as source:  # the original PDF, byte for byte, in its own format
        assert (bag_dir / "data" / attachment["file"]).read_bytes() == source.read(PDF)
    assert attachment["name"] == PDF and attachment["file"].endswith(".pdf")
    with (bag_dir / "data" / "transfer-manifest.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    manifest = json.loads((bag_dir / "data" / "transfer-manifest.json").read_text(encoding="utf-8"))
    assert len(rows) == len(records) == manifest["records"] == manifest["items"][0]["records"]
    assert {r["custodian"] for r in rows} == {"Jorge Rivera", "Ana Diaz"}
    assert manifest["agency"] == AGENCY and manifest["authorities"] == ["DAA-GRS-2014-0001-0001"]
    assert manifest["date_span"]["first"].startswith("2008-10-05")
    listed = cli("transfer", "list", "--json").json()
    assert [(t["id"], t["state"], t["records"]) for t in listed] == [(done["id"], "exported", len(records))]  # type: ignore[union-attr]


def test_an_edited_or_stale_plan_is_refused_and_leaves_nothing(cli: CliRunner, archive: Path) -> None:
    _plan(cli, archive)
    plan_file = archive / "transfer-plan.json"
    good = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(good.replace('"as_of": "2026-12-01"', '"as_of": "2099-01-01"'), encoding="utf-8")
    edited = cli("transfer", "export", plan_file, "--out", archive / "nara", "--agency", AGENCY)
    assert edited.code == 2 and "changed after it was made" in edited.err
    plan_file.write_text(good, encoding="utf-8")
    assert cli("hold", "place", "OIG-2", "--custodian", "Jorge Rivera", "--reason", "subpoena").code == 0
    stale = cli("transfer", "export", plan_file, "--out", archive / "nara", "--agency", AGENCY)
    assert stale.code == 2 and "hold OIG-2 was placed since the plan" in stale.err
    assert not (archive / "nara").exists()
    assert cli("hold", "release", "OIG-2", "--reason", "closed").code == 0
    _plan(cli, archive)
    _export(cli, archive)
    again = cli("transfer", "export", plan_file, "--out", archive / "nara-2", "--agency", AGENCY)
    assert again.code == 2 and "was exported in transfer" in again.err and not (archive / "nara-2").exists()


def test_bad_input_is_one_line_and_exit_2(cli: CliRunner, archive: Path) -> None:
    missing = cli("transfer", "export", archive / "nope.json", "--out", archive / "nara", "--agency", AGENCY)
    assert missing.code == 2 and "nope.json: cannot read the transfer plan" in missing.err
    (archive / "bad.json").write_text("{not json", encoding="utf-8")
    bad = cli("transfer", "export", archive / "bad.json", "--out", archive / "nara", "--agency", AGENCY)
    assert bad.code == 2 and "bad.json:1: not a transfer plan" in bad.err
    assert cli("dispose", "plan", "--out", archive / "disposal.json").code == 0
    wrong = cli("transfer", "export", archive / "disposal.json", "--out", archive / "nara", "--agency", AGENCY)
    assert wrong.code == 2 and "not a transfer plan" in wrong.err
    _plan(cli, archive)
    (archive / "full").mkdir()
    (archive / "full" / "x").write_text("x", encoding="utf-8")
    full = cli("transfer", "export", archive / "transfer-plan.json", "--out", archive / "full", "--agency", AGENCY)
    assert full.code == 2 and "needs a new or empty folder" in full.err
    unknown = cli("transfer", "confirm", "20260101-000000-deadbeef", "--accession", "64-26-1", "--reason", "x")
    assert unknown.code == 2 and "no transfer '20260101-000000-deadbeef'" in unknown.err
    for result in (missing, bad, wrong, full, unknown):
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_only_a_records_officer_transfers(cli: CliRunner, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plan(cli, archive)
    monkeypatch.setenv("ARCHIVER_ACTOR", "officer")
    for args in (("plan",), ("list",), ("export", archive / "transfer-plan.json", "--out", archive / "nara",
                                        "--agency", AGENCY),
                 ("confirm", "x", "--accession", "1", "--reason", "x")):
        refused = cli("transfer", *args)
        assert refused.code == 2 and "records-officer role is required" in refused.err
    assert not (archive / "nara").exists()


def test_confirmed_transfer_lets_the_disposal_plan_destroy_the_agency_copies(cli: CliRunner,
                                                                              archive: Path) -> None:
    transfer_plan = _plan(cli, archive)
    jorge = _segment(transfer_plan, "Jorge Rivera")
    before = cli("dispose", "plan", "--json").json()
    assert before["eligible"] == []  # type: ignore[index]
    assert {"segment": jorge, "reason": "permanent: awaiting transfer"} in before["kept"]  # type: ignore[index]
    transfer_id = _export(cli, archive)["id"]
    exported = cli("dispose", "plan", "--json").json()
    assert exported["eligible"] == []  # type: ignore[index]
    assert {"segment": jorge, "reason": f"exported to NARA in transfer {transfer_id}, awaiting acceptance"} \
        in exported["kept"]  # type: ignore[index]
    early = cli("transfer", "confirm", transfer_id, "--accession", "64-26-0042", "--date", "2026-11-30",
                "--reason", REASON_CANARY)
    assert early.code == 2 and "before transfer" in early.err
    accepted = cli("transfer", "confirm", transfer_id, "--accession", "64-26-0042", "--date", "2026-12-01",
                   "--reason", REASON_CANARY)
    assert accepted.code == 0, accepted.err
    twice = cli("transfer", "confirm", transfer_id, "--accession", "64-26-0042", "--reason", "again")
    assert twice.code == 2 and "already accepted" in twice.err
    plan = cli("dispose", "plan", "--out", archive / "disposal.json", "--json").json()
    assert {e["segment"] for e in plan["eligible"]} == {e["segment"] for e in transfer_plan["eligible"]}  # type: ignore[index,attr-defined]
    assert {e["reason"] for e in plan["eligible"]} == {  # type: ignore[index,attr-defined]
        "transferred to NARA, accession 64-26-0042, legal custody accepted 2026-12-01"}
    assert cli("dispose", "approve", archive / "disposal.json", "--reason", "NARA holds them").code == 0
    certificate = cli("dispose", "execute", archive / "disposal.json", "--json")
    assert certificate.code == 0, certificate.err
    cert = certificate.json()
    assert cert["transfers"] == [{"id": transfer_id, "accession": "64-26-0042",  # type: ignore[index]
                                  "accepted_on": "2026-12-01"}]
    assert len(cert["records"]) == transfer_plan["records"]  # type: ignore[index]
    with closing(Archive.open(load_settings(cwd=archive))) as opened:
        assert not opened.store.exists(jorge)
        assert next(s for s in opened.catalog.segments() if s.name == jorge).disposed_at is not None
    page = archive / "cert.html"
    assert cli("dispose", "certificate", cert["id"], "--html", page).code == 0  # type: ignore[index]
    assert "64-26-0042" in page.read_text(encoding="utf-8")
    listed = cli("transfer", "list").out
    assert "accession 64-26-0042" in listed


def test_no_message_text_or_reason_in_the_catalog_or_audit_log(cli: CliRunner, archive: Path) -> None:
    _plan(cli, archive)
    transfer_id = _export(cli, archive)["id"]
    assert cli("transfer", "confirm", transfer_id, "--accession", "64-26-0042", "--reason", REASON_CANARY).code == 0
    read = [path for path in (archive / "archive").rglob("*") if path.is_file() and "store" not in path.parts]
    assert any(path.name == "catalog.sqlite" for path in read)
    for path in read:
        data = path.read_bytes()
        assert CANARY.encode() not in data and REASON_CANARY.encode() not in data, path
        assert "Ramón".encode() not in data, path


def test_a_failed_export_leaves_no_decrypted_byte_and_marks_nothing(cli: CliRunner, archive: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.services import transfer_bag

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    _plan(cli, archive)
    monkeypatch.setattr(transfer_bag, "make_bag", full_disk)  # after every record was written
    failed = cli("transfer", "export", archive / "transfer-plan.json", "--out", archive / "nara", "--agency", AGENCY)
    assert failed.code == 2 and "No space left on device" in failed.err and "removed" in failed.err
    assert not (archive / "nara").exists()
    assert cli("transfer", "list", "--json").json() == []
    (archive / "empty").mkdir()
    again = cli("transfer", "export", archive / "transfer-plan.json", "--out", archive / "empty", "--agency", AGENCY)
    assert again.code == 2 and (archive / "empty").is_dir() and list((archive / "empty").iterdir()) == []


def test_a_segment_read_short_of_its_planned_records_stops_the_export(cli: CliRunner, archive: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.services import transfer_bag

    _plan(cli, archive)
    read = transfer_bag.segment_documents
    monkeypatch.setattr(transfer_bag, "segment_documents", lambda *args: list(read(*args))[1:])
    failed = cli("transfer", "export", archive / "transfer-plan.json", "--out", archive / "nara", "--agency", AGENCY)
    assert failed.code == 1 and "not those the plan lists" in failed.err  # damage, not a mistake
    assert not (archive / "nara").exists() and cli("transfer", "list", "--json").json() == []


class Killed(BaseException):
    """The process stopped (power cut, kill -9) at this point."""


def test_an_export_killed_after_storing_its_lists_is_adopted_by_the_rerun(cli: CliRunner, archive: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.services import transfer_bag
    store_lists = transfer_bag._store_lists

    def stored_then_killed(*args: object) -> None:
        store_lists(*args)  # type: ignore[arg-type]
        raise Killed

    _plan(cli, archive)
    monkeypatch.setattr(transfer_bag, "_store_lists", stored_then_killed)
    with pytest.raises(Killed):
        cli("transfer", "export", archive / "transfer-plan.json", "--out", archive / "nara", "--agency", AGENCY)
    with closing(Archive.open(load_settings(cwd=archive))) as opened:
        [unfiled] = opened.store.list("transfers/")
    assert cli("transfer", "list", "--json").json() == []
    monkeypatch.setattr(transfer_bag, "_store_lists", store_lists)
    done = _export(cli, archive)
    assert unfiled == f"transfers/{done['id']}" and done["object"] == unfiled
    assert [t["id"] for t in cli("transfer", "list", "--json").json()] == [done["id"]]  # type: ignore[union-attr]
    verify = cli("verify", "--json")
    assert verify.code == 0 and verify.json()["ok"], verify.out  # type: ignore[index]
