"""The Telegram connector on small exports built here from Python (all fiction, 555 numbers)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ijson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors._json
from archiver.connector import Connector, ConnectorRegistry, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection, UnknownFormatError
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import _telegram_export, _telegram_json, telegram
from connectors.telegram import HTML_EXPORT, TZ_REQUIRED, TelegramConnector
from tests.conftest import CliRunner
from tests.hostile import read_or_refused

ME = "Marisol Vega"
DANA = "Dana Reyes"
NEW_YORK = ZoneInfo("America/New_York")
MISSING = "(File not included. Change data exporting settings to download.)"
T0 = 1706709909  # 2024-01-31T14:05:09Z


def context(tz: ZoneInfo | None = None) -> ParseContext:
    return ParseContext(custodian="mvega", custodian_names=(ME,), tz=tz, export_sha256="ab" * 32)


def parse(path: Path, tz: ZoneInfo | None = None) -> list[ParsedItem]:
    return list(TelegramConnector().parse(path, context(tz)))


def messages(path: Path, tz: ZoneInfo | None = None) -> list[Message]:
    items = parse(path, tz)
    assert all(isinstance(item, Message) for item in items), [i for i in items if isinstance(i, Rejection)]
    return [item for item in items if isinstance(item, Message)]


def rejections(items: list[ParsedItem]) -> list[Rejection]:
    return [item for item in items if isinstance(item, Rejection)]


def msg(number: int, sender: str | None, text: Any = "", *, sender_id: str | None = None,
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A Telegram Desktop message as the export writes it (``date`` is the exporter's local time)."""
    unix = T0 + 60 * number
    local = datetime.fromtimestamp(unix, UTC).astimezone(NEW_YORK).replace(tzinfo=None)
    return {"id": number, "type": "message", "date": local.isoformat(), "date_unixtime": str(unix),
            "from": sender, "from_id": sender_id or f"user555{zlib.crc32(str(sender).encode()) % 10000:04d}",
            "text": text, "text_entities": [], **extra}  # fmt: skip


def service(number: int, actor: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"id": number, "type": "service", "date": "2024-01-31T09:00:00", "date_unixtime": str(T0 + 60 * number),
            "actor": actor, "actor_id": "user5550100", "action": action, "text": "", "text_entities": [],
            **extra}  # fmt: skip


def chat(items: list[dict[str, Any]], name: str | None = DANA, kind: str = "personal_chat",
         chat_id: int = 5550101) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"name": name, "type": kind, "id": chat_id, "messages": items}
    if name is None:
        del data["name"]
    return data


