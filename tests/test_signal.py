"""The Signal connector: signal-export's chat.md and data.json, bare or zipped with media.

Every export here is built in the test from Python, so the test shows what it reads. The
names are fiction; the Markdown and JSON shapes follow signal-export's own writer
(sigexport/models.py: ``to_md`` and ``dict_str``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors._text
from archiver.connector import Connector, ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import _signal_export, _signal_json
from connectors.signal import TZ_REQUIRED, SignalConnector
from connectors.whatsapp import WhatsAppConnector
from tests.hostile import EDITS, mutate, read_or_refused

NEW_YORK = ZoneInfo("America/New_York")
CONTEXT = ParseContext(custodian="Dana Whitfield", custodian_names=("Dana Whitfield",), tz=NEW_YORK)
PHOTO = b"\xff\xd8\xff\xe0 fictional jpeg bytes"
WHATSAPP_FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"


def md_message(stamp: str, sender: str, text: str, quote: str = "", tail: str = "") -> str:
    """One block as signal-export's ``Message.to_md`` prints it (two-space break, empty line after)."""
    quoted = f"\n\n> {quote}\n\n" if quote else ""
    return f"[{stamp}] {sender}: {quoted}{text}  {tail}\n\n"


DIRECT_MD = (
    md_message("2024-01-31 14:05:09", "Alice", "Lane 4 scanner is down.")
    + md_message("2024-01-31 14:06:10", "Me", "On my way.\n\nBring the spare cable?", quote="Lane 4 scanner is down.",
                 tail="\n(- Alice: 👍 -)")
    + md_message("2024-01-31 14:07:00", "Alice", "", tail="![2024-01-31_00_scan.jpg](./media/2024-01-31_00_scan.jpg)  "
                 "[2024-01-31_01_log.pdf](./media/2024-01-31_01_log.pdf)  ")
    + "[2024-01-31 14:08:00] Alice: (This message was deleted)\n\n"
    + md_message("2024-01-31 14:09:00", "Me", "Missed voice call")
)  # fmt: skip


def messages(items: list[Message | Rejection]) -> list[Message]:
    return [item for item in items if isinstance(item, Message)]


def rejections(items: list[Message | Rejection]) -> list[Rejection]:
    return [item for item in items if isinstance(item, Rejection)]


def parse(path: Path, context: ParseContext = CONTEXT) -> list[Message | Rejection]:
    return list(SignalConnector().parse(path, context))


def chat_folder(root: Path, name: str = "Alice", md: str | None = DIRECT_MD, records: list[Any] | None = None) -> Path:
    """A chat folder as signal-export writes it, with one media file."""
    folder = root / name
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "2024-01-31_00_scan.jpg").write_bytes(PHOTO)
    if md is not None:
        (folder / "chat.md").write_text(md, encoding="utf-8")
    if records is not None:
        (folder / "data.json").write_text(jsonl(records), encoding="utf-8")
    return folder


