"""The Teams connector on Microsoft Graph chatMessage JSON built in each test."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import Connector, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import teams
from connectors._html_text import html_to_text
from connectors.teams import TeamsConnector
from tests.hostile import read_or_refused

CHAT = "19:meeting_a1b2c3@thread.v2"
CONTEXT = ParseContext(custodian="rlopez", custodian_names=("Rosa Lopez",), export_sha256="ab" * 32)
PNG = b"\x89PNG\r\n\x1a\nfictional-picture"


def chat_message(ident: str, when: str = "2024-03-09T14:07:09.123Z", **fields: Any) -> dict[str, Any]:
    """A Graph chatMessage with the fields every message has; ``fields`` override them."""
    message: dict[str, Any] = {
        "id": ident,
        "messageType": "message",
        "createdDateTime": when,
        "lastModifiedDateTime": when,
        "lastEditedDateTime": None,
        "deletedDateTime": None,
        "subject": None,
        "chatId": CHAT,
        "channelIdentity": None,
        "eventDetail": None,
        "from": {"application": None, "device": None,
                 "user": {"id": "a0c1e2f3-0000-4000-8000-000000000001", "displayName": "Dana Whitfield"}},
        "body": {"contentType": "text", "content": f"message {ident}"},
        "attachments": [],
        "mentions": [],
        "reactions": [],
    }  # fmt: skip
    message.update(fields)
    return message


def page(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#chats('{CHAT}')/messages",
        "@odata.count": len(messages),
        "value": list(messages),
    }


def write_json(tmp_path: Path, data: Any, name: str = "chat.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def parse(path: Path, context: ParseContext = CONTEXT) -> list[ParsedItem]:
    return list(TeamsConnector().parse(path, context))


def messages(path: Path) -> list[Message]:
    items = parse(path)
    assert all(isinstance(i, Message) for i in items), [i for i in items if isinstance(i, Rejection)]
    return [i for i in items if isinstance(i, Message)]


def only(path: Path) -> Message:
    (message,) = messages(path)
    return message


def test_connector_protocol() -> None:
    connector = TeamsConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "teams" and "Graph" in connector.description


def test_fields_of_a_text_message(tmp_path: Path) -> None:
    path = write_json(tmp_path, page(chat_message("1", body={"contentType": "text", "content": "Lane 4\n  closed"})))
    message = only(path)
    assert message.source == "teams"
    assert message.conversation == CHAT
    assert message.sender == "Dana Whitfield"
    assert message.sent_at == datetime(2024, 3, 9, 14, 7, 9, 123000, tzinfo=UTC)
    assert message.body == "Lane 4\n  closed"
    assert message.direction == "received"
    assert message.recipients == () and message.flags == (FLAG_RECIPIENTS_UNKNOWN,)
    assert message.custodian == "rlopez" and message.account == "personal" and not message.system
    assert (message.source_ref.file, message.source_ref.line, message.source_ref.entry) == ("chat.json", 1, None)
    assert message.source_ref.export_sha256 == "ab" * 32


def test_messages_keep_file_order(tmp_path: Path) -> None:
    newest_first = page(chat_message("2", "2024-03-09T15:00:00Z"), chat_message("1", "2024-03-09T14:00:00Z"))
    assert [m.body for m in messages(write_json(tmp_path, newest_first))] == ["message 2", "message 1"]


def test_offsets_and_seven_digit_fractions(tmp_path: Path) -> None:
    path = write_json(tmp_path, page(chat_message("1", "2024-03-09T09:07:09.1234567-05:00")))
    assert only(path).sent_at == datetime(2024, 3, 9, 14, 7, 9, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sender", "custodian_names"),
    [
        ({"user": {"id": "u-1", "displayName": "Rosa Lopez"}}, ()),
        ({"user": {"id": "u-1", "displayName": None}}, ("u-1",)),
    ],
)
def test_sent_by_the_custodian(tmp_path: Path, sender: dict[str, Any], custodian_names: tuple[str, ...]) -> None:
    path = write_json(tmp_path, page(chat_message("1", **{"from": sender})))
    context = ParseContext(custodian="Rosa Lopez", custodian_names=custodian_names)
    (message,) = parse(path, context)
    assert isinstance(message, Message) and message.direction == "sent"


def test_application_sender(tmp_path: Path) -> None:
    sender = {"user": None, "application": {"id": "app-9", "displayName": "Shift Bot"}}
    assert only(write_json(tmp_path, page(chat_message("1", **{"from": sender})))).sender == "Shift Bot"


def test_html_body_becomes_text(tmp_path: Path) -> None:
    html = (
        '<p>Hi <at id="0">Rosa Lopez</at>,</p><p><br></p><p>Road &amp; bridge &lt;closed&gt;'
        '<br>until 5 <emoji id="smile" alt="🙂" title="Smile"></emoji></p>'
    )
    message = only(write_json(tmp_path, page(chat_message("1", body={"contentType": "html", "content": html}))))
    assert message.body == "Hi Rosa Lopez,\n\nRoad & bridge <closed>\nuntil 5 🙂"


def test_edited_and_deleted(tmp_path: Path) -> None:
    path = write_json(tmp_path, page(
        chat_message("1", lastEditedDateTime="2024-03-09T15:00:00Z"),
        chat_message("2", deletedDateTime="2024-03-09T16:00:00Z", body={"contentType": "html", "content": ""}),
    ))  # fmt: skip
    edited, deleted = messages(path)
    assert edited.flags == (FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN) and edited.body == "message 1"
    assert deleted.flags == (FLAG_DELETED, FLAG_RECIPIENTS_UNKNOWN) and deleted.body == ""


def test_file_link_is_a_missing_attachment(tmp_path: Path) -> None:
    link = {"id": "f1", "contentType": "reference", "name": "Roster.xlsx", "content": None,
            "contentUrl": "https://contoso.example.com/sites/ops/Roster.xlsx"}  # fmt: skip
    message = only(write_json(tmp_path, page(chat_message("1", attachments=[link]))))
    (attachment,) = message.attachments
    assert (attachment.name, attachment.missing, attachment.sha256) == ("Roster.xlsx", True, None)
    assert attachment.media_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert FLAG_ATTACHMENT_MISSING in message.flags


def test_inline_card_is_archived_as_its_bytes(tmp_path: Path) -> None:
    card = '{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"Shift swap approved"}]}'
    entry = {"id": "c1", "contentType": "application/vnd.microsoft.card.adaptive", "content": card, "name": None}
    message = only(write_json(tmp_path, page(chat_message("1", attachments=[entry]))))
    (attachment,) = message.attachments
    assert attachment.name == "c1" and attachment.media_type == "application/vnd.microsoft.card.adaptive"
    assert attachment.content == card.encode() and attachment.sha256 == hashlib.sha256(card.encode()).hexdigest()
    assert not attachment.missing and FLAG_ATTACHMENT_MISSING not in message.flags


def test_inline_pictures_with_and_without_hosted_content(tmp_path: Path) -> None:
    base = f"https://graph.microsoft.com/v1.0/chats/{CHAT}/messages/1/hostedContents"
    html = f'<p>map <img src="{base}/aWQ9MQ==/$value"> and <img src="{base}/aWQ9Mg==/$value"></p>'
    hosted = [{"id": "aWQ9MQ==", "contentType": "image/png", "contentBytes": base64.b64encode(PNG).decode()}]
    message = only(write_json(tmp_path, page(chat_message(
        "1", body={"contentType": "html", "content": html}, hostedContents=hosted)
    )))  # fmt: skip
    present, absent = message.attachments
    assert (present.media_type, present.size, present.content) == ("image/png", len(PNG), PNG)
    assert present.sha256 == hashlib.sha256(PNG).hexdigest() and not present.missing
    assert absent.missing and absent.sha256 is None
    assert message.body == "map  and " and FLAG_ATTACHMENT_MISSING in message.flags


def test_external_picture_is_missing_and_never_fetched(tmp_path: Path) -> None:
    html = '<img src="https://media.example.net/stickers/thumbs-up.gif?x=1">'
    message = only(write_json(tmp_path, page(chat_message("1", body={"contentType": "html", "content": html}))))
    (attachment,) = message.attachments
    assert (attachment.name, attachment.media_type, attachment.missing) == ("thumbs-up.gif", "image/gif", True)


def test_bad_hosted_content_rejects_the_message(tmp_path: Path) -> None:
    hosted = [{"id": "x", "contentType": "image/png", "contentBytes": "not base64!"}]
    path = write_json(tmp_path, page(chat_message("1", hostedContents=hosted), chat_message("2")))
    rejection, kept = parse(path)
    assert isinstance(rejection, Rejection) and rejection.line == 1 and "base64" in rejection.reason
    assert isinstance(kept, Message) and kept.body == "message 2"


def test_system_event_body(tmp_path: Path) -> None:
    added = {
        "@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
        "members": [{"id": "u-2", "displayName": "Lee Park"}, {"id": "u-3", "displayName": None}],
        "initiator": {"user": {"id": "u-1", "displayName": "Dana Whitfield"}},
    }
    renamed = {"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail", "chatDisplayName": "Night shift",
               "initiator": {"user": {"id": "u-9", "displayName": None}}}  # fmt: skip
    system = {"from": None, "messageType": "systemEventMessage",
              "body": {"contentType": "html", "content": "<systemEventMessage/>"}}  # fmt: skip
    path = write_json(tmp_path, page(chat_message("1", eventDetail=added, **system),
                                     chat_message("2", eventDetail=renamed, **system),
                                     chat_message("3", **system)))  # fmt: skip
    first, second, third = messages(path)
    assert first.system and first.sender == "" and first.direction == "received"
    assert first.body == "Members added: Lee Park, u-3 (by Dana Whitfield)"
    assert second.body == 'Chat renamed: "Night shift" (by u-9)'
    assert third.system and third.body == ""


def test_channel_post_subject_and_conversation(tmp_path: Path) -> None:
    post = chat_message("1", chatId=None, subject="Snow plan", channelIdentity={"teamId": "t-1", "channelId": "19:ops"})
    message = only(write_json(tmp_path, page(post)))
    assert message.conversation == "19:ops" and message.body == "Snow plan\nmessage 1"


def test_no_chat_id_falls_back_to_the_file(tmp_path: Path) -> None:
    assert only(write_json(tmp_path, page(chat_message("1", chatId=None)))).conversation == "Teams export chat.json"


@pytest.mark.parametrize(
    ("when", "reason"),
    [("0001-01-01T00:00:00Z", "placeholder"), ("2021-03-1706:47:05.123Z", "ISO 8601"),
     ("2024-03-09T14:07:09", "ISO 8601"), (None, "no createdDateTime")],
)  # fmt: skip
def test_bad_times_are_rejected(tmp_path: Path, when: str | None, reason: str) -> None:
    path = write_json(tmp_path, page(chat_message("1", when), chat_message("2")))
    rejection, kept = parse(path)
    assert isinstance(rejection, Rejection) and rejection.line == 1 and reason in rejection.reason
    assert rejection.file == str(path)
    assert isinstance(kept, Message)


def test_non_object_items_are_rejected(tmp_path: Path) -> None:
    path = write_json(tmp_path, page(chat_message("1"), "oops", [1]))  # type: ignore[arg-type]
    kinds = [type(i).__name__ for i in parse(path)]
    assert kinds == ["Message", "Rejection", "Rejection"]


def test_bad_attachment_entry_is_rejected(tmp_path: Path) -> None:
    (rejection,) = parse(write_json(tmp_path, page(chat_message("1", attachments=["x"]))))
    assert isinstance(rejection, Rejection) and "attachment" in rejection.reason


def test_huge_body_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teams, "MESSAGE_CAP", 100)
    path = write_json(tmp_path, page(chat_message("1", body={"contentType": "text", "content": "x" * 101}),
                                     chat_message("2")))  # fmt: skip
    rejection, kept = parse(path)
    assert isinstance(rejection, Rejection) and "longer than" in rejection.reason
    assert isinstance(kept, Message)


def test_bare_array(tmp_path: Path) -> None:
    path = write_json(tmp_path, [chat_message("1"), chat_message("2")])
    assert TeamsConnector().sniff(path)
    assert [m.source_ref.line for m in messages(path)] == [1, 2]


def test_json_lines_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [json.dumps(chat_message("1")), "", "{not json", json.dumps(chat_message("2")), "[3]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert TeamsConnector().sniff(path)
    items = parse(path)
    assert [(type(i).__name__, i.source_ref.line if isinstance(i, Message) else i.line) for i in items] == [
        ("Message", 1), ("Rejection", 3), ("Message", 4), ("Rejection", 5)]  # fmt: skip


def test_json_lines_of_graph_pages(tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    path.write_text(json.dumps(page(chat_message("1"), chat_message("2"))) + "\n" + json.dumps(page(chat_message("3"))))
    assert [m.body for m in messages(path)] == ["message 1", "message 2", "message 3"]


def test_over_long_json_line_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teams, "LINE_CAP", 4096)
    path = tmp_path / "chat.jsonl"
    big = chat_message("2", body={"contentType": "text", "content": "y" * 10_000})
    path.write_text("\n".join(json.dumps(m) for m in (chat_message("1"), big, chat_message("3"))) + "\n")
    kinds = [type(i).__name__ for i in parse(path)]
    assert kinds == ["Message", "Rejection", "Message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_powershell_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "chat.json"
    data = page(chat_message("1", body={"contentType": "text", "content": "Grüße, café"}))
    path.write_bytes(json.dumps(data, ensure_ascii=False).encode(encoding))
    assert TeamsConnector().sniff(path)
    assert only(path).body == "Grüße, café"


def test_crlf_file_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(json.dumps(page(chat_message("1")), indent=2).replace("\n", "\r\n").encode())
    assert only(path).body == "message 1"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        parse(path)


def test_page_without_messages(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no chatMessage"):
        parse(write_json(tmp_path, {"@odata.context": "x", "value": []}))


def test_truncated_file_names_the_position(tmp_path: Path) -> None:
    whole = json.dumps(page(chat_message("1"), chat_message("2")), indent=2)
    path = tmp_path / "chat.json"
    path.write_text(whole[: len(whole) * 3 // 4])
    with pytest.raises(InputError, match="malformed JSON near byte"):
        parse(path)


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(json.dumps(page(chat_message("1"))).replace("message 1", "mess\xffage").encode("latin-1"))
    with pytest.raises(InputError):
        parse(path)


def test_deeply_nested_item_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_text('{"value": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(InputError, match="nests deeper"):
        parse(path)


def test_deeply_nested_json_line_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(chat_message("1")) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    assert [type(i).__name__ for i in parse(path)] == ["Message", "Rejection"]


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.json"
    path.write_bytes(os.urandom(4096))
    assert not TeamsConnector().sniff(path)
    with pytest.raises(InputError):
        parse(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    assert not TeamsConnector().sniff(tmp_path / "absent.json")
    assert not TeamsConnector().sniff(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "absent.json")
    with pytest.raises(InputError, match="directory"):
        parse(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b'{"source": "whatsapp", "conversation": "c", "sender": "s", "sent_at": "2024-03-09T14:07:00Z", "body": "b"}\n',
        b"[3/9/24, 14:07:09] Dana Whitfield: hi\n",
        b'{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "timestamp_ms": 1}]}',
        b'{"name": "Chat", "type": "personal_chat", "messages": [{"id": 1, "type": "message", "date": "2024"}]}',
        b"",
    ],
)
def test_sniff_refuses_other_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.json"
    path.write_bytes(content)
    assert not TeamsConnector().sniff(path)


def test_sniff_by_odata_context_alone(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(
        '{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats(\'x\')/messages", "value": []}'
    )
    assert TeamsConnector().sniff(path)


def test_html_text_is_linear_on_unclosed_tags() -> None:
    assert html_to_text("<a " * 300_000).text.startswith("<a <a")  # html.parser takes minutes on this
    assert html_to_text("x<script>y<p>z</p></script><!-- note -->w").text == "xw"


VALID = json.dumps(page(
    chat_message("1", body={"contentType": "html", "content": "<p>a<br>b</p>"}, lastEditedDateTime="2024-03-10T00:00Z"),
    chat_message("2", attachments=[{"id": "f", "contentType": "reference", "name": "a.pdf"}]),
), indent=1).encode()  # fmt: skip


def check_outcome(path: Path) -> None:
    read_or_refused(TeamsConnector(), path, CONTEXT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_random_bytes_property(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    check_outcome(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0, len(VALID)), st.binary(
    min_size=1, max_size=8)), min_size=1, max_size=4))  # fmt: skip
def test_mutated_export_property(tmp_path: Path, edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(VALID)
    for kind, position, chunk in edits:
        position = min(position, len(data))
        if kind == "flip" and position < len(data):
            data[position] ^= chunk[0] or 1
        elif kind == "cut":
            del data[position:]
        else:
            data[position:position] = chunk
    path = tmp_path / "fuzz.json"
    path.write_bytes(bytes(data))
    check_outcome(path)