def write(folder: Path, data: Any, name: str = "result.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data, indent=1), encoding="ascii")  # non-ASCII as \\u escapes, as JSON allows
    return path


def utc(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


# --- a personal chat -----------------------------------------------------------------------


def test_personal_chat_directions_recipients_and_times(tmp_path: Path) -> None:
    path = write(tmp_path, chat([msg(1, DANA, "Lane 4 is closed", sender_id="user5550101"),
                                 msg(2, ME, "Copy that.\n  Rerouting  trucks.", sender_id="user5550199")]))  # fmt: skip
    first, second = messages(path)
    assert (first.sender, first.direction, first.recipients) == (DANA, "received", (ME,))
    assert (second.sender, second.direction, second.recipients) == (ME, "sent", (DANA,))
    assert second.body == "Copy that.\n  Rerouting  trucks."  # inner whitespace and newlines kept
    assert [m.sent_at for m in (first, second)] == [utc(T0 + 60), utc(T0 + 120)]
    assert first.conversation == DANA and first.source == "telegram" and first.custodian == "mvega"
    assert first.flags == second.flags == () and not first.system
    assert first.source_ref.to_json() == {"file": "result.json", "entry": None, "line": 1, "export_sha256": "ab" * 32}


def test_peer_is_recognised_by_id_when_names_differ(tmp_path: Path) -> None:
    path = write(tmp_path, chat([msg(1, "Dana R.", "hi", sender_id="user5550101"), msg(2, "Somebody", "yo")]))
    first, second = messages(path)
    assert (first.recipients, first.flags) == ((ME,), ())
    # Neither the custodian nor the chat's peer by name or id: the other side is a guess.
    assert (second.recipients, second.flags, second.direction) == ((DANA,), (FLAG_RECIPIENTS_UNKNOWN,), "received")


def test_text_list_is_concatenated_from_visible_text(tmp_path: Path) -> None:
    text = ["Check ", {"type": "link", "text": "https://port.example.gov"}, " and ",
            {"type": "text_link", "text": "this form", "href": "https://forms.example.gov/7"},
            {"type": "bold", "text": "\nnow"}, " 👀"]  # fmt: skip
    (found,) = messages(write(tmp_path, chat([msg(1, DANA, text)])))
    assert found.body == "Check https://port.example.gov and this form\nnow 👀"


def test_unixtime_wins_over_local_date(tmp_path: Path) -> None:
    item = msg(1, DANA, "x") | {"date": "1999-01-01T00:00:00"}
    (found,) = messages(write(tmp_path, chat([item])), tz=NEW_YORK)
    assert found.sent_at == utc(T0 + 60)


def test_local_date_is_read_in_the_given_zone(tmp_path: Path) -> None:
    old = [{k: v for k, v in msg(n, DANA, "x").items() if k != "date_unixtime"} for n in (1, 2)]
    old[0]["date"], old[1]["date"] = "2024-01-31T09:05:09", "2024-07-04T09:05:09"
    found = messages(write(tmp_path, chat(old)), tz=NEW_YORK)
    assert [m.sent_at.isoformat() for m in found] == ["2024-01-31T09:05:09-05:00", "2024-07-04T09:05:09-04:00"]


def test_local_date_without_a_zone_is_refused(tmp_path: Path) -> None:
    old = {k: v for k, v in msg(2, DANA, "x").items() if k != "date_unixtime"}
    path = write(tmp_path, chat([msg(1, DANA, "has unixtime"), old]))
    found: list[ParsedItem] = []
    with pytest.raises(InputError) as caught:
        found.extend(TelegramConnector().parse(path, context(None)))
    assert TZ_REQUIRED in str(caught.value) and "message 2" in str(caught.value)
    assert len(found) == 1  # what came before is archived; the rest needs --tz


def test_edited_message_is_flagged_and_keeps_final_text(tmp_path: Path) -> None:
    item = msg(1, DANA, "Lane 5, not 4") | {"edited": "2024-01-31T09:10:00", "edited_unixtime": str(T0 + 400)}
    (found,) = messages(write(tmp_path, chat([item])))
    assert (found.body, found.flags) == ("Lane 5, not 4", (FLAG_EDITED,))


def test_forwarded_message_keeps_body_and_forwarder(tmp_path: Path) -> None:
    item = msg(1, DANA, "Bulletin 12", forwarded_from="CBP Alerts", reply_to_message_id=7)
    (found,) = messages(write(tmp_path, chat([item])))
    assert (found.sender, found.body) == (DANA, "Bulletin 12")


def test_deleted_account_is_named_by_its_id(tmp_path: Path) -> None:
    (found,) = messages(write(tmp_path, chat([msg(1, None, "gone", sender_id="user5550177")], kind="private_group")))
    assert found.sender == "user5550177"


def test_structured_content_gets_a_composed_body(tmp_path: Path) -> None:
    items = [msg(1, DANA, location_information={"latitude": 31.3322, "longitude": -110.9381},
                 place_name="Nogales POE", address="9 N Grand Ave"),
             msg(2, DANA, contact_information={"first_name": "Ana", "last_name": "Ortiz",
                                               "phone_number": "+1 520 555 0142"}),
             msg(3, DANA, poll={"question": "Open lane 6?", "closed": False, "total_voters": 3,
                                "answers": [{"text": "Yes", "voters": 2, "chosen": True},
                                            {"text": "No", "voters": 1, "chosen": False}]})]  # fmt: skip
    assert [m.body for m in messages(write(tmp_path, chat(items)))] == [
        "location: 31.3322, -110.9381\nNogales POE\n9 N Grand Ave",
        "contact: Ana Ortiz, +1 520 555 0142",
        "poll: Open lane 6?\n- Yes (votes: 2)\n- No (votes: 1)",
    ]


# --- service messages, groups, channels, saved messages ------------------------------------


def test_service_messages_are_system_with_a_composed_body(tmp_path: Path) -> None:
    items = [service(1, DANA, "phone_call", duration_seconds=65, discard_reason="hangup"),
             service(2, ME, "pin_message", message_id=3600),
             service(3, DANA, "joined_telegram")]  # fmt: skip
    found = messages(write(tmp_path, chat(items)))
    assert [m.body for m in found] == ["Dana Reyes: phone_call (duration 65 s, discard_reason hangup)",
                                       "Marisol Vega: pin_message (message_id 3600)",
                                       "Dana Reyes: joined_telegram"]  # fmt: skip
    assert all(m.system for m in found)
    assert [m.direction for m in found] == ["received", "sent", "received"]


def test_group_recipients_are_the_people_seen_so_far(tmp_path: Path) -> None:
    items = [service(1, ME, "create_group", title="Port Ops", members=["Ken Ito", "Lia Moss"]),
             msg(2, "Ken Ito", "on site"),
             service(3, ME, "invite_members", members=[DANA]),
             msg(4, DANA, "here too"),
             service(5, ME, "remove_members", members=["Ken Ito"]),
             msg(6, ME, "thanks all")]  # fmt: skip
    found = messages(write(tmp_path, chat(items, name="Port Ops", kind="private_supergroup", chat_id=5550300)))
    assert [m.recipients for m in found] == [
        (),
        ("Lia Moss", ME),
        ("Ken Ito", "Lia Moss"),
        ("Ken Ito", "Lia Moss", ME),
        ("Dana Reyes", "Ken Ito", "Lia Moss"),
        ("Dana Reyes", "Lia Moss"),
    ]
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in found)
    assert found[0].body == "Marisol Vega: create_group (title Port Ops, members Ken Ito, Lia Moss)"


def test_group_membership_stops_growing_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telegram_json, "MAX_PARTICIPANTS", 3)
    items = [msg(n, f"Officer {n}", "x") for n in range(1, 6)]
    found = messages(write(tmp_path, chat(items, name="Big", kind="public_supergroup")))
    assert len(found[-1].recipients) == 3


