"""44 U.S.C. 2911 enforced end to end: statuses at ingest, the custodian registry, the sweep."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.custodians import Custodian, PersonalAccount
from archiver.core.retention import load_schedules
from archiver.services.compliance import custodian_overview, register_custodian, sweep
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.notices import LISTED_LATE_RECORDS, LateRecord, Notice, plan_notices
from archiver.services.notifiers import MailFileNotifier, NotifierError
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from connectors.jsonl import JsonlConnector
from connectors.sms_backup import SmsBackupConnector
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import CliRunner

UTC = timezone.utc
CLASSIFIER = Classifier(load_rules())
SCHEDULES = load_schedules()
OFFICER = Custodian(id="j.rivera", name="Jorge Rivera", role="official", timezone="America/New_York",
                    supervisor="chief@cbp.dhs.gov", official_accounts=("jorge.rivera@cbp.dhs.gov",),
                    personal_accounts=(PersonalAccount("whatsapp", "+15205550100"),))


def _open(folder: Path) -> Archive:
    return Archive.open(load_settings(cwd=folder))


def _ingest(folder: Path, export: Path, now: datetime, tz: str | None = None) -> dict[str, object]:
    archive = _open(folder)
    try:
        ingestor = Ingestor(archive, ConnectorRegistry([JsonlConnector(), WhatsAppConnector()]), CLASSIFIER,
                            SCHEDULES, IngestOptions(custodian="j.rivera", tz=tz, actor="test", date_order="mdy"), now)
        return ingestor.run([export]).to_json()
    finally:
        archive.close()


def _records(folder: Path) -> list[object]:
    archive = _open(folder)
    try:
        return [r for r in archive.catalog.rows(label="record")]
    finally:
        archive.close()


def _register(folder: Path, custodian: Custodian = OFFICER, at: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
    archive = _open(folder)
    try:
        register_custodian(archive, custodian, "records.officer", at)
    finally:
        archive.close()


def _chat(folder: Path, lines: list[str]) -> Path:
    path = folder / "WhatsApp Chat with Ana Lopez.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


# --- statuses at ingest: instants, never wall clocks ----------------------------------------

@pytest.mark.parametrize(("local", "utc"), [
    ("3/8/26, 11:59 PM", datetime(2026, 3, 9, 3, 59, tzinfo=UTC)),    # the day DST starts (EDT, -4)
    ("11/1/26, 11:59 PM", datetime(2026, 11, 2, 4, 59, tzinfo=UTC)),  # the day DST ends (EST, -5)
])
def test_dst_days_deadline_is_twenty_days_of_instants(archive_dir: Path, local: str, utc: datetime) -> None:
    _register(archive_dir)
    export = _chat(archive_dir, [f"{local} - Ana Lopez: Approved, release the truck at gate 3"])
    deadline = utc + timedelta(days=20)
    _ingest(archive_dir, export, deadline)  # custodian's zone applies: no --tz
    [row] = _records(archive_dir)
    assert (row.sent_at, row.deadline, row.forwarding_status) == (utc, deadline, "forwarded")  # type: ignore[attr-defined]


def test_twenty_days_and_one_second_is_one_day_late(archive_dir: Path) -> None:
    _register(archive_dir)
    export = _chat(archive_dir, ["3/8/26, 11:59 PM - Ana Lopez: Approved, release the truck at gate 3"])
    _ingest(archive_dir, export, datetime(2026, 3, 29, 3, 59, 1, tzinfo=UTC))
    [row] = _records(archive_dir)
    assert (row.forwarding_status, row.days_late) == ("late", 1)  # type: ignore[attr-defined]


def test_travelling_custodian_export_read_in_the_zone_given(archive_dir: Path) -> None:
    _register(archive_dir)  # home zone New York
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3"])
    _ingest(archive_dir, export, datetime(2026, 2, 11, tzinfo=UTC), tz="Europe/Madrid")
    [row] = _records(archive_dir)
    assert row.sent_at == datetime(2026, 2, 10, 8, 0, tzinfo=UTC)  # type: ignore[attr-defined]


def test_leap_day_deadline(archive_dir: Path) -> None:
    export = _chat(archive_dir, ["2/29/28, 10:00 AM - Ana Lopez: Approved, release the truck at gate 3"])
    _ingest(archive_dir, export, datetime(2028, 3, 20, 10, 0, tzinfo=UTC), tz="UTC")
    [row] = _records(archive_dir)
    assert (row.deadline, row.forwarding_status) == (datetime(2028, 3, 20, 10, 0, tzinfo=UTC), "forwarded")  # type: ignore[attr-defined]


def _email(folder: Path, name: str, **fields: object) -> Path:
    message = {"source": "email", "conversation": "Lane 4", "sender": "jorge.personal@example.com",
               "recipients": ["c.ruiz@example.mx"], "sent_at": "2026-02-10T09:00:00-05:00",
               "body": "Approved: release truck TKN-2290 to secondary inspection at lane 4", **fields}
    path = folder / name
    path.write_text(json.dumps(message) + "\n")
    return path


def test_official_address_in_cc_is_copied(archive_dir: Path) -> None:
    export = _email(archive_dir, "cc.jsonl", recipients=["c.ruiz@example.mx", "Jorge <jorge.rivera@cbp.dhs.gov>"])
    receipt = _ingest(archive_dir, export, datetime(2026, 6, 1, tzinfo=UTC))
    assert receipt["copied"] == 1 and receipt["late"] == 0


def test_record_copied_by_email_is_compliant_when_it_arrives_again_from_whatsapp(archive_dir: Path) -> None:
    email = _email(archive_dir, "cc.jsonl", recipients=["jorge.rivera@cbp.dhs.gov"])
    _ingest(archive_dir, email, datetime(2026, 2, 10, 15, 0, tzinfo=UTC))
    whatsapp = _chat(archive_dir, ["2/10/26, 9:00 AM - Jorge Rivera: Approved: release truck TKN-2290 to "
                                   "secondary inspection at lane 4"])
    receipt = _ingest(archive_dir, whatsapp, datetime(2026, 5, 1, tzinfo=UTC), tz="America/New_York")
    assert (receipt["copied"], receipt["late"]) == (1, 0)
    rows = sorted(_records(archive_dir), key=lambda r: r.source)  # type: ignore[attr-defined]
    assert [(r.source, r.forwarding_status) for r in rows] == [("email", "copied"), ("whatsapp", "copied")]  # type: ignore[attr-defined]


def test_a_copy_earlier_in_the_same_export_credits_the_record(archive_dir: Path) -> None:
    text = "Approved: release truck TKN-2290 to secondary inspection at lane 4"
    lines = [{"source": "email", "conversation": "Lane 4", "sender": "jorge.personal@example.com",
              "recipients": ["jorge.rivera@cbp.dhs.gov"], "sent_at": "2026-02-10T09:00:00-05:00", "body": text},
             {"source": "whatsapp", "conversation": "Lane 4", "sender": "Jorge Rivera", "recipients": ["C. Ruiz"],
              "sent_at": "2026-02-10T09:00:30-05:00", "body": text}]
    export = archive_dir / "backup.jsonl"
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    receipt = _ingest(archive_dir, export, datetime(2026, 2, 20, tzinfo=UTC))  # by the deadline: else "forwarded"
    rows = sorted(_records(archive_dir), key=lambda r: r.source)  # type: ignore[attr-defined]
    assert [(r.source, r.forwarding_status) for r in rows] == [("email", "copied"), ("whatsapp", "copied")]  # type: ignore[attr-defined]
    assert (receipt["copied"], receipt["forwarded"]) == (2, 0)


def test_short_replies_are_not_matched_across_sources(archive_dir: Path) -> None:
    _ingest(archive_dir, _email(archive_dir, "ok.jsonl", body="Yes", recipients=["jorge.rivera@cbp.dhs.gov"]),
            datetime(2026, 2, 10, 15, 0, tzinfo=UTC))
    whatsapp = _chat(archive_dir, ["2/10/26, 8:59 AM - Ana Lopez: Should I remove the lookout?",
                                   "2/10/26, 9:00 AM - Jorge Rivera: Yes"])
    _ingest(archive_dir, whatsapp, datetime(2026, 5, 1, tzinfo=UTC), tz="America/New_York")
    statuses = {(r.source, r.forwarding_status) for r in _records(archive_dir)}  # type: ignore[attr-defined]
    assert ("whatsapp", "late") in statuses


# --- registry --------------------------------------------------------------------------------

def test_custodian_cli_add_list_show(cli: CliRunner, archive_dir: Path) -> None:
    add = cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--role", "capstone", "--tz",
              "America/Phoenix", "--supervisor", "chief@cbp.dhs.gov", "--official", "jorge.rivera@cbp.dhs.gov",
              "--personal", "whatsapp:+1 520 555 0100", "--alias", "Jorge R")
    assert add.code == 0, add.err
    assert cli("custodian", "add", "j.rivera").code == 2  # already registered
    listed = cli("custodian", "list", "--json").json()
    assert [c["id"] for c in listed] == ["j.rivera"] and listed[0]["personal_accounts"] == ["whatsapp:+1 520 555 0100"]
    shown = cli("custodian", "show", "j.rivera", "--json").json()
    assert shown["accounts"][0]["app"] == "whatsapp" and shown["accounts"][0]["last_sync"] is None
    assert "AT RISK" not in cli("custodian", "show", "j.rivera").out  # registered today: not yet 20 days
    assert cli("custodian", "add", "j.rivera", "--role", "support", "--update").code == 0
    assert cli("custodian", "show", "j.rivera", "--json").json()["role"] == "support"
    assert cli("custodian", "show", "nobody").code == 2
    assert cli("custodian", "add", "x", "--personal", "no-colon").code == 2


def test_registered_names_tell_sent_from_received(cli: CliRunner, archive_dir: Path) -> None:
    cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--tz", "UTC")
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Jorge Rivera: Approved, release the truck",
                                 "2/10/26, 9:01 AM - Ana Lopez: Release confirmed at gate 3"])
    cli("ingest", export, "--custodian", "j.rivera", "--date-order", "mdy")
    directions = sorted(r.direction for r in _records(archive_dir))  # type: ignore[attr-defined]
    assert directions == ["received", "sent"]


# --- the sweep -------------------------------------------------------------------------------

class FlakyNotifier:
    """Delivers to a list, failing once after ``fail_after`` deliveries."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.delivered: list[Notice] = []
        self.fail_after = fail_after

    def send(self, notice: Notice, sender: str) -> str:
        if self.fail_after is not None and len(self.delivered) >= self.fail_after:
            self.fail_after = None
            raise NotifierError("relay down")
        self.delivered.append(notice)
        return f"id-{len(self.delivered)}"