def jsonl(records: list[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def record(date: str, sender: str, body: str, **extra: Any) -> dict[str, Any]:
    """One data.json line as signal-export's ``Message.dict_str`` writes it (body with its two spaces)."""
    base: dict[str, Any] = {"date": date, "sender": sender, "body": body + "  ", "quote": "", "sticker": None,
                            "reactions": [], "attachments": [], "deleted": False, "call": False,
                            "missed": False}  # fmt: skip
    base.update(extra)
    return base


DIRECT_RECORDS = [
    record("2024-01-31T14:05:09", "Alice", "Lane 4 scanner is down."),
    record("2024-01-31T14:06:10.250000", "Me", "On my way.\n\nBring the spare cable?",
           quote="\n\n> Lane 4 scanner is down.\n\n", reactions=[["Alice", "👍"]]),
    record("2024-01-31T14:07:00", "Alice", "", attachments=[
        {"name": "2024-01-31_00_scan.jpg", "path": "media/2024-01-31_00_scan.jpg"},
        {"fileName": "2024-01-31_01_log.pdf", "contentType": "application/pdf", "path": "media/2024-01-31_01_log.pdf"},
    ]),
    record("2024-01-31T14:08:00", "Alice", "", deleted=True),
    record("2024-01-31T14:09:00", "Me", "Missed voice call", call=True, missed=True),
]  # fmt: skip


def make_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def folder_members(folder: Path, prefix: str) -> dict[str, bytes | str]:
    return {
        prefix + str(p.relative_to(folder.parent)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def direct(tmp_path: Path) -> list[Message | Rejection]:
    return parse(chat_folder(tmp_path) / "chat.md")


# --- the connector and the Markdown --------------------------------------------------


def test_connector_protocol() -> None:
    connector = SignalConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "signal" and "signal-export" in connector.description


def test_fields_of_a_message(direct: list[Message | Rejection], tmp_path: Path) -> None:
    first = direct[0]
    assert isinstance(first, Message)
    assert (first.source, first.conversation, first.sender) == ("signal", "Alice", "Alice")
    assert first.body == "Lane 4 scanner is down."  # the exporter's two-space break is not the sender's
    assert first.sent_at == datetime(2024, 1, 31, 19, 5, 9, tzinfo=UTC)
    assert first.sent_at.tzinfo == NEW_YORK
    assert (first.direction, first.account, first.custodian, first.system) == ("received", "personal",
                                                                                "Dana Whitfield", False)  # fmt: skip
    assert first.recipients == ("Dana Whitfield",)
    assert first.flags == ()
    assert first.source_ref.file == str(tmp_path / "Alice" / "chat.md")
    assert (first.source_ref.line, first.source_ref.entry) == (1, None)


def test_me_is_the_custodian_and_quote_and_reactions_stay_in_the_text(direct: list[Message | Rejection]) -> None:
    reply = direct[1]
    assert isinstance(reply, Message)
    assert (reply.sender, reply.direction, reply.recipients) == ("Me", "sent", ("Alice",))
    assert reply.body == "\n\n> Lane 4 scanner is down.\n\nOn my way.\n\nBring the spare cable?  \n(- Alice: 👍 -)"
    assert reply.source_ref.line == 3


def test_attachments_present_and_missing(direct: list[Message | Rejection]) -> None:
    files = direct[2]
    assert isinstance(files, Message)
    scan, log = files.attachments
    assert (scan.name, scan.media_type, scan.size, scan.missing) == ("2024-01-31_00_scan.jpg", "image/jpeg", len(PHOTO),
                                                                     False)  # fmt: skip
    assert scan.sha256 == hashlib.sha256(PHOTO).hexdigest() and scan.content == PHOTO
    assert (log.name, log.media_type, log.sha256, log.missing) == ("2024-01-31_01_log.pdf", "application/pdf", None,
                                                                   True)  # fmt: skip
    assert files.flags == (FLAG_ATTACHMENT_MISSING,)


def test_deleted_and_call_notices_are_system(direct: list[Message | Rejection]) -> None:
    deleted, call = direct[3], direct[4]
    assert isinstance(deleted, Message) and isinstance(call, Message)
    assert deleted.system and deleted.flags == (FLAG_DELETED,) and deleted.body == "(This message was deleted)"
    assert call.system and call.body == "Missed voice call" and call.direction == "sent"
    assert len(direct) == 5


def test_older_stamps_with_comma_and_without_seconds(tmp_path: Path) -> None:
    path = tmp_path / "Bo" / "index.md"
    path.parent.mkdir()
    path.write_text("[2019-12-24, 12:23] Bo: Hello  \n[2019-12-24 12:24] Me: Hi\nthere  \n", encoding="utf-8")
    found = messages(parse(path))
    assert [(m.sender, m.body, m.sent_at.isoformat()) for m in found] == [
        ("Bo", "Hello", "2019-12-24T12:23:00-05:00"),
        ("Me", "Hi\nthere", "2019-12-24T12:24:00-05:00"),
    ]
    assert found[0].conversation == "Bo"


def test_trailing_newlines_of_a_message_are_kept(tmp_path: Path) -> None:
    path = chat_folder(tmp_path, md=md_message("2024-02-01 09:00:00", "Alice", "line one\n\n")) / "chat.md"
    assert [m.body for m in messages(parse(path))] == ["line one\n\n"]


def test_group_recipients_are_those_seen_so_far(tmp_path: Path) -> None:
    chat = (md_message("2024-02-01 09:00:00", "Me", "Shift change at 10.")
            + md_message("2024-02-01 09:01:00", "Brian", "Copy.")
            + md_message("2024-02-01 09:02:00", "Marisol", "Copy that.")
            + md_message("2024-02-01 09:03:00", "Me", "Thanks."))  # fmt: skip
    found = messages(parse(chat_folder(tmp_path, "PortTeam", md=chat) / "chat.md"))
    assert [m.recipients for m in found] == [
        (),
        ("Dana Whitfield",),
        ("Brian", "Dana Whitfield"),
        ("Brian", "Marisol"),
    ]
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in found)


def test_custodian_alias_is_sent(tmp_path: Path) -> None:
    chat = md_message("2024-02-01 09:00:00", "DanaW", "Report filed.") + md_message(
        "2024-02-01 09:01:00", "Alice", "Thanks."
    )
    context = ParseContext(custodian="Dana Whitfield", custodian_names=("Dana Whitfield", "DanaW"), tz=NEW_YORK)
    found = messages(parse(chat_folder(tmp_path, md=chat) / "chat.md", context))
    assert [(m.direction, m.recipients, m.flags) for m in found] == [
        ("sent", ("Alice",), ()),
        ("received", ("Dana Whitfield",), ()),
    ]


def test_only_my_messages_leave_recipients_unknown(tmp_path: Path) -> None:
    found = messages(
        parse(chat_folder(tmp_path, "NotetoSelf", md=md_message("2024-02-01 09:00", "Me", "x")) / "chat.md")
    )
    assert found[0].recipients == () and found[0].flags == (FLAG_RECIPIENTS_UNKNOWN,)


def test_renamed_file_takes_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "Alice Mendez.md"
    path.write_text(DIRECT_MD, encoding="utf-8")
    assert {m.conversation for m in messages(parse(path))} == {"Alice Mendez"}


def test_sticker_not_exported_is_a_missing_attachment(tmp_path: Path) -> None:
    path = chat_folder(tmp_path, md=md_message("2024-02-01 09:00:00", "Alice", "", tail="\n(( 👍 ))")) / "chat.md"
    (found,) = messages(parse(path))
    assert [(a.name, a.missing) for a in found.attachments] == [("👍", True)]
    assert found.flags == (FLAG_ATTACHMENT_MISSING,)


def test_link_leaving_the_folder_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"outside")
    chat = md_message("2024-02-01 09:00:00", "Alice", "", tail="![x](./media/../../secret.jpg)  ![y](../secret.jpg)")
    (found,) = messages(parse(chat_folder(tmp_path, md=chat) / "chat.md"))
    assert [a.missing for a in found.attachments] == [True]  # "../secret.jpg" is not a media link at all
    assert found.attachments[0].content is None


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_media_is_refused(tmp_path: Path) -> None:
    folder = chat_folder(tmp_path, md=md_message("2024-02-01 09:00:00", "Alice", "", tail="![a](./media/a.jpg)"))
    (tmp_path / "outside.jpg").write_bytes(b"outside")
    (folder / "media" / "a.jpg").symlink_to(tmp_path / "outside.jpg")
    (rejected,) = parse(folder / "chat.md")
    assert isinstance(rejected, Rejection) and "symbolic link" in rejected.reason and rejected.line == 1


def test_attachment_over_the_cap_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_signal_export, "ATTACHMENT_CAP", 4)
    folder = chat_folder(
        tmp_path, md=md_message("2024-02-01 09:00:00", "Alice", "", tail="![s](./media/2024-01-31_00_scan.jpg)")
    )
    (rejected,) = parse(folder / "chat.md")
    assert isinstance(rejected, Rejection) and "limit" in rejected.reason


@pytest.mark.parametrize("link", ["./media/a%20b.jpg", "./media\\a b.jpg", "media/a b.jpg"])
def test_space_as_percent_20_and_windows_separator(tmp_path: Path, link: str) -> None:
    folder = chat_folder(tmp_path, md=md_message("2024-02-01 09:00", "Alice", "", tail=f"![a b.jpg]({link})"))
    (folder / "media" / "a b.jpg").write_bytes(PHOTO)
    (found,) = messages(parse(folder / "chat.md"))
    assert found.attachments[0].size == len(PHOTO)


# --- time zones ------------------------------------------------------------------------


def test_missing_time_zone_is_refused(tmp_path: Path) -> None:
    folder = chat_folder(tmp_path, records=DIRECT_RECORDS)
    for name in ("chat.md", "data.json"):
        with pytest.raises(InputError) as caught:
            parse(folder / name, ParseContext(custodian="Dana Whitfield"))
        assert caught.value.cause == TZ_REQUIRED


def test_new_york_across_the_spring_dst_change(tmp_path: Path) -> None:
    chat = md_message("2024-03-10 01:59:00", "Alice", "before") + md_message("2024-03-10 03:00:00", "Alice", "after")
    found = messages(parse(chat_folder(tmp_path, md=chat) / "chat.md"))
    assert [m.sent_at.astimezone(UTC).isoformat() for m in found] == ["2024-03-10T06:59:00+00:00",
                                                                      "2024-03-10T07:00:00+00:00"]  # fmt: skip


def test_json_with_offsets_needs_no_zone(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(jsonl([record("2024-01-31T14:05:09+01:00", "Alice", "hi")]), encoding="utf-8")
    (found,) = messages(parse(path, ParseContext(custodian="Dana Whitfield")))
    assert found.sent_at == datetime(2024, 1, 31, 13, 5, 9, tzinfo=UTC)


# --- data.json -------------------------------------------------------------------------


def test_json_gives_the_same_messages_as_markdown(tmp_path: Path) -> None:
    folder = chat_folder(tmp_path, records=DIRECT_RECORDS)
    from_md = messages(parse(folder / "chat.md"))
    from_json = messages(parse(folder / "data.json"))
    assert [(m.sender, m.recipients, m.direction, m.system, m.flags) for m in from_json] == [
        (m.sender, m.recipients, m.direction, m.system, m.flags) for m in from_md
    ]
    assert [m.body for m in from_json[:2]] == [m.body for m in from_md[:2]]
    assert from_json[1].sent_at == datetime(2024, 1, 31, 19, 6, 10, 250000, tzinfo=UTC)
    assert [a.sha256 for a in from_json[2].attachments] == [a.sha256 for a in from_md[2].attachments]
    assert from_json[2].attachments[1].media_type == "application/pdf"


def test_json_edits_sticker_and_missing_path(tmp_path: Path) -> None:
    records = [
        record("2024-02-01T09:00:00", "Alice", "final text", edits=[{"date": "2024-02-01T09:00:00", "body": "draft"}]),
        record("2024-02-01T09:01:00", "Alice", "", sticker={"id": "7", "packId": "p1", "packKey": "k", "emoji": "🚢",
                                                           "extension": "webp"}),
        record("2024-02-01T09:02:00", "Alice", "", sticker="🚢"),
        record("2024-02-01T09:03:00", "Alice", "", attachments=[{"name": "voice.m4a", "path": None}]),
    ]  # fmt: skip
    found = messages(parse(chat_folder(tmp_path, records=records) / "data.json"))
    assert found[0].body == "final text" and found[0].flags == (FLAG_EDITED,)
    assert [(a.name, a.missing) for m in found[1:] for a in m.attachments] == [("🚢", True), ("🚢", True),
                                                                               ("voice.m4a", True)]  # fmt: skip
    assert found[3].attachments[0].media_type == "audio/mp4"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"date": 5, "sender": "Alice", "body": "x"}', "field 'date'"),
        ('{"date": "yesterday", "sender": "Alice", "body": "x"}', "ISO 8601"),
        ('{"date": "2024-02-01T09:00:00", "sender": null, "body": "x"}', "field 'sender' is missing"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": ["x"]}', "field 'body' is not text"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x", "reactions": [["A"]]}', "reaction"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x", "attachments": ["a.jpg"]}', "attachment"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x", "deleted": "yes"}', "field 'deleted'"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x", "sticker": 3}', "sticker"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x", "edits": 3}', "edits"),
        ("[1, 2]", "not a JSON object"),
        ('"hello there"', "not a JSON object"),
        ("null", "not a JSON object"),
        ('{"date": "2024-02-01T09:00:00", "sender": "A", "body": "x"', "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_json_line_is_rejected_and_the_rest_read(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "data.json"
    good = jsonl([record("2024-02-01T09:00:00", "Alice", "first")])
    path.write_text(good + line + "\n" + jsonl([record("2024-02-01T09:05:00", "Alice", "last")]), encoding="utf-8")
    items = parse(path)
    assert [m.body for m in messages(items)] == ["first", "last"]
    (rejected,) = rejections(items)
    assert rejected.line == 2 and reason in rejected.reason
    assert "hello" not in rejected.reason  # reasons name the place and the fault, never the text


def test_json_line_over_the_cap_is_consumed_and_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_signal_json, "MESSAGE_CAP", 200)
    path = tmp_path / "data.json"
    huge = json.dumps(record("2024-02-01T09:01:00", "Alice", "x" * 1000))
    path.write_text(jsonl([record("2024-02-01T09:00:00", "Alice", "a")]) + huge + "\n" + jsonl(
        [record("2024-02-01T09:02:00", "Alice", "b")]), encoding="utf-8")  # fmt: skip
    items = parse(path)
    assert [m.body for m in messages(items)] == ["a", "b"]
    assert [(r.line, r.reason) for r in rejections(items)] == [(2, "line 2 is longer than 16 MiB")]