def test_channel_posts_have_unknown_recipients(tmp_path: Path) -> None:
    (found,) = messages(write(tmp_path, chat([msg(1, "CBP Alerts", "Bulletin", author="J. Doe")],
                                             name="CBP Alerts", kind="public_channel")))  # fmt: skip
    assert (found.sender, found.recipients, found.flags) == ("CBP Alerts", (ME,), (FLAG_RECIPIENTS_UNKNOWN,))


def test_saved_messages(tmp_path: Path) -> None:
    (found,) = messages(write(tmp_path, chat([msg(1, "M. Vega", "note to self")], name=None, kind="saved_messages")))
    assert (found.conversation, found.direction, found.recipients, found.flags) == ("Saved Messages", "sent", (), ())


def test_account_export_streams_every_chat(tmp_path: Path) -> None:
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 5550199, "first_name": "Marisol", "last_name": "Vega",
                                 "phone_number": "+1 520 555 0199", "bio": ""},
        "contacts": {"about": "contacts", "list": [{"first_name": "Dana", "phone_number": "+1 520 555 0101"}]},
        "chats": {"about": "chats", "list": [
            chat([msg(1, DANA, "hi", sender_id="user5550101"), msg(2, "Mari", "hello", sender_id="user5550199")]),
            chat([msg(3, "Ken Ito", "shift?")], name="Port Ops", kind="private_group", chat_id=5550300),
        ]},
        "left_chats": {"about": "left", "list": [chat([msg(4, "Lia Moss", "bye")], name="Old Ops",
                                                      kind="private_supergroup", chat_id=5550400)]},
    }  # fmt: skip
    found = messages(write(tmp_path, data))
    assert [(m.conversation, m.sender, m.source_ref.line) for m in found] == [
        (DANA, DANA, 1), (DANA, "Mari", 2), ("Port Ops", "Ken Ito", 3), ("Old Ops", "Lia Moss", 4)]  # fmt: skip
    # The export names its owner: id user5550199 is the custodian even under another display name.
    assert [m.direction for m in found] == ["received", "sent", "received", "received"]
    assert found[0].recipients == (ME,) and found[2].recipients == (ME,)


