"""End to end on the embedded default: exports in, sealed records and a receipt out."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.core.terms import word_terms
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from connectors.jsonl import JsonlConnector
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import CliRunner

COUNTS = ("records", "nonrecords", "duplicates", "quarantined")


def _balanced(receipt: dict[str, object]) -> bool:
    return receipt["parsed"] == sum(receipt[k] for k in COUNTS)  # type: ignore[misc]


def _ingest_service(folder: Path, files: list[Path], now: datetime, **options: object) -> dict[str, object]:
    """Ingest through the service layer with a fixed clock."""
    settings = load_settings(cwd=folder)
    archive = Archive.open(settings)
    try:
        registry = ConnectorRegistry([JsonlConnector(), WhatsAppConnector()])
        opts = IngestOptions(**{"custodian": "Jorge Rivera", "tz": "America/Phoenix", "actor": "test", **options})
        ingestor = Ingestor(archive, registry, Classifier(load_rules()), load_schedules(), opts, now)
        return ingestor.run(files).to_json()
    finally:
        archive.close()


def test_samples_ingest_then_report(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    result = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json")
    assert result.code == 0, result.err
    receipt = result.json()
    assert _balanced(receipt)
    assert receipt["parsed"] > 30 and receipt["records"] > 10 and receipt["nonrecords"] > 3
    assert receipt["quarantined"] == 0 and receipt["duplicates"] == 0
    assert receipt["copied"] >= 1  # the e-mail that copies a .gov address
    assert receipt["copied"] + receipt["forwarded"] + receipt["late"] + receipt["not_applicable"] == receipt["records"]
    assert receipt["attachments"]["stored"] == 1  # the PDF inside the iOS zip
    report = cli("report", "forwarding", "--json")
    assert report.code == 0
    data = report.json()
    assert sum(data["totals"].values()) == receipt["records"]
    assert {r["custodian"] for r in data["records"]} == {"Jorge Rivera"}


def test_the_receipt_lists_handles_the_participant_directory_does_not_know(
    cli: CliRunner, archive_dir: Path, samples: list[Path]
) -> None:
    (archive_dir / "contacts.vcf").write_text(
        "BEGIN:VCARD\nVERSION:3.0\nFN:Comandante Ruiz\nEMAIL:c.ruiz@example.mx\n"
        "CATEGORIES:foreign-official\nEND:VCARD\n", encoding="utf-8")
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("participants: contacts.vcf\n")
    email = [p for p in samples if p.suffix == ".jsonl"]
    result = cli("ingest", *email, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json")
    unresolved = result.json()["unresolved_participants"]
    assert "c.ruiz@example.mx" not in unresolved  # listed in the contacts
    assert "jorge.rivera@cbp.dhs.gov" in unresolved
    text = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix").out
    assert "Participants not in the directory" in text and "Comandante Ruiz," not in text


def test_text_receipt_and_report_read_well(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    result = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    assert "Total:" in result.out and "44 U.S.C. 2911" in result.out
    report = cli("report", "forwarding")
    assert "Jorge Rivera" in report.out and "Late records" in report.out


def _stored_objects(archive_dir: Path) -> list[Path]:
    """The objects under the store, less the audit chain's heads (every writing command adds one)."""
    return sorted(p for p in (archive_dir / "archive" / "objects").rglob("*") if "audit" not in p.parts)


