"""Notifiers deliver a notice as mail file, over SMTP, to SNS or through SES."""

from __future__ import annotations

import email
import socket
from pathlib import Path

import boto3
import pytest
from aiosmtpd.controller import Controller
from moto import mock_aws

from archiver.errors import UsageError
from archiver.services.notices import Notice
from archiver.services.notifiers import (
    MailFileNotifier,
    NotifierError,
    SesNotifier,
    SmtpNotifier,
    SnsNotifier,
    open_notifier,
)

NOTICE = Notice("late-records", "j.rivera", ("chief@cbp.dhs.gov", "records@cbp.dhs.gov"),
                "2911 late: 1 record(s) of j.rivera archived after the deadline", "record abc 3 day(s) late\n",
                ("late-records/abc",))
SENDER = "records-archiver@cbp.dhs.gov"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_mail_file_is_a_readable_message_written_once(tmp_path: Path) -> None:
    notifier = MailFileNotifier(tmp_path / "notices")
    first = notifier.send(NOTICE, SENDER)
    assert notifier.send(NOTICE, SENDER) == first
    [path] = list((tmp_path / "notices").iterdir())
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "chief@cbp.dhs.gov, records@cbp.dhs.gov" and message["From"] == SENDER
    assert message["X-Archiver-Notice"] == "late-records" and "3 day(s) late" in message.get_payload()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_smtp_relay_receives_the_notice() -> None:
    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        SmtpNotifier("127.0.0.1", port).send(NOTICE, SENDER)
    finally:
        controller.stop()
    [(sender, recipients, content)] = inbox.messages
    assert sender == SENDER and recipients == list(NOTICE.to) and b"3 day(s) late" in content


def test_smtp_relay_down_is_a_notifier_error() -> None:
    with pytest.raises(NotifierError, match="127.0.0.1:9"):
        SmtpNotifier("127.0.0.1", 9).send(NOTICE, SENDER)


@mock_aws
def test_sns_topic_receives_the_notice(aws: None) -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="archiver-notices")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    assert SnsNotifier(topic, client=sns).send(NOTICE, SENDER)
    [received] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert "3 day(s) late" in received["Body"] and "j.rivera" in received["Body"]


@mock_aws
def test_sns_unknown_topic_is_a_notifier_error(aws: None) -> None:
    with pytest.raises(NotifierError, match="SNS"):
        SnsNotifier("arn:aws:sns:us-east-1:123456789012:missing", client=boto3.client("sns")).send(NOTICE, SENDER)


@mock_aws
def test_ses_sends_from_a_verified_sender(aws: None) -> None:
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    assert SesNotifier(client=ses).send(NOTICE, SENDER)
    assert ses.get_send_quota()["SentLast24Hours"] == len(NOTICE.to)  # counted per recipient


@mock_aws
def test_ses_unverified_sender_is_a_notifier_error(aws: None) -> None:
    with pytest.raises(NotifierError, match="SES refused"):
        SesNotifier(client=boto3.client("ses")).send(NOTICE, SENDER)


def test_notifier_urls(tmp_path: Path) -> None:
    assert isinstance(open_notifier("mailfile://notices", tmp_path), MailFileNotifier)
    smtp = open_notifier("smtp://relay.agency.gov:2525", tmp_path)
    assert isinstance(smtp, SmtpNotifier) and (smtp.host, smtp.port) == ("relay.agency.gov", 2525)
    with pytest.raises(UsageError, match="unsupported notifier"):
        open_notifier("carrier-pigeon://coop", tmp_path)