def test_unnamed_chats_get_a_fallback_conversation(tmp_path: Path) -> None:
    data = {"chats": {"list": [{"messages": [msg(1, DANA, "a")]}, {"id": 77, "messages": [msg(2, DANA, "b")]}]}}
    found = messages(write(tmp_path, data, name="export.json"))
    assert [m.conversation for m in found] == ["export chat 1", "Telegram chat 77"]


# --- attachments ---------------------------------------------------------------------------

PHOTO = b"\xff\xd8\xff\xe0 fake jpeg"
PDF = b"%PDF-1.4 fake"


def media_items() -> list[dict[str, Any]]:
    return [msg(1, DANA, "", photo="photos/photo_1@31-01-2024_14-05-09.jpg", width=960, height=1280),
            msg(2, DANA, "report", file="files/report.pdf", file_name="Report Q1.pdf", mime_type="application/pdf",
                thumbnail="files/report.pdf_thumb.jpg"),
            msg(3, DANA, "", photo=MISSING),
            msg(4, DANA, "", file="video_files/clip.mp4", media_type="video_file", mime_type="video/mp4",
                thumbnail=MISSING)]  # fmt: skip


def check_media(found: list[Message]) -> None:
    photo, report, placeholder, absent = found
    (image,) = photo.attachments
    assert (image.name, image.media_type, image.size, image.missing) == ("photo_1@31-01-2024_14-05-09.jpg",
                                                                         "image/jpeg", len(PHOTO), False)  # fmt: skip
    assert image.sha256 == hashlib.sha256(PHOTO).hexdigest() and image.content == PHOTO and photo.flags == ()
    assert [(a.name, a.media_type, a.content) for a in report.attachments] == [
        ("Report Q1.pdf", "application/pdf", PDF),
        ("report.pdf_thumb.jpg", "image/jpeg", b"thumb"),
    ]
    (gone,) = placeholder.attachments
    assert (gone.name, gone.media_type, gone.missing, gone.sha256) == (None, "image/jpeg", True, None)
    assert placeholder.flags == (FLAG_ATTACHMENT_MISSING,)
    (clip,) = absent.attachments  # referenced, but the file is not in the export; no thumbnail either
    assert (clip.name, clip.media_type, clip.missing) == ("clip.mp4", "video/mp4", True)
    assert absent.flags == (FLAG_ATTACHMENT_MISSING,)


def export_folder(folder: Path) -> Path:
    (folder / "photos").mkdir(parents=True)
    (folder / "files").mkdir()
    (folder / "photos" / "photo_1@31-01-2024_14-05-09.jpg").write_bytes(PHOTO)
    (folder / "files" / "report.pdf").write_bytes(PDF)
    (folder / "files" / "report.pdf_thumb.jpg").write_bytes(b"thumb")
    return write(folder, chat(media_items()))


def test_attachments_beside_result_json(tmp_path: Path) -> None:
    check_media(messages(export_folder(tmp_path / "ChatExport_2024-01-31")))


def test_result_json_alone_marks_every_file_missing(tmp_path: Path) -> None:
    found = messages(write(tmp_path, chat(media_items())))
    assert all(a.missing for m in found for a in m.attachments)
    assert all(m.flags == (FLAG_ATTACHMENT_MISSING,) for m in found)