def _sweep(folder: Path, notifier: object, now: datetime) -> object:
    archive = _open(folder)
    try:
        return sweep(archive, notifier, now, "sweeper")  # type: ignore[arg-type]
    finally:
        archive.close()


def _synced_officer(folder: Path, synced: datetime) -> None:
    config = folder / "archiver.yaml"
    config.write_text(config.read_text() + "records_officer: records@cbp.dhs.gov\n")
    _register(folder, at=synced - timedelta(days=30))
    export = _chat(folder, ["1/2/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3"])
    _ingest(folder, export, synced)  # sent 2 Jan, archived 1 Feb: late


def test_sweep_reminds_before_and_reports_after_the_deadline(archive_dir: Path) -> None:
    synced = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    _synced_officer(archive_dir, synced)
    notifier = FlakyNotifier()
    _sweep(archive_dir, notifier, synced + timedelta(days=13))
    assert [n.kind for n in notifier.delivered] == ["late-records"]
    late = notifier.delivered[0]
    assert set(late.to) == {"chief@cbp.dhs.gov", "records@cbp.dhs.gov"} and "days late" not in late.subject
    assert "release the truck" not in late.body  # ids and dates only, never content
    _sweep(archive_dir, notifier, synced + timedelta(days=14))
    _sweep(archive_dir, notifier, synced + timedelta(days=14, hours=6))  # same day again: nothing new
    _sweep(archive_dir, notifier, synced + timedelta(days=18))
    _sweep(archive_dir, notifier, synced + timedelta(days=21))
    _sweep(archive_dir, notifier, synced + timedelta(days=22))
    kinds = [(n.kind, n.to) for n in notifier.delivered[1:]]
    assert kinds == [("sync-reminder", ("jorge.rivera@cbp.dhs.gov",)),
                     ("sync-reminder", ("jorge.rivera@cbp.dhs.gov",)),
                     ("at-risk", ("chief@cbp.dhs.gov", "records@cbp.dhs.gov"))]
    assert "2026-02-21" in notifier.delivered[1].subject


