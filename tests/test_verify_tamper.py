"""``verify`` names what an attacker or a bug can do to the catalog, the store or the audit log.

Each test starts from a clean archive (records, tombstones, a review item, an attachment, a
quarantined export, a legal hold), does one thing to it, and expects exit 1 and a message
naming that thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver.model import parse_instant
from archiver.storage.audit import AuditEvent, entry_hash
from archiver.storage.catalog.sqlite_codec import packed
from tests.catalog_sql import catalog_db, key_text, stored
from tests.conftest import CliRunner
from tests.test_catalog_contract import moto_dynamodb

INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")


@pytest.fixture
def archive(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> Path:
    """An archive that verifies clean, with something of every kind in it."""
    unreadable = archive_dir / "notes.bin"
    unreadable.write_bytes(b"\x00not an export\x00")
    assert cli("ingest", *samples, unreadable, *INGEST).code == 2  # one export refused and quarantined
    assert cli("hold", "place", "CASE-1", "--reason", "litigation", "--custodian", "Jorge Rivera").code == 0
    clean = cli("verify")
    assert clean.code == 0, clean.out
    return archive_dir


def sql(folder: Path, statement: str, *params: object) -> None:
    """Edit the catalog behind the archiver's back."""
    with catalog_db(folder) as db:
        assert db.execute(statement, params).rowcount > 0


def one(folder: Path, query: str, *params: object) -> str:
    """The first value ``query`` selects, as text (a stored key as its hex)."""
    with catalog_db(folder) as db:
        return key_text(db.execute(query, params).fetchone()[0])


def found(cli: CliRunner, folder: Path, *wanted: str, deep: bool = False) -> str:
    """Run verify; it must exit 1 and say each of ``wanted``."""
    result = cli("verify", *(["--deep"] if deep else []), cwd=folder)
    assert result.code == 1, result.out
    for text in wanted:
        assert text in result.out, result.out
    return result.out


RECORD_WHERE = "SELECT id FROM messages WHERE label = 'record'"
RECORD = f"{RECORD_WHERE} ORDER BY id LIMIT 1"
SEGMENT = "SELECT name FROM segments WHERE name LIKE 'seg/%' ORDER BY name LIMIT 1"


def test_a_deleted_attachment_object(cli: CliRunner, archive: Path) -> None:
    [attachment] = [p for p in (archive / "archive" / "objects" / "att").rglob("*") if p.is_file()
                    and p.suffix != ".lock"]
    key = attachment.relative_to(archive / "archive" / "objects").as_posix()
    attachment.unlink()
    found(cli, archive, f"attachment object {key} is missing from the store")


@pytest.mark.parametrize("key", ["junk/planted", "att/" + "ab" * 32, "seg/2030-01-01/" + "cd" * 16])
def test_a_stray_object(cli: CliRunner, archive: Path, key: str) -> None:
    stray = archive / "archive" / "objects" / key
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"planted")
    found(cli, archive, f"stray object {key}")


@pytest.mark.parametrize(("column", "value", "named"), [
    ("schedule", "GRS-6.1-010", "schedule"),
    ("disposition_date", "2099-12-31", "disposition date"),
    ("forwarding_status", "copied", "2911 status"),
    ("sent_at", "2020-01-01T00:00:00Z", "sent time"),
    ("custodian", "Someone Else", "custodian"),
])
def test_an_edited_record_row(cli: CliRunner, archive: Path, column: str, value: str, named: str) -> None:
    # Ids are keyed per archive, so "the first record" differs from run to run: pick one whose
    # value the edit really changes.
    with catalog_db(archive) as db:
        value_stored = stored(db, column, value)
    record_id = one(archive, f"{RECORD_WHERE} AND {column} IS NOT ? ORDER BY id LIMIT 1", value_stored)
    sql(archive, f"UPDATE messages SET {column} = ? WHERE id = ?", value_stored, packed(record_id))
    found(cli, archive, f"record {record_id}: {named} in catalog differs from its sealed manifest")
    found(cli, archive, f"record {record_id}: {named} in catalog differs from its sealed frame", deep=True)


