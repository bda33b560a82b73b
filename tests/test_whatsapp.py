"""The WhatsApp connector on the project's own small exports (tests/fixtures/whatsapp)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import Connector, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import (
    FLAG_ATTACHMENT_MISSING,
    FLAG_DELETED,
    FLAG_EDITED,
    FLAG_RECIPIENTS_UNKNOWN,
    Message,
)
from archiver.safezip import SafeZip
from connectors import whatsapp
from connectors.whatsapp import TZ_REQUIRED, WhatsAppConnector
from tests.conftest import CliRunner

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"
TOMAS = FIXTURES / "WhatsApp Chat with Tomas Aguirre.txt"
IOS = FIXTURES / "ios_12h_chat.txt"
ZONE_UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
BANNER = "Messages and calls are end-to-end encrypted. No one outside of this chat can read them."


def context(tz: ZoneInfo | None = ZONE_UTC) -> ParseContext:
    return ParseContext(custodian="mvega", custodian_names=("Marisol Vega",), tz=tz, export_sha256="ab" * 32)


def parse(path: Path, tz: ZoneInfo | None = ZONE_UTC) -> list[ParsedItem]:
    return list(WhatsAppConnector().parse(path, context(tz)))


def messages(path: Path, tz: ZoneInfo | None = ZONE_UTC) -> list[Message]:
    items = parse(path, tz)
    assert all(isinstance(item, Message) for item in items), [i for i in items if isinstance(i, Rejection)]
    return [item for item in items if isinstance(item, Message)]


def write(tmp_path: Path, text: str, name: str = "chat.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def android_chat(dates: list[str]) -> str:
    """One short message per date, in the Android 24-hour style."""
    return "".join(f"{date}, 10:{n % 60:02d} - Brian Okafor: lane report {n}\n" for n, date in enumerate(dates))


# --- every header style ------------------------------------------------------------------

STYLES = [
    ("WhatsApp Chat with Tomas Aguirre.txt", 11, {"", "Tomás Aguirre", "Marisol Vega"},
     "2024-03-09T08:02:00", "2024-03-13T17:40:00"),
    ("android_12h_narrow_nbsp.txt", 6, {"", "Brian Okafor", "Marisol Vega"},
     "2023-11-14T21:41:00", "2023-11-15T12:00:00"),
    ("ios_12h_chat.txt", 11, {"Tomás Aguirre", "Marisol Vega"}, "2023-08-21T07:58:02", "2023-08-21T12:46:05"),
    ("ios_24h_dotted.txt", 6, {"", "Grenzbüro Lörrach", "Katrin Böhm", "Marisol Vega", "Jonas Keller"},
     "2024-01-29T12:24:03", "2024-01-30T08:03:30"),
    ("android_dotted_4digit_year.txt", 5, {"", "Piet de Vries", "Marisol Vega"},
     "2022-03-16T15:10:00", "2022-03-17T09:41:00"),
    ("android_year_first.txt", 4, {"", "Kenji Watanabe", "Marisol Vega"}, "2019-01-20T11:23:00", "2019-01-21T07:05:00"),
    ("brackets_no_comma.txt", 3, {"Brian Okafor", "Marisol Vega"}, "2019-01-20T11:23:00", "2019-01-20T14:02:00"),
    ("spanish_a_m.txt", 8, {"", "Tomás Aguirre", "Marisol Vega"}, "2019-01-20T11:23:00", "2019-01-21T08:15:00"),
    ("android_a_m_dots.txt", 4, {"", "Claire Tremblay", "Marisol Vega"}, "2019-01-20T09:05:00", "2019-01-20T15:02:00"),
    ("android_nbsp_lower_ampm.txt", 3, {"Brian Okafor", "Marisol Vega"}, "2022-07-19T23:32:00", "2022-07-20T11:32:00"),
    ("ios_tilde_phone.txt", 6, {"", "Nogales Liaison", "Ramón Ibarra", "+1 555 123 4567", "Marisol Vega"},
     "2023-09-14T16:05:11", "2023-09-14T16:09:10"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "count", "senders", "first", "last"), STYLES)
def test_header_style(name: str, count: int, senders: set[str], first: str, last: str) -> None:
    found = messages(FIXTURES / name)
    assert len(found) == count
    assert {m.sender for m in found} == senders
    assert found[0].sent_at == utc(first)
    assert found[-1].sent_at == utc(last)
    assert WhatsAppConnector().sniff(FIXTURES / name)


def test_connector_protocol() -> None:
    connector = WhatsAppConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "whatsapp"
    assert "Android and iOS" in connector.description


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1/29/18, 12:24 - ", "2018-01-29T12:24:00"),
        ("1/23/23, 3:19 AM - ", "2023-01-23T03:19:00"),
        ("[1/29/18, 12:24:03 PM] ", "2018-01-29T12:24:03"),
        ("[1/29/18, 12:24:03 AM] ", "2018-01-29T00:24:03"),
        ("[29.01.18, 12:24:03] ", "2018-01-29T12:24:03"),
        ("16.03.2022, 15:10 - ", "2022-03-16T15:10:00"),
        ("2019/01/20, 11:23 - ", "2019-01-20T11:23:00"),
        ("[2023/5/24, 16:13:23] ", "2023-05-24T16:13:23"),
        ("[01/20/19 11:23] ", "2019-01-20T11:23:00"),
        ("20/01/2019, 11:23 p. m. - ", "2019-01-20T23:23:00"),
        ("20/01/2019, 12:08 a. m. - ", "2019-01-20T00:08:00"),
        ("20/01/19, 9:05 a.m. - ", "2019-01-20T09:05:00"),
        ("7/19/22, 11:32\u202fPM - ", "2022-07-19T23:32:00"),
        ("7/20/22, 11:32\u00a0am - ", "2022-07-20T11:32:00"),
        ("\u200e[7/20/22, 11:32:00\u202fam] ", "2022-07-20T11:32:00"),
        ("\ufeff[20.07.22, 11:32:00] ", "2022-07-20T11:32:00"),
        ("[14:56:01, 3/18/22] ", "2022-03-18T14:56:01"),
    ],
)
def test_header_variants(tmp_path: Path, header: str, expected: str) -> None:
    found = messages(write(tmp_path, f"{header}Brian Okafor: lane 3 is open\n"))
    assert [(m.sender, m.body, m.sent_at) for m in found] == [("Brian Okafor", "lane 3 is open", utc(expected))]


# --- the main Android fixture, field by field -------------------------------------------


@pytest.fixture(scope="module")
def tomas() -> list[Message]:
    return messages(TOMAS)


def test_fields_of_a_message(tomas: list[Message]) -> None:
    message = tomas[1]
    assert message.source == "whatsapp"
    assert message.conversation == "Tomas Aguirre"
    assert message.sender == "Tomás Aguirre"
    assert message.body == "Buenos días Marisol. Tenemos un tractocamión detenido en el carril 6."
    assert message.direction == "received"
    assert message.account == "personal"
    assert message.custodian == "mvega"
    assert message.recipients == ("Marisol Vega",)
    assert not message.system
    assert message.flags == ()
    ref = message.source_ref
    assert (ref.file, ref.entry, ref.line, ref.export_sha256) == (TOMAS.name, None, 2, "ab" * 32)


def test_system_banner_without_author(tomas: list[Message]) -> None:
    banner = tomas[0]
    assert (banner.sender, banner.system, banner.recipients) == ("", True, ("Marisol Vega",))
    assert banner.body.startswith("Messages and calls are end-to-end encrypted.")


def test_sent_by_custodian(tomas: list[Message]) -> None:
    reply = tomas[2]
    assert (reply.sender, reply.direction, reply.recipients) == ("Marisol Vega", "sent", ("Tomás Aguirre",))


def test_multiline_body_keeps_blank_lines(tomas: list[Message]) -> None:
    assert tomas[3].body == "Placas: BCN-20-417\nChofer: Ernesto Lugo Pérez\n\nViene de Hermosillo, destino Phoenix."
    assert tomas[4].source_ref.line == 8


def test_android_attachments(tomas: list[Message]) -> None:
    omitted, attached = tomas[4].attachments, tomas[5].attachments
    assert [(a.name, a.missing) for a in omitted] == [(None, True)]
    assert [(a.name, a.media_type, a.missing) for a in attached] == [("IMG-20240309-WA0004.jpg", "image/jpeg", True)]
    assert tomas[5].body == "IMG-20240309-WA0004.jpg (file attached)\nFoto del manifiesto"
    assert FLAG_ATTACHMENT_MISSING in tomas[4].flags and FLAG_ATTACHMENT_MISSING in tomas[5].flags


def test_edited_and_deleted(tomas: list[Message]) -> None:
    edited, deleted, mine_deleted = tomas[6], tomas[7], tomas[8]
    assert edited.flags == (FLAG_EDITED,) and edited.body.endswith("<This message was edited>")
    assert not edited.system
    assert (deleted.flags, deleted.system, deleted.body) == ((FLAG_DELETED,), True, "This message was deleted")
    assert (mine_deleted.flags, mine_deleted.direction) == ((FLAG_DELETED,), "sent")


def test_crlf_export_reads_the_same(tmp_path: Path, tomas: list[Message]) -> None:
    crlf = tmp_path / TOMAS.name
    crlf.write_bytes(TOMAS.read_bytes().replace(b"\n", b"\r\n"))
    assert [(m.sender, m.body, m.sent_at) for m in messages(crlf)] == [(m.sender, m.body, m.sent_at) for m in tomas]


def test_utf16_export_reads_the_same(tmp_path: Path, tomas: list[Message]) -> None:
    utf16 = tmp_path / TOMAS.name
    utf16.write_bytes(TOMAS.read_text(encoding="utf-8").encode("utf-16"))
    assert [(m.sender, m.body, m.sent_at) for m in messages(utf16)] == [(m.sender, m.body, m.sent_at) for m in tomas]


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff1/29/18, 12:24 - Brian Okafor: hi\n")
    assert messages(path)[0].sender == "Brian Okafor"


# --- iOS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ios() -> list[Message]:
    return messages(IOS)


def test_ios_notices_and_marks(ios: list[Message]) -> None:
    banner, deleted, mine_deleted, missed = ios[0], ios[6], ios[7], ios[8]
    assert (banner.sender, banner.system) == ("Tomás Aguirre", True)
    assert not banner.body.startswith("\u200e")
    assert (deleted.body, deleted.system, deleted.flags) == ("This message was deleted.", True, (FLAG_DELETED,))
    assert (mine_deleted.direction, mine_deleted.flags) == ("sent", (FLAG_DELETED,))
    assert (missed.body, missed.system) == ("Missed voice call", True)


def test_ios_attachment_forms(ios: list[Message]) -> None:
    photo, image, document, audio = ios[2], ios[3], ios[4], ios[10]
    assert [(a.name, a.media_type, a.missing) for a in photo.attachments] == [
        ("00000012-PHOTO-2023-08-21-08-00-11.jpg", "image/jpeg", True)
    ]
    assert photo.body == "<attached: 00000012-PHOTO-2023-08-21-08-00-11.jpg>"
    assert [(a.name, a.media_type, a.missing) for a in image.attachments] == [(None, "image/jpeg", True)]
    assert [(a.name, a.missing) for a in document.attachments] == [(None, True)]
    assert document.body == "Lista_unidades.pdf • \u200e2 pages \u200edocument omitted"
    assert [(a.media_type, a.missing) for a in audio.attachments] == [("audio/ogg", True)]
    assert all(FLAG_ATTACHMENT_MISSING in m.flags for m in (photo, image, document, audio))


def test_spanish_notices_and_attachments() -> None:
    found = messages(FIXTURES / "spanish_a_m.txt")
    banner, media, deleted, document = found[0], found[4], found[5], found[6]
    assert banner.system and banner.sender == ""
    assert [(a.name, a.missing) for a in media.attachments] == [(None, True)]
    assert (deleted.system, deleted.flags) == (True, (FLAG_DELETED,))
    assert [(a.name, a.media_type) for a in document.attachments] == [("DOC-20190120-WA0002.pdf", "application/pdf")]
    assert document.body == "DOC-20190120-WA0002.pdf (archivo adjunto)\nEstadísticas de diciembre"


@pytest.mark.parametrize(
    ("body", "system", "flags", "media_type"),
    [
        ("\u200eimagen omitida", False, (FLAG_ATTACHMENT_MISSING,), "image/jpeg"),
        ("\u200eTarjeta de contacto omitida", False, (FLAG_ATTACHMENT_MISSING,), "text/vcard"),
        ("\u200e<adjunto: 00000035-PHOTO-2022-03-27-21-41-55.jpg>", False, (FLAG_ATTACHMENT_MISSING,), "image/jpeg"),
        ("\u200eEliminaste este mensaje.", True, (FLAG_DELETED,), None),
        ("\u200eLlamada de voz perdida", True, (), None),
        ("\u200eLos mensajes y las llamadas están cifrados de extremo a extremo.", True, (), None),
        ("\u200eWaiting for this message. This may take a while.", True, (), None),
        ("\u200eYour security code with Tomás Aguirre changed. Tap to learn more.", True, (), None),
        ("video omitted from the report, will resend", False, (), None),
    ],
)
def test_ios_notice_forms(tmp_path: Path, body: str, system: bool, flags: tuple[str, ...], media_type: str) -> None:
    text = f"[3/27/22, 21:40:00] Marisol Vega: hola\n[3/27/22, 21:41:55] Tomás Aguirre: {body}\n"
    message = messages(write(tmp_path, text))[1]
    assert (message.system, message.flags, message.body) == (system, flags, body.lstrip("\u200e"))
    assert [a.media_type for a in message.attachments] == ([media_type] if media_type else [])


def test_ios_tilde_and_phone_authors() -> None:
    found = messages(FIXTURES / "ios_tilde_phone.txt")
    joined, ramon, phone, welcome = found[1], found[2], found[3], found[5]
    assert joined.system and joined.sender == ""
    assert ramon.sender == "Ramón Ibarra" and found[4].sender == "Ramón Ibarra"
    assert phone.sender == "+1 555 123 4567"
    assert welcome.recipients == ("+1 555 123 4567", "Ramón Ibarra")


def test_ios_zip_with_media(tmp_path: Path) -> None:
    photo = os.urandom(3000)
    path = tmp_path / "WhatsApp Chat - Tomás Aguirre.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(IOS, "_chat.txt")
        archive.writestr("00000012-PHOTO-2023-08-21-08-00-11.jpg", photo)
        archive.writestr("__MACOSX/._chat.txt", b"resource fork")
    found = messages(path)
    assert len(found) == 11
    attachment = found[2].attachments[0]
    assert attachment.content == photo and attachment.size == 3000 and not attachment.missing
    assert attachment.sha256 == hashlib.sha256(photo).hexdigest()
    assert FLAG_ATTACHMENT_MISSING not in found[2].flags
    referral = found[9].attachments[0]
    assert (referral.name, referral.media_type, referral.missing) == (
        "00000019-Referral-log.pdf",
        "application/pdf",
        True,
    )
    assert found[0].conversation == "Tomás Aguirre"
    ref = found[2].source_ref
    assert (ref.file, ref.entry, ref.line) == (path.name, "_chat.txt", 3)
    assert WhatsAppConnector().sniff(path)


def test_android_zip_with_caption_and_media(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Tomas Aguirre.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(TOMAS, TOMAS.name)
        archive.writestr("IMG-20240309-WA0004.jpg", b"\xff\xd8jpeg")
    found = messages(path)
    assert found[5].attachments[0].content == b"\xff\xd8jpeg"
    assert found[5].body.endswith("\nFoto del manifiesto")
    assert found[0].conversation == "Tomas Aguirre"
    assert found[0].source_ref.entry == TOMAS.name


def test_attachment_bytes_are_read_one_message_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(IOS, "_chat.txt")
        archive.writestr("00000012-PHOTO-2023-08-21-08-00-11.jpg", b"photo")
        archive.writestr("00000019-Referral-log.pdf", b"pdf")
    reads: list[str] = []
    original = SafeZip.read

    def counting_read(self: SafeZip, name: str, limit: int) -> bytes:
        reads.append(name)
        return original(self, name, limit)

    monkeypatch.setattr(SafeZip, "read", counting_read)
    items: Iterator[ParsedItem] = WhatsAppConnector().parse(path, context())
    for _ in range(3):
        next(items)
    assert reads == ["00000012-PHOTO-2023-08-21-08-00-11.jpg"]
    list(items)
    assert reads == ["00000012-PHOTO-2023-08-21-08-00-11.jpg", "00000019-Referral-log.pdf"]


def test_attachment_over_the_cap_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whatsapp, "ATTACHMENT_CAP", 100)
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(IOS, "_chat.txt")
        archive.writestr("00000012-PHOTO-2023-08-21-08-00-11.jpg", os.urandom(500))
    items = parse(path)
    assert len(items) == 11
    rejection = items[2]
    assert isinstance(rejection, Rejection)
    assert (rejection.file, rejection.line) == (f"{path}!_chat.txt", 3)
    assert "larger than" in rejection.reason


def test_unzipped_ios_folder_takes_the_folder_title(tmp_path: Path) -> None:
    folder = tmp_path / "WhatsApp Chat - Port Liaison"
    folder.mkdir()
    shutil.copy(IOS, folder / "_chat.txt")
    assert messages(folder / "_chat.txt")[0].conversation == "Port Liaison"


def test_plain_file_name_is_the_title(tmp_path: Path) -> None:
    path = write(tmp_path, "1/29/18, 12:24 - Brian Okafor: hi\n", name="lane-chat.txt")
    assert messages(path)[0].conversation == "lane-chat"


# --- recipients ------------------------------------------------------------------------

GROUP = """10/20/23, 07:00 - Messages and calls are end-to-end encrypted. Tap to learn more.
10/20/23, 07:00 - You created group "Port Liaison: Nogales"
10/20/23, 07:01 - You added Tomás Aguirre and Brian Okafor
10/20/23, 07:05 - Tomás Aguirre: Buenos días a todos.
10/20/23, 07:06 - Tomás Aguirre added Ramón Ibarra
10/20/23, 07:10 - Ramón Ibarra: Gracias Tomás.
10/20/23, 08:00 - Brian Okafor left
10/20/23, 08:01 - Marisol Vega: Brian moved to the night shift.
10/20/23, 08:30 - You removed Ramón Ibarra
10/20/23, 08:31 - Marisol Vega: Thanks all.
10/20/23, 08:32 - Tomás Aguirre changed the subject from "Port Liaison: Nogales" to "Liaison"
"""


def test_group_recipients_follow_membership(tmp_path: Path) -> None:
    found = messages(write(tmp_path, GROUP))
    assert [m.system for m in found] == [True, True, True, False, True, False, True, False, True, False, True]
    assert found[1].sender == "" and found[10].sender == ""
    assert found[3].recipients == ("Brian Okafor", "Marisol Vega")
    assert found[5].recipients == ("Brian Okafor", "Marisol Vega", "Tomás Aguirre")
    assert found[7].recipients == ("Ramón Ibarra", "Tomás Aguirre")
    assert found[9].recipients == ("Tomás Aguirre",)
    assert found[9].direction == "sent"


def test_recipients_unknown_until_someone_else_appears(tmp_path: Path) -> None:
    text = "1/29/18, 12:24 - Marisol Vega: Are you at the gate?\n1/29/18, 12:25 - Brian Okafor: Yes\n"
    first, second = messages(write(tmp_path, text))
    assert (first.recipients, first.flags) == ((), (FLAG_RECIPIENTS_UNKNOWN,))
    assert (second.recipients, second.flags) == (("Marisol Vega",), ())


# --- dates: day/month order and time zones ----------------------------------------------


def test_day_first_decided_by_a_late_line(tmp_path: Path) -> None:
    dates = [f"{1 + n // 10}/{1 + n % 12}/23" for n in range(110)] + ["25/12/23"]
    found = messages(write(tmp_path, android_chat(dates)))
    assert found[0].sent_at.date().isoformat() == "2023-01-01"
    assert found[1].sent_at.date().isoformat() == "2023-02-01"  # "1/2/23" read day-first
    assert found[-1].sent_at.date().isoformat() == "2023-12-25"


def test_month_first_decided_by_a_late_line(tmp_path: Path) -> None:
    dates = ["1/2/23"] * 150 + ["1/25/23"]
    found = messages(write(tmp_path, android_chat(dates)))
    assert found[0].sent_at.date().isoformat() == "2023-01-02"


def test_ambiguous_order_follows_time(tmp_path: Path) -> None:
    found = messages(write(tmp_path, android_chat(["1/2/23", "2/1/23", "3/1/23"])))  # 24-hour, yet month-first
    assert [m.sent_at.date().isoformat() for m in found] == ["2023-01-02", "2023-02-01", "2023-03-01"]


DECEMBER_CHAT = "07/12/2024, 10:00 - Brian Okafor: lane report\n08/12/2024, 09:00 - Brian Okafor: lane closed\n"


def parse_in_order(path: Path, order: str | None, tz: ZoneInfo = ZONE_UTC) -> list[ParsedItem]:
    ctx = ParseContext(custodian="mvega", custodian_names=("Marisol Vega",), tz=tz, date_order=order)
    return list(WhatsAppConnector().parse(path, ctx))


@pytest.mark.parametrize("style", ["10:00", "10:00 AM"])
def test_ambiguous_order_is_refused_not_guessed(tmp_path: Path, style: str) -> None:
    path = write(tmp_path, f"1/2/23, {style} - Brian Okafor: ok\n")
    with pytest.raises(InputError, match=r"--date-order dmy or --date-order mdy") as caught:
        parse(path)
    assert caught.value.file == str(path) and "\n" not in str(caught.value)


def test_every_day_under_13_is_refused_without_evidence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="day/month order"):
        parse(write(tmp_path, DECEMBER_CHAT))


@pytest.mark.parametrize(
    "media",
    [
        "IMG-20241207-WA0005.jpg (file attached)",
        "\u200e<attached: 00000012-PHOTO-2024-12-07-10-00-01.jpg>",
        "PTT-20241207-WA0001.opus (file attached)",
    ],
)
def test_media_file_name_decides_the_order(tmp_path: Path, media: str) -> None:
    text = f"07/12/2024, 10:00 - Brian Okafor: {media}\n08/12/2024, 09:00 - Brian Okafor: lane closed\n"
    found = messages(write(tmp_path, text))
    assert [m.sent_at.date().isoformat() for m in found] == ["2024-12-07", "2024-12-08"]


def test_media_file_name_decides_month_first(tmp_path: Path) -> None:
    text = "07/12/2024, 10:00 - Brian Okafor: VID-20240712-WA0003.mp4 (file attached)\n"
    assert messages(write(tmp_path, text))[0].sent_at.date().isoformat() == "2024-07-12"


def test_a_media_name_of_another_day_is_no_evidence(tmp_path: Path) -> None:
    text = "07/12/2024, 10:00 - Brian Okafor: IMG-20230101-WA0005.jpg (file attached)\n"
    with pytest.raises(InputError, match="--date-order"):
        parse(write(tmp_path, text))


def test_a_late_message_is_no_evidence_against_its_reading(tmp_path: Path) -> None:
    # Delivered late, the third message steps back a day under day-first, a month under month-first.
    text = ("03/02/23, 11:50 PM - Brian Okafor: one\n04/02/23, 12:10 AM - Brian Okafor: two\n"
            "03/02/23, 11:55 PM - Tomás Aguirre: late\n")  # fmt: skip
    found = messages(write(tmp_path, text))
    assert [m.sent_at.date().isoformat() for m in found] == ["2023-02-03", "2023-02-04", "2023-02-03"]


@pytest.mark.parametrize(("zone", "expected"), [("America/New_York", "2024-07-12"), ("Europe/Madrid", "2024-12-07"),
                                                ("America/Mexico_City", "2024-12-07"),
                                                ("America/Argentina/Buenos_Aires", "2024-12-07")])
def test_zone_locale_breaks_the_tie(tmp_path: Path, zone: str, expected: str) -> None:
    found = messages(write(tmp_path, DECEMBER_CHAT), tz=ZoneInfo(zone))
    assert found[0].sent_at.date().isoformat() == expected


def test_evidence_beats_the_zone_locale(tmp_path: Path) -> None:
    text = "07/12/2024, 10:00 - Brian Okafor: IMG-20241207-WA0005.jpg (file attached)\n"
    assert messages(write(tmp_path, text), tz=NEW_YORK)[0].sent_at.date().isoformat() == "2024-12-07"


@pytest.mark.parametrize(("order", "expected"), [("dmy", "2024-12-07"), ("mdy", "2024-07-12")])
def test_explicit_order_wins(tmp_path: Path, order: str, expected: str) -> None:
    text = "07/12/2024, 10:00 - Brian Okafor: VID-20240712-WA0003.mp4 (file attached)\n"
    items = parse_in_order(write(tmp_path, text), order, tz=ZoneInfo("Europe/Madrid"))
    assert [i.sent_at.date().isoformat() for i in items if isinstance(i, Message)] == [expected]


@pytest.mark.parametrize(("order", "dates", "line"), [("dmy", ["1/2/23", "1/13/23"], 2), ("mdy", ["13/1/23"], 1)])
def test_explicit_order_contradicted_by_the_file(tmp_path: Path, order: str, dates: list[str], line: int) -> None:
    with pytest.raises(InputError, match=f"--date-order {order}") as caught:
        parse_in_order(write(tmp_path, android_chat(dates)), order)
    assert caught.value.line == line


def test_explicit_ymd_for_year_first_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "2024/03/04, 10:00 - Brian Okafor: ok\n2024/13/03, 10:00 - Brian Okafor: no\n")
    with pytest.raises(InputError, match="--date-order ymd") as caught:
        parse_in_order(path, "ymd")
    assert caught.value.line == 2


def test_same_day_and_month_needs_no_order(tmp_path: Path) -> None:
    assert messages(write(tmp_path, android_chat(["5/5/23", "5/5/23"])))[0].sent_at.date().isoformat() == "2023-05-05"


def test_cli_date_order_option(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, DECEMBER_CHAT)
    refused = cli("parse", path, "--tz", "UTC", "--connector", "whatsapp")
    assert refused.code == 2 and "--date-order" in refused.err and "Traceback" not in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    parsed = cli("parse", path, "--tz", "UTC", "--connector", "whatsapp", "--date-order", "dmy")
    assert parsed.code == 0 and parsed.lines()[0]["sent_at"].startswith("2024-12-07")


def test_mixed_orders_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, android_chat(["25/3/23", "3/3/23", "3/25/23"]))
    with pytest.raises(InputError, match="mix day-first and month-first") as caught:
        parse(path)
    assert caught.value.line == 3 and "line 1" in caught.value.cause


def test_new_york_across_the_spring_dst_change(tmp_path: Path) -> None:
    text = (
        "3/11/23, 10:00 PM - Brian Okafor: before\n"
        "3/12/23, 2:30 AM - Brian Okafor: in the gap\n"
        "3/12/23, 3:30 AM - Brian Okafor: after\n"
        "11/5/23, 1:30 AM - Brian Okafor: ambiguous hour\n"
    )
    found = messages(write(tmp_path, text), tz=NEW_YORK)
    assert [m.sent_at.astimezone(UTC) for m in found] == [
        utc("2023-03-12T03:00:00"),
        utc("2023-03-12T07:30:00"),  # nonexistent 2:30 keeps the pre-change offset (fold=0)
        utc("2023-03-12T07:30:00"),
        utc("2023-11-05T05:30:00"),  # first of the two 1:30s
    ]
    assert found[0].to_json()["sent_at"] == "2023-03-11T22:00:00-05:00"


def test_missing_time_zone_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse(TOMAS, tz=None)
    assert caught.value.cause == TZ_REQUIRED


# --- hostile and damaged input ----------------------------------------------------------


def test_bad_date_line_is_rejected_with_its_continuations(tmp_path: Path) -> None:
    text = (
        "28/02/23, 09:00 - Brian Okafor: good one\n"
        "31/02/23, 25:99 - Brian Okafor: secret plate ABC-123\n"
        "continuation of the bad message\n"
        "28/02/23, 09:05 - Marisol Vega: good two\n"
    )
    items = parse(write(tmp_path, text))
    assert len(items) == 3
    assert isinstance(items[0], Message) and isinstance(items[2], Message)
    assert items[2].body == "good two" and items[0].body == "good one"
    rejection = items[1]
    assert isinstance(rejection, Rejection)
    assert rejection.line == 2
    assert rejection.reason == "header date '31/02/23, 25:99' is not a valid date"
    assert "ABC" not in rejection.reason


BAD_DATES = ["13/13/23, 10:00", "31/04/23, 10:00", "1/2/23, 13:05 AM", "1/2/23, 10:61", "1/2/23, 24:00"]


@pytest.mark.parametrize("bad", BAD_DATES)
def test_impossible_dates_are_rejected(tmp_path: Path, bad: str) -> None:
    text = f"25/01/23, 09:00 - Brian Okafor: one\n{bad} - Brian Okafor: two\n25/01/23, 09:01 - Brian Okafor: three\n"
    items = parse(write(tmp_path, text))
    assert [type(i).__name__ for i in items] == ["Message", "Rejection", "Message"]


def test_invalid_utf8_line_rejects_its_message_only(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(
        b"1/29/18, 12:24 - Brian Okafor: one\n1/29/18, 12:25 - Brian Okafor: t\xffwo\nmore\n1/29/18, 12:26 - X: 3\n"
    )
    items = parse(path)
    assert [type(i).__name__ for i in items] == ["Message", "Rejection", "Message"]
    assert items[1] == Rejection(str(path), 2, "line 2 is not valid UTF-8")


def test_invalid_utf8_continuation_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"1/29/18, 12:24 - Brian Okafor: one\nsecond \xc3(\n1/29/18, 12:26 - Brian Okafor: two\n")
    items = parse(path)
    assert items[0] == Rejection(str(path), 2, "line 2 is not valid UTF-8")
    assert isinstance(items[1], Message)


def test_huge_line_is_consumed_and_rejected(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    with path.open("wb") as handle:
        handle.write(b"1/29/18, 12:24 - Brian Okafor: one\n1/29/18, 12:25 - Brian Okafor: ")
        handle.write(b"A" * (3 * 1024**2))
        handle.write(b"\n1/29/18, 12:26 - Brian Okafor: two\n")
    items = parse(path)
    assert items[1] == Rejection(str(path), 2, "line 2 is longer than 1 MiB")
    assert isinstance(items[2], Message) and items[2].body == "two"


def test_huge_message_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    line = b"B" * (1024**2 - 10) + b"\n"
    with path.open("wb") as handle:
        handle.write(b"1/29/18, 12:25 - Brian Okafor: start\n")
        handle.write(line * 17)
        handle.write(b"1/29/18, 12:26 - Brian Okafor: next\n")
    items = parse(path)
    assert items[0] == Rejection(str(path), 1, "message at line 1 is longer than 16 MiB")
    assert isinstance(items[1], Message) and items[1].source_ref.line == 19


@pytest.mark.parametrize(
    "line",
    [
        "\u200e" * 900_000,
        "[" + "\ufeff\u200e" * 400_000,
        "1/29/23, 10:00 - " + "x's security code with " * 40_000,
        "1/29/23, 10:00 - " + "Ann: \u200e" + "x's security code with " * 40_000,
        "1/29/23, 10:00 - " + "Ann added Bob" + " and Carl" * 90_000 + " ~",
    ],
    ids=["marks", "bracket-and-marks", "notice", "authored-notice", "long-member-list"],
)
def test_hostile_long_lines_stay_linear(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, f"1/29/23, 09:59 - Brian Okafor: start\n{line}\n1/29/23, 10:01 - Brian Okafor: end\n")
    started = time.perf_counter()
    items = parse(path)
    assert time.perf_counter() - started < 5
    assert isinstance(items[-1], Message) and items[-1].body == "end"


def test_lines_before_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path, "exported by a helper app\n\n1/29/18, 12:24 - Brian Okafor: one\n")
    items = parse(path)
    assert items[0] == Rejection(str(path), 1, "line 1 comes before the first message header")
    assert isinstance(items[1], Message)


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert not WhatsAppConnector().sniff(path)
    with pytest.raises(InputError, match="empty file"):
        parse(path)


def test_not_whatsapp_text(tmp_path: Path) -> None:
    path = write(tmp_path, "Meeting notes for the port.\n" * 80)
    assert not WhatsAppConnector().sniff(path)
    with pytest.raises(InputError, match="not a WhatsApp export"):
        parse(path)


def test_header_too_late_is_not_whatsapp(tmp_path: Path) -> None:
    path = write(tmp_path, "junk\n" * 60 + "1/29/18, 12:24 - Brian Okafor: one\n")
    with pytest.raises(InputError, match="no message header in the first 50 lines"):
        parse(path)


@pytest.mark.parametrize(
    "content",
    [
        b'{"source": "jsonl", "sender": "a", "body": "1/29/18, 12:24 - x: y"}\n',
        os.urandom(4096),
        b"\x00" * 100,
        b"[2019-12-24, 12:23] Jane Doe: signal-export markdown\n",
    ],
)
def test_sniff_refuses_other_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.txt"
    path.write_bytes(content)
    assert not WhatsAppConnector().sniff(path)


def test_random_binary_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(20_000).replace(b"\n", b"") + b"\n")
    with pytest.raises(InputError, match="not a WhatsApp export"):
        parse(path)


def test_sniff_missing_file(tmp_path: Path) -> None:
    assert not WhatsAppConnector().sniff(tmp_path / "absent.txt")


def test_truncated_zip(tmp_path: Path) -> None:
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as archive:
        archive.write(TOMAS, "_chat.txt")
    path = tmp_path / "cut.zip"
    path.write_bytes(whole.read_bytes()[:200])
    assert not WhatsAppConnector().sniff(path)
    with pytest.raises(InputError, match="truncated or corrupt"):
        parse(path)


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt"])
def test_zip_with_escaping_entry(tmp_path: Path, name: str) -> None:
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(TOMAS, "_chat.txt")
        archive.writestr(zipfile.ZipInfo(name), b"x")
    assert not WhatsAppConnector().sniff(path)
    with pytest.raises(InputError, match="escapes the archive directory"):
        parse(path)


def test_zip_with_symlink(tmp_path: Path) -> None:
    path = tmp_path / "chat.zip"
    link = zipfile.ZipInfo("IMG-20240309-WA0004.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(TOMAS, "_chat.txt")
        archive.writestr(link, "/etc/shadow")
    with pytest.raises(InputError, match="symbolic link"):
        parse(path)


def test_zip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(TOMAS, "_chat.txt")
        archive.writestr("VID-20240309-WA0001.mp4", b"\0" * (8 * 1024**2))
    with pytest.raises(InputError, match="zip bomb"):
        parse(path)


def test_zip_without_chat(tmp_path: Path) -> None:
    path = tmp_path / "media.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("IMG-1.jpg", b"jpeg")
        archive.writestr("notes.txt", b"not a chat\n")
    assert not WhatsAppConnector().sniff(path)
    with pytest.raises(InputError, match="no WhatsApp chat"):
        parse(path)


def test_zip_with_empty_chat(tmp_path: Path) -> None:
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("_chat.txt", b"")
    with pytest.raises(InputError, match="empty file") as caught:
        parse(path)
    assert caught.value.file == f"{path}!_chat.txt"


def test_zip_with_corrupt_chat_names_the_member(tmp_path: Path) -> None:
    path = tmp_path / "chat.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_chat.txt", TOMAS.read_bytes() * 40)
    data = bytearray(path.read_bytes())
    for at in range(300, 400):
        data[at] ^= 0xA5
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        parse(path)
    assert caught.value.file == f"{path}!_chat.txt"


def test_zip_picks_the_chat_among_text_files(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("00000046-notes.txt", b"just an attached text file\n")
        archive.write(FIXTURES / "android_year_first.txt", "chat export.txt")
    found = messages(path)
    assert found[0].conversation == "chat export" and len(found) == 4