def test_sweep_that_fails_half_way_resends_only_what_was_not_sent(archive_dir: Path) -> None:
    synced = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    _synced_officer(archive_dir, synced)
    _register(archive_dir, Custodian(id="a.lopez", supervisor="chief@cbp.dhs.gov",
                                     personal_accounts=(PersonalAccount("signal", "ana"),)), at=synced)
    now = synced + timedelta(days=25)  # late records + two accounts at risk = three notices
    flaky = FlakyNotifier(fail_after=1)
    first = _sweep(archive_dir, flaky, now)
    assert len(flaky.delivered) == 1 and first.problems == ["relay down"]  # type: ignore[attr-defined]
    second = _sweep(archive_dir, flaky, now)
    assert len(flaky.delivered) == 3 and second.problems == []  # type: ignore[attr-defined]
    assert len({tuple(n.keys) for n in flaky.delivered}) == 3
    assert _sweep(archive_dir, flaky, now).sent == []  # type: ignore[attr-defined]
    archive = _open(archive_dir)
    audited = [e.event.action for e in archive.catalog.audit_entries()].count("notice")
    archive.close()
    assert audited == 3


def test_sweep_cli_writes_mail_files_once(cli: CliRunner, archive_dir: Path) -> None:
    _synced_officer(archive_dir, datetime(2026, 2, 1, tzinfo=UTC))
    first = cli("sweep", "--json")
    assert first.code == 0, first.err
    sent = first.json()["sent"]
    assert {n["kind"] for n in sent} == {"late-records", "at-risk"}  # today is long after February
    mails = sorted((archive_dir / "notices").glob("*.eml"))
    assert len(mails) == len(sent) and b"Subject: 2911" in mails[0].read_bytes()
    again = cli("sweep", "--json").json()
    assert again["sent"] == [] and again["already_sent"] >= len(sent)