def test_second_ingest_stores_nothing_new(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    first = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json").json()
    objects = _stored_objects(archive_dir)
    second = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json").json()
    assert second["duplicates"] == first["parsed"] == second["parsed"]
    assert second["records"] == second["nonrecords"] == 0
    assert _stored_objects(archive_dir) == objects
    assert cli("verify").code == 0


def test_identical_messages_in_one_minute_stay_two_records(cli: CliRunner, archive_dir: Path) -> None:
    export = archive_dir / "WhatsApp Chat with Ana.txt"
    export.write_text("1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n"
                      "1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n", encoding="utf-8")
    receipt = cli("ingest", export, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    assert receipt["records"] == 2


def test_longer_reexport_adds_only_new_messages(cli: CliRunner, archive_dir: Path) -> None:
    lines = [f"1/5/26, 9:{m:02d} AM - Ana Lopez: Approved, release truck {m}\n" for m in range(10)]
    export = archive_dir / "WhatsApp Chat with Ana.txt"
    export.write_text("".join(lines[:6]), encoding="utf-8")
    cli("ingest", export, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy")
    export.write_text("".join(lines), encoding="utf-8")
    receipt = cli("ingest", export, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    assert (receipt["duplicates"], receipt["records"]) == (6, 4)


def test_forwarding_status_with_a_fixed_clock(archive_dir: Path, samples: list[Path]) -> None:
    jsonl = next(p for p in samples if p.suffix == ".jsonl")
    # The first e-mail copies a .gov address; the reply does not, and is archived in time.
    receipt = _ingest_service(archive_dir, [jsonl], datetime(2026, 10, 10, tzinfo=timezone.utc))
    assert (receipt["copied"], receipt["forwarded"], receipt["late"]) == (1, 1, 0)


def test_late_records_count_days_late(archive_dir: Path, samples: list[Path]) -> None:
    jsonl = next(p for p in samples if p.suffix == ".jsonl")
    _ingest_service(archive_dir, [jsonl], datetime(2026, 10, 25, 0, 0, tzinfo=timezone.utc))
    archive = Archive.open(load_settings(cwd=archive_dir))
    late = [r for r in archive.catalog.rows(label="record") if r.forwarding_status == "late"]
    archive.close()
    # Sent 2026-10-02 16:05 -07:00 = 23:05Z; deadline 2026-10-22 23:05Z; archived 2 days 1 hour later.
    assert [(r.days_late, r.deadline) for r in late] == [(3, datetime(2026, 10, 22, 23, 5, tzinfo=timezone.utc))]


def test_custodian_role_sets_the_capstone_item(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    assert cli("custodian", "add", "Jorge Rivera", "--role", "official").code == 0
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    receipt = _ingest_service(archive_dir, [whatsapp], datetime(2026, 10, 10, tzinfo=timezone.utc))
    assert receipt["schedules"].get("GRS-6.1-011", 0) > 0  # type: ignore[union-attr]
    archive = Archive.open(load_settings(cwd=archive_dir))
    seven_years = {r.disposition_date for r in archive.catalog.rows(label="record") if r.schedule == "GRS-6.1-011"}
    segments = {s.retain_until for s in archive.catalog.segments() if s.schedule == "GRS-6.1-011"}
    archive.close()
    # "Delete when 7 years old": the sample's messages were sent on 28 and 30 Sep and 2 Oct 2026.
    assert seven_years and seven_years <= {date(2033, 9, 28), date(2033, 9, 30), date(2033, 10, 2)}
    assert segments == seven_years


def test_unscheduled_records_are_kept_indefinitely(archive_dir: Path, samples: list[Path]) -> None:
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    _ingest_service(archive_dir, [whatsapp], datetime(2026, 10, 10, tzinfo=timezone.utc))
    archive = Archive.open(load_settings(cwd=archive_dir))
    unscheduled = [s for s in archive.catalog.segments() if s.schedule == "UNSCHEDULED"]
    assert unscheduled and all(s.retain_until is None for s in unscheduled)
    assert all(archive.store.retention(s.name).retain_until is None for s in unscheduled)
    archive.close()


def test_blind_index_finds_a_word_without_holding_it(archive_dir: Path, samples: list[Path]) -> None:
    _ingest_service(archive_dir, samples, datetime(2026, 10, 10, tzinfo=timezone.utc))
    archive = Archive.open(load_settings(cwd=archive_dir))
    hits = archive.catalog.search_tokens(archive.blind_index.tokens(word_terms("lookout")))
    spanish = archive.catalog.search_tokens(archive.blind_index.tokens(word_terms("VEHICULOS")))
    archive.close()
    assert len(hits) >= 2 and len(spanish) >= 1  # accents and case folded: "vehículos"


def test_no_plaintext_at_rest(cli: CliRunner, archive_dir: Path) -> None:
    phrase = "quokka lighthouse 7f3a9c"
    export = archive_dir / "WhatsApp Chat with Zebedee Marchbanks.txt"
    export.write_text(f"1/5/26, 9:00 AM - Ana Lopez: Approved: {phrase} at gate 3\n"
                      f"1/5/26, 9:01 AM - Ana Lopez: bad line follows\n"
                      f"13/45/26, 9:02 AM - Ana Lopez: {phrase} in a broken line\n", encoding="utf-8")
    jsonl = archive_dir / "mail.jsonl"
    jsonl.write_text(json.dumps({"source": "email", "conversation": "c", "sender": "a@example.com",
                                 "sent_at": "2026-01-05T09:00:00Z", "body": f"Decision: {phrase}"}) + "\n")
    cli("ingest", export, jsonl, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy")
    needles = [phrase, phrase.upper(), "quokka", "lighthouse", "7f3a9c", "Zebedee", "Marchbanks"]
    encoded = [n.encode(enc) for n in needles for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le")]
    leaks = [str(p) for p in (archive_dir / "archive").rglob("*") if p.is_file()
             for needle in encoded if needle in p.read_bytes()]
    assert leaks == []


def test_parse_stores_nothing_and_prints_jsonl(cli: CliRunner, tmp_path: Path, samples: list[Path]) -> None:
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    result = cli("parse", whatsapp, "--tz", "America/Phoenix")
    assert result.code == 0, result.err
    messages = result.lines()
    assert len(messages) > 20 and messages[1]["sender"] == "Comandante Ruiz"
    assert messages[1]["sent_at"] == "2026-09-28T07:05:00-07:00"
    assert not (tmp_path / "archive").exists()
    assert "read as whatsapp" in result.err  # auto-detection says what it chose
    assert "read as" not in cli("parse", whatsapp, "--tz", "America/Phoenix", "--connector", "whatsapp").err


def test_parse_output_feeds_back_as_jsonl(cli: CliRunner, tmp_path: Path, samples: list[Path]) -> None:
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    first = cli("parse", whatsapp, "--tz", "America/Phoenix").out
    normalized = tmp_path / "normalized.jsonl"
    normalized.write_text(first)
    again = cli("parse", normalized).lines()
    originals = [json.loads(line) for line in first.splitlines()]
    assert [(m["sender"], m["sent_at"], m["body"]) for m in again] == \
           [(m["sender"], m["sent_at"], m["body"]) for m in originals]


def test_classify_prints_one_object_per_message_in_order(cli: CliRunner, samples: list[Path]) -> None:
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    parsed = cli("parse", whatsapp, "--tz", "America/Phoenix").lines()
    result = cli("classify", whatsapp, "--tz", "America/Phoenix", "--json")
    decisions = result.lines()
    assert len(decisions) == len(parsed)
    assert [d["sent_at"] for d in decisions] == [m["sent_at"] for m in parsed]
    assert all({"label", "confidence", "reasons", "schedule"} <= d.keys() for d in decisions)


def test_connectors_are_listed(cli: CliRunner) -> None:
    names = [c["name"] for c in cli("connectors", "--json").json()]
    assert {"jsonl", "whatsapp"} <= set(names)


def _damage_first_object(folder: Path, prefix: str, position: int) -> None:
    """Flip one byte of the first stored object under ``prefix``, as a failing disk would."""
    target = next(p for p in (folder / "archive" / "objects" / prefix).rglob("*")
                  if p.is_file() and p.suffix != ".lock")
    target.chmod(0o600)
    data = bytearray(target.read_bytes())
    data[position] ^= 0xFF
    target.write_bytes(bytes(data))


def test_verify_finds_a_damaged_segment(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    _damage_first_object(archive_dir, "seg", -5)
    result = cli("verify")
    assert result.code == 1 and "fails authentication" in result.out


def test_verify_after_ingest_is_clean(archive_dir: Path, samples: list[Path]) -> None:
    _ingest_service(archive_dir, samples, datetime(2026, 10, 10, tzinfo=timezone.utc))
    archive = Archive.open(load_settings(cwd=archive_dir))
    report = verify(archive)
    archive.close()
    assert report.ok, report.problems
    assert report.frames == report.records > 0


# --- bad input: clear message naming the file (and line), exit 2, nothing lost -------------

def _ingest_bad(cli: CliRunner, path: Path) -> tuple[int, str, dict[str, object]]:
    result = cli("ingest", path, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json")
    return result.code, result.err, result.json()


def test_not_a_whatsapp_export(cli: CliRunner, archive_dir: Path) -> None:
    path = archive_dir / "notes.txt"
    path.write_text("Shopping list\nmilk\neggs\n")
    code, err, receipt = _ingest_bad(cli, path)
    assert code == 2 and str(path) in err and "not a recognised export" in err
    assert receipt["refused"][0]["file"] == str(path)  # type: ignore[index]
    assert "Traceback" not in err


def test_empty_file(cli: CliRunner, archive_dir: Path) -> None:
    path = archive_dir / "empty.txt"
    path.write_bytes(b"")
    code, err, _ = _ingest_bad(cli, path)
    assert code == 2 and str(path) in err


def test_truncated_zip(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    whole = next(p for p in samples if p.suffix == ".zip").read_bytes()
    path = archive_dir / "WhatsApp Chat - Cut.zip"
    path.write_bytes(whole[: len(whole) // 2])
    code, err, _ = _ingest_bad(cli, path)
    assert code == 2 and str(path) in err and "truncated or corrupt" in err


def test_zip_entry_escaping_the_directory(cli: CliRunner, archive_dir: Path) -> None:
    path = archive_dir / "WhatsApp Chat - Evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("_chat.txt", "1/5/26, 9:00 AM - Ana Lopez: hello\n")
        archive.writestr("../../evil.txt", "owned")
    code, err, _ = _ingest_bad(cli, path)
    assert code == 2 and "escapes" in err and str(path) in err
    assert not (archive_dir.parent / "evil.txt").exists()


def test_bad_date_line_is_quarantined_rest_archived(cli: CliRunner, archive_dir: Path) -> None:
    path = archive_dir / "WhatsApp Chat with Ana.txt"
    path.write_text("1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n"
                    "1/35/26, 9:01 AM - Ana Lopez: Approved, release the other truck\n"
                    "1/5/26, 9:02 AM - Ana Lopez: Send the report to the port director\n", encoding="utf-8")
    code, err, receipt = _ingest_bad(cli, path)
    assert code == 2
    assert receipt["quarantined"] == 1 and receipt["records"] == 2 and _balanced(receipt)
    assert receipt["quarantine"][0]["line"] == 2  # type: ignore[index]
    assert "release the other truck" not in json.dumps(receipt["quarantine"])
    quarantined = list((archive_dir / "archive" / "objects" / "quarantine").rglob("*[0-9]"))
    assert quarantined  # the export is kept, sealed, so the bad line is not lost


def test_whatsapp_without_a_zone_is_refused(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    whatsapp = next(p for p in samples if p.suffix == ".txt")
    result = cli("ingest", whatsapp, "--custodian", "j")
    assert result.code == 2 and "--tz" in result.err


def test_unknown_time_zone_is_a_usage_error(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    result = cli("ingest", samples[0], "--custodian", "j", "--tz", "Mars/Olympus")
    assert result.code == 2 and "Mars/Olympus" in result.err


def test_missing_file_and_missing_archive(cli: CliRunner, tmp_path: Path, samples: list[Path]) -> None:
    result = cli("ingest", samples[0], "--custodian", "j", "--tz", "UTC")
    assert result.code == 2 and "archiver init" in result.err  # no key file yet
    assert not (tmp_path / "archive").exists()  # and nothing was created on the way
    cli("init")
    result = cli("ingest", tmp_path / "nope.txt", "--custodian", "j", "--tz", "UTC", "--json")
    assert result.code == 2 and "no such file" in result.err


def test_init_twice_keeps_the_key(cli: CliRunner, archive_dir: Path) -> None:
    key = (archive_dir / "archiver.key").read_bytes()
    result = cli("init")
    assert result.code == 0 and "already initialised" in result.out
    assert (archive_dir / "archiver.key").read_bytes() == key


@pytest.mark.parametrize("args", [["ingest"], ["nosuch"], ["ingest", "x", "--account", "work"]])
def test_argument_errors_exit_2(cli: CliRunner, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(*args)
    assert exit_info.value.code == 2


@pytest.mark.parametrize("args", [[], ["report"]])
def test_missing_command_exits_2(cli: CliRunner, args: list[str]) -> None:
    assert cli(*args).code == 2


def test_reingesting_a_bad_export_lists_each_bad_line_once(cli: CliRunner, archive_dir: Path) -> None:
    path = archive_dir / "WhatsApp Chat with Ana.txt"
    path.write_text("1/5/26, 9:00 AM - Ana Lopez: Approved\n1/35/26, 9:01 AM - Ana Lopez: broken\n")
    for _ in range(2):
        receipt = cli("ingest", path, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
        assert receipt["quarantined"] == 1 and _balanced(receipt)
    archive = Archive.open(load_settings(cwd=archive_dir))
    entries = list(archive.catalog.quarantine())
    audit = [e.event.action for e in archive.catalog.audit_entries()]
    archive.close()
    assert [(q.line, q.object_key is not None) for q in entries] == [(2, True)]
    assert audit.count("ingest") == 2 and audit.count("quarantine") == 2


def test_a_tombstoned_reply_becomes_a_record_when_seen_in_context(archive_dir: Path) -> None:
    alone = archive_dir / "a.jsonl"
    reply = {"source": "email", "conversation": "lane 4", "sender": "chief@example.mx",
             "sent_at": "2026-01-05T09:01:00Z", "body": "Yes"}
    question = {**reply, "sender": "j@example.com", "sent_at": "2026-01-05T09:00:00Z",
                "body": "Should I remove the lookouts on VXR-4471?"}
    alone.write_text(json.dumps(reply) + "\n")
    first = _ingest_service(archive_dir, [alone], datetime(2026, 1, 6, tzinfo=timezone.utc))
    assert (first["records"], first["nonrecords"]) == (0, 1)
    both = archive_dir / "b.jsonl"
    both.write_text(json.dumps(question) + "\n" + json.dumps(reply) + "\n")
    second = _ingest_service(archive_dir, [both], datetime(2026, 1, 6, tzinfo=timezone.utc))
    assert (second["records"], second["duplicates"]) == (2, 0)
    archive = Archive.open(load_settings(cwd=archive_dir))
    labels = sorted(r.label for r in archive.catalog.rows())
    report = verify(archive)
    archive.close()
    assert labels == ["record", "record"] and report.ok, report.problems


def test_verify_opens_attachments_too(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    assert cli("verify").code == 0
    _damage_first_object(archive_dir, "att", -3)
    result = cli("verify", "--json")
    assert result.code == 1 and result.json()["objects"] >= 1


def test_a_new_key_cannot_be_used_on_an_old_archive(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    key = archive_dir / "archiver.key"
    key.rename(archive_dir / "elsewhere.key")
    refused = cli("init")
    assert refused.code == 2 and "restore that key file" in refused.err and not key.exists()
    from archiver.storage.keys import LocalKeyProvider

    LocalKeyProvider.create(key)  # someone makes a fresh key by hand
    result = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    assert result.code == 2 and "created with key" in result.err