@pytest.mark.parametrize(("column", "value", "named"), [
    ("retain_until", "2099-12-31", "retain-until"),
    ("schedule", "GRS-6.1-010", "schedule"),
])
def test_an_edited_segment_row(cli: CliRunner, archive: Path, column: str, value: str, named: str) -> None:
    name = one(archive, SEGMENT)
    sql(archive, f"UPDATE segments SET {column} = ? WHERE name = ?", value, name)
    found(cli, archive, f"segment {name}: {named} in catalog differs from its sealed manifest")


def test_a_deleted_tombstone(cli: CliRunner, archive: Path) -> None:
    record_id = one(archive, "SELECT id FROM messages WHERE label = 'nonrecord' ORDER BY id LIMIT 1")
    sql(archive, "DELETE FROM messages WHERE id = ?", packed(record_id))
    found(cli, archive, f"tombstone {record_id} (audit entry", "missing from the catalog")


def test_an_edited_tombstone(cli: CliRunner, archive: Path) -> None:
    record_id = one(archive, "SELECT id FROM messages WHERE label = 'nonrecord' ORDER BY id LIMIT 1")
    with catalog_db(archive) as db:
        no_reasons = stored(db, "reasons", "[]")
    sql(archive, "UPDATE messages SET reasons = ? WHERE id = ?", no_reasons, packed(record_id))
    found(cli, archive, f"tombstone {record_id}: changed in the catalog")


def test_a_deleted_quarantine_row(cli: CliRunner, archive: Path) -> None:
    sql(archive, "DELETE FROM quarantine")
    found(cli, archive, "quarantine item of export", "missing from the catalog or changed")


def test_a_deleted_export_row(cli: CliRunner, archive: Path) -> None:
    sql(archive, "DELETE FROM exports WHERE rowid = (SELECT MIN(rowid) FROM exports)")
    found(cli, archive, "its row is missing from the catalog or changed")


def test_a_deleted_segment_row(cli: CliRunner, archive: Path) -> None:
    name = one(archive, SEGMENT)
    sql(archive, "DELETE FROM segments WHERE name = ?", name)
    found(cli, archive, f"segment {name}: sealed manifest in the store, but its catalog row is missing")


def test_a_deleted_record_row(cli: CliRunner, archive: Path) -> None:
    record_id = one(archive, RECORD)
    sql(archive, "DELETE FROM messages WHERE id = ?", packed(record_id))
    found(cli, archive, f"record {record_id} of segment seg/", "missing from the catalog")


def test_a_deleted_hold_row(cli: CliRunner, archive: Path) -> None:
    sql(archive, "DELETE FROM holds")
    found(cli, archive, "hold CASE-1 (placed in audit entry", "missing from the catalog")


def test_a_store_hold_lifted_behind_the_archivers_back(cli: CliRunner, archive: Path) -> None:
    segment = one(archive, SEGMENT)
    sidecar = archive / "archive" / "objects" / (segment + ".lock")
    document = json.loads(sidecar.read_text())
    assert document["legal_hold"] is True
    sidecar.write_text(json.dumps({**document, "legal_hold": False}))
    found(cli, archive, f"object {segment} (segment {segment}): an active hold covers it, "
                        "but the store does not hold it")


def test_an_unfinished_act_is_noted_not_called_damage(cli: CliRunner, archive: Path) -> None:
    sql(archive, "INSERT INTO intents (name, document) VALUES ('dispose:seg/x', '{}')")
    result = cli("verify", cwd=archive)
    assert result.code == 0, result.out
    assert "note: dispose:seg/x: begun by a command that did not finish" in result.out