def test_sweep_without_a_recipient_says_so(cli: CliRunner, archive_dir: Path) -> None:
    cli("custodian", "add", "nobody", "--personal", "whatsapp:+1555")
    archive = _open(archive_dir)
    result = sweep(archive, MailFileNotifier(archive_dir / "n"), datetime(2099, 1, 1, tzinfo=UTC), "t")
    archive.close()
    assert result.exit_code == 1 and "no recipient" in result.problems[0]


# --- reports ---------------------------------------------------------------------------------

def test_report_lists_deleted_messages_in_business_threads(cli: CliRunner, archive_dir: Path) -> None:
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3",
                                 "2/10/26, 9:01 AM - Ana Lopez: This message was deleted"])
    cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy")
    report = cli("report", "forwarding", "--json").json()
    assert len(report["unlawful_disposition_candidates"]) == 1
    assert report["months"]["2026-02"]["late"] == 1
    assert "Possible unlawful disposition" in cli("report", "forwarding").out


def test_report_csv_and_html(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    receipt = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json").json()
    csv_text = cli("report", "forwarding", "--csv").out
    header, *rows = csv_text.splitlines()
    assert header.startswith("id,custodian,source,direction") and len(rows) == receipt["records"]
    page = archive_dir / "report.html"
    assert cli("report", "forwarding", "--html", page).code == 0
    assert "Jorge Rivera" in page.read_text()
    assert cli("report", "forwarding", "--fail-on-late").code == 1


# --- one vocabulary of apps: accounts, syncs, connectors -------------------------------------

SMS_BACKUP = ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">\n"
              "  <sms protocol=\"0\" address=\"+15550100001\" date=\"1769950800000\" type=\"1\" "
              "body=\"Approved, release the truck at gate 3\" read=\"1\" status=\"-1\" contact_name=\"Ana Lopez\" />\n"
              "</smses>\n")


def _ingest_with(folder: Path, export: Path, now: datetime, custodian: str = "j.rivera") -> dict[str, object]:
    archive = _open(folder)
    try:
        registry = ConnectorRegistry([JsonlConnector(), WhatsAppConnector(), SmsBackupConnector()])
        ingestor = Ingestor(archive, registry, CLASSIFIER, SCHEDULES,
                            IngestOptions(custodian=custodian, tz="UTC", actor="test"), now)
        return ingestor.run([export]).to_json()
    finally:
        archive.close()


def _sms_officer(folder: Path, registered: datetime) -> None:
    config = folder / "archiver.yaml"
    config.write_text(config.read_text() + "records_officer: records@cbp.dhs.gov\n")
    _register(folder, replace(OFFICER, personal_accounts=(PersonalAccount("sms", "+15205550100"),)), at=registered)


