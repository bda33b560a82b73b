"""Notifiers deliver 2911 notices: a mail folder or an SMTP relay locally, SNS or SES in AWS.

Chosen by URL (``notifier`` setting): ``mailfile://DIR``, ``smtp://HOST[:PORT]``,
``sns://TOPIC-ARN``, ``ses://REGION``. A notifier raises ``NotifierError`` when a notice
could not be handed over; the sweep then stops, and the next sweep sends what is left.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

from archiver.errors import ArchiverError, UsageError
from archiver.services.notices import Notice

SMTP_TIMEOUT_SECONDS = 30


class NotifierError(ArchiverError):
    """A notice could not be delivered; nothing was recorded as sent."""


class Notifier(Protocol):
    """Delivers one notice; returns the delivery's message id."""

    def send(self, notice: Notice, sender: str) -> str: ...


def email_message(notice: Notice, sender: str) -> EmailMessage:
    """The notice as an RFC 5322 message; its Message-ID derives from the notice's keys."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(notice.to)
    message["Subject"] = notice.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=_notice_id(notice)[:24], domain="records-archiver")
    message["X-Archiver-Notice"] = notice.kind
    message.set_content(notice.body)
    return message


class MailFileNotifier:
    """Writes each notice as an ``.eml`` file in a folder (for a mail pickup or for review)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, notice: Notice, sender: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_notice_id(notice)}.eml"
        if path.exists():  # written by a sweep that stopped before recording it
            return path.name
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(bytes(email_message(notice, sender)))
            os.replace(tmp, path)
        except OSError as exc:
            raise NotifierError(f"{path}: cannot write notice ({exc.strerror})") from None
        return path.name


class SmtpNotifier:
    """Hands each notice to an SMTP relay."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def send(self, notice: Notice, sender: str) -> str:
        message = email_message(notice, sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifierError(f"SMTP relay {self.host}:{self.port} refused the notice: {exc}") from None
        return str(message["Message-ID"])


class SnsNotifier:
    """Publishes each notice to an SNS topic (subscribers fan it out by e-mail or SMS)."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        import boto3  # imported here: it costs a third of a second, paid only by AWS notifiers

        self.topic_arn = topic_arn
        self.client = client or boto3.client("sns")

    def send(self, notice: Notice, sender: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.publish(
                TopicArn=self.topic_arn, Subject=notice.subject[:100], Message=notice.body,
                MessageAttributes={"kind": {"DataType": "String", "StringValue": notice.kind},
                                   "custodian": {"DataType": "String", "StringValue": notice.custodian},
                                   "to": {"DataType": "String", "StringValue": ", ".join(notice.to)}})
        except (BotoCoreError, ClientError) as exc:
            raise NotifierError(f"SNS topic {self.topic_arn} refused the notice: {exc}") from None
        return str(response["MessageId"])


class SesNotifier:
    """Sends each notice as an e-mail through Amazon SES."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        import boto3

        self.client = client or boto3.client("ses", region_name=region or None)

    def send(self, notice: Notice, sender: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.send_email(
                Source=sender, Destination={"ToAddresses": list(notice.to)},
                Message={"Subject": {"Data": notice.subject}, "Body": {"Text": {"Data": notice.body}}})
        except (BotoCoreError, ClientError) as exc:
            raise NotifierError(f"SES refused the notice to {', '.join(notice.to)}: {exc}") from None
        return str(response["MessageId"])


def open_notifier(url: str, base_dir: Path) -> Notifier:
    """The notifier a ``notifier`` URL names."""
    scheme, _, rest = url.partition("://")
    if scheme == "mailfile" and rest:
        folder = Path(rest)
        return MailFileNotifier(folder if folder.is_absolute() else base_dir / folder)
    if scheme == "smtp" and rest:
        host, _, port = rest.partition(":")
        return SmtpNotifier(host, int(port) if port.isdigit() else 25)
    if scheme == "sns" and rest.startswith("arn:"):
        return SnsNotifier(rest)
    if scheme == "ses":
        return SesNotifier(rest or None)
    raise UsageError(f"unsupported notifier {url!r}; use mailfile://DIR, smtp://HOST:PORT, sns://TOPIC-ARN "
                     "or ses://REGION")


def _notice_id(notice: Notice) -> str:
    return hashlib.sha256("\n".join(notice.keys).encode()).hexdigest()[:32]