def zip_folder(folder: Path, target: Path, top: str = "ChatExport_2024-01-31/") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, top + path.relative_to(folder).as_posix())
    return target


def test_zipped_export_folder(tmp_path: Path) -> None:
    export_folder(tmp_path / "export")
    archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    assert TelegramConnector().sniff(archive)
    found = messages(archive)
    check_media(found)
    assert found[0].source_ref.file == "export.zip"
    assert found[0].source_ref.entry == "ChatExport_2024-01-31/result.json"


def test_a_result_json_sent_in_a_chat_is_not_the_export(tmp_path: Path) -> None:
    export_folder(tmp_path / "export")
    (tmp_path / "export" / "files" / "result.json").write_text('{"sent": "as a document"}')
    found = messages(zip_folder(tmp_path / "export", tmp_path / "export.zip", top=""))
    assert len(found) == 4


@pytest.mark.parametrize("ref", ["../secret.txt", "/etc/passwd", "files\\..\\x.pdf", "photos/../../x.jpg", " "])
def test_attachment_path_leaving_the_export_is_rejected(tmp_path: Path, ref: str) -> None:
    items = parse(write(tmp_path, chat([msg(1, DANA, "", photo=ref), msg(2, DANA, "next")])))
    (rejection,) = rejections(items)
    assert (rejection.line, rejection.reason) == (1, "message 1 in the file (Telegram id 1): a file path leaves "
                                                     "the export folder")  # fmt: skip
    assert isinstance(items[1], Message) and items[1].body == "next"


def test_attachment_through_a_symlink_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.jpg").write_bytes(b"private")
    export = tmp_path / "export"
    export.mkdir()
    os.symlink(tmp_path / "outside", export / "photos")
    (rejection,) = rejections(parse(write(export, chat([msg(1, DANA, "", photo="photos/x.jpg")]))))
    assert "symbolic link" in rejection.reason


def test_attachment_over_the_cap_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telegram_export, "ATTACHMENT_CAP", 4)
    export_folder(tmp_path / "export")
    assert all("larger than" in r.reason for r in rejections(parse(tmp_path / "export" / "result.json")))
    zipped = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    assert len(rejections(parse(zipped))) == 2


def test_zip_with_a_traversal_entry_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "evil.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("result.json", json.dumps(chat([msg(1, DANA, "x")])))
        archive.writestr("../photos/x.jpg", b"x")
    assert not TelegramConnector().sniff(target)
    with pytest.raises(InputError, match="escapes the archive"):
        parse(target)


@pytest.mark.parametrize(("entries", "error"), [
    ({"notes.txt": "x"}, "holds no Telegram result.json"),
    ({"ChatExport/messages.html": "<html></html>"}, "Machine-readable JSON"),
    ({"a/result.json": "{}", "b/result.json": "{}"}, "several Telegram exports"),
    ({"result.json": ""}, "empty file"),
    ({"result.json": '{"foo": 1}'}, "not a Telegram Desktop export"),
])  # fmt: skip
def test_zip_without_one_usable_result_json_is_refused(tmp_path: Path, entries: dict[str, str], error: str) -> None:
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    assert not TelegramConnector().sniff(target)
    with pytest.raises(InputError, match=error):
        parse(target)


# --- sniffing and files that are not Telegram's JSON ---------------------------------------


def test_sniff_claims_both_shapes(tmp_path: Path) -> None:
    sniff = TelegramConnector().sniff
    assert sniff(write(tmp_path, chat([msg(1, DANA, "x")]), "single.json"))
    minimal = {"messages": [{"type": "message", "date_unixtime": "1544006350", "from": "A", "text": "x"}]}
    assert sniff(write(tmp_path, minimal, "minimal.json"))
    contacts = [{"first_name": f"Contact {n}", "phone_number": f"+1 520 555 {n:04d}"} for n in range(3000)]
    account = {"about": "x", "personal_information": {"user_id": 5550199, "first_name": "Marisol"},
               "contacts": {"list": contacts}, "chats": {"list": []}}  # fmt: skip
    path = write(tmp_path, account, "account.json")
    assert path.stat().st_size > telegram.SNIFF_BYTES  # the chats are beyond the head
    assert sniff(path)


