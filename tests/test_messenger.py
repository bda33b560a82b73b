"""The Messenger/Instagram connector on "Download your information" JSON built in each test."""

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

from archiver.connector import Connector, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import messenger
from connectors.messenger import MessengerConnector, fix_mojibake
from tests.hostile import read_or_refused

CONTEXT = ParseContext(custodian="rlopez", custodian_names=("Rosa López",), export_sha256="ef" * 32)
THREAD = "inbox/danawhitfield_10150000000000001"
T0 = 1709993229123  # 2024-03-09T14:07:09.123Z


def facebook_escape(text: str) -> str:
    """What Facebook writes: each UTF-8 byte of the text as one Latin-1 character."""
    return text.encode("utf-8").decode("latin-1")


def thread(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "participants": [{"name": facebook_escape("Rosa López")}, {"name": "Dana Whitfield"}, {"name": "Lee Park"}],
        "messages": list(messages),
        "title": "Snow crew",
        "is_still_participant": True,
        "thread_path": THREAD,
    }
    data.update(fields)
    return data


def msg(sender: str, offset_s: int, content: str | None = None, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"sender_name": facebook_escape(sender), "timestamp_ms": T0 + offset_s * 1000}
    if content is not None:
        message["content"] = facebook_escape(content)
    message.update(fields)
    return message


def write_json(tmp_path: Path, data: Any, name: str = "message_1.json") -> Path:
    folder = tmp_path / "danawhitfield_10150000000000001"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")  # ensure_ascii: \u00XX escapes, as Facebook
    return path


def write_zip(tmp_path: Path, members: dict[str, Any], name: str = "facebook-rlopez.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data if isinstance(data, bytes) else json.dumps(data, indent=1))
    return path


def parse(path: Path, context: ParseContext = CONTEXT) -> list[ParsedItem]:
    return list(MessengerConnector().parse(path, context))


def messages(path: Path) -> list[Message]:
    items = parse(path)
    assert all(isinstance(i, Message) for i in items), [i for i in items if isinstance(i, Rejection)]
    return [i for i in items if isinstance(i, Message)]


NEWEST_FIRST = thread(
    msg("Dana Whitfield", 120, "Plow 7 is back — café at noon?"),
    msg("Rosa López", 60, "Lane 4 closed\n  until noon"),
    msg("Lee Park", 0, "Morning 🙂"),
)


def test_connector_protocol() -> None:
    connector = MessengerConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "messenger" and "Messenger" in connector.description


def test_fields_oldest_first_and_mojibake_repaired(tmp_path: Path) -> None:
    path = write_json(tmp_path, NEWEST_FIRST)
    assert MessengerConnector().sniff(path)
    first, second, third = messages(path)
    assert [m.body for m in (first, second, third)] == [
        "Morning 🙂", "Lane 4 closed\n  until noon", "Plow 7 is back — café at noon?"]  # fmt: skip
    assert first.source == "messenger" and first.conversation == "Snow crew"
    assert first.sender == "Lee Park" and first.recipients == ("Rosa López", "Dana Whitfield")
    assert first.sent_at == datetime(2024, 3, 9, 14, 7, 9, 123000, tzinfo=UTC)
    assert first.direction == "received" and not first.system and first.flags == ()
    assert (first.source_ref.file, first.source_ref.line, first.source_ref.entry) == ("message_1.json", 3, None)
    assert first.source_ref.export_sha256 == "ef" * 32 and first.custodian == "rlopez"
    assert second.sender == "Rosa López" and second.direction == "sent"


def test_time_zone_does_not_move_utc_timestamps(tmp_path: Path) -> None:
    path = write_json(tmp_path, NEWEST_FIRST)
    context = ParseContext(custodian="x", tz=ZoneInfo("America/New_York"))
    first = parse(path, context)[0]
    assert isinstance(first, Message) and first.sent_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ã©tÃ©", "été"),
        ("café", "café"),
        ("plain", "plain"),
        ("\u00f0\u009f\u0099\u0082", "🙂"),
        ("ðŸ™‚", "ðŸ™‚"),
        ("Ã", "Ã"),
        ("€uro", "€uro"),
    ],
)
def test_fix_mojibake(text: str, expected: str) -> None:
    assert fix_mojibake(text) == expected


def test_same_time_keeps_file_order_reversed(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread(msg("Lee Park", 0, "second"), msg("Lee Park", 0, "first")))
    assert [m.body for m in messages(path)] == ["first", "second"]


def test_not_newest_first_still_comes_out_in_time_order(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread(msg("Lee Park", 0, "a"), msg("Lee Park", 10, "b"), msg("Lee Park", 5, "c")))
    assert [m.body for m in messages(path)] == ["a", "c", "b"]


