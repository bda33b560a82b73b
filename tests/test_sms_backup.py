"""The SMS Backup & Restore connector on backups built here, record by record."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors.sms_backup as sms_backup
from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors.sms_backup import SmsBackupConnector
from tests.hostile import mutate, read_or_refused

CONTEXT = ParseContext(custodian="Officer Reyes", custodian_names=("Officer Reyes",), export_sha256="ab" * 32)
JAN_1 = 1704067200000  # 2024-01-01T00:00:00Z in epoch milliseconds
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def attrs(**values: object) -> str:
    return " ".join(f"{key}={quoteattr(str(value))}" for key, value in values.items())


def sms(body: str = "On my way", type: int = 1, date: object = JAN_1, address: str = "+15550100001",
        contact_name: str = "Ana Diaz", **extra: object) -> str:  # fmt: skip
    values = attrs(protocol=0, address=address, date=date, type=type, body=body, read=1, status=-1,
                   contact_name=contact_name, readable_date="Jan 1, 2024", **extra)  # fmt: skip
    return f"<sms {values} />"


def part(ct: str, **values: object) -> str:
    return f"<part {attrs(seq=0, ct=ct, **values)} />"


def addr(address: str, kind: int) -> str:
    return f"<addr {attrs(address=address, type=kind, charset=106)} />"


def mms(parts: list[str], addrs: list[str], msg_box: int = 1, date: object = JAN_1, address: str = "+15550100001",
        contact_name: str = "Ana Diaz", m_type: int = 132) -> str:  # fmt: skip
    return (f"<mms {attrs(date=date, msg_box=msg_box, address=address, contact_name=contact_name, m_type=m_type)}>"
            f"<parts>{''.join(parts)}</parts><addrs>{''.join(addrs)}</addrs></mms>")  # fmt: skip


def backup(*records: str, count: int | None = None, root: str = "smses") -> str:
    total = len(records) if count is None else count
    lines = "\n  ".join(records)
    return (f"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
            f'<?xml-stylesheet type="text/xsl" href="sms.xsl"?>\n'
            f'<{root} count="{total}" backup_date="1721556032311" type="full">\n  {lines}\n</{root}>\n')  # fmt: skip


def write(tmp_path: Path, text: str | bytes, name: str = "sms-20240101.xml") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def parse(path: Path, context: ParseContext = CONTEXT) -> list[Message | Rejection]:
    return list(SmsBackupConnector().parse(path, context))


def messages(path: Path, context: ParseContext = CONTEXT) -> list[Message]:
    items = parse(path, context)
    assert all(isinstance(i, Message) for i in items), items
    return [i for i in items if isinstance(i, Message)]


def only(path: Path) -> Message:
    [message] = messages(path)
    return message


# Detection


def test_sniff_claims_message_backups_and_call_logs(tmp_path: Path) -> None:
    connector = SmsBackupConnector()
    assert connector.sniff(write(tmp_path, backup(sms())))
    assert connector.sniff(write(tmp_path, backup(root="calls"), "calls.xml"))
    assert connector.sniff(write(tmp_path, "\ufeff" + backup(sms()), "bom.xml"))
    assert connector.sniff(write(tmp_path, backup(sms()).encode("utf-16"), "utf16.xml"))
    assert connector.sniff(write(tmp_path, "<!-- backup --><smses count='0'/>", "comment.xml"))


@pytest.mark.parametrize(
    "content",
    [
        b"1/2/24, 09:15 - Ana Diaz: <smses> is not a chat line\n",
        b'{"source": "sms", "conversation": "x"}\n',
        b"<?xml version='1.0'?><rss><smses/></rss>",
        b"<?xml version='1.0'?><!DOCTYPE smses [<!ENTITY a 'b'>]><smses/>",
        b"SQLite format 3\x00" + b"\x00" * 100,
        b"",
        bytes(range(256)),
    ],
)
def test_sniff_refuses_other_content(tmp_path: Path, content: bytes) -> None:
    assert not SmsBackupConnector().sniff(write(tmp_path, content, "other.xml"))


def test_sniff_does_not_backtrack_on_a_hostile_head(tmp_path: Path) -> None:
    assert not SmsBackupConnector().sniff(write(tmp_path, "<?a?>" * 13_000 + "<x/>", "pis.xml"))


def test_sniff_never_raises_on_missing_paths(tmp_path: Path) -> None:
    assert not SmsBackupConnector().sniff(tmp_path / "absent.xml")
    assert not SmsBackupConnector().sniff(tmp_path)


# SMS


def test_received_sms(tmp_path: Path) -> None:
    message = only(write(tmp_path, backup(sms(body="On my way", date=JAN_1 + 123))))
    assert message.source == "sms"
    assert message.conversation == "Ana Diaz"
    assert message.sender == "Ana Diaz"
    assert message.recipients == ("Officer Reyes",)
    assert message.direction == "received"
    assert message.sent_at == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert message.body == "On my way"
    assert message.custodian == "Officer Reyes" and message.account == "personal"
    assert (message.source_ref.file, message.source_ref.line) == ("sms-20240101.xml", 4)
    assert message.source_ref.export_sha256 == "ab" * 32
    assert message.flags == () and not message.system


def test_sent_sms_is_from_the_custodian_to_the_contact(tmp_path: Path) -> None:
    message = only(write(tmp_path, backup(sms(type=2))))
    assert (message.sender, message.recipients, message.direction) == ("Officer Reyes", ("Ana Diaz",), "sent")


@pytest.mark.parametrize("box", [3, 4, 5, 6])
def test_drafts_outbox_failed_and_queued_are_written_by_the_custodian(tmp_path: Path, box: int) -> None:
    message = only(write(tmp_path, backup(sms(type=box))))
    assert (message.sender, message.direction) == ("Officer Reyes", "sent")
    assert "undelivered" in message.flags  # written, but the phone never delivered it


def test_a_delivered_message_is_not_flagged_undelivered(tmp_path: Path) -> None:
    assert "undelivered" not in only(write(tmp_path, backup(sms(type=2)))).flags


def test_unknown_contact_is_named_by_number(tmp_path: Path) -> None:
    message = only(write(tmp_path, backup(sms(contact_name="(Unknown)", address="+15550100009"))))
    assert (message.conversation, message.sender) == ("+15550100009", "+15550100009")


def test_sms_without_any_address_keeps_the_message(tmp_path: Path) -> None:
    message = only(write(tmp_path, backup(sms(type=2, contact_name="null", address="null"))))
    assert message.conversation == "(Unknown)"
    assert message.recipients == () and FLAG_RECIPIENTS_UNKNOWN in message.flags


def test_custodian_alias_marks_a_message_sent(tmp_path: Path) -> None:
    context = ParseContext(custodian="Officer Reyes", custodian_names=("Work phone",))
    message = only(write(tmp_path, backup(sms(contact_name="Work phone"))))
    [seen] = messages(write(tmp_path, backup(sms(contact_name="Work phone")), "again.xml"), context)
    assert message.direction == "received" and seen.direction == "sent"


def test_body_is_kept_exactly(tmp_path: Path) -> None:
    body = "Line one\r\nline  two\n\n  indented \U0001f30d \u2014 & < > \" '"
    assert only(write(tmp_path, backup(sms(body=body)))).body == body
    assert only(write(tmp_path, backup(sms(body="")), "empty-body.xml")).body == ""


def test_crlf_file_and_utf16_file_read_alike(tmp_path: Path) -> None:
    text = backup(sms(), sms(body="second"))
    plain = messages(write(tmp_path, text))
    crlf = messages(write(tmp_path, text.replace("\n", "\r\n").encode(), "crlf.xml"))
    utf16 = messages(write(tmp_path, text.replace("encoding='UTF-8'", "encoding='UTF-16'").encode("utf-16"), "u.xml"))
    assert [m.body for m in plain] == [m.body for m in crlf] == [m.body for m in utf16] == ["On my way", "second"]


# MMS


def test_received_mms_with_text_and_picture(tmp_path: Path) -> None:
    parts = [part("application/smil", name="smil.xml", text="<smil><body/></smil>"),
             part("text/plain", name="text_0.txt", text="Photo of the site"),
             part("image/png", name="site.png", text="null", data=base64.b64encode(PNG).decode()),
             part("Text/Plain; charset=utf-8", name="text_1.txt", text="second slide")]  # fmt: skip
    message = only(write(tmp_path, backup(mms(parts, [addr("+15550100001", 137), addr("+15550100007", 151)]))))
    assert message.body == "Photo of the site\nsecond slide"
    assert (message.sender, message.recipients, message.direction) == ("Ana Diaz", ("Officer Reyes",), "received")
    [picture] = message.attachments
    assert (picture.name, picture.media_type, picture.missing) == ("site.png", "image/png", False)
    assert picture.size == len(PNG)
    assert picture.sha256 == hashlib.sha256(PNG).hexdigest() and picture.content == PNG
    assert message.flags == ()


def test_line_wrapped_base64_is_accepted(tmp_path: Path) -> None:
    encoded = base64.b64encode(PNG).decode()
    data = "\n".join(encoded[start : start + 20] for start in range(0, len(encoded), 20))
    message = only(write(tmp_path, backup(mms([part("image/png", name="a.png", data=data)], []))))
    assert message.attachments[0].content == PNG


def test_part_without_bytes_is_a_missing_attachment(tmp_path: Path) -> None:
    message = only(write(tmp_path, backup(mms([part("video/mp4", name="clip.mp4", text="null")], []))))
    [clip] = message.attachments
    assert (clip.name, clip.media_type, clip.missing, clip.sha256) == ("clip.mp4", "video/mp4", True, None)
    assert FLAG_ATTACHMENT_MISSING in message.flags


def test_corrupt_base64_archives_the_message_and_says_which_part(tmp_path: Path) -> None:
    parts = [part("text/plain", text="see attached"), part("image/jpeg", name="x.jpg", data="not base64!!")]
    items = parse(write(tmp_path, backup(mms(parts, []))))
    assert [type(i) for i in items] == [Message, Rejection]
    message, note = items
    assert isinstance(message, Message) and isinstance(note, Rejection)
    assert message.body == "see attached" and message.attachments[0].missing
    assert FLAG_ATTACHMENT_MISSING in message.flags
    assert note.line == 4 and "part 2 (image/jpeg) is not valid base64" in note.reason
    assert "see attached" not in note.reason


def test_attachment_over_the_cap_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms_backup, "_B64_CAP", 16)
    data = base64.b64encode(b"x" * 30).decode()
    items = parse(write(tmp_path, backup(mms([part("application/pdf", name="big.pdf", data=data)], []))))
    assert isinstance(items[0], Message) and items[0].attachments[0].missing
    assert isinstance(items[1], Rejection) and "larger than the 512 MiB limit" in items[1].reason


def test_text_part_of_another_type_is_kept_as_a_file(tmp_path: Path) -> None:
    card = "BEGIN:VCARD\nFN:Ana Diaz\nEND:VCARD"
    message = only(write(tmp_path, backup(mms([part("text/x-vCard", name="ana.vcf", text=card)], []))))
    assert message.body == "" and message.attachments[0].content == card.encode()


def test_group_mms_received(tmp_path: Path) -> None:
    group = "+15550100002~+15550100001~+15550100003"
    addrs = [addr("+15550100002", 137), addr("+15550100001", 151), addr("+15550100003", 151),
             addr("+15550100007", 151), addr("+15550100002", 130)]  # fmt: skip
    message = only(write(tmp_path, backup(mms([part("text/plain", text="All hands at 9")], addrs, address=group,
                                              contact_name="Cal Ortiz, Ana Diaz, Bo Lee"))))  # fmt: skip
    assert message.conversation == "Ana Diaz, Bo Lee, Cal Ortiz"
    assert message.sender == "+15550100002"
    # the owner's own number (not one of the thread's) is the custodian
    assert message.recipients == ("+15550100001", "+15550100003", "Officer Reyes")
    assert message.direction == "received"


def test_group_mms_sent_and_conversation_does_not_depend_on_order(tmp_path: Path) -> None:
    addrs = [addr("+15550100007", 137), addr("+15550100001", 151), addr("+15550100002", 151)]
    first = mms([part("text/plain", text="a")], addrs, msg_box=2, address="+15550100001~+15550100002",
                contact_name="(Unknown)")  # fmt: skip
    second = mms([part("text/plain", text="b")], [], msg_box=2, address="+15550100002~+15550100001",
                 contact_name="(Unknown)")  # fmt: skip
    one, two = messages(write(tmp_path, backup(first, second)))
    assert one.conversation == two.conversation == "+15550100001, +15550100002"
    assert (one.sender, one.recipients, one.direction) == ("Officer Reyes", ("+15550100001", "+15550100002"), "sent")
    assert two.recipients == ("+15550100002", "+15550100001")  # no addrs: the thread's addresses


def test_owner_number_known_from_custodian_names(tmp_path: Path) -> None:
    context = ParseContext(custodian="Officer Reyes", custodian_names=("(555) 010-0007",))
    addrs = [addr("+15550100002", 137), addr("+15550100007", 151), addr("+15550100003", 130)]
    record = mms([part("text/plain", text="hi")], addrs, address="group_8@rcs.example.com", contact_name="(Unknown)")
    [message] = messages(write(tmp_path, backup(record)), context)
    assert message.conversation == "group_8@rcs.example.com"
    assert message.recipients == ("Officer Reyes", "+15550100003")


def test_one_to_one_mms_sender_is_the_contact(tmp_path: Path) -> None:
    addrs = [addr("+1 555 010 0001", 137), addr("+15550100007", 151)]
    message = only(write(tmp_path, backup(mms([part("text/plain", text="ok")], addrs))))
    assert (message.sender, message.recipients) == ("Ana Diaz", ("Officer Reyes",))


def test_mms_never_downloaded_and_reports(tmp_path: Path) -> None:
    pending, report = messages(write(tmp_path, backup(mms([], [], m_type=130), mms([], [], m_type=134))))
    assert pending.attachments[0].missing and FLAG_ATTACHMENT_MISSING in pending.flags
    assert report.system and not pending.system


# Calls, counts and bad records


def test_call_log_is_refused_with_its_size(tmp_path: Path) -> None:
    calls = [f"<call {attrs(number='+15550100001', duration=12, date=JAN_1, type=1)} />"] * 2
    with pytest.raises(InputError, match=r"is a call log \(2 calls\), not messages"):
        parse(write(tmp_path, backup(*calls, root="calls"), "calls-20240101.xml"))


def test_calls_mixed_into_messages_are_counted_once(tmp_path: Path) -> None:
    call = f"<call {attrs(number='+15550100001', duration=12, date=JAN_1, type=1)} />"
    items = parse(write(tmp_path, backup(sms(), call, sms(body="b"), call)))
    assert [m.body for m in items if isinstance(m, Message)] == ["On my way", "b"]
    [note] = [i for i in items if isinstance(i, Rejection)]
    assert (note.line, note.reason) == (5, "2 call log entries skipped: calls are not messages")


def test_declared_count_differing_from_records_is_reported(tmp_path: Path) -> None:
    items = parse(write(tmp_path, backup(sms(), count=3)))
    assert isinstance(items[0], Message)
    assert isinstance(items[1], Rejection) and "says it holds 3 records but 1 were found" in items[1].reason


def test_bad_records_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    items = parse(write(tmp_path, backup(sms(date="bad"), sms(type=9), "<note text='x'/>",
                                         mms([], [], msg_box=0), sms(date=10**30), sms(body="kept"))))  # fmt: skip
    assert [i.line for i in items if isinstance(i, Rejection)] == [4, 5, 6, 7, 8]
    reasons = " | ".join(i.reason for i in items if isinstance(i, Rejection))
    assert "no valid date" in reasons and "unknown message type" in reasons and "'9'" not in reasons
    assert "<note> at line 6 is not an sms, mms or call record" in reasons and "unknown message box" in reasons
    assert [m.body for m in items if isinstance(m, Message)] == ["kept"]


def test_body_over_16_mib_is_rejected(tmp_path: Path) -> None:
    items = parse(write(tmp_path, backup(sms(body="x" * (16 * 1024**2 + 1)), sms(body="next"))))
    assert isinstance(items[0], Rejection) and "longer than 16 MiB" in items[0].reason
    assert isinstance(items[1], Message) and items[1].body == "next"


def test_record_with_too_many_parts_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms_backup, "RECORD_ELEMENTS_CAP", 5)
    many = mms([part("text/plain", text=str(n)) for n in range(10)], [])
    items = parse(write(tmp_path, backup(many, sms())))
    assert isinstance(items[0], Rejection) and "larger than the limits" in items[0].reason
    assert isinstance(items[1], Message)


# Whole-file problems


def test_truncated_file_keeps_what_came_before_then_refuses(tmp_path: Path) -> None:
    text = backup(sms(body="one"), sms(body="two"), mms([part("text/plain", text="three")], []))
    cut = text[: text.index("<parts>") + 20]
    items: list[Message | Rejection] = []
    with pytest.raises(InputError, match=r"malformed XML at line 6, column \d+ .*the rest is refused") as error:
        items.extend(SmsBackupConnector().parse(write(tmp_path, cut), CONTEXT))
    assert [m.body for m in items if isinstance(m, Message)] == ["one", "two"]
    assert error.value.line == 6


def test_invalid_utf8_stops_at_its_line(tmp_path: Path) -> None:
    raw = backup(sms(body="fine"), sms(body="BROKEN")).encode().replace(b"BROKEN", b"\xff\xfe")
    items: list[Message | Rejection] = []
    with pytest.raises(InputError, match="line 5"):
        items.extend(SmsBackupConnector().parse(write(tmp_path, raw), CONTEXT))
    assert [m.body for m in items if isinstance(m, Message)] == ["fine"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x00\x01garbage\xff" * 50, "malformed XML"),
        (b"<?xml version='1.0'?>\n<rss><channel/></rss>", "root element is <rss>"),
        (b"<?xml version='1.0'?>\n<smses count='1'>", "malformed XML"),
    ],
)
def test_whole_file_problems_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse(write(tmp_path, content))


def test_directory_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        parse(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "absent.xml")


def test_empty_backup_yields_nothing(tmp_path: Path) -> None:
    assert parse(write(tmp_path, backup())) == []


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    entities = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (f'<?xml version="1.0"?>\n<!DOCTYPE smses [<!ENTITY l0 "lol">{entities}]>\n'
            f'<smses count="1"><sms address="1" date="1" type="1" body="&l9;"/></smses>')  # fmt: skip
    with pytest.raises(InputError, match="DTD or entities"):
        parse(write(tmp_path, bomb))


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-555", encoding="utf-8")
    attack = (f'<?xml version="1.0"?>\n<!DOCTYPE smses [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n'
              f'<smses count="1"><sms address="1" date="1" type="1" body="a">&x;</sms></smses>')  # fmt: skip
    with pytest.raises(InputError, match="DTD or entities") as error:
        parse(write(tmp_path, attack))
    assert "TOP-SECRET" not in str(error.value)
    external_dtd = '<?xml version="1.0"?>\n<!DOCTYPE smses SYSTEM "http://example.com/sms.dtd">\n<smses count="0"/>'
    with pytest.raises(InputError, match="DTD or entities"):
        parse(write(tmp_path, external_dtd, "dtd.xml"))


def test_large_backup_streams(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    total = 30_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"<?xml version='1.0' encoding='UTF-8'?>\n<smses count='{total}'>\n")
        for number in range(total):
            handle.write(sms(body=f"message {number} " + "x" * 200, date=JAN_1 + number, type=1 + number % 2) + "\n")
        handle.write("</smses>\n")
    stream = SmsBackupConnector().parse(path, CONTEXT)
    first = next(stream)
    assert isinstance(first, Message) and first.body.startswith("message 0 ")
    count = 1 + sum(1 for item in stream if isinstance(item, Message))
    assert count == total


# Hostile bytes: every outcome is an InputError or a list of items.

VALID = backup(
    sms(), sms(type=2, body="two\nlines"),
    mms([part("text/plain", text="t"), part("image/png", name="p.png", data=base64.b64encode(PNG).decode())],
        [addr("+15550100002", 137), addr("+15550100007", 151)], address="+15550100001~+15550100002"),
    f"<call {attrs(number='+15550100001', duration=1, date=JAN_1, type=1)} />",
).encode()  # fmt: skip


def outcome(path: Path) -> None:
    read_or_refused(SmsBackupConnector(), path, CONTEXT)




@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    outcome(write(tmp_path, data, "random.xml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, len(VALID)), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_backups_never_crash(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    outcome(write(tmp_path, mutate(VALID, edits), "mutated.xml"))
