"""The Lambda handlers are called directly with AWS-shaped events."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from archiver.config import load_settings
from archiver.handlers import disposition_handler, inbox_export, ingest_handler, sweep_handler
from archiver.services.ingest import Ingestor
from archiver.storage.archive import Archive
from tests.conftest import SAMPLES, CliRunner

SCHEDULED_EVENT = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-03-01T06:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/archiver-daily-2911-sweep"], "detail": {},
}


@mock_aws
def test_scheduled_sweep_publishes_to_sns(cli: CliRunner, archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="archiver-notices")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    monkeypatch.setenv("ARCHIVER_NOTIFIER", f"sns://{topic}")
    monkeypatch.setenv("ARCHIVER_RECORDS_OFFICER", "records@cbp.dhs.gov")
    cli("custodian", "add", "j.rivera", "--supervisor", "chief@cbp.dhs.gov", "--personal", "whatsapp:+15205550100")
    assert cli("role", "grant", boto3.client("sts").get_caller_identity()["Arn"], "records-officer").code == 0
    monkeypatch.chdir(archive_dir)

    # A month after registration (registered just now, on the real clock).
    event = {**SCHEDULED_EVENT, "time": (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()}
    first = sweep_handler(event, None)
    again = sweep_handler(event, None)
    assert (first["sent"], first["problems"]) == (1, [])  # never synced since registration: at risk
    assert (again["sent"], again["already_sent"]) == (0, 1)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert "has never been synced" in json.loads(message["Body"])["Message"]


# ---- ingest_handler: an export dropped in the inbox bucket -----------------------------------------

INBOX = "records-archiver-ci-inbox-123456789012-us-east-1"
FUNCTION = "arn:aws:sts::123456789012:user/moto"  # the functions' principal, as moto's STS answers it
UPLOADED = "2026-10-05T15:30:00.000Z"
CUSTODIAN = "josé.rivera"  # custodian ids may be any letters, as `archiver custodian add` accepts


def _s3_event(key: str, size: int, bucket: str = INBOX) -> dict[str, Any]:
    """An S3 ObjectCreated notification as Lambda receives it (key URL-encoded, '+' for spaces)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": UPLOADED,
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.20"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest-exports",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                          "sequencer": "0A1B2C3D4E5F678901"}},
    }]}


@pytest.fixture
def lambda_archive(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local archive configured only through ARCHIVER_* (as a function is), an inbox bucket in
    moto, and a private temporary folder standing for Lambda's /tmp."""
    home = tmp_path / "archive-home"
    home.mkdir()
    assert cli("init", cwd=home).code == 0
    assert cli("custodian", "add", CUSTODIAN, "--name", "Jorge Rivera", "--tz", "America/Phoenix", cwd=home).code == 0
    for role in ("inbox", "records-officer"):  # what an admin grants the functions' role
        assert cli("role", "grant", FUNCTION, role, cwd=home).code == 0
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "ARCHIVER_STORE": str(home / "archive"),
                        "ARCHIVER_CATALOG": f"sqlite:///{home / 'archive' / 'catalog.sqlite'}",
                        "ARCHIVER_KEY": f"file://{home / 'archiver.key'}"}.items():
        monkeypatch.setenv(name, value)
    task = tmp_path / "var-task"  # the function's working folder: no archiver.yaml there
    task.mkdir()
    monkeypatch.chdir(task)
    scratch = tmp_path / "lambda-tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=INBOX)
        yield scratch


def _put(key: str, data: bytes) -> dict[str, Any]:
    boto3.client("s3").put_object(Bucket=INBOX, Key=key, Body=data)
    return _s3_event(key, len(data))


def _inbox_keys() -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=INBOX).get("Contents", [])]


def _audit(action: str) -> list[Any]:
    with closing(Archive.open(load_settings())) as archive:
        return [e.event for e in archive.catalog.audit_entries() if e.event.action == action]