def test_custodian_add_refuses_an_app_it_does_not_know(cli: CliRunner, archive_dir: Path) -> None:
    refused = cli("custodian", "add", "j.rivera", "--personal", "sms-backup:+15205550100")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1
    assert "'sms-backup'" in refused.err and "known apps: whatsapp, signal, telegram, sms" in refused.err
    assert cli("custodian", "list", "--json").json() == []
    assert cli("custodian", "add", "j.rivera", "--personal", "sms:+15205550100").code == 0


def test_an_sms_backup_sync_counts_for_the_registered_sms_account(archive_dir: Path) -> None:
    registered = datetime(2026, 1, 1, tzinfo=UTC)
    _sms_officer(archive_dir, registered)
    export = archive_dir / "sms-2026-02-01.xml"
    export.write_text(SMS_BACKUP)
    synced = registered + timedelta(days=25)
    _ingest_with(archive_dir, export, synced)
    notifier = FlakyNotifier()
    _sweep(archive_dir, notifier, synced + timedelta(days=1))
    assert [n.kind for n in notifier.delivered] == []  # synced yesterday: nothing at risk, nothing late
    archive = _open(archive_dir)
    try:
        assert archive.catalog.last_sync_by_account() == {("j.rivera", "sms"): synced}
    finally:
        archive.close()


def test_a_jsonl_export_syncs_the_app_its_messages_came_from(archive_dir: Path) -> None:
    _register(archive_dir)  # whatsapp account
    export = archive_dir / "forwarded.jsonl"
    export.write_text(json.dumps({"source": "whatsapp", "conversation": "Ana", "sender": "Ana Lopez",
                                  "sent_at": "2026-02-10T09:00:00+00:00", "body": "Release the truck"}) + "\n")
    synced = datetime(2026, 2, 11, tzinfo=UTC)
    _ingest_with(archive_dir, export, synced)
    archive = _open(archive_dir)
    try:
        accounts = custodian_overview(archive, "j.rivera", synced)["accounts"]
    finally:
        archive.close()
    assert [(a["app"], a["last_sync"]) for a in accounts] == [("whatsapp", "2026-02-11T00:00:00Z")]


def test_only_registered_personal_accounts_are_tracked(archive_dir: Path) -> None:
    config = archive_dir / "archiver.yaml"
    config.write_text(config.read_text() + "records_officer: records@cbp.dhs.gov\n")
    _register(archive_dir, replace(OFFICER, personal_accounts=()))  # no personal account at all
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Lane 4 closed, traffic diverted"])
    _ingest_with(archive_dir, export, datetime(2026, 2, 11, tzinfo=UTC))
    _ingest_with(archive_dir, export, datetime(2026, 2, 11, tzinfo=UTC), custodian="unregistered")
    notifier = FlakyNotifier()
    _sweep(archive_dir, notifier, datetime(2026, 6, 1, tzinfo=UTC))
    assert notifier.delivered == []  # neither the custodian without accounts nor the unregistered one


def test_sweep_counts_notices_sent_before_not_records(archive_dir: Path) -> None:
    synced = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    _synced_officer(archive_dir, synced)
    more = _chat(archive_dir, ["1/3/26, 9:00 AM - Ana Lopez: Approved, release the second truck at gate 4",
                               "1/4/26, 9:00 AM - Ana Lopez: Approved, release the third truck at gate 5"])
    _ingest(archive_dir, more, synced)  # three late records of one custodian: one notice
    first = _sweep(archive_dir, FlakyNotifier(), synced + timedelta(days=1))
    assert [n.kind for n in first.sent] == ["late-records"]  # type: ignore[attr-defined]
    body = first.sent[0].body  # type: ignore[attr-defined]
    assert "received sent" not in body and "  received 2026-01-03T14:00:00Z  deadline" in body
    again = _sweep(archive_dir, FlakyNotifier(), synced + timedelta(days=1)).to_json()  # type: ignore[attr-defined]
    assert (again["sent"], again["already_sent"], again["late_already_reported"]) == ([], 1, 3)


