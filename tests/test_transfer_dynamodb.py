"""A transfer of any size on the DynamoDB catalog (400 KB per item): the record list is a sealed
object in the store, the catalog document and the audit entry stay small.

moto answers a few hundred records a second here, so the test transfers 300 and checks that the
document and the audit entry stay within a few KB, where listing the ids took 36 bytes a record
(over 400 KB from about 11,000 records)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.conftest import CliRunner
from tests.test_catalog_contract import moto_dynamodb
from tests.test_transfer import AGENCY, NOW

TABLE = "agency-records-catalog"
RECORDS = 300
SMALL = 4_000  # bytes: what a transfer's catalog document or audit entry may take, whatever its size


@pytest.fixture
def big_archive(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Capstone records of 2008 on a DynamoDB catalog, due for transfer."""
    with moto_dynamodb(monkeypatch):
        monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
        monkeypatch.setenv("ARCHIVER_ACTOR", "records-officer")  # init makes it the first admin
        assert cli("init").code == 0
        with (tmp_path / "archiver.yaml").open("a", encoding="utf-8") as config:
            config.write("default_role: capstone\n")
        lines = "".join(json.dumps({"source": "signal", "conversation": "Lane 4", "sender": "Sgt. Lee",
                                    "recipients": ["Ana Diaz"], "direction": "received", "account": "personal",
                                    "attachments": [], "body": f"truck {n} released",
                                    "sent_at": f"2008-03-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"})
                        + "\n" for n in range(RECORDS))
        (tmp_path / "lee.jsonl").write_text(lines, encoding="utf-8")
        ingest = cli("ingest", tmp_path / "lee.jsonl", "--custodian", "Jorge Rivera", "--json")
        assert ingest.code == 0 and ingest.json()["records"] == RECORDS, ingest.err  # type: ignore[index]
        from archiver.cli import common
        monkeypatch.setattr(common, "now", lambda: NOW)
        yield tmp_path


def _audit_entries(action: str) -> list[dict[str, object]]:
    """The DynamoDB items of the audit entries of ``action``."""
    pages = boto3.client("dynamodb").get_paginator("query").paginate(
        TableName=TABLE, KeyConditionExpression="pk = :audit", FilterExpression="#action = :action",
        ExpressionAttributeNames={"#action": "action"},
        ExpressionAttributeValues={":audit": {"S": "audit"}, ":action": {"S": action}})
    return [item for page in pages for item in page["Items"]]


def test_a_transfer_keeps_a_small_document_and_audit_entry_on_dynamodb(cli: CliRunner, big_archive: Path) -> None:
    plan = cli("transfer", "plan", "--out", big_archive / "plan.json", "--json")
    assert plan.code == 0 and plan.json()["records"] == RECORDS, plan.err  # type: ignore[index]
    done = cli("transfer", "export", big_archive / "plan.json", "--out", big_archive / "nara", "--agency", AGENCY,
               "--json")
    assert done.code == 0, done.err
    transfer_id = done.json()["id"]  # type: ignore[index]
    document = boto3.client("dynamodb").get_item(TableName=TABLE, Key={
        "pk": {"S": "doc#nara-transfer"}, "sk": {"S": transfer_id}})["Item"]
    assert len(json.dumps(document)) < SMALL and json.loads(document["document"]["S"])["records"] == RECORDS
    [entry] = _audit_entries("transfer-export")
    assert len(json.dumps(entry)) < SMALL
    listed = cli("transfer", "list", "--json").json()
    assert [(t["id"], t["records"]) for t in listed] == [(transfer_id, RECORDS)]  # type: ignore[union-attr]
    assert cli("transfer", "confirm", transfer_id, "--accession", "64-26-0042", "--reason", "accepted").code == 0
    disposal = cli("dispose", "plan", "--json").json()
    assert disposal["records"] == RECORDS  # type: ignore[index]
    verify = cli("verify", "--json")
    assert verify.code == 0 and verify.json()["ok"], verify.out + verify.err