def test_unsent_call_and_membership(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread(
        msg("Dana Whitfield", 3, "Lee Park left the group.", type="Unsubscribe"),
        msg("Lee Park", 2, "Rosa López called you.", type="Call", call_duration=62),
        msg("Rosa López", 1, is_unsent=True, type="Generic"),
    ))  # fmt: skip
    unsent, call, left = messages(path)
    assert unsent.flags == (FLAG_DELETED,) and unsent.body == "" and not unsent.system
    assert call.system and call.body == "Rosa López called you."
    assert left.system


def test_share_link_is_kept_once(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread(
        msg("Lee Park", 2, "Lee sent a link.", share={"link": "https://roads.example.gov/closures"}),
        msg("Lee Park", 1, "see https://roads.example.gov/a", share={"link": "https://roads.example.gov/a"}),
        msg("Lee Park", 0, share={"link": "https://roads.example.gov/b", "share_text": "Closures map"}),
    ))  # fmt: skip
    assert [m.body for m in messages(path)] == [
        "Closures map\nhttps://roads.example.gov/b",
        "see https://roads.example.gov/a",
        "Lee sent a link.\nhttps://roads.example.gov/closures",
    ]


def test_media_in_a_single_file_are_missing(tmp_path: Path) -> None:
    media = f"messages/{THREAD}/photos/plow_7.jpg"
    path = write_json(tmp_path, thread(msg("Lee Park", 0, photos=[{"uri": media, "creation_timestamp": 1}])))
    (tmp_path / "danawhitfield_10150000000000001" / "photos").mkdir()
    (tmp_path / "danawhitfield_10150000000000001" / "photos" / "plow_7.jpg").write_bytes(b"jpeg")
    (message,) = messages(path)
    (attachment,) = message.attachments
    assert (attachment.name, attachment.media_type, attachment.missing) == ("plow_7.jpg", "image/jpeg", True)
    assert message.flags == (FLAG_ATTACHMENT_MISSING,) and message.body == ""


def test_zip_reads_media_and_every_thread(tmp_path: Path) -> None:
    jpeg, ogg = b"\xff\xd8fictional jpeg", b"OggS fictional"
    folder = f"messages/{THREAD}"
    other = "messages/inbox/leepark_10150000000000002"
    path = write_zip(tmp_path, {
        f"{folder}/message_1.json": thread(
            msg("Lee Park", 10, "newest part", photos=[{"uri": f"{folder}/photos/p%C3%A9.jpg"}]),
            msg("Dana Whitfield", 9, audio_files=[{"uri": f"{folder}/audio/clip.ogg"}],
                sticker={"uri": "messages/stickers_used/s1.png"}),
        ),
        f"{folder}/message_2.json": thread(msg("Lee Park", 1, "oldest part")),
        f"{folder}/photos/p%C3%A9.jpg": jpeg,
        f"{folder}/audio/clip.ogg": ogg,
        f"{other}/message_1.json": thread(msg("Lee Park", 0, "other thread"), title="Lee Park",
                                          participants=[{"name": "Lee Park"}, {"name": "Rosa López"}]),
        "messages/inbox/readme.txt": b"not a thread",
    })  # fmt: skip
    assert MessengerConnector().sniff(path)
    found = messages(path)
    assert [m.body for m in found] == ["oldest part", "", "newest part", "other thread"]
    audio, image = found[1].attachments[0], found[2].attachments[0]
    assert (audio.content, audio.sha256, audio.size) == (ogg, hashlib.sha256(ogg).hexdigest(), len(ogg))
    assert (image.content, image.name) == (jpeg, "p%C3%A9.jpg")
    sticker = found[1].attachments[1]
    assert sticker.missing and found[1].flags == (FLAG_ATTACHMENT_MISSING,)
    assert found[2].flags == () and found[2].source_ref.entry == f"{folder}/message_1.json"
    assert found[0].source_ref.file == "facebook-rlopez.zip"
    assert found[3].conversation == "Lee Park" and found[3].recipients == ("Rosa López",)


def test_zip_with_a_top_folder_resolves_media(tmp_path: Path) -> None:
    folder = f"your_activity_across_facebook/messages/{THREAD}"
    path = write_zip(tmp_path, {
        f"fb-export/{folder}/message_1.json": thread(msg("Lee Park", 0, photos=[{"uri": f"{folder}/photos/a.png"}])),
        f"fb-export/{folder}/photos/a.png": b"png",
    })  # fmt: skip
    (message,) = messages(path)
    assert message.attachments[0].content == b"png" and message.source == "messenger"