@pytest.mark.parametrize(("name", "content"), [
    ("chat.txt", b"31/01/2024, 14:05 - Dana Reyes: Lane 4 is closed\n"),
    ("messages.jsonl", b'{"source": "whatsapp", "conversation": "x", "sender": "a", "sent_at": '
                       b'"2024-01-31T14:05:09+00:00", "body": "hi"}\n'),
    ("messenger.json", json.dumps({"participants": [{"name": "A"}], "messages": [
        {"sender_name": "A", "timestamp_ms": 1, "content": "x", "type": "Generic"}]}).encode()),
    ("discord.json", json.dumps({"guild": {}, "messages": [{"type": "Default", "timestamp": "x"}]}).encode()),
    ("telethon.json", json.dumps([{"sender_id": -1, "text": "x", "date": "2023-05-15T19:30:49+00:00"}]).encode()),
    ("other.json", b'{"foo": 1}'),
    ("number.json", b"42"),
    ("empty.json", b""),
    ("random.bin", bytes(random.Random(7).randrange(256) for _ in range(4096))),
    ("messages.html", b"<!DOCTYPE html>\n<html><body><div class=\"message default\"></div></body></html>"),
])  # fmt: skip
def test_other_files_are_neither_claimed_nor_parsed(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert not TelegramConnector().sniff(path)
    with pytest.raises(InputError) as caught:
        parse(path)
    assert str(path) in str(caught.value)


def test_html_export_asks_for_json(tmp_path: Path) -> None:
    path = tmp_path / "messages.html"
    path.write_bytes(b"\n  <!DOCTYPE html><html><div class='message'></div></html>")
    with pytest.raises(InputError) as caught:
        parse(path)
    assert HTML_EXPORT in str(caught.value)


TELEGRAM_HTML = (b'<!DOCTYPE html>\n<html>\n <head>\n  <meta charset="utf-8"/>\n<title>Exported Data</title>\n'
                 b'  <link href="css/style.css" rel="stylesheet"/>\n </head>\n <body onload="CheckLocation();">\n'
                 b'  <div class="page_wrap">\n   <div class="history">\n    <div class="message default clearfix" '
                 b'id="message1"><div class="text">Lane 4 is closed</div></div>\n</div></div></body></html>\n')


def _html_export_zip(tmp_path: Path) -> Path:
    path = tmp_path / "ChatExport_2026-02-10.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ChatExport_2026-02-10/messages.html", TELEGRAM_HTML)
        archive.writestr("ChatExport_2026-02-10/css/style.css", b"body{}")
    return path


def test_html_export_is_refused_with_its_reason_through_auto_detection(tmp_path: Path) -> None:
    page = tmp_path / "messages.html"
    page.write_bytes(TELEGRAM_HTML)
    registry = ConnectorRegistry.from_entry_points()
    for path in (page, _html_export_zip(tmp_path)):
        with pytest.raises(InputError) as caught:
            registry.detect(path)
        assert HTML_EXPORT in str(caught.value) and "not a recognised export" not in str(caught.value)
        assert str(path) in str(caught.value)


def test_html_export_cli_error_asks_for_json(tmp_path: Path, cli: CliRunner) -> None:
    page = tmp_path / "messages.html"
    page.write_bytes(TELEGRAM_HTML)
    result = cli("parse", page)
    assert result.code == 2 and result.err.count("\n") == 1 and "Machine-readable JSON" in result.err


def test_other_html_is_still_not_recognised(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"<!DOCTYPE html><html><head><title>Exported Data</title></head><body></body></html>")
    with pytest.raises(UnknownFormatError, match="not a recognised export"):
        ConnectorRegistry.from_entry_points().detect(page)


