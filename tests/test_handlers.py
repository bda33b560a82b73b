"""The Lambda handlers are called directly with AWS-shaped events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from archiver.handlers import sweep_handler
from tests.conftest import CliRunner

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
    monkeypatch.chdir(archive_dir)

    # A month after registration (registered just now, on the real clock).
    event = {**SCHEDULED_EVENT, "time": (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()}
    first = sweep_handler(event, None)
    again = sweep_handler(event, None)
    assert (first["sent"], first["problems"]) == (1, [])  # never synced since registration: at risk
    assert (again["sent"], again["already_sent"]) == (0, 1)
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert "has never been synced" in json.loads(message["Body"])["Message"]