def test_instagram_by_folder(tmp_path: Path) -> None:
    folder = "your_instagram_activity/messages/inbox/leepark_17841400000000000"
    path = write_zip(tmp_path, {f"{folder}/message_1.json": thread(msg("Lee Park", 0, "hi"))})
    assert messages(path)[0].source == "instagram"


def test_instagram_by_media_uri(tmp_path: Path) -> None:
    uri = "your_instagram_activity/messages/inbox/leepark_1/photos/a.jpg"
    path = write_json(tmp_path, thread(msg("Lee Park", 0, photos=[{"uri": uri}])))
    assert messages(path)[0].source == "instagram"


@pytest.mark.parametrize("uri", ["../../etc/passwd", "/etc/passwd", "https://scontent.example.net/a.jpg", ""])
def test_media_paths_that_leave_the_export_are_missing(tmp_path: Path, uri: str) -> None:
    path = write_zip(tmp_path, {f"messages/{THREAD}/message_1.json": thread(msg("Lee Park", 0, photos=[{"uri": uri}]))})
    (message,) = messages(path)
    assert message.attachments[0].missing and message.attachments[0].content is None


def test_media_over_the_cap_rejects_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messenger, "ATTACHMENT_CAP", 3)
    folder = f"messages/{THREAD}"
    path = write_zip(tmp_path, {
        f"{folder}/message_1.json": thread(msg("Lee Park", 1, "ok"),
                                           msg("Lee Park", 0, files=[{"uri": f"{folder}/f"}])),
        f"{folder}/f": b"1234",
    })  # fmt: skip
    rejection, kept = parse(path)
    assert isinstance(rejection, Rejection) and "larger than" in rejection.reason and rejection.line == 2
    assert isinstance(kept, Message) and kept.body == "ok"


def test_without_participants_recipients_are_the_other_senders(tmp_path: Path) -> None:
    data = {"messages": [msg("Jane Doe", 1, "Hello John!"), msg("John Doe", 0, "Hello Jane!")]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    first, second = messages(path)
    assert first.conversation == "export" and first.recipients == ("Jane Doe",)
    assert first.flags == (FLAG_RECIPIENTS_UNKNOWN,) and second.recipients == ("John Doe",)


def test_bad_messages_are_rejected(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread(
        msg("Lee Park", 5, "ok"), "text", {"content": "no sender", "timestamp_ms": T0},
        {"sender_name": "Lee Park", "content": "no time"}, msg("Lee Park", 0, timestamp_ms=10**20),
        msg("Lee Park", 0, timestamp_ms=True),
    ))  # fmt: skip
    items = parse(path)
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert sorted(r.line for r in rejections if r.line is not None) == [2, 3, 4, 5, 6]
    assert all(r.file == str(path) for r in rejections)
    assert [m.body for m in items if isinstance(m, Message)] == ["ok"]


def test_old_export_timestamp_in_seconds(tmp_path: Path) -> None:
    path = write_json(tmp_path, thread({"sender_name": "Lee Park", "timestamp": 1709993229, "content": "old"}))
    assert messages(path)[0].sent_at == datetime(2024, 3, 9, 14, 7, 9, tzinfo=UTC)


def test_huge_message_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messenger, "MESSAGE_CAP", 10)
    (item,) = parse(write_json(tmp_path, thread(msg("Lee Park", 0, "x" * 11))))
    assert isinstance(item, Rejection) and "longer than" in item.reason


def test_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messenger, "FILE_CAP", 100)
    with pytest.raises(InputError, match="message_2.json"):
        parse(write_json(tmp_path, NEWEST_FIRST))


def test_zip_member_over_the_cap_or_broken_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messenger, "FILE_CAP", 300)
    path = write_zip(tmp_path, {
        "messages/inbox/a_1/message_1.json": NEWEST_FIRST,
        "messages/inbox/b_2/message_1.json": b'{"messages": [',
        "messages/inbox/c_3/message_1.json": thread(msg("Lee Park", 0, "small"), participants=[]),
        "messages/inbox/d_4/message_1.json": [1, 2],
    })  # fmt: skip
    items = parse(path)
    assert [(type(i).__name__, i.file.rsplit("!", 1)[-1] if isinstance(i, Rejection) else i.body) for i in items] == [
        ("Rejection", "messages/inbox/a_1/message_1.json"),
        ("Rejection", "messages/inbox/b_2/message_1.json"),
        ("Message", "small"),
        ("Rejection", "messages/inbox/d_4/message_1.json"),
    ]


@pytest.mark.parametrize(("content", "reason"), [(b"", "empty file"), (b"[1, 2]", "no 'messages' list"),
                                                 (b'{"messages": [', "malformed JSON"),
                                                 (b'{"messages": "x", "sender_name": 1}', "no 'messages' list"),
                                                 (b"\xff\xfe{\x00}\x00", "malformed JSON")])  # fmt: skip