def test_sniff_never_raises_on_a_directory_or_missing_file(tmp_path: Path) -> None:
    assert not TelegramConnector().sniff(tmp_path)
    assert not TelegramConnector().sniff(tmp_path / "nope.json")
    with pytest.raises(InputError, match="directory"):
        parse(tmp_path)


def test_connector_protocol() -> None:
    assert isinstance(TelegramConnector(), Connector)
    assert TelegramConnector.name == "telegram" and "result.json" in TelegramConnector.description


# --- hostile input -------------------------------------------------------------------------


def sample_bytes() -> bytes:
    items = [msg(1, DANA, ["á ", {"type": "bold", "text": "b 👀"}]), msg(2, ME, "c", edited="x"),
             service(3, DANA, "phone_call", duration_seconds=5), msg(4, DANA, "", photo=MISSING)]  # fmt: skip
    return json.dumps(chat(items), ensure_ascii=False, indent=1).encode()


def test_truncated_file_keeps_what_came_before(tmp_path: Path) -> None:
    data = sample_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(data[: data.index(b'"id": 3')])
    found: list[ParsedItem] = []
    with pytest.raises(InputError, match="malformed JSON near byte"):
        found.extend(TelegramConnector().parse(path, context()))
    assert [m.body for m in found if isinstance(m, Message)] == ["á b 👀", "c"]


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(sample_bytes().replace(b'"c"', b'"\xff\xfe"'))
    with pytest.raises(InputError, match="malformed JSON"):
        parse(path)


@pytest.mark.parametrize("encode", [
    lambda text: text.encode("utf-16"),
    lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
    lambda text: b"\xef\xbb\xbf" + text.encode(),
    lambda text: text.replace("\n", "\r\n").encode(),
])  # fmt: skip
def test_byte_order_marks_and_line_ends(tmp_path: Path, encode: Callable[[str], bytes]) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(encode(sample_bytes().decode()))
    assert TelegramConnector().sniff(path)
    assert [m.body for m in messages(path)][:2] == ["á b 👀", "c"]


def test_huge_message_is_rejected_and_the_rest_read(tmp_path: Path) -> None:
    big = "x" * (_telegram_json.MESSAGE_CAP + 1024**2)
    path = write(tmp_path, chat([msg(1, DANA, "before"), msg(2, DANA, big), msg(3, DANA, "after")]))
    items = parse(path)
    assert [m.body for m in items if isinstance(m, Message)] == ["before", "after"]
    (rejection,) = rejections(items)
    assert (rejection.line, rejection.reason) == (2, "message 2 in the file is larger than 16 MiB")


def test_value_too_long_to_hold_refuses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telegram_json, "MESSAGE_CAP", 64 * 1024)
    monkeypatch.setattr(connectors._json, "TOKEN_CAP", 512 * 1024)
    path = write(tmp_path, chat([msg(1, DANA, "before"), msg(2, DANA, "x" * 1024**2), msg(3, DANA, "after")]))
    found: list[ParsedItem] = []
    with pytest.raises(InputError, match="is longer than"):
        found.extend(TelegramConnector().parse(path, context()))
    assert [m.body for m in found if isinstance(m, Message)] == ["before"]


def test_deep_nesting(tmp_path: Path) -> None:
    inside = json.dumps(chat([msg(1, DANA, "x")])).replace('"text": "x"', '"text": ' + "[" * 100 + "]" * 100)
    path = tmp_path / "inside.json"
    path.write_text(inside)
    (rejection,) = parse(path)
    assert isinstance(rejection, Rejection) and "nests deeper than 64" in rejection.reason
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "personal_chat", "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(InputError, match="nests deeper"):
        parse(outside)