def test_json_invalid_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(jsonl([record("2024-02-01T09:00:00", "Alice", "a")]).encode() + b'{"body": "\xff"}\n')
    items = parse(path)
    assert len(messages(items)) == 1 and rejections(items)[0].reason == "line 2 is not valid UTF-8"


def test_normalized_jsonl_is_neither_sniffed_nor_parsed(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    line = {"source": "jsonl", "conversation": "c", "sender": "A", "sent_at": "2024-01-01T00:00:00Z", "body": "x",
            "date": "2024-01-01", "quote": "", "attachments": []}  # fmt: skip
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert not SignalConnector().sniff(path)
    with pytest.raises(InputError, match="not a signal-export chat"):
        parse(path)


# --- zips ------------------------------------------------------------------------------


def test_whole_export_zip(tmp_path: Path) -> None:
    alice = chat_folder(tmp_path / "x", records=DIRECT_RECORDS)
    group_md = md_message("2024-02-01 09:00:00", "Brian", "", tail="[🚢](../exported_stickers/p1/7.webp)  ")
    group = chat_folder(tmp_path / "x", "PortTeam", md=group_md)
    empty = chat_folder(tmp_path / "x", "Quiet", md="")
    members = {**folder_members(alice, "signal/"), **folder_members(group, "signal/"),
               **folder_members(empty, "signal/"), "signal/style.css": "body {}",
               "signal/exported_stickers/p1/7.webp": b"RIFF sticker"}  # fmt: skip
    path = make_zip(tmp_path / "signal-export.zip", members)
    assert SignalConnector().sniff(path)
    items = parse(path)
    found = messages(items)
    assert len(found) == 6 and not rejections(items)
    assert {m.source_ref.entry for m in found} == {"signal/Alice/data.json", "signal/PortTeam/chat.md"}
    assert all(m.source_ref.file == str(path) for m in found)
    assert found[2].attachments[0].content == PHOTO
    sticker = found[5]
    assert (sticker.conversation, sticker.attachments[0].content, sticker.flags) == (
        "PortTeam",
        b"RIFF sticker",
        (FLAG_RECIPIENTS_UNKNOWN,),
    )


def test_zip_of_the_files_alone_takes_the_zip_name(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "Alice.zip", {"chat.md": DIRECT_MD, "media/2024-01-31_00_scan.jpg": PHOTO})
    found = messages(parse(path))
    assert {m.conversation for m in found} == {"Alice"} and found[2].attachments[0].size == len(PHOTO)
    assert found[0].recipients == ("Dana Whitfield",)


def test_broken_chat_among_several_is_rejected_and_the_rest_read(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "export.zip", {"out/Alice/chat.md": DIRECT_MD, "out/Bo/data.json": "not json\n"})
    items = parse(path)
    assert len(messages(items)) == 5
    (rejected,) = rejections(items)
    assert rejected.file == f"{path}!out/Bo/data.json" and "not a signal-export chat" in rejected.reason


def test_zip_attachment_named_data_json_is_not_a_chat(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"Alice/chat.md": DIRECT_MD, "Alice/media/data.json": "{}"})
    assert len(messages(parse(path))) == 5


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"notes.txt": "hello"}, "no chat.md or data.json"),
        ({"Alice/chat.md": ""}, "empty file"),
        ({"a/Alice/chat.md": "", "a/Bo/data.json": ""}, "every chat in the zip is empty"),
        ({"Alice/chat.md": "just notes\n"}, "not a signal-export chat"),
    ],
)
def test_zip_without_a_usable_chat(tmp_path: Path, members: dict[str, bytes | str], message: str) -> None:
    path = make_zip(tmp_path / "a.zip", members)
    with pytest.raises(InputError, match=message):
        parse(path)