def test_a_hold_released_in_the_catalog_only(cli: CliRunner, archive: Path) -> None:
    document = json.loads(one(archive, "SELECT document FROM holds"))
    document.update(released_at="2026-01-01T00:00:00+00:00", released_by="x", release_reason="x")
    sql(archive, "UPDATE holds SET document = ?", json.dumps(document))
    found(cli, archive, "hold CASE-1: released in the catalog, but not so in the audit log")


def test_the_last_audit_entries_deleted(cli: CliRunner, archive: Path) -> None:
    last = int(one(archive, "SELECT MAX(seq) FROM audit"))
    sql(archive, "DELETE FROM audit WHERE seq > ?", last - 2)
    found(cli, archive, f"audit log: ends at entry {last - 2}, but the store's sealed audit head is at entry {last}")


def test_every_audit_entry_deleted(cli: CliRunner, archive: Path) -> None:
    last = one(archive, "SELECT MAX(seq) FROM audit")
    sql(archive, "DELETE FROM audit")
    found(cli, archive, f"audit log: empty in the catalog, but the store's sealed audit head is at entry {last}")


def test_an_audit_entry_edited_and_the_chain_recomputed(cli: CliRunner, archive: Path) -> None:
    """The old unkeyed chain could be recomputed by anyone; the keyed one cannot."""
    with catalog_db(archive) as db:
        entries = db.execute("SELECT seq, at, actor, action, case_id, detail FROM audit ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, at, actor, action, case_id, detail in entries:
            if seq == 2:
                detail = json.dumps({**json.loads(detail), "records": 0}, sort_keys=True)
            event = AuditEvent(actor, action, parse_instant(at), json.loads(detail), case_id)
            hashed = entry_hash(seq, event, prev)
            db.execute("UPDATE audit SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                       (detail, prev, hashed, seq))
            prev = hashed
    found(cli, archive, "audit log: keyed from entry 1 per the sealed audit head, but the catalog's chain is not "
          "keyed (rewritten without the key)", "differs from the sealed audit head in the store")


def test_an_audit_entry_edited_after_the_keyed_ones(cli: CliRunner, archive: Path) -> None:
    """Rewriting only the newest entry, unkeyed, is named too."""
    with catalog_db(archive) as db:
        seq, at, actor, action, case_id, detail, prev = db.execute(
            "SELECT seq, at, actor, action, case_id, detail, prev_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        event = AuditEvent("someone else", action, parse_instant(at), json.loads(detail), case_id)
        db.execute("UPDATE audit SET actor = ?, hash = ? WHERE seq = ?",
                   (event.actor, entry_hash(seq, event, prev), seq))
    found(cli, archive, f"audit entry {seq}: unkeyed, but the chain is keyed from entry 1")


def test_verify_waits_for_a_writer(cli: CliRunner, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify takes the archive's lock in shared mode: while an ingest holds it, verify waits."""
    from archiver.config import load_settings
    from archiver.storage.archive import Archive
    from archiver.storage.catalog import sqlite as sqlite_catalog

    monkeypatch.setattr(sqlite_catalog, "LOCK_WAIT_SECONDS", 0.3)
    writer = Archive.open(load_settings(cwd=archive))
    try:
        with writer.catalog.exclusive():
            result = cli("verify", cwd=archive)
    finally:
        writer.close()
    assert result.code == 1 and result.out == "" and "another archiver process holds the archive" in result.err
    assert cli("verify", cwd=archive).code == 0


def test_an_archive_from_before_manifests_and_the_keyed_chain_verifies(cli: CliRunner, archive: Path,
                                                                       samples: list[Path]) -> None:
    """Older archives have no manifests, no audit heads and an unkeyed chain whose entries carry no
    digests: they verify clean, with a note, and keep doing so once new entries are keyed."""
    objects = archive / "archive" / "objects"
    for folder in ("manifest", "audit"):
        for path in sorted((objects / folder).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    with catalog_db(archive) as db:
        entries = db.execute("SELECT at, actor, action, case_id, detail FROM audit WHERE action != 'tombstones' "
                             "ORDER BY seq").fetchall()
        db.execute("DELETE FROM audit")
        prev = "0" * 64
        for seq, (at, actor, action, case_id, detail) in enumerate(entries, start=1):
            old = {k: v for k, v in json.loads(detail).items() if k not in ("manifest", "export_digest", "rows")}
            event = AuditEvent(actor, action, parse_instant(at), old, case_id)
            prev, hashed = entry_hash(seq, event, prev), prev
            db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (seq, at, actor, action, case_id, json.dumps(old, sort_keys=True), hashed, prev))
    result = cli("verify", cwd=archive)
    assert result.code == 0, result.out
    assert "note: audit entries 1-" in result.out and "written before segment manifests" in result.out
    extra = archive / "extra.jsonl"
    extra.write_text(json.dumps({"source": "jsonl", "conversation": "c", "sender": "Jorge Rivera",
                                 "recipients": ["ana@cbp.dhs.gov"], "sent_at": "2026-02-01T10:00:00Z",
                                 "body": "Approved: move the inspection to lane 4 tomorrow", "attachments": [],
                                 "direction": "sent", "account": "personal", "custodian": "Jorge Rivera"}) + "\n")
    assert cli("ingest", extra, *INGEST, cwd=archive).code == 0
    upgraded = cli("verify", "--deep", cwd=archive)
    assert upgraded.code == 0, upgraded.out
    assert "predate the keyed chain" in upgraded.out


# -- the same checks on the DynamoDB catalog (moto) -------------------------------------------------

TABLE = "archiver-catalog"


@pytest.fixture
def on_dynamodb(cli: CliRunner, tmp_path: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A clean archive whose catalog is a DynamoDB table, and a client to tamper with it."""
    with moto_dynamodb(monkeypatch):
        monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
        assert cli("init").code == 0
        assert cli("ingest", *samples, *INGEST).code == 0
        assert cli("hold", "place", "CASE-1", "--reason", "litigation").code == 0
        clean = cli("verify")
        assert clean.code == 0, clean.out
        yield boto3.client("dynamodb")


def _items(client: Any, partition: str) -> list[dict[str, Any]]:
    return client.query(TableName=TABLE, KeyConditionExpression="pk = :pk",
                        ExpressionAttributeValues={":pk": {"S": partition}})["Items"]  # type: ignore[no-any-return]


def test_dynamodb_an_edited_record_row(cli: CliRunner, on_dynamodb: Any) -> None:
    # One not already "copied" (the scan's order varies), so the edit really changes the row.
    [item] = [i for i in on_dynamodb.scan(TableName=TABLE)["Items"]
              if i.get("type", {}).get("S") == "message" and i["label"]["S"] == "record"
              and i.get("forwarding_status", {}).get("S") != "copied"][:1]
    on_dynamodb.update_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]},
                            UpdateExpression="SET forwarding_status = :s",
                            ExpressionAttributeValues={":s": {"S": "copied"}})
    found(cli, Path.cwd(), f"record {item['id']['S']}: 2911 status in catalog differs from its sealed manifest")


def test_dynamodb_deleted_hold_and_export_rows(cli: CliRunner, on_dynamodb: Any) -> None:
    for partition in ("holds", "exports"):
        item = _items(on_dynamodb, partition)[0]
        on_dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    found(cli, Path.cwd(), "hold CASE-1 (placed in audit entry", "its row is missing from the catalog or changed")


def test_dynamodb_the_last_audit_entries_deleted(cli: CliRunner, on_dynamodb: Any) -> None:
    entries = _items(on_dynamodb, "audit")
    for item in entries[-2:]:
        on_dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    kept = entries[-3]
    on_dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "audit-head"}, "sk": {"S": "head"},
                                                "type": {"S": "audit-head"}, "seq": kept["seq"], "hash": kept["hash"]})
    last = int(entries[-1]["seq"]["N"])
    found(cli, Path.cwd(), f"audit log: ends at entry {last - 2}, but the store's sealed audit head is at entry {last}")