@pytest.mark.parametrize(("item", "reason"), [
    ("not an object", "is not a JSON object"),
    ({"id": 9, "type": "sticker", "date_unixtime": "1"}, "has no 'type' of 'message' or 'service'"),
    ({"type": "message", "from": "A", "text": "x"}, "has neither 'date_unixtime' nor 'date'"),
    ({"type": "message", "date_unixtime": "soon", "text": "x"}, "'date_unixtime' is not a number of seconds"),
    ({"type": "message", "date_unixtime": "999999999999", "text": "x"}, "'date_unixtime' is out of range"),
    ({"type": "message", "date": "31/01/2024", "text": "x"}, "its 'date' is not an ISO 8601 date and time"),
    ({"type": "message", "date_unixtime": "1", "text": 5}, "its 'text' is neither a string nor a list"),
    ({"type": "message", "date_unixtime": "1", "text": [{"type": "bold"}]}, "its 'text' holds a piece without text"),
    ({"type": "message", "date_unixtime": "1", "from": ["A"], "text": "x"}, "its 'from' is not a name"),
    ({"type": "message", "date_unixtime": "1", "photo": 5}, "its 'photo' is not a file path"),
])  # fmt: skip
def test_bad_message_is_rejected_and_the_rest_read(tmp_path: Path, item: Any, reason: str) -> None:
    items = parse(write(tmp_path, chat([msg(1, DANA, "first"), item, msg(3, DANA, "last")])), tz=NEW_YORK)
    assert [m.body for m in items if isinstance(m, Message)] == ["first", "last"]
    (rejection,) = rejections(items)
    assert rejection.line == 2 and reason in rejection.reason and rejection.file == str(tmp_path / "result.json")


def test_lone_surrogate_escape_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # yajl turns a lone \\ud800 into "?" or refuses the file; ijson's pure-Python backend, used where
    # the C extension is missing, hands it over, and such a string cannot be stored.
    monkeypatch.setattr(ijson, "basic_parse", ijson.get_backend("python").basic_parse)
    lone = [msg(1, DANA, "first"), msg(2, DANA, "\ud800"), msg(3, "\udc40", "x", sender_id="user5550102")]
    items = parse(write(tmp_path, chat(lone)))
    assert [m.body for m in items if isinstance(m, Message)] == ["first"]
    assert [(r.line, "unpaired UTF-16 surrogate" in r.reason) for r in rejections(items)] == [(2, True), (3, True)]


def test_mojibake_names_are_kept_as_exported(tmp_path: Path) -> None:
    name = "Grace \u00f0\u0178\u00a7\u00a4"
    (found,) = messages(write(tmp_path, chat([msg(1, name, "late!", sender_id=None)], name=name)))
    assert (found.conversation, found.sender) == (name, name)


def test_memory_stays_flat_on_a_long_chat(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"name": "Dana Reyes", "type": "personal_chat", "id": 5550101, "messages": [')
        handle.write(",".join(json.dumps(msg(n, DANA, f"{n} " + "lane report " * 80)) for n in range(1, 20_001)))
        handle.write("]}")
    assert path.stat().st_size > 20 * 1024**2
    tracemalloc.start()
    try:
        count = sum(1 for _ in TelegramConnector().parse(path, context()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000 and peak < 4 * 1024**2


# --- property: nothing but InputError or items escapes -------------------------------------


def outcome(path: Path) -> None:
    read_or_refused(TelegramConnector(), path, context(NEW_YORK))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.json"
    path.write_bytes(data)
    outcome(path)


def zipped_sample() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/result.json", sample_bytes().replace(MISSING.encode(), b"photos/p.jpg"))
        archive.writestr("export/photos/p.jpg", PHOTO)
    return buffer.getvalue()


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.integers(0, 255)),
)


def mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    buffer = bytearray(data)
    for kind, where, value in mutations:
        at = where % (len(buffer) + 1)
        if kind == "flip" and at < len(buffer):
            buffer[at] ^= value
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = bytes([value]) * (1 + value % 4)
    return bytes(buffer)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(["json", "zip"]), mutations=st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_exports_never_crash(tmp_path: Path, base: str, mutations: list[tuple[str, int, int]]) -> None:
    data = sample_bytes() if base == "json" else zipped_sample()
    path = tmp_path / f"mutated.{base}"
    path.write_bytes(mutate(data, mutations))
    outcome(path)
