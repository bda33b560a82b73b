"""What only the DynamoDB catalog has: table creation, chunked transactions and their recovery,
retries, the lease of the writer lock, AWS errors, and the whole CLI run against it (moto)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

import archiver.storage.catalog.dynamodb_lock as dynamodb_lock
import archiver.storage.catalog.dynamodb_table as dynamodb_table
from archiver.errors import CatalogError, ConfigError, UsageError
from archiver.storage.audit import verify_chain
from archiver.storage.catalog import CommitBatch, NoticeRow, QuarantineRow, open_catalog
from archiver.storage.catalog.dynamodb import DynamoCatalog
from tests.conftest import SAMPLES, CliRunner
from tests.test_catalog_contract import (
    CUSTODIAN,
    T0,
    event,
    fake_aws_env,
    make_moto_transactions_atomic,
    make_row,
    moto_dynamodb,
    segment_batch,
)

TABLE = "archiver-catalog"
INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with moto_dynamodb(monkeypatch):
        yield


@pytest.fixture
def catalog(aws: None) -> Iterator[DynamoCatalog]:
    opened = DynamoCatalog(TABLE, create=True)
    yield opened
    opened.close()


def scan(table: str = TABLE) -> list[dict[str, Any]]:
    """Every item of the table, page after page."""
    items: list[dict[str, Any]] = []
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return items


def transactions(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Record the TransactItems of every transaction the catalog sends."""
    sent: list[list[dict[str, Any]]] = []
    original = catalog._client.transact_write_items

    def recording(**kwargs: Any) -> Any:
        sent.append(kwargs["TransactItems"])
        return original(**kwargs)

    monkeypatch.setattr(catalog._client, "transact_write_items", recording)
    return sent