@pytest.mark.parametrize("name", ["../evil/chat.md", "/abs/chat.md", "a/../../chat.md"])
def test_zip_with_escaping_entry(tmp_path: Path, name: str) -> None:
    path = make_zip(tmp_path / "a.zip", {name: DIRECT_MD})
    with pytest.raises(InputError, match="escapes"):
        parse(path)
    assert not SignalConnector().sniff(path)


def test_zip_with_symlink(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Alice/chat.md", DIRECT_MD)
        link = zipfile.ZipInfo("Alice/media/2024-01-31_00_scan.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        parse(path)


def test_truncated_zip(tmp_path: Path) -> None:
    whole = make_zip(tmp_path / "a.zip", {"Alice/chat.md": DIRECT_MD, "Alice/media/x.jpg": PHOTO * 100})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert not SignalConnector().sniff(cut)
    with pytest.raises(InputError):
        parse(cut)


def test_zip_sniff_looks_past_empty_chats(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"out/Quiet/chat.md": "", "out/Alice/chat.md": DIRECT_MD})
    assert SignalConnector().sniff(path)
    assert {m.conversation for m in messages(parse(path))} == {"Alice"}


def test_whatsapp_zip_is_not_claimed(tmp_path: Path) -> None:
    chat = (WHATSAPP_FIXTURES / "brackets_no_comma.txt").read_bytes()
    path = make_zip(tmp_path / "WhatsApp Chat - Ops.zip", {"_chat.txt": chat})
    assert not SignalConnector().sniff(path)


# --- hostile text ----------------------------------------------------------------------


def test_crlf_and_utf16_read_the_same(tmp_path: Path, direct: list[Message | Rejection]) -> None:
    expected = [(m.sender, m.body, m.sent_at) for m in messages(direct)]
    for name, data in [("crlf", DIRECT_MD.replace("\n", "\r\n").encode()), ("utf16", DIRECT_MD.encode("utf-16"))]:
        path = tmp_path / name / "chat.md"
        path.parent.mkdir()
        path.write_bytes(data)
        assert SignalConnector().sniff(path)
        assert [(m.sender, m.body, m.sent_at) for m in messages(parse(path))] == expected


def test_invalid_utf8_line_rejects_its_message_only(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_bytes(DIRECT_MD.replace("On my way.", "On my \udcffway.").encode("utf-8", "surrogateescape"))
    items = parse(path)
    assert len(messages(items)) == 4
    assert [(r.line, r.reason) for r in rejections(items)] == [(7, "line 7 is not valid UTF-8")]


def test_impossible_date_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_text(md_message("2024-02-30 09:00:00", "Alice", "x") + md_message("2024-02-01 09:00", "Alice", "y"))
    items = parse(path)
    assert [m.body for m in messages(items)] == ["y"]
    assert rejections(items)[0].reason == "header date '2024-02-30 09:00:00' is not a valid date"


def test_lines_before_the_first_header(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_text("# Alice\nexported for case 24-117\n" + DIRECT_MD, encoding="utf-8")
    assert not SignalConnector().sniff(path)
    items = parse(path)
    assert len(messages(items)) == 5
    assert [(r.line, r.reason) for r in rejections(items)] == [
        (1, "text from line 1 comes before the first message header")
    ]


def test_damaged_header_joins_the_message_before(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_text(DIRECT_MD.replace("[2024-01-31 14:06:10]", "(2024-01-31 14:06:10)"), encoding="utf-8")
    found = messages(parse(path))
    assert len(found) == 4 and "(2024-01-31 14:06:10) Me:" in found[0].body


def test_huge_message_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connectors._text, "MESSAGE_CAP", 300)
    path = tmp_path / "chat.md"
    path.write_text(md_message("2024-02-01 09:00:00", "Alice", "line\n" * 100) + md_message("2024-02-01 09:01", "Alice",
                                                                                           "ok"))  # fmt: skip
    items = parse(path)
    assert [m.body for m in messages(items)] == ["ok"]
    assert rejections(items)[0].reason == "message at line 1 is longer than 16 MiB"


def test_huge_line_is_consumed_and_rejected(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_text(md_message("2024-02-01 09:00:00", "Alice", "x" * (1024**2 + 10)) + md_message(
        "2024-02-01 09:01:00", "Alice", "ok"), encoding="utf-8")  # fmt: skip
    items = parse(path)
    assert [m.body for m in messages(items)] == ["ok"]
    assert rejections(items)[0].reason == "line 1 is longer than 1 MiB"


@pytest.mark.parametrize("text", ["[" * 300_000 + "x\n](./media/x)", "](./media/" * 100_000, "\n(( " * 100_000,
                                  "](./media/" + "(" * 300_000, "[](./media/a" * 100_000])  # fmt: skip
def test_hostile_link_text_stays_linear(tmp_path: Path, text: str) -> None:
    path = tmp_path / "chat.md"
    path.write_text(md_message("2024-02-01 09:00:00", "Alice", text), encoding="utf-8")
    started = datetime.now()
    assert len(parse(path)) == 1
    assert (datetime.now() - started).total_seconds() < 5


def test_file_name_with_parentheses(tmp_path: Path) -> None:
    chat = md_message("2024-02-01 09:00:00", "Alice", "", tail="![p](./media/2024_00_photo_(1).jpg)  ")
    folder = chat_folder(tmp_path, md=chat)
    (folder / "media" / "2024_00_photo_(1).jpg").write_bytes(PHOTO)
    (found,) = messages(parse(folder / "chat.md"))
    assert [(a.name, a.size) for a in found.attachments] == [("p", len(PHOTO))]


def test_truncated_markdown_keeps_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "chat.md"
    path.write_bytes(DIRECT_MD.encode()[:-12])
    found = messages(parse(path))
    assert len(found) == 5 and found[-1].body == "Missed vo" and not found[-1].system


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (os.urandom(2048), "not a signal-export chat"), (b"hello\nworld\n", "not a signal-export")],
)
def test_not_a_signal_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "chat.md"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        parse(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        parse(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "nope.md")
    assert not SignalConnector().sniff(tmp_path / "nope.md")


# --- sniffing --------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(p.name for p in WHATSAPP_FIXTURES.glob("*.txt")))
def test_whatsapp_exports_are_not_claimed(fixture: str) -> None:
    assert not SignalConnector().sniff(WHATSAPP_FIXTURES / fixture)


@pytest.mark.parametrize(
    "content",
    [
        b"[2024-01-31 14:05:09] Alice: hi\n[2024-01-31 14:06:09] Bo: yo\n",  # WhatsApp can write this shape too
        b"[31/01/2024, 14:05:09] Alice: hi\n",
        b"31/01/2024, 14:05 - Alice: hi\n",
        b'{"name": "Ops", "type": "personal_chat", "id": 1, "messages": []}',
        b'{"date": "2024-01-31T14:05:09", "sender": "A", "body": "x"}\n',
        b"\x00\x01\x02",
    ],
)
def test_sniff_refuses_other_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(content)
    assert not SignalConnector().sniff(path)


def test_sniff_claims_each_shape(tmp_path: Path) -> None:
    folder = chat_folder(tmp_path, records=DIRECT_RECORDS)
    assert SignalConnector().sniff(folder / "chat.md") and SignalConnector().sniff(folder / "data.json")
    old = tmp_path / "old.md"
    old.write_text("[2020-01-17 21:49] Bo: Hello  \n[2020-01-17 21:50] Me: Hi  \n", encoding="utf-8")
    assert SignalConnector().sniff(old)
    assert not WhatsAppConnector().sniff(tmp_path / "Alice" / "data.json")


# --- property: nothing but InputError, Message or Rejection comes out -----------------


def outcome(path: Path) -> None:
    read_or_refused(SignalConnector(), path, CONTEXT)




PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(data=st.binary(max_size=2048))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "chat.md"
    path.write_bytes(data)
    outcome(path)


@PROPERTY
@given(edits=EDITS, which=st.sampled_from(["md", "json"]))
def test_mutated_exports(tmp_path: Path, edits: list[tuple[int, int, int]], which: str) -> None:
    source = DIRECT_MD.encode() if which == "md" else jsonl(DIRECT_RECORDS).encode()
    path = tmp_path / ("chat.md" if which == "md" else "data.json")
    path.write_bytes(mutate(source, edits))
    outcome(path)


@PROPERTY
@given(edits=EDITS)
def test_mutated_zip(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    whole = tmp_path / "whole.zip"
    if not whole.exists():
        make_zip(whole, {"Alice/data.json": jsonl(DIRECT_RECORDS), "Alice/chat.md": DIRECT_MD,
                         "Alice/media/2024-01-31_00_scan.jpg": PHOTO})  # fmt: skip
    path = tmp_path / "mutated.zip"
    path.write_bytes(mutate(whole.read_bytes(), edits))
    outcome(path)