def test_receipt_warns_when_the_custodian_is_not_registered(cli: CliRunner, archive_dir: Path) -> None:
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3"])
    receipt = cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    [warning] = receipt["warnings"]
    assert "'j.rivera' is not registered" in warning and "UNSCHEDULED" in warning
    assert "Warning: custodian 'j.rivera' is not registered" in cli("ingest", export, "--custodian", "j.rivera",
                                                                     "--tz", "UTC", "--date-order", "mdy").out
    cli("custodian", "add", "a.lopez", "--role", "official")
    registered = cli("ingest", export, "--custodian", "a.lopez", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    assert registered["warnings"] == []


# --- the forwarding report after disposition ---------------------------------------------------

def test_forwarding_report_flags_destroyed_records_never_as_held(cli: CliRunner, archive_dir: Path) -> None:
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3",
                                 "2/10/26, 9:05 AM - Ana Lopez: Approved, release the van at gate 4"])
    cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy")
    archive = _open(archive_dir)
    try:
        [segment] = list(archive.catalog.segments())
        archive.catalog.mark_disposed(segment.name, datetime(2026, 3, 1, tzinfo=UTC),
                                      AuditEvent("records.officer", "dispose", datetime(2026, 3, 1, tzinfo=UTC), {}))
    finally:
        archive.close()
    report = cli("report", "forwarding", "--json").json()
    assert report["disposed"] == 2
    assert {r["disposed_at"] for r in report["records"]} == {"2026-03-01T00:00:00Z"}
    assert {r["disposed_at"] for r in report["late"]} == {"2026-03-01T00:00:00Z"}
    header, *rows = cli("report", "forwarding", "--csv").out.splitlines()
    assert header.endswith(",disposed_at") and all(r.endswith(",2026-03-01T00:00:00Z") for r in rows)
    text = cli("report", "forwarding").out
    assert text.count("DISPOSED 2026-03-01T00:00:00Z") == 2 and "Disposed of under their schedules: 2" in text
    page = archive_dir / "report.html"
    cli("report", "forwarding", "--html", page)
    assert page.read_text().count("disposed of <time") == 2 and ">held<" not in page.read_text()


def test_late_lines_say_received_or_sent_once(cli: CliRunner, archive_dir: Path) -> None:
    export = _chat(archive_dir, ["2/10/26, 9:00 AM - Ana Lopez: Approved, release the truck at gate 3"])
    cli("ingest", export, "--custodian", "j.rivera", "--tz", "UTC", "--date-order", "mdy")
    text = cli("report", "forwarding").out
    assert "received sent" not in text and "received 2026-02-10T09:00:00Z  deadline" in text


def _late(n: int, custodian: str = "j.rivera") -> LateRecord:
    sent = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n)
    return LateRecord(f"{n:032x}", custodian, "sent", sent, sent + timedelta(days=20),
                      sent + timedelta(days=20 + n % 400), n % 400)


def test_a_large_backlog_makes_one_notice_that_lists_the_first_records_and_counts_all() -> None:
    # 30,000 late records once made a 4 MB body: more than an SNS message (256 KB) can hold.
    late = [_late(n) for n in reversed(range(30_000))]
    custodian = Custodian("j.rivera", supervisor="chief@cbp.dhs.gov")
    plan = plan_notices([], late, {"j.rivera": custodian}, datetime(2026, 3, 1, tzinfo=timezone.utc), (14, 18),
                        "records@cbp.dhs.gov", already_sent=set())
    [notice] = plan.notices
    assert notice.kind == "late-records" and "30000 record(s)" in notice.subject
    assert len(notice.keys) == 30_000  # every record counts as reported: none is listed again
    listed = [line for line in notice.body.splitlines() if line.startswith("  ")]
    assert [line.split()[0] for line in listed] == [f"{n:032x}" for n in range(LISTED_LATE_RECORDS)]
    assert "sent from 2025-01-01T00:00:00Z to " in notice.body and "up to 399 day(s) late" in notice.body
    assert "'archiver report forwarding --csv' lists every record" in notice.body
    assert len(notice.body.encode()) < 64 * 1024


def test_a_small_notice_lists_every_late_record() -> None:
    late = [_late(n) for n in range(LISTED_LATE_RECORDS)]
    plan = plan_notices([], late, {}, datetime(2026, 3, 1, tzinfo=timezone.utc), (14, 18), "records@cbp.dhs.gov",
                        already_sent=set())
    [notice] = plan.notices
    assert sum(line.startswith("  ") for line in notice.body.splitlines()) == LISTED_LATE_RECORDS
    assert "report forwarding" not in notice.body