def keys_of(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(operation, pk, sk) of each element of a transaction."""
    found = []
    for element in items:
        (kind, body), = element.items()
        key = body.get("Item") or body["Key"]
        found.append((kind, key["pk"]["S"], key["sk"]["S"]))
    return found


# -- the table ---------------------------------------------------------------------------------


def test_init_creates_the_table_encrypted_recoverable_and_indexed(aws: None) -> None:
    catalog = DynamoCatalog(TABLE, create=True)
    client = boto3.client("dynamodb")

    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert {i["IndexName"]: ([k["AttributeName"] for k in i["KeySchema"]], i["Projection"]["ProjectionType"])
            for i in table["GlobalSecondaryIndexes"]} == {
        f"gsi{n}": ([f"gsi{n}pk", f"gsi{n}sk"], "ALL") for n in range(1, 5)}
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["DeletionProtectionEnabled"] is True
    backups = client.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert catalog.create_if_missing() is False


def test_a_missing_table_is_a_clear_error_until_init(aws: None, cli: CliRunner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist; run 'archiver init'"):
        DynamoCatalog("no-such-table")
    assert cli("init").code == 0  # a key file, and a catalog elsewhere
    monkeypatch.setenv("ARCHIVER_CATALOG", "dynamodb://no-such-table")

    refused = cli("report", "forwarding")
    assert refused.code == 2
    assert "DynamoDB table no-such-table does not exist" in refused.err and "Traceback" not in refused.err
    assert cli("init").code == 0
    assert cli("report", "forwarding", "--json").code == 0


def test_a_table_of_another_shape_is_refused(aws: None) -> None:
    boto3.client("dynamodb").create_table(
        TableName="other", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])

    with pytest.raises(ConfigError, match="not an archiver catalog"):
        DynamoCatalog("other")
    with pytest.raises(ConfigError, match="not an archiver catalog"):
        DynamoCatalog("other", create=True)


def test_catalog_urls(aws: None, tmp_path: Path) -> None:
    opened = open_catalog("dynamodb://regional-table?region=eu-west-1", tmp_path, create=True)
    assert isinstance(opened, DynamoCatalog)
    assert opened._client.meta.region_name == "eu-west-1"
    with pytest.raises(ConfigError, match="does not exist in eu-west-1"):
        open_catalog("dynamodb://other-table?region=eu-west-1", tmp_path)
    for bad in ("dynamodb://", "dynamodb://ab", "dynamodb://table/path", "dynamodb://ta:ble",
                "dynamodb://table?colour=blue"):
        with pytest.raises(ConfigError):
            open_catalog(bad, tmp_path)
    with pytest.raises(UsageError, match="sqlite:///PATH or dynamodb://TABLE"):
        open_catalog("postgres://db", tmp_path)


# -- errors from AWS ---------------------------------------------------------------------------


def test_missing_credentials_and_region_are_configuration_errors(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # offline: no instance-role lookup
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    with pytest.raises(ConfigError, match="no AWS credentials found"):
        DynamoCatalog(TABLE)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match="no AWS region"):
        DynamoCatalog(TABLE)


@pytest.mark.parametrize(("code", "exit_code", "says"), [
    ("AccessDeniedException", 2, "access denied (AccessDeniedException: not authorized)"),
    ("ProvisionedThroughputExceededException", 1, "throttling requests and retries did not get through"),
    ("InternalServerError", 1, "InternalServerError: not authorized"),
])
def test_aws_refusals_are_one_line_errors(aws: None, cli: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                          code: str, exit_code: int, says: str) -> None:
    monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
    assert cli("init").code == 0
    make_api_call = BaseClient._make_api_call

    def refuse_queries(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "Query":  # as botocore reports it once its own retries are spent
            raise ClientError({"Error": {"Code": code, "Message": "not authorized"}}, operation)
        return make_api_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse_queries)
    result = cli("report", "forwarding")

    assert result.code == exit_code
    assert result.err.startswith(f"archiver: error: DynamoDB table {TABLE}: ") and says in result.err
    assert "Traceback" not in result.err


def test_unprocessed_keys_and_items_are_retried(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [make_row(n) for n in range(150)]
    catalog.commit([CommitBatch(rows)])
    get, write = catalog._client.batch_get_item, catalog._client.batch_write_item
    held_back = {"get": 0, "write": 0}

    def partial_get(RequestItems: dict[str, Any]) -> Any:  # noqa: N803 - boto3's parameter name
        request = RequestItems[TABLE]
        if held_back["get"] < 2 and len(request["Keys"]) > 1:
            held_back["get"] += 1
            half = len(request["Keys"]) // 2
            answer = get(RequestItems={TABLE: {**request, "Keys": request["Keys"][:half]}})
            answer["UnprocessedKeys"] = {TABLE: {**request, "Keys": request["Keys"][half:]}}
            return answer
        return get(RequestItems=RequestItems)

    def partial_write(RequestItems: dict[str, Any]) -> Any:  # noqa: N803
        if held_back["write"] < 2:
            held_back["write"] += 1
            return {"UnprocessedItems": RequestItems}
        return write(RequestItems=RequestItems)

    monkeypatch.setattr(catalog._client, "batch_get_item", partial_get)
    monkeypatch.setattr(catalog._client, "batch_write_item", partial_write)

    assert len(catalog.known_labels([r.id for r in rows])) == 150
    catalog.begin_segments([f"seg/x/{n}" for n in range(30)])
    assert len(catalog.pending_segments()) == 30
    assert held_back == {"get": 2, "write": 2}

    monkeypatch.setattr(dynamodb_table, "MAX_UNPROCESSED_RETRIES", 2)
    monkeypatch.setattr(catalog._client, "batch_write_item", lambda RequestItems: {"UnprocessedItems": RequestItems})
    with pytest.raises(CatalogError, match="throttling writes"):
        catalog.begin_segments(["seg/y"])


# -- transactions, chunks and recovery -----------------------------------------------------------


def test_a_big_segment_is_split_and_its_pending_mark_goes_in_the_last_transaction(
        catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "seg/2033-12-31/big"
    rows = [make_row(n, fingerprint=f"fp{n}") for n in range(1000)]
    catalog.begin_segments([name])
    sent = transactions(catalog, monkeypatch)

    catalog.commit([segment_batch(name, rows, [(r.id, ["common", f"w{n}"]) for n, r in enumerate(rows)])])

    assert len(sent) > 10 and all(len(items) <= 100 for items in sent)
    last = keys_of(sent[-1])
    assert ("Delete", "pending", name) in last and ("Put", "segments", name) in last
    assert [k for k in last if k[1] in ("audit", "audit-head")] == [("Put", "audit", f"{1:020d}"),
                                                                    ("Put", "audit-head", "head")]
    assert all(k[1] not in ("pending", "segments", "audit") for items in sent[:-1] for k in keys_of(items))
    row_puts = [k for items in sent for k in keys_of(items) if k[1].startswith("msg#")]
    assert len(row_puts) == len(set(row_puts)) == 1000


def test_a_crash_between_chunks_is_recovered_without_duplicates(catalog: DynamoCatalog,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    name = "seg/2033-12-31/crash"
    rows = [make_row(n) for n in range(600)]
    batch = segment_batch(name, rows, [(r.id, ["common"]) for r in rows])
    catalog.begin_segments([name])
    transact = catalog._transact
    calls = {"n": 0}

    def dies_after_three(ops: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise CatalogError("connection lost")  # the process dies here, between chunks
        transact(ops)

    monkeypatch.setattr(catalog, "_transact", dies_after_three)
    with pytest.raises(CatalogError, match="connection lost"):
        catalog.commit([batch])

    written = len(catalog.known_labels([r.id for r in rows]))
    assert 0 < written < 600
    assert catalog.pending_segments() == [name] and list(catalog.segments()) == []
    assert list(catalog.audit_entries()) == []

    monkeypatch.setattr(catalog, "_transact", transact)
    sent = transactions(catalog, monkeypatch)
    catalog.commit([batch])  # what recovery does with a pending segment found in the store

    row_puts = [k for items in sent for k in keys_of(items) if k[1].startswith("msg#")]
    assert len(row_puts) == 600 - written
    assert catalog.pending_segments() == [] and [s.name for s in catalog.segments()] == [name]
    assert [r.id for r in catalog.segment_rows(name)] == [r.id for r in batch.rows]
    assert len(catalog.search_tokens(["common"])) == 600
    entries = list(catalog.audit_entries())
    assert verify_chain(entries) == [] and [e.event.action for e in entries] == ["store-segment"]
    assert sum(item["pk"]["S"].startswith("msg#") for item in scan()) == 600


def test_a_writer_that_lost_the_race_for_the_audit_head_retries(catalog: DynamoCatalog,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    other = DynamoCatalog(TABLE)
    transact = catalog._transact
    attempts = []

    def other_appends_first(ops: Any) -> None:
        attempts.append(len(ops))
        if len(attempts) == 1:
            other.append_audit(event("search", by="other"))  # lands between our read and our write
        transact(ops)

    monkeypatch.setattr(catalog, "_transact", other_appends_first)
    entry = catalog.append_audit(event("search", by="us"))

    assert len(attempts) == 2
    entries = list(catalog.audit_entries())
    assert verify_chain(entries) == []
    assert [e.event.detail["by"] for e in entries] == ["other", "us"] and entry == entries[1]


def test_review_decision_commit_is_one_transaction(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    review = segment_batch("review/2026-06-01/r", [make_row(1, label="review")], [(f"{1:032x}", ["word"])])
    catalog.commit([review])
    sent = transactions(catalog, monkeypatch)

    filed = segment_batch("seg/2033-12-31/f", [make_row(1)], [(f"{1:032x}", ["word"])])
    catalog.commit([filed, CommitBatch([], audit=event("review-decide"))])

    assert len(sent) == 1
    assert [e.event.action for e in catalog.audit_entries()] == ["store-segment", "store-segment", "review-decide"]


def test_search_leaves_out_a_review_item_settled_as_nonrecord(catalog: DynamoCatalog) -> None:
    batch = segment_batch("review/2026-06-01/r", [make_row(1, label="review"), make_row(2, label="review")],
                          [(f"{1:032x}", ["word"]), (f"{2:032x}", ["word"])])
    catalog.commit([batch])

    catalog.commit([CommitBatch([replace(batch.rows[1], label="nonrecord")])])

    assert catalog.search_tokens(["word"]) == {batch.rows[0].id}


# -- the writer lock's lease -------------------------------------------------------------------


def put_lock(owner: str, expires_in: float) -> None:
    boto3.client("dynamodb").put_item(TableName=TABLE, Item={
        "pk": {"S": "lock"}, "sk": {"S": "writer"}, "owner": {"S": owner},
        "expires": {"N": str(int((time.time() + expires_in) * 1000))}})


def test_a_lock_left_by_a_stopped_process_lapses(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_lock, "LOCK_WAIT_SECONDS", 0.3)
    put_lock("someone-alive", 60)
    with pytest.raises(CatalogError, match="holds the archive"), catalog.exclusive():
        pass

    put_lock("someone-killed", -1)
    with catalog.exclusive():
        pass


def test_the_lease_is_renewed_while_the_lock_is_held(catalog: DynamoCatalog,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_lock, "LOCK_LEASE_SECONDS", 0.4)
    monkeypatch.setattr(dynamodb_lock, "LOCK_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(dynamodb_lock, "LOCK_POLL_SECONDS", 0.1)
    second = DynamoCatalog(TABLE)
    with catalog.exclusive():
        started = time.monotonic()
        with pytest.raises(CatalogError, match="holds the archive"), second.exclusive():
            pass
        assert time.monotonic() - started > 0.9  # well past one lease: it was renewed meanwhile


def test_a_lock_taken_over_is_reported(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_lock, "LOCK_LEASE_SECONDS", 0.4)
    with pytest.raises(CatalogError, match="lock lapsed during this run"), catalog.exclusive():
        put_lock("another-process", 60)
        time.sleep(0.3)


# -- the CLI, end to end -------------------------------------------------------------------------


def run_archive(cli: CliRunner, folder: Path, key: Path | None = None) -> dict[str, Any]:
    """init, ingest the samples, the forwarding report and verify, in ``folder``; their outputs."""
    folder.mkdir()
    shutil.copytree(SAMPLES, folder / "samples")
    if key is not None:
        shutil.copy(key, folder / "archiver.key")  # the same key: the same ids in both archives
    assert cli("init", cwd=folder).code == 0
    files = sorted(str(p.relative_to(folder)) for pattern in ("*.txt", "*.zip", "*.jsonl")
                   for p in (folder / "samples").glob(pattern))
    ingest = cli("ingest", *files, *INGEST, "--json", cwd=folder)
    assert ingest.code == 0, ingest.err
    again = cli("ingest", *files, *INGEST, "--json", cwd=folder)
    report = cli("report", "forwarding", "--json", cwd=folder)
    verify = cli("verify", "--json", cwd=folder)
    assert report.code == 0 and verify.code == 0, report.err + verify.err
    return {"ingest": ingest.json(), "again": again.json(), "report": _steady(report.json()),
            "verify": verify.json()}


def _steady(value: Any) -> Any:
    """The report without the moments of this run (when it was made, when exports were ingested)."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in ("generated_at", "last_sync", "ingested_at")}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def sample_texts(cli: CliRunner) -> set[str]:
    """Bodies, names and titles of the sample messages: none of them may reach DynamoDB."""
    texts: set[str | None] = set()
    for path in SAMPLES.iterdir():
        parsed = cli("parse", path, "--tz", "America/Phoenix", "--custodian", CUSTODIAN)
        assert parsed.code == 0, parsed.err
        for message in cast(list[dict[str, Any]], parsed.lines()):
            texts |= {message["body"], message["conversation"], message["sender"], *message["recipients"],
                      *(a["name"] for a in message["attachments"])}
    return {t for t in texts if t and len(t) >= 8 and t != CUSTODIAN and not t.startswith("<")}


def test_the_cli_on_dynamodb_matches_sqlite_and_stores_no_text(aws: None, cli: CliRunner, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    on_sqlite = run_archive(cli, tmp_path / "sqlite")
    monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")

    on_dynamodb = run_archive(cli, tmp_path / "dynamodb", key=tmp_path / "sqlite" / "archiver.key")

    assert on_dynamodb["verify"]["ok"] is True and on_dynamodb["verify"]["problems"] == []
    assert on_dynamodb["ingest"]["records"] == 28 and on_dynamodb["again"]["duplicates"] == 38
    assert on_dynamodb == on_sqlite
    dump = json.dumps(scan(), ensure_ascii=False)
    texts = sample_texts(cli)
    assert len(texts) > 30
    assert [t for t in texts if t in dump] == []


def test_a_crashed_cli_ingest_is_finished_by_the_next_one(aws: None, cli: CliRunner, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expected = run_archive(cli, tmp_path / "sqlite")
    monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
    folder = tmp_path / "dynamodb"
    transact = DynamoCatalog._transact
    calls = {"n": 0}

    def dies_on_the_second(self: DynamoCatalog, ops: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise CatalogError("connection lost")
        transact(self, ops)

    folder.mkdir()
    shutil.copy(tmp_path / "sqlite" / "archiver.key", folder / "archiver.key")
    assert cli("init", cwd=folder).code == 0
    monkeypatch.setattr(DynamoCatalog, "_transact", dies_on_the_second)
    files = [str(p) for pattern in ("*.txt", "*.zip", "*.jsonl") for p in sorted(SAMPLES.glob(pattern))]
    crashed = cli("ingest", *files, *INGEST, cwd=folder)
    assert crashed.code == 1 and "connection lost" in crashed.err
    monkeypatch.setattr(DynamoCatalog, "_transact", transact)
    catalog = DynamoCatalog(TABLE)
    assert catalog.pending_segments() != []

    assert cli("ingest", *files, *INGEST, cwd=folder).code == 0
    assert catalog.pending_segments() == []
    report = cli("report", "forwarding", "--json", cwd=folder)
    verify = cli("verify", "--json", cwd=folder)
    assert _steady(report.json()) == expected["report"]
    assert verify.json()["ok"] is True  # type: ignore[index]
    assert verify.json()["records"] == 28  # type: ignore[index]


def test_the_cli_over_http_against_a_moto_server(cli: CliRunner, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_env(monkeypatch)
    make_moto_transactions_atomic(monkeypatch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        monkeypatch.setenv("ARCHIVER_CATALOG", "dynamodb://archiver-over-http")

        result = run_archive(cli, tmp_path / "http")
        assert result["verify"]["ok"] is True and result["verify"]["records"] == 28

        # A cancelled transaction's reasons come back over the wire and the writer retries.
        first, second = DynamoCatalog("archiver-over-http"), DynamoCatalog("archiver-over-http")
        transact = first._transact
        tries: list[int] = []

        def interleaved(ops: Any) -> None:
            tries.append(1)
            if len(tries) == 1:
                second.append_audit(event("search"))
            transact(ops)

        monkeypatch.setattr(first, "_transact", interleaved)
        first.append_audit(event("search"))
        assert len(tries) == 2 and verify_chain(first.audit_entries()) == []
    finally:
        server.stop()


def test_index_entries_follow_a_replaced_row(catalog: DynamoCatalog) -> None:
    catalog.commit([CommitBatch([make_row(1, label="review"), make_row(2, custodian="b")])])

    catalog.commit([CommitBatch([make_row(1, rules_version="decided")])])

    assert [r.id for r in catalog.rows(label="review")] == []
    assert [r.rules_version for r in catalog.rows(custodian=CUSTODIAN, label="record")] == ["decided"]
    assert [(r.custodian, r.label) for r in catalog.rows()] == [(CUSTODIAN, "record"), ("b", "record")]


def test_every_listing_follows_the_pages(catalog: DynamoCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [make_row(n, custodian="a" if n % 2 else "b", label="record" if n % 3 else "review") for n in range(60)]
    catalog.commit([segment_batch(f"seg/2033-12-31/{n}", rows[n * 10:n * 10 + 10]) for n in range(6)])
    catalog.begin_segments([f"seg/pending/{n}" for n in range(20)])
    catalog.add_quarantine([QuarantineRow("q" * 64, "f", n, "bad", None, T0) for n in range(20)], None)
    catalog.record_notice([NoticeRow(f"k{n:02d}", "late", "a", (), "s", T0, None) for n in range(20)], event("notice"))
    query = catalog._client.query
    pages = []

    def small_pages(**kwargs: Any) -> Any:
        pages.append(kwargs.get("ExclusiveStartKey"))
        return query(**kwargs, Limit=7)

    monkeypatch.setattr(catalog._client, "query", small_pages)

    assert [r.id for r in catalog.rows()] == [r.id for r in sorted(rows, key=lambda r: (r.custodian, r.sent_at))]
    assert len(list(catalog.rows(label="review"))) == 20
    assert len(list(catalog.segments())) == 6 and len(catalog.pending_segments()) == 20
    assert len(list(catalog.quarantine())) == 20 and len(list(catalog.notices())) == 20
    assert len(list(catalog.audit_entries())) == 7
    assert sum(start is not None for start in pages) >= 10  # each listing above needed several pages
