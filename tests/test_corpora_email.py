"""The email connectors on real messages from other projects (../shared/corpora/email).

CPython's and the Ruby ``mail`` gem's fixtures are parser tests, not saved mail: several have
no Date (so, here, no time to archive them at) or are not messages at all. Each must give a
message or a clear InputError, never a crash; the refused ones are listed with the reason.
Mail::MboxParser's ``expected.json`` gives the message count, which message has the attachment
and which have a signature; the senders and first/last dates it does not state are checked
against the messages' own Date and From headers. Skipped when the corpora are absent.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import Message
from connectors.email import EmailConnector, MboxConnector
from connectors.outlook_msg import OutlookMsgConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
EMAIL = CORPORA / "email"
if not EMAIL.is_dir():
    pytest.skip(f"corpora not found at {EMAIL}", allow_module_level=True)

CONTEXT = ParseContext(custodian="corpus-test")
MESSAGES = sorted(p for p in EMAIL.rglob("*") if p.suffix == ".eml" or re.fullmatch(r"msg_\w+\.txt", p.name))
NO_DATE = "no usable Date header and no dated Received header"
NOT_EMAIL = "not an email message: it has no header fields"
REFUSED = {
    **{f"cpython-test_email/msg_{n}.txt": NO_DATE
       for n in ("05", "11", "18", "21", "23", "24", "28", "30", "31", "34", "35", "37", "38", "39", "40", "42", "45")},
    "cpython-test_email/msg_19.txt": NOT_EMAIL,  # a digest's body part alone
    "mikel-mail/rfc2822/example13.eml": NOT_EMAIL,  # obsolete "Field  : value" syntax the stdlib does not read
    **{f"mikel-mail/{name}.eml": NO_DATE
       for name in ("error_emails/bad_encoded_subject", "error_emails/invalid_subject_characters",
                    "error_emails/multiple_content_types", "error_emails/multiple_invalid_content_dispositions",
                    "error_emails/multiple_references_with_one_invalid", "multi_charset/japanese",
                    "multi_charset/japanese_iso_2022", "rfc6532/utf8_headers")},
}  # fmt: skip


def one(path: Path) -> Message:
    items = list(EmailConnector().parse(path, CONTEXT))
    assert len(items) == 1 and isinstance(items[0], Message)
    return items[0]


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: str(p.relative_to(EMAIL)))
def test_every_message_parses_or_is_refused_clearly(path: Path) -> None:
    name = str(path.relative_to(EMAIL))
    try:
        message = one(path)
    except InputError as exc:
        assert REFUSED.get(name) == exc.cause
        return
    assert name not in REFUSED
    assert message.sent_at.tzinfo is not None and message.source == "email"
    json.dumps(message.to_json(), ensure_ascii=False).encode()  # every string is valid Unicode


def test_sniffing_over_every_corpus() -> None:
    files = [p for p in CORPORA.rglob("*") if p.is_file()]
    assert [p for p in files if OutlookMsgConnector().sniff(p)] == []
    enveloped = {p for p in files if p.read_bytes().lstrip(b"\r\n").startswith(b"From ")}
    assert {p for p in files if MboxConnector().sniff(p)} == enveloped  # a saved message with its "From " line
    claimed = {p for p in files if EmailConnector().sniff(p)}
    assert all(EMAIL in p.parents for p in claimed)  # no chat export of another app is taken for an email
    assert not claimed & enveloped
    assert set(MESSAGES) - claimed - enveloped == {
        EMAIL / "cpython-test_email" / n for n in ("msg_19.txt", "msg_37.txt")
    }


def test_a_message_with_an_envelope_line_reads_the_same_as_an_mbox() -> None:
    enveloped = [
        p for p in MESSAGES if p.read_bytes().startswith(b"From ") and str(p.relative_to(EMAIL)) not in REFUSED
    ]
    assert len(enveloped) > 20
    for path in enveloped:
        items = list(MboxConnector().parse(path, CONTEXT))
        assert len(items) == 1 and isinstance(items[0], Message), path
        as_mbox, as_eml = items[0], one(path)
        # the mbox reader drops the blank line that ends each message of a mailbox; nothing else differs
        assert as_mbox.body == as_eml.body or as_mbox.body + "\n" == as_eml.body or as_mbox.attachments, path
        assert as_mbox.to_json() | {"body": None, "attachments": None, "source_ref": None} == as_eml.to_json() | {
            "body": None,
            "attachments": None,
            "source_ref": None,
        }, path
        assert [a.name for a in as_mbox.attachments] == [a.name for a in as_eml.attachments], path


def test_mboxparser_testbox() -> None:
    spec = json.loads((EMAIL / "mail-mboxparser" / "expected.json").read_text(encoding="utf-8"))["testbox.mbox"]
    items = list(MboxConnector().parse(EMAIL / "mail-mboxparser" / "testbox.mbox", CONTEXT))
    messages = [i for i in items if isinstance(i, Message)]
    assert len(items) == len(messages) == spec["message_count"]
    assert [m.source_ref.line for m in messages] == [2, 38, 98, 166, 212, 272, 333, 411, 489]  # the "From " lines
    assert messages[3].attachments == ()
    assert [a.name for a in messages[8].attachments] == spec["message_8_zero_based"]["attachments"]
    signed = [n for n, m in enumerate(messages) if re.search(r"^-- ?$", m.body, re.MULTILINE)]
    assert signed == spec["signature_present_in"]
    assert messages[0].sent_at == datetime(1998, 2, 26, 16, 23, 40, tzinfo=timezone(timedelta(hours=-6)))
    assert messages[-1].sent_at == datetime(2001, 7, 6, 16, 43, 7, tzinfo=timezone(timedelta(hours=2)))
    assert [m.sender for m in messages].count("Perl Authors Upload Server <upload@p11.speed-link.de>") == 6
    assert {messages[0].sender, messages[5].sender, messages[8].sender} == {
        "Robin Friedrich <friedrich@pythonpros.com>", "PAUSE <upload@p11.speed-link.de>",
        "Mark Overmeer <markov@ATComputing.nl>"}  # fmt: skip


def test_cpython_mbox_keeps_an_unquoted_from_line_in_the_body() -> None:
    items = list(MboxConnector().parse(EMAIL / "cpython-test_email" / "mailbox_01.mbox", CONTEXT))
    assert len(items) == 1  # "From time to time" does not open a second message
    assert isinstance(items[0], Rejection) and items[0].reason == NO_DATE  # the one message has no Date


def test_langchain_attachment() -> None:
    message = one(EMAIL / "langchain" / "fake-email-attachment.eml")
    assert message.sender == "Mallori Harrell <mallori@unstructured.io>"
    assert message.recipients == ("Mallori Harrell <mallori@unstructured.io>",)
    assert message.conversation == "Fake email with attachment"
    assert message.body.startswith("Hello!\n\nHere's the attachments!\n\nIt includes:\n\n   - Lots of whitespace\n")
    assert [(a.name, a.media_type, a.content) for a in message.attachments] == [
        ("fake-attachment.txt", "text/plain", b"Hey this is a fake attachment!")
    ]


@pytest.mark.parametrize(("name", "attachment"), [
    ("attachment_emails/attachment_nonascii_filename.eml", "ciële.txt"),
    ("attachment_emails/attachment_with_unquoted_name.eml", "This is a test.txt"),
    ("attachment_emails/attachment_with_base64_encoded_name.eml", "This is a test.pdf"),
    ("multi_charset/japanese_attachment.eml", "てすと.txt"),
    ("attachment_emails/attachment_message_rfc822.eml", "ForwardedMessage.eml"),
])  # fmt: skip
def test_mikel_attachment_names(name: str, attachment: str) -> None:
    assert attachment in [a.name for a in one(EMAIL / "mikel-mail" / name).attachments]


def test_mikel_charsets() -> None:
    assert one(EMAIL / "mikel-mail" / "multi_charset" / "japanese_shift_jis.eml").body.startswith("あいうえお\n")
    assert one(EMAIL / "mikel-mail" / "multi_charset" / "ks_c_5601-1987.eml").body == "스티해\n"
    mixed = one(EMAIL / "mikel-mail" / "plain_emails" / "raw_email_with_partially_quoted_subject.eml")
    assert mixed.conversation == 'Test: "漢字" mid "漢字" tail'


def test_mikel_crlf_and_lf_twins_read_the_same() -> None:
    for crlf, lf in [("plain_emails/basic_email.eml", "plain_emails/basic_email_lf.eml"),
                     ("attachment_emails/attachment_pdf.eml", "attachment_emails/attachment_pdf_lf.eml")]:  # fmt: skip
        first, second = one(EMAIL / "mikel-mail" / crlf), one(EMAIL / "mikel-mail" / lf)
        assert first.content_key() == second.content_key()
