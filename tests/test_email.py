"""The .eml and .mbox connectors on small messages built here (all fiction, example.* domains)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import email as email_connector
from connectors._mail import TZ_REQUIRED, html_to_text, thread_title
from connectors.email import EmailConnector, MboxConnector
from tests.hostile import EDITS, mutate, read_or_refused

NEW_YORK = ZoneInfo("America/New_York")
CONTEXT = ParseContext(custodian="rortiz", custodian_names=("Rosa Ortiz", "rosa.ortiz@example.gov"), tz=None,
                       export_sha256="cd" * 32)  # fmt: skip


def context(tz: ZoneInfo | None = None) -> ParseContext:
    return ParseContext(CONTEXT.custodian, CONTEXT.account, tz, CONTEXT.custodian_names, CONTEXT.export_sha256)


def mail(headers: str = "", body: str = "Lane 4 closes at noon.\n", **fields: str) -> str:
    """A small RFC 5322 message; ``fields`` override the default header values (None-like "" drops one)."""
    values = {
        "From": "Dana Whitfield <dana@example.com>",
        "To": "Rosa Ortiz <rosa.ortiz@example.gov>",
        "Subject": "Checkpoint schedule",
        "Date": "Tue, 05 Mar 2024 09:15:00 -0500",
        "Message-ID": "<1@example.com>",
    }
    values.update({k.replace("_", "-"): v for k, v in fields.items()})
    lines = [f"{name}: {value}" for name, value in values.items() if value]
    return "\n".join(lines) + ("\n" + headers.strip("\n") if headers else "") + "\n\n" + body


def write(tmp_path: Path, text: str | bytes, name: str = "message.eml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def parse_eml(path: Path, tz: ZoneInfo | None = None) -> Message:
    items = list(EmailConnector().parse(path, context(tz)))
    assert len(items) == 1 and isinstance(items[0], Message), items
    return items[0]


def parse_mbox(path: Path, tz: ZoneInfo | None = None) -> list[ParsedItem]:
    return list(MboxConnector().parse(path, context(tz)))


def mbox(*messages: str, separator: str = "From dana@example.com Tue Mar  5 14:15:00 2024\n") -> str:
    """Messages joined mbox style: a separator line before each, a blank line after each."""
    return "".join(separator + m + ("" if m.endswith("\n") else "\n") + "\n" for m in messages)


# --- .eml: who, when, what ---------------------------------------------------------------


def test_plain_message_fields(tmp_path: Path) -> None:
    text = mail(
        Cc="Omar Haddad <omar@example.org>, lee@example.net",
        Bcc="audit@example.gov",
        Subject="RE: Fwd: Re:  Checkpoint schedule",
        body="Line one\n\n  indented  twice  \nlast",
    )
    message = parse_eml(write(tmp_path, text))
    assert message.source == "email"
    assert message.sender == "Dana Whitfield <dana@example.com>"
    assert message.recipients == (
        "Rosa Ortiz <rosa.ortiz@example.gov>",
        "Omar Haddad <omar@example.org>",
        "lee@example.net",
        "audit@example.gov",
    )
    assert message.sent_at == datetime(2024, 3, 5, 14, 15, tzinfo=UTC)
    assert message.sent_at.utcoffset() == timedelta(hours=-5)
    assert message.conversation == "Checkpoint schedule"
    assert message.body == "Line one\n\n  indented  twice  \nlast"
    assert message.direction == "received"
    assert message.flags == () and message.attachments == () and not message.system
    assert message.custodian == "rortiz" and message.account == "personal"
    assert message.source_ref.file == "message.eml" and message.source_ref.export_sha256 == "cd" * 32


@pytest.mark.parametrize(
    "sender", ["Rosa Ortiz <rosa@example.com>", "Someone <rosa.ortiz@example.gov>", "rosa.ortiz@example.gov"]
)
def test_sent_when_from_is_the_custodian(tmp_path: Path, sender: str) -> None:
    assert parse_eml(write(tmp_path, mail(From=sender))).direction == "sent"


def test_crlf_lines_read_as_lf_and_nothing_else_changes(tmp_path: Path) -> None:
    text = mail(body="first  \r\n\r\n\tsecond\r\n").replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    assert parse_eml(write(tmp_path, text)).body == "first  \n\n\tsecond\n"


def test_encoded_words_and_raw_utf8_headers(tmp_path: Path) -> None:
    text = mail(
        From="=?ISO-8859-1?Q?Jos=E9_Mu=F1oz?= <jose@example.com>",
        Subject="=?UTF-8?B?UmU6IEluZm9ybWUgZGUgbGEgc2VtYW5h?=",
        To="Zoë Brandt <zoe@exämple.com>",
    )
    message = parse_eml(write(tmp_path, text))
    assert message.sender == "José Muñoz <jose@example.com>"
    assert message.conversation == "Informe de la semana"
    assert message.recipients == ("Zoë Brandt <zoe@exämple.com>",)


def test_multiple_from_addresses_are_all_kept(tmp_path: Path) -> None:
    message = parse_eml(write(tmp_path, mail(From="Ann Lee <ann@example.com>, bo@example.com")))
    assert message.sender == "Ann Lee <ann@example.com>, bo@example.com"


def test_no_recipients_is_flagged(tmp_path: Path) -> None:
    message = parse_eml(write(tmp_path, mail(To="undisclosed-recipients:;")))
    assert message.recipients == () and message.flags == (FLAG_RECIPIENTS_UNKNOWN,)


def test_missing_subject_and_from(tmp_path: Path) -> None:
    message = parse_eml(write(tmp_path, mail(Subject="", From="", headers="Sender: desk@example.org")))
    assert message.conversation == "(no subject)" and message.sender == "desk@example.org"


@pytest.mark.parametrize(("subject", "title"), [("Re: RE: re:x", "x"), ("FW: Fwd: y", "y"), ("RV: Reenviar: z", "z"),
                                                ("Re[2]: w", "w"), ("Regards from the desk", "Regards from the desk"),
                                                ("Re:", "(no subject)")])  # fmt: skip
def test_thread_title(subject: str, title: str) -> None:
    assert thread_title(subject) == title


# --- dates ------------------------------------------------------------------------------------


def test_zoneless_date_needs_tz(tmp_path: Path) -> None:
    path = write(tmp_path, mail(Date="Tue, 05 Mar 2024 09:15:00"))
    with pytest.raises(InputError, match="--tz"):
        list(EmailConnector().parse(path, context()))
    assert parse_eml(path, NEW_YORK).sent_at == datetime(2024, 3, 5, 9, 15, tzinfo=NEW_YORK)


def test_minus_zero_zone_is_utc(tmp_path: Path) -> None:
    message = parse_eml(write(tmp_path, mail(Date="Tue, 05 Mar 2024 09:15:00 -0000")))
    assert message.sent_at == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)


def test_missing_date_falls_back_to_first_received(tmp_path: Path) -> None:
    received = (
        "Received: from relay.example.net by mx.example.gov; Tue, 05 Mar 2024 10:00:09 -0500\n"
        "Received: from desk.example.com by relay.example.net; Tue, 05 Mar 2024 15:00:02 +0000"
    )
    message = parse_eml(write(tmp_path, mail(Date="garbage date", headers=received)))
    assert message.sent_at == datetime(2024, 3, 5, 15, 0, 2, tzinfo=UTC)


def test_no_date_at_all_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no usable Date"):
        list(EmailConnector().parse(write(tmp_path, mail(Date="")), context()))


# --- bodies, charsets and attachments --------------------------------------------------------


def multipart(*parts: str, kind: str = "mixed", boundary: str = "b1") -> str:
    body = "".join(f"--{boundary}\n{part.strip(chr(10))}\n" for part in parts) + f"--{boundary}--\n"
    return mail(headers=f'MIME-Version: 1.0\nContent-Type: multipart/{kind}; boundary="{boundary}"', body=body)


def test_charsets_are_decoded(tmp_path: Path) -> None:
    latin = mail(
        headers="Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit", body=""
    ).encode() + "Señal en la garita\n".encode("iso-8859-1")
    assert parse_eml(write(tmp_path, latin)).body == "Señal en la garita\n"
    sjis = mail(
        headers="Content-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: base64",
        body=base64.b64encode("検問所".encode("shift_jis")).decode() + "\n",
    )
    assert parse_eml(write(tmp_path, sjis)).body == "検問所"


def test_unknown_and_missing_charsets_fall_back(tmp_path: Path) -> None:
    unknown = mail(headers="Content-Type: text/plain; charset=x-no-such-charset", body="").encode() + b"caf\xe9\n"
    assert parse_eml(write(tmp_path, unknown)).body == "café\n"  # Latin-1 when not UTF-8
    undeclared = mail(body="").encode() + "café\n".encode()
    assert parse_eml(write(tmp_path, undeclared)).body == "café\n"  # UTF-8 when valid
    invalid = mail(headers="Content-Type: text/plain; charset=utf-8", body="").encode() + b"ok \xff\n"
    assert parse_eml(write(tmp_path, invalid)).body == "ok \ufffd\n"


def test_alternative_keeps_plain_body_only(tmp_path: Path) -> None:
    text = multipart(
        "Content-Type: text/plain\n\nPlain words\n",
        "Content-Type: text/html\n\n<p>Plain words</p>\n",
        kind="alternative",
    )
    message = parse_eml(write(tmp_path, text))
    assert message.body == "Plain words" and message.attachments == ()


def test_html_only_body_becomes_text_and_html_is_kept(tmp_path: Path) -> None:
    html = "<html><head><style>p {}</style></head><body><p>Gate&nbsp;3 &amp; 4</p>closed<br>today</body></html>"
    message = parse_eml(write(tmp_path, mail(headers="Content-Type: text/html; charset=utf-8", body=html)))
    assert message.body == "Gate\xa03 & 4\nclosed\ntoday"
    assert [(a.name, a.media_type, a.size) for a in message.attachments] == [(None, "text/html", len(html))]


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<![bogus[ x") == "<![bogus[ x"
    assert html_to_text("<style>unclosed<body>kept") == "unclosedkept"  # never hide text for good
    assert html_to_text("<style>p {}</style><title>T</title>a<script>x()</script>b") == "ab"


def test_attachments_keep_bytes_names_and_types(tmp_path: Path) -> None:
    pdf = b"%PDF-1.4 fictional report\x00\x01"
    forwarded = mail(From="Lee <lee@example.net>", Subject="Original", body="Inner text\n")
    text = multipart(
        "Content-Type: text/plain\n\nSee attached.\n",
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename*=utf-8''Informe%20%C3%A1rea.pdf\n\n"
        + base64.b64encode(pdf).decode()
        + "\n",
        "Content-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"\x89PNG fake").decode()
        + "\n",
        'Content-Type: text/plain; name="=?utf-8?Q?notas_d=C3=ADa.txt?="\n\nday notes\n',
        "Content-Type: message/rfc822\n\n" + forwarded,
    )
    message = parse_eml(write(tmp_path, text))
    assert message.body == "See attached."
    names = [(a.name, a.media_type) for a in message.attachments]
    assert names == [
        ("Informe área.pdf", "application/pdf"),
        (None, "image/png"),
        ("notas día.txt", "text/plain"),
        (None, "message/rfc822"),
    ]
    report = message.attachments[0]
    assert report.content == pdf and report.size == len(pdf) and report.sha256 == hashlib.sha256(pdf).hexdigest()
    inner = message.attachments[3].content or b""
    assert b"Subject: Original" in inner and inner.endswith(b"Inner text")
    assert not any(a.missing for a in message.attachments) and FLAG_ATTACHMENT_MISSING not in message.flags


def test_attachment_only_message(tmp_path: Path) -> None:
    text = mail(
        headers="Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=a.bin",
        body="raw bytes\n",
    )
    message = parse_eml(write(tmp_path, text))
    assert message.body == "" and [a.name for a in message.attachments] == ["a.bin"]


def test_delivery_report_is_a_system_message(tmp_path: Path) -> None:
    text = multipart(
        "Content-Type: text/plain\n\nDelivery failed.\n",
        "Content-Type: message/delivery-status\n\nStatus: 5.1.1\n",
        kind="report",
    )
    message = parse_eml(write(tmp_path, text))
    assert message.system and message.body == "Delivery failed."


def test_body_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_connector, "BODY_CAP", 10)
    with pytest.raises(InputError, match="body is longer"):
        list(EmailConnector().parse(write(tmp_path, mail(body="x" * 11)), context()))


# --- .eml: whole-file problems ---------------------------------------------------------------


def test_whole_file_problems(tmp_path: Path) -> None:
    connector = EmailConnector()
    with pytest.raises(InputError, match="empty file"):
        list(connector.parse(write(tmp_path, b""), context()))
    with pytest.raises(InputError, match="no such file"):
        list(connector.parse(tmp_path / "absent.eml", context()))
    with pytest.raises(InputError, match="directory"):
        list(connector.parse(tmp_path, context()))
    with pytest.raises(InputError, match="no header fields"):
        list(connector.parse(write(tmp_path, "just some words\nand more\n"), context()))
    big = tmp_path / "big.eml"
    with big.open("wb") as handle:
        handle.truncate(64 * 1024**2 + 1)  # sparse: only the size is looked at
    with pytest.raises(InputError, match="larger than 64 MiB"):
        list(connector.parse(big, context()))


def test_truncated_message(tmp_path: Path) -> None:
    text = multipart(
        "Content-Type: text/plain\n\nSee attached.\n",
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n",
    )
    message = parse_eml(write(tmp_path, text[: text.index("JVBER") + 4]))
    assert message.body == "See attached." and message.attachments[0].content == b"%PD"
    with pytest.raises(InputError):
        list(EmailConnector().parse(write(tmp_path, text[:30]), context()))


# --- sniffing -----------------------------------------------------------------------------


def test_sniff_tells_formats_apart(tmp_path: Path) -> None:
    eml = write(tmp_path, mail(), "a.eml")
    box = write(tmp_path, mbox(mail()), "a.mbox")
    others = [
        write(tmp_path, "12/03/2024, 10:00 - Dana: Subject: hi\n", "whatsapp.txt"),
        write(tmp_path, json.dumps({"sent_at": "2024-01-01T00:00:00Z", "body": "x", "from": "a"}) + "\n", "a.jsonl"),
        write(tmp_path, "BEGIN:VCARD\nVERSION:3.0\nFN:Dana\nEND:VCARD\n", "a.vcf"),
        write(tmp_path, '<?xml version="1.0"?>\n<smses count="0"/>\n', "sms.xml"),
        write(tmp_path, bytes(range(256)) * 4, "random.bin"),
        write(tmp_path, "Dear team: the gate opens at 9\nRegards\n", "x.txt"),
    ]
    assert EmailConnector().sniff(eml) and not EmailConnector().sniff(box)
    assert MboxConnector().sniff(box) and not MboxConnector().sniff(eml)
    for other in [*others, tmp_path / "absent", tmp_path]:
        assert not EmailConnector().sniff(other), other
        assert not MboxConnector().sniff(other), other


# --- mbox -------------------------------------------------------------------------------------


def test_mbox_messages_in_order_with_line_numbers(tmp_path: Path) -> None:
    text = mbox(
        mail(Subject="one", body="first\n"), mail(Subject="Re: one", From="rosa.ortiz@example.gov", body="second\n\n")
    )
    items = parse_mbox(write(tmp_path, "\n" + text, "box.mbox"))
    assert all(isinstance(i, Message) for i in items)
    messages = [i for i in items if isinstance(i, Message)]
    assert [(m.conversation, m.body, m.direction) for m in messages] == [
        ("one", "first\n", "received"),
        ("one", "second\n\n", "sent"),
    ]
    assert [m.source_ref.line for m in messages] == [2, 11]


def test_mbox_from_escaping(tmp_path: Path) -> None:
    body = ">From the desk\n>>From quoted\nFrom time to time\nnot a header\n"
    items = parse_mbox(write(tmp_path, mbox(mail(body=body), mail(body="next\n")), "box.mbox"))
    assert [i.body for i in items if isinstance(i, Message)] == [
        "From the desk\n>From quoted\nFrom time to time\nnot a header\n",
        "next\n",
    ]


def test_mbox_crlf_and_gmail_separator(tmp_path: Path) -> None:
    text = mbox(mail(), mail(Subject="two"), separator="From 1790@xxx Tue Mar 05 14:15:00 +0000 2024\n")
    items = parse_mbox(write(tmp_path, text.replace("\n", "\r\n"), "box.mbox"))
    assert [i.body for i in items if isinstance(i, Message)] == ["Lane 4 closes at noon.\n"] * 2


def test_mbox_bad_items_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    text = mbox("", mail(Subject="ok 1"), mail(Date=""), mail(Date="Tue, 05 Mar 2024 09:15:00"), mail(Subject="ok 2"))
    items = parse_mbox(write(tmp_path, text, "box.mbox"))
    assert [type(i).__name__ for i in items] == ["Rejection", "Message", "Rejection", "Rejection", "Message"]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [r.line for r in rejections] == [1, 13, 21]
    assert rejections[0].reason == "empty message"
    assert "no usable Date" in rejections[1].reason and rejections[2].reason == TZ_REQUIRED
    zoned = parse_mbox(write(tmp_path, text, "box.mbox"), NEW_YORK)
    assert [type(i).__name__ for i in zoned] == ["Rejection", "Message", "Rejection", "Message", "Message"]


def test_mbox_oversized_message_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_connector, "MESSAGE_CAP", 2000)
    text = mbox(mail(Subject="small"), mail(body="x" * 3000 + "\n"), mail(Subject="after"))
    items = parse_mbox(write(tmp_path, text, "box.mbox"))
    assert isinstance(items[1], Rejection) and "larger than" in items[1].reason and items[1].line == 10
    assert [i.conversation for i in items if isinstance(i, Message)] == ["small", "after"]


def test_mbox_long_lines_are_kept_whole(tmp_path: Path) -> None:
    long_line = "y" * (2 * 1024**2) + "From not a separator\n"
    items = parse_mbox(write(tmp_path, mbox(mail(body=long_line), mail()), "box.mbox"))
    assert [len(i.body) for i in items if isinstance(i, Message)] == [len(long_line), 23]


def test_mbox_whole_file_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty file"):
        parse_mbox(write(tmp_path, b"", "box.mbox"))
    with pytest.raises(InputError, match="not an mbox"):
        parse_mbox(write(tmp_path, mail(), "box.mbox"))
    with pytest.raises(InputError, match="directory"):
        parse_mbox(tmp_path)


def test_mbox_truncated_last_message(tmp_path: Path) -> None:
    text = mbox(mail(Subject="whole"), mail(Subject="cut"))
    items = parse_mbox(write(tmp_path, text[: text.rindex("Date:") + 8], "box.mbox"))
    assert isinstance(items[0], Message) and isinstance(items[1], Rejection)


def test_mbox_invalid_bytes_and_utf16(tmp_path: Path) -> None:
    raw = mbox(mail(headers="Content-Type: text/plain; charset=utf-8", body="")).encode()
    items = parse_mbox(write(tmp_path, raw.replace(b"\n\n\n", b"\n\n\xff\xfe\n\n"), "box.mbox"))
    assert [i.body for i in items if isinstance(i, Message)] == ["\ufffd\ufffd\n"]
    utf16 = write(tmp_path, "\ufeff".encode("utf-16-le") + mbox(mail()).encode("utf-16-le"), "u.mbox")
    assert not MboxConnector().sniff(utf16)
    with pytest.raises(InputError, match="not an mbox"):
        parse_mbox(utf16)


# --- hostile bytes: nothing but InputError or items escapes ----------------------------------

VALID_EML = multipart("Content-Type: text/plain\n\nSee attached.\n",
                      "Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n",
                      "Content-Type: message/rfc822\n\n" + mail()).encode()  # fmt: skip
VALID_MBOX = mbox(mail(), VALID_EML.decode(), mail(Date="Tue, 05 Mar 2024 09:15:00")).encode()


def outcome(connector: EmailConnector | MboxConnector, path: Path) -> None:
    read_or_refused(connector, path, context(NEW_YORK))




HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(data=st.binary(max_size=2048))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, data, "random")
    outcome(EmailConnector(), path)
    outcome(MboxConnector(), path)


@HYPOTHESIS
@given(edits=EDITS)
def test_mutated_eml(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    outcome(EmailConnector(), write(tmp_path, mutate(VALID_EML, edits), "m.eml"))


@HYPOTHESIS
@given(edits=EDITS)
def test_mutated_mbox(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    outcome(MboxConnector(), write(tmp_path, mutate(VALID_MBOX, edits), "m.mbox"))


def test_hostile_headers_do_not_crash(tmp_path: Path) -> None:
    nasty = mail(
        From='"unterminated <a@',
        To="a@b, <<<>>>, =?x?q?bad?=, @@@",
        Date="Mon, 99 Foo 99999 99:99:99 +9999",
        headers="Received: ; \nContent-Type: multipart/mixed; boundary=\n" + "Content-Type: x\n" * 3,
        Subject="=?utf-8?b?////?= \udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
    )
    outcome(EmailConnector(), write(tmp_path, nasty))
    deep = mail(
        headers='Content-Type: multipart/mixed; boundary="a"',
        body='--a\nContent-Type: multipart/mixed; boundary="a"\n\n' * 3000,
    )
    outcome(EmailConnector(), write(tmp_path, deep, "deep.eml"))


def test_received_dates_with_offsets_keep_the_instant(tmp_path: Path) -> None:
    message = parse_eml(write(tmp_path, mail(Date="Tue, 5 Mar 2024 23:59:00 +1300")))
    assert message.sent_at.utcoffset() == timedelta(hours=13)
    assert message.sent_at.astimezone(timezone.utc) == datetime(2024, 3, 5, 10, 59, tzinfo=UTC)


def test_mbox_is_streamed(tmp_path: Path) -> None:
    path = write(tmp_path, mbox(mail(Subject="first"), mail(Subject="second")), "box.mbox")
    with path.open("ab") as handle:
        handle.truncate(path.stat().st_size + 4 * 1024**3)  # a sparse 4 GiB tail, never reached
    items = MboxConnector().parse(path, context())
    first = next(items)
    assert isinstance(first, Message) and first.conversation == "first"
    items.close()


def test_html_to_text_stays_linear_on_hostile_markup() -> None:
    body = "<a " * 300_000  # the standard library's parser rescans this on every "<"
    assert html_to_text(body) == body
