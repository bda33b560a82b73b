"""The review queue: uncertain nonrecords are kept sealed until a records officer decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.services.access import unsealed
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.review import decide, expire_reviews, list_reviews, open_review
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import CliRunner

UTC = timezone.utc
INGESTED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# An agency override that makes one invented word an uncertain nonrecord, so these tests do not
# depend on how the shipped rules are tuned.
OVERRIDE = """\
rules:
  - id: test-uncertain
    label: nonrecord
    words: [zzquokka]
    confidence: 0.6
    explain: An invented word the tests use to put a message in the review queue.
"""


@pytest.fixture
def queued(archive_dir: Path) -> Path:
    """An archive holding one review item (and one record)."""
    (archive_dir / "agency-rules.yaml").write_text(OVERRIDE)
    config = archive_dir / "archiver.yaml"
    config.write_text(config.read_text() + "rules_overrides: [agency-rules.yaml]\nreview_days: 30\n")
    export = archive_dir / "WhatsApp Chat with Ana Lopez.txt"
    export.write_text("3/1/26, 9:00 AM - Ana Lopez: zzquokka tonight\n"
                      "3/1/26, 9:05 AM - Ana Lopez: Approved, release the truck at gate 3\n", encoding="utf-8")
    settings = load_settings(cwd=archive_dir)
    archive = Archive.open(settings)
    try:
        classifier = Classifier(load_rules(settings.rules, settings.rules_overrides))
        receipt = Ingestor(archive, ConnectorRegistry([WhatsAppConnector()]), classifier, load_schedules(),
                           IngestOptions(custodian="j", tz="UTC", actor="test", date_order="mdy"),
                           INGESTED).run([export])
    finally:
        archive.close()
    assert (receipt.total("records"), receipt.total("nonrecords"), receipt.total("in_review")) == (1, 1, 1)
    return archive_dir


def _open(folder: Path) -> Archive:
    return Archive.open(load_settings(cwd=folder))


def _only_item(folder: Path) -> str:
    archive = _open(folder)
    [item] = list_reviews(archive)
    archive.close()
    return item.id


def test_uncertain_nonrecord_waits_sealed_in_the_queue(queued: Path) -> None:
    archive = _open(queued)
    [item] = list_reviews(archive)
    row = archive.catalog.row(item.id)
    report = verify(archive)
    archive.close()
    assert item.reasons[0] == "test-uncertain" and item.expires == (INGESTED + timedelta(days=30)).date()
    assert row is not None and row.segment is not None and row.segment.startswith("review/")
    assert report.ok, report.problems
    leaked = [p for p in (queued / "archive").rglob("*") if p.is_file() and b"zzquokka" in p.read_bytes()]
    assert leaked == []


def test_opening_an_item_is_audited_with_its_reason(queued: Path) -> None:
    archive = _open(queued)
    item_id = list_reviews(archive)[0].id
    opened = open_review(archive, item_id, "records.officer", "weekly review", INGESTED)
    audit = [e.event for e in archive.catalog.audit_entries() if e.event.action == "review-open"]
    reasons = [(a.actor, unsealed(archive, a.detail["reason"])) for a in audit]
    archive.close()
    assert opened["message"]["body"] == "zzquokka tonight"
    assert reasons == [("records.officer", {"reason": "weekly review"})]
    assert not [p for p in (queued / "archive").rglob("*") if p.is_file() and b"weekly review" in p.read_bytes()]


def test_deciding_record_refiles_it_under_its_schedule(queued: Path) -> None:
    item_id = _only_item(queued)
    archive = _open(queued)
    row = decide(archive, item_id, "record", "operational plan in code words", "records.officer",
                 INGESTED + timedelta(days=3), load_schedules())
    stored = archive.catalog.row(item_id)
    report = verify(archive)
    decisions = [{**e.event.detail, "reason": unsealed(archive, e.event.detail["reason"])["reason"]}
                 for e in archive.catalog.audit_entries() if e.event.action == "review-decide"]
    remaining = list_reviews(archive)
    archive.close()
    assert not [p for p in (queued / "archive").rglob("*") if p.is_file() and b"code words" in p.read_bytes()]
    assert row.label == "record" and stored is not None and stored.label == "record"
    assert stored.segment is not None and stored.segment.startswith("seg/")
    assert stored.schedule == "UNSCHEDULED" and stored.forwarding_status == "forwarded"  # archived on 2 March
    assert decisions == [{"id": item_id, "decision": "record", "reason": "operational plan in code words"}]
    assert remaining == [] and report.ok, report.problems


def test_deciding_nonrecord_keeps_only_the_tombstone(cli: CliRunner, queued: Path) -> None:
    item_id = _only_item(queued)
    result = cli("review", "decide", item_id, "nonrecord", "--reason", "dinner plans")
    assert result.code == 0, result.err
    archive = _open(queued)
    row = archive.catalog.row(item_id)
    archive.close()
    assert row is not None and row.label == "nonrecord"
    assert cli("review", "list", "--json").json() == []
    assert cli("verify").code == 0


def test_items_past_their_review_period_are_kept_as_records(queued: Path) -> None:
    archive = _open(queued)
    early = expire_reviews(archive, INGESTED + timedelta(days=29), "archiver", load_schedules())
    late = expire_reviews(archive, INGESTED + timedelta(days=30), "archiver", load_schedules())
    archive.close()
    assert early == [] and len(late) == 1


def test_review_cli(cli: CliRunner, queued: Path) -> None:
    listed = cli("review", "list", "--json").json()
    assert len(listed) == 1 and listed[0]["reasons"] == ["test-uncertain"]
    shown = cli("review", "show", listed[0]["id"], "--reason", "audit sample")
    assert shown.code == 0 and "zzquokka" in shown.out
    as_json = cli("review", "show", listed[0]["id"], "--reason", "audit sample", "--json")
    assert as_json.code == 0 and as_json.json()["message"]["body"] == "zzquokka tonight"
    assert as_json.json()["classification"]["reasons"] == ["test-uncertain"]
    assert cli("review", "decide", "nosuchid", "record", "--reason", "x").code == 2
    assert cli("review", "decide", listed[0]["id"], "record", "--reason", "  ").code == 2
    assert cli("review", "decide", listed[0]["id"], "record", "--reason", "kept").code == 0
    assert cli("review", "list", "--json").json() == []