@pytest.mark.parametrize("sample", [p.name for p in sorted(SAMPLES.iterdir())])
def test_inbox_export_is_ingested_like_the_cli_and_removed(
        sample: str, lambda_archive: Path, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # The same export through the CLI, into an archive of its own where the custodian is registered
    # alike (the name tells which messages the custodian sent), gives the expected receipt.
    reference = tmp_path / "reference"
    reference.mkdir()
    with monkeypatch.context() as env:
        for name in ("ARCHIVER_STORE", "ARCHIVER_CATALOG", "ARCHIVER_KEY"):
            env.delenv(name)
        assert cli("init", cwd=reference).code == 0
        assert cli("custodian", "add", CUSTODIAN, "--name", "Jorge Rivera", "--tz", "America/Phoenix",
                   cwd=reference).code == 0
        expected = cli("ingest", "--custodian", CUSTODIAN, "--tz", "America/Phoenix", "--json",
                       SAMPLES / sample, cwd=reference).json()
    assert isinstance(expected, dict) and expected["parsed"] > 0

    sample_name = sample.replace("Ruiz", "Ruíz")  # spaces (sent as '+') and a non-ASCII letter in the key
    seen: list[tuple[int, int, bool]] = []
    real_run = Ingestor.run

    def watched_run(self: Ingestor, paths: list[Path]) -> Any:
        [path] = paths
        seen.append((path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777, path.name == sample_name))
        return real_run(self, paths)

    monkeypatch.setattr(Ingestor, "run", watched_run)
    key = f"inbox/{CUSTODIAN}/{sample_name}"
    caplog.set_level(logging.INFO, logger="archiver.handlers")
    summary = ingest_handler(_put(key, (SAMPLES / sample).read_bytes()), None)

    [result] = summary["exports"]
    counts = ("parsed", "records", "nonrecords", "in_review", "duplicates", "quarantined")
    assert result == {"custodian": CUSTODIAN, **{n: expected[n] for n in counts}, "refused": 0,
                      "removed_from_inbox": True}
    assert seen == [(0o600, 0o700, True)]  # plaintext only in a private file under a private folder
    assert list(lambda_archive.iterdir()) == []  # and gone once ingested
    assert _inbox_keys() == []
    [entry] = _audit("ingest")
    assert entry.actor == FUNCTION  # the function's own principal
    assert entry.at == datetime(2026, 10, 5, 15, 30, tzinfo=timezone.utc)  # handed over when uploaded
    assert "Ruíz" not in caplog.text and "Ruiz" not in caplog.text  # file names carry chat titles

    again = ingest_handler(_put(key, (SAMPLES / sample).read_bytes()), None)["exports"][0]
    assert (again["duplicates"], again["records"]) == (expected["parsed"] - expected["quarantined"], 0)


def test_key_with_plus_sign_is_decoded(lambda_archive: Path) -> None:
    event = _s3_event("inbox/a+b@agency.gov/chat export.txt", 1)
    assert event["Records"][0]["s3"]["object"]["key"] == "inbox%2Fa%2Bb%40agency.gov%2Fchat+export.txt"
    export = inbox_export(event["Records"][0])
    assert (export.custodian, export.file_name) == ("a+b@agency.gov", "chat export.txt")


@pytest.mark.parametrize("key", [
    "exports/WhatsApp Chat with Comandante Ruiz.txt",                # outside the inbox
    "WhatsApp Chat with Comandante Ruiz.txt",                        # at the top of the bucket
    "inbox/WhatsApp Chat with Comandante Ruiz.txt",                  # no custodian
    f"inbox/{CUSTODIAN}/2026/WhatsApp Chat with Comandante Ruiz.txt",  # a folder too deep
    "inbox/j rivera!/WhatsApp Chat with Comandante Ruiz.txt",        # not a custodian id
    f"inbox/{CUSTODIAN}/",                                           # a folder, no file
])
def test_object_outside_the_inbox_layout_is_reported_and_left(
        key: str, lambda_archive: Path, caplog: pytest.LogCaptureFixture) -> None:
    summary = ingest_handler(_put(key, (SAMPLES / "WhatsApp Chat with Comandante Ruiz.txt").read_bytes()), None)
    [result] = summary["exports"]
    assert set(result) == {"error"}
    assert "inbox/<custodian-id>/<file name>" in result["error"] or "custodian id" in result["error"]
    assert "Comandante" not in result["error"] and "Comandante" not in caplog.text
    assert _inbox_keys() == [key]
    assert _audit("ingest") == []


def test_unreadable_export_is_kept_sealed_and_removed(lambda_archive: Path) -> None:
    # An unregistered custodian with no time zone: the WhatsApp export cannot be dated and is refused.
    key = "inbox/a.diaz/WhatsApp Chat with Comandante Ruiz.txt"
    result = ingest_handler(_put(key, (SAMPLES / "WhatsApp Chat with Comandante Ruiz.txt").read_bytes()),
                            None)["exports"][0]
    assert (result["refused"], result["records"], result["removed_from_inbox"]) == (1, 0, True)
    assert _inbox_keys() == []
    with closing(Archive.open(load_settings())) as archive:
        assert list(archive.store.list("quarantine/"))  # the sealed copy the officer's records wait in


def test_export_gone_before_it_was_read_is_reported(lambda_archive: Path) -> None:
    result = ingest_handler(_s3_event(f"inbox/{CUSTODIAN}/export.txt", 10), None)["exports"][0]
    assert result["custodian"] == CUSTODIAN and "no longer in the inbox" in result["error"]
    assert list(lambda_archive.iterdir()) == []


def test_event_without_records_does_nothing(lambda_archive: Path) -> None:
    assert ingest_handler({}, None) == {"exports": []}


# ---- disposition_handler -----------------------------------------------------------------------------

def test_scheduled_disposition_only_plans(lambda_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_DEFAULT_ROLE", "support")  # GRS 6.1 item 012: destroyed after 3 years
    sample = SAMPLES / "WhatsApp Chat with Comandante Ruiz.txt"
    ingested = ingest_handler(_put(f"inbox/{CUSTODIAN}/{sample.name}", sample.read_bytes()), None)["exports"][0]
    assert ingested["records"] > 0

    early = disposition_handler({**SCHEDULED_EVENT, "time": "2026-10-06T07:00:00Z"}, None)
    assert (early["as_of"], early["segments_eligible"], early["records_eligible"]) == ("2026-10-06", 0, 0)
    due = disposition_handler({**SCHEDULED_EVENT, "time": "2040-01-01T07:00:00Z"}, None)
    assert due["executed"] is False and due["records_eligible"] == ingested["records"]
    assert _audit("dispose") == []  # planned for review: nothing destroyed without an approval
    with closing(Archive.open(load_settings())) as archive:
        assert all(archive.store.exists(s.name) for s in archive.catalog.segments())
        assert json.loads(archive.store.get(due["plan"]))["records"] == ingested["records"]


def test_plaintext_left_by_a_timed_out_invocation_is_removed(
        lambda_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = lambda_archive / "archiver-inbox-k3j2h1"
    stale.mkdir(mode=0o700)
    (stale / "WhatsApp Chat with Comandante Ruiz.txt").write_text("9/28/26, 7:05 AM - Comandante Ruiz: ...")
    ingest_handler({}, None)
    assert stale.exists()  # outside Lambda another process may be using it
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "messaging-records-archiver-ci-ingest")
    ingest_handler({}, None)
    assert list(lambda_archive.iterdir()) == []


def test_ingest_over_real_http(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path through boto3's HTTP stack: a non-ASCII key on the wire, download and delete."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        home = tmp_path / "archive-home"
        home.mkdir()
        assert cli("init", cwd=home).code == 0
        assert cli("role", "grant", FUNCTION, "inbox", cwd=home).code == 0
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                            "ARCHIVER_TIMEZONE": "America/Phoenix"}.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=INBOX)
        sample = SAMPLES / "WhatsApp Chat - Port Ops Nogales.zip"
        key = f"inbox/{CUSTODIAN}/{sample.name.replace('Nogales', 'Nogalés')}"
        s3.put_object(Bucket=INBOX, Key=key, Body=sample.read_bytes())
        monkeypatch.chdir(home)
        [result] = ingest_handler(_s3_event(key, sample.stat().st_size), None)["exports"]
        assert result["records"] > 0 and result["refused"] == 0 and result["removed_from_inbox"]
        assert s3.list_objects_v2(Bucket=INBOX)["KeyCount"] == 0
    finally:
        server.stop()