def test_broken_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "message_1.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        parse(path)


def test_deeply_nested_file(tmp_path: Path) -> None:
    path = tmp_path / "message_1.json"
    path.write_text('{"messages": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(InputError):
        parse(path)


def test_truncated_file(tmp_path: Path) -> None:
    whole = json.dumps(NEWEST_FIRST, indent=2)
    path = tmp_path / "message_1.json"
    path.write_text(whole[: len(whole) // 2])
    assert MessengerConnector().sniff(path)  # the head still looks right
    with pytest.raises(InputError, match="malformed JSON"):
        parse(path)


def test_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "message_1.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(NEWEST_FIRST, indent=2).replace("\n", "\r\n").encode())
    assert MessengerConnector().sniff(path)
    assert len(messages(path)) == 3


def test_zip_without_threads(tmp_path: Path) -> None:
    path = write_zip(tmp_path, {"users.json": [], "channels.json": [], "general/2024-03-09.json": []})
    assert not MessengerConnector().sniff(path)
    with pytest.raises(InputError, match="no messages/"):
        parse(path)


def test_truncated_zip(tmp_path: Path) -> None:
    whole = write_zip(tmp_path, {f"messages/{THREAD}/message_1.json": NEWEST_FIRST})
    path = tmp_path / "cut.zip"
    path.write_bytes(whole.read_bytes()[:200])
    assert not MessengerConnector().sniff(path)
    with pytest.raises(InputError, match="truncated or corrupt"):
        parse(path)


@pytest.mark.parametrize("name", ["../evil.json", "/tmp/evil.json"])
def test_zip_with_escaping_entry(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path, {f"messages/{THREAD}/message_1.json": NEWEST_FIRST, name: b"x"})
    assert not MessengerConnector().sniff(path)
    with pytest.raises(InputError, match="escapes the archive directory"):
        parse(path)


def test_zip_with_symlink(tmp_path: Path) -> None:
    path = write_zip(tmp_path, {f"messages/{THREAD}/message_1.json": NEWEST_FIRST})
    link = zipfile.ZipInfo(f"messages/{THREAD}/photos/a.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(link, "/etc/shadow")
    with pytest.raises(InputError, match="symbolic link"):
        parse(path)


@pytest.mark.parametrize(
    "content",
    [
        b'{"source": "jsonl", "conversation": "c", "sender": "s", "sent_at": "2024-03-09T14:07:00Z", "body": "b"}\n',
        b"[3/9/24, 14:07:09] Dana Whitfield: hi\n",
        b'{"name": "Chat", "type": "personal_chat", "messages": [{"id": 1, "from": "A", "date": "2024"}]}',
        b'{"guild": {}, "messages": [{"id": "1", "timestamp": "2024", "author": {"name": "A"}}]}',
        b'{"value": [{"messageType": "message", "createdDateTime": "2024", "from": null}]}',
        b'[{"sender_name": "A", "timestamp_ms": 1}]',
    ],
)
def test_sniff_refuses_other_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.json"
    path.write_bytes(content)
    assert not MessengerConnector().sniff(path)


def test_random_bytes_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "random.json"
    path.write_bytes(os.urandom(4096))
    assert not MessengerConnector().sniff(path)
    assert not MessengerConnector().sniff(tmp_path / "absent.json")
    with pytest.raises(InputError):
        parse(path)


VALID = json.dumps(thread(
    msg("Lee Park", 1, "café", photos=[{"uri": "messages/inbox/x/photos/a.jpg"}], share={"link": "https://a.example"}),
    msg("Rosa López", 0, is_unsent=True, type="Call"),
), indent=1).encode()  # fmt: skip


def check_outcome(path: Path) -> None:
    read_or_refused(MessengerConnector(), path, CONTEXT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_random_bytes_property(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    check_outcome(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.booleans(), st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0, len(VALID)),
                                         st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))  # fmt: skip
def test_mutated_export_property(tmp_path: Path, zipped: bool, edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(VALID)
    for kind, position, chunk in edits:
        position = min(position, len(data))
        if kind == "flip" and position < len(data):
            data[position] ^= chunk[0] or 1
        elif kind == "cut":
            del data[position:]
        else:
            data[position:position] = chunk
    if zipped:
        path = write_zip(tmp_path, {"messages/inbox/x/message_1.json": bytes(data),
                                    "messages/inbox/x/photos/a.jpg": b"jpg"}, "fuzz.zip")  # fmt: skip
    else:
        path = tmp_path / "fuzz.json"
        path.write_bytes(bytes(data))
    check_outcome(path)
