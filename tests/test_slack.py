"""The Slack connector on workspace export zips built in each test (all names fictional)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import Connector, ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import slack
from connectors.slack import SlackConnector
from tests.hostile import read_or_refused

CONTEXT = ParseContext(custodian="rlopez", custodian_names=("Rosa Lopez",), export_sha256="cd" * 32)
USERS = [
    {"id": "U01", "name": "rlopez", "real_name": "Rosa Lopez", "profile": {"real_name": "Rosa Lopez"}},
    {"id": "U02", "name": "dwhit", "profile": {"real_name": "Dana Whitfield", "display_name": "dana"}},
    {"id": "U03", "name": "lpark", "profile": {"display_name": "Lee P."}},
    {"id": "U04", "name": "plowbot", "is_bot": True, "real_name": "Plow Tracker", "profile": {"bot_id": "B04"}},
]
CHANNELS = [{"id": "C01", "name": "roads", "members": ["U01", "U02", "U03"]}, {"id": "C02", "name": "open-data"}]


def ts(seconds: int, micro: int = 0) -> str:
    return f"{seconds}.{micro:06d}"


def msg(user: str, text: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"type": "message", "user": user, "text": text, "ts": when, **fields}


ROADS_DAY = [
    msg("U02", "Lane 4 closed\n  until noon", ts(1709993229, 123456)),
    msg("U01", "Thanks <@U02>", ts(1709993300), edited={"user": "U01", "ts": ts(1709993400)}),
    msg("U03", "<@U03> has joined the channel", ts(1709993100), subtype="channel_join"),
]


def export(tmp_path: Path, members: dict[str, Any], name: str = "export.zip") -> Path:
    """A zip with one entry per ``members`` key; dicts and lists are written as JSON."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data if isinstance(data, bytes) else json.dumps(data, indent=1))
    return path


def workspace(tmp_path: Path, extra: dict[str, Any] | None = None) -> Path:
    """A workspace export with #roads; ``extra`` adds or replaces zip members."""
    members: dict[str, Any] = {"users.json": USERS, "channels.json": CHANNELS, "roads/2024-03-09.json": ROADS_DAY}
    return export(tmp_path, {**members, **(extra or {})})


def parse(path: Path, context: ParseContext = CONTEXT) -> list[ParsedItem]:
    return list(SlackConnector().parse(path, context))


def messages(path: Path) -> list[Message]:
    items = parse(path)
    assert all(isinstance(i, Message) for i in items), [i for i in items if isinstance(i, Rejection)]
    return [i for i in items if isinstance(i, Message)]


def test_connector_protocol() -> None:
    connector = SlackConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "slack" and "Slack" in connector.description


def test_fields_of_a_message(tmp_path: Path) -> None:
    path = workspace(tmp_path)
    assert SlackConnector().sniff(path)
    join, first, second = messages(path)  # the day's messages come in ts order
    assert first.source == "slack" and first.conversation == "#roads"
    assert first.sender == "Dana Whitfield"
    assert first.sent_at == datetime(2024, 3, 9, 14, 7, 9, 123456, tzinfo=UTC)
    assert first.body == "Lane 4 closed\n  until noon"
    assert first.recipients == ("Rosa Lopez", "Lee P.")
    assert first.direction == "received" and not first.system and first.flags == ()
    assert (first.source_ref.file, first.source_ref.entry, first.source_ref.line) == (
        "export.zip", "roads/2024-03-09.json", 1)  # fmt: skip
    assert first.source_ref.export_sha256 == "cd" * 32 and first.custodian == "rlopez"
    assert second.body == "Thanks <@U02>"  # mentions stay raw
    assert second.direction == "sent" and second.flags == (FLAG_EDITED,)
    assert join.system and join.sender == "Lee P." and join.recipients == ("Rosa Lopez", "Dana Whitfield")


def test_custodian_by_handle_or_id(tmp_path: Path) -> None:
    path = workspace(tmp_path)
    for names in (("dwhit",), ("U02",)):
        found = [m for m in parse(path, ParseContext(custodian="x", custodian_names=names)) if isinstance(m, Message)]
        assert {m.sender for m in found if m.direction == "sent"} == {"Dana Whitfield"}


def test_order_by_channel_then_day(tmp_path: Path) -> None:
    path = workspace(tmp_path, {"open-data/2024-03-08.json": [msg("U02", "older, other channel", ts(1709900000))],
                                "roads/2024-03-08.json": [msg("U02", "day before", ts(1709900000))]})  # fmt: skip
    found = messages(path)
    assert [(m.conversation, m.body) for m in found][:2] == [("#open-data", "older, other channel"),
                                                             ("#roads", "day before")]  # fmt: skip
    assert found[0].flags == (FLAG_RECIPIENTS_UNKNOWN,) and found[0].recipients == ()


def test_bots_and_integrations(tmp_path: Path) -> None:
    day = [
        {"type": "message", "subtype": "bot_message", "bot_id": "B04", "text": "Plow 7 done", "ts": ts(1)},
        {"type": "message", "subtype": "bot_message", "username": "gh", "bot_id": "B09", "text": "", "ts": ts(2),
         "attachments": [{"fallback": "[roads] 1 new commit", "text": "x"}, {"fallback": "second"}]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B99", "text": "hi", "ts": ts(3),
         "bot_profile": {"name": "Weather"}},
        {"type": "message", "subtype": "bot_message", "bot_id": "B98", "text": "hi", "ts": ts(4)},
        msg("U01", "added an integration to this channel", ts(5), subtype="bot_add", bot_id="B04"),
    ]  # fmt: skip
    found = messages(workspace(tmp_path, {"roads/2024-03-09.json": day}))
    assert [m.sender for m in found] == ["Plow Tracker", "gh", "Weather", "B98", "Rosa Lopez"]
    assert found[1].body == "[roads] 1 new commit\nsecond"
    assert found[0].recipients == ("Rosa Lopez", "Dana Whitfield", "Lee P.")
    assert [m.system for m in found] == [False, False, False, False, True]


def test_user_missing_from_users_json(tmp_path: Path) -> None:
    day = [msg("U77", "from profile", ts(1), user_profile={"real_name": "Sam Ortiz", "name": "sortiz"}),
           msg("U78", "bare id", ts(2))]  # fmt: skip
    path = workspace(tmp_path, {"roads/2024-03-09.json": day})
    assert [m.sender for m in messages(path)] == ["Sam Ortiz", "U78"]
    (first, _second) = parse(path, ParseContext(custodian="sortiz"))
    assert isinstance(first, Message) and first.direction == "sent"  # the profile's handle


def test_deleted_and_system_subtypes(tmp_path: Path) -> None:
    day = [
        {"type": "message", "subtype": "tombstone", "user": "USLACKBOT", "text": "This message was deleted.",
         "ts": ts(1)},
        msg("U02", "set the channel topic: Snow", ts(2), subtype="channel_topic"),
        msg("U02", "left", ts(3), subtype="channel_leave"),
        msg("U02", "shared", ts(4), subtype="thread_broadcast"),
    ]  # fmt: skip
    found = messages(workspace(tmp_path, {"roads/2024-03-09.json": day}))
    assert [m.system for m in found] == [True, True, True, False]
    assert found[0].flags == (FLAG_DELETED,)


def test_files_are_missing_unless_the_zip_has_them(tmp_path: Path) -> None:
    pdf = b"%PDF-1.4 fictional"
    day = [
        msg("U02", "", ts(1), files=[
            {"id": "F1", "name": "route.pdf", "mimetype": "application/pdf", "url_private": "https://files.example/1"},
            {"id": "F2", "name": "map.png", "mimetype": "image/png", "url_private": "https://files.example/2"}]),
        {"type": "message", "subtype": "file_share", "user": "U03", "text": "uploaded", "ts": ts(2),
         "file": {"id": "F3", "title": "notes", "mimetype": "text/plain"}},
        {"type": "message", "subtype": "file_comment", "text": "nice", "ts": ts(3),
         "comment": {"user": "U01", "comment": "nice"}, "file": {"id": "F3", "name": "notes"}},
    ]  # fmt: skip
    path = workspace(tmp_path, {"roads/2024-03-09.json": day, "__uploads/F1/route.pdf": pdf})
    first, share, comment = messages(path)
    present, missing = first.attachments
    assert (present.name, present.media_type, present.size, present.content) == (
        "route.pdf", "application/pdf", len(pdf), pdf)  # fmt: skip
    assert present.sha256 == hashlib.sha256(pdf).hexdigest() and not present.missing
    assert (missing.name, missing.missing, missing.sha256) == ("map.png", True, None)
    assert first.flags == (FLAG_ATTACHMENT_MISSING,)
    assert [(a.name, a.missing) for a in share.attachments] == [("notes", True)]
    assert comment.sender == "Rosa Lopez" and comment.attachments == () and comment.direction == "sent"


def test_slackdump_attachments_folder(tmp_path: Path) -> None:
    day = [msg("U02", "", ts(1), files=[{"id": "F9", "name": "a.txt", "mimetype": "text/plain"}])]
    path = workspace(tmp_path, {"roads/2024-03-09.json": day, "C01/attachments/F9-a.txt": b"hello"})
    (message,) = messages(path)
    assert message.attachments[0].content == b"hello" and message.flags == ()


def test_file_over_the_cap_rejects_its_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack, "ATTACHMENT_CAP", 4)
    day = [msg("U02", "", ts(1), files=[{"id": "F1", "name": "a.bin"}]), msg("U02", "next", ts(2))]
    path = workspace(tmp_path, {"roads/2024-03-09.json": day, "__uploads/F1/a.bin": b"12345"})
    rejection, kept = parse(path)
    assert isinstance(rejection, Rejection) and "larger than" in rejection.reason and rejection.line == 1
    assert isinstance(kept, Message) and kept.body == "next"


def test_dms_mpims_and_private_channels(tmp_path: Path) -> None:
    path = workspace(tmp_path, {
        "dms.json": [{"id": "D01", "members": ["U01", "U02"]}],
        "mpims.json": [{"id": "G01", "name": "mpdm-rlopez--dwhit--lpark-1", "members": ["U01", "U02", "U03"]}],
        "groups.json": [{"id": "G02", "name": "ops-private", "members": ["U01"]}],
        "D01/2024-03-09.json": [msg("U01", "dm", ts(1))],
        "mpdm-rlopez--dwhit--lpark-1/2024-03-09.json": [msg("U03", "group dm", ts(1))],
        "ops-private/2024-03-09.json": [msg("U01", "alone", ts(1))],
        "unlisted/2024-03-09.json": [msg("U01", "who knows", ts(1))],
    })  # fmt: skip
    by_body = {m.body: m for m in messages(path)}
    assert (by_body["dm"].conversation, by_body["dm"].recipients) == ("D01", ("Dana Whitfield",))
    assert by_body["group dm"].conversation == "mpdm-rlopez--dwhit--lpark-1"
    assert by_body["group dm"].recipients == ("Rosa Lopez", "Dana Whitfield")
    assert (by_body["alone"].conversation, by_body["alone"].recipients, by_body["alone"].flags) == (
        "#ops-private", (), ())  # fmt: skip
    assert by_body["who knows"].conversation == "unlisted"
    assert by_body["who knows"].flags == (FLAG_RECIPIENTS_UNKNOWN,)


def test_export_inside_a_top_folder(tmp_path: Path) -> None:
    path = export(tmp_path, {"Acme Slack export/users.json": USERS, "Acme Slack export/channels.json": CHANNELS,
                             "Acme Slack export/roads/2024-03-09.json": ROADS_DAY})  # fmt: skip
    assert SlackConnector().sniff(path)
    assert [m.sender for m in messages(path)] == ["Lee P.", "Dana Whitfield", "Rosa Lopez"]


def test_day_files_without_metadata(tmp_path: Path) -> None:
    path = export(tmp_path, {"roads/2024-03-09.json": ROADS_DAY})
    assert SlackConnector().sniff(path)
    found = messages(path)
    assert [m.sender for m in found] == ["U03", "U02", "U01"]
    assert all(m.flags[-1] == FLAG_RECIPIENTS_UNKNOWN and m.conversation == "roads" for m in found)


def test_bad_items_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    day = [msg("U02", "ok", ts(5)), "text", msg("U02", "no ts", "yesterday"), msg("U02", "x", None),
           msg("U02", 42, ts(6)), msg("U02", "far", "99999999999999.1")]  # type: ignore[arg-type]  # fmt: skip
    items = parse(workspace(tmp_path, {"roads/2024-03-09.json": day}))
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [r.line for r in rejections] == [2, 3, 4, 5, 6]
    assert all(r.file.endswith("export.zip!roads/2024-03-09.json") for r in rejections)
    assert [m.body for m in items if isinstance(m, Message)] == ["ok"]


def test_huge_message_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack, "MESSAGE_CAP", 10)
    items = parse(workspace(tmp_path, {"roads/2024-03-09.json": [msg("U02", "x" * 11, ts(1))]}))
    assert isinstance(items[0], Rejection) and "longer than" in items[0].reason


def test_malformed_day_file_is_rejected_by_member(tmp_path: Path) -> None:
    path = workspace(tmp_path, {"roads/2024-03-08.json": b'[{"type": "message", "ts": "1.0"',
                                "roads/2024-03-10.json": {"not": "a list"},
                                "roads/2024-03-11.json": b"\xff\xfe[]"})  # fmt: skip
    items = parse(path)
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [r.file.rsplit("!", 1)[1] for r in rejections] == ["roads/2024-03-08.json", "roads/2024-03-10.json",
                                                              "roads/2024-03-11.json"]  # fmt: skip
    assert "malformed JSON" in rejections[0].reason and "not a JSON array" in rejections[1].reason
    assert len([i for i in items if isinstance(i, Message)]) == 3


def test_day_file_over_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack, "DAY_CAP", 100)
    items = parse(workspace(tmp_path))
    assert len(items) == 1 and isinstance(items[0], Rejection) and "larger than" in items[0].reason


def test_malformed_users_json_is_rejected_and_ids_stand_in(tmp_path: Path) -> None:
    path = export(tmp_path, {"users.json": b"[{", "channels.json": CHANNELS, "roads/2024-03-09.json": ROADS_DAY})
    rejection, *found = parse(path)
    assert isinstance(rejection, Rejection) and rejection.file.endswith("!users.json")
    assert [m.sender for m in found if isinstance(m, Message)] == ["U03", "U02", "U01"]


def test_truncated_users_json_keeps_the_users_read(tmp_path: Path) -> None:
    cut = json.dumps(USERS[:2])[:-1] + ', {"id": "U03", "na'  # Lee's entry is cut off
    path = export(tmp_path, {"users.json": cut.encode(), "channels.json": {"C01": CHANNELS[0]},
                             "roads/2024-03-09.json": ROADS_DAY})  # fmt: skip
    users, channels, *found = parse(path)
    assert isinstance(users, Rejection) and "cannot be read whole" in users.reason
    assert isinstance(channels, Rejection) and "not a JSON array" in channels.reason
    assert [(m.sender, m.flags) for m in found if isinstance(m, Message)] == [
        ("U03", (FLAG_RECIPIENTS_UNKNOWN,)), ("Dana Whitfield", (FLAG_RECIPIENTS_UNKNOWN,)),
        ("Rosa Lopez", (FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN))]  # fmt: skip


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(ROADS_DAY))
    assert not SlackConnector().sniff(path)
    with pytest.raises(InputError, match="not a Slack export"):
        parse(path)


def test_zip_without_slack_content(tmp_path: Path) -> None:
    path = export(tmp_path, {"notes/readme.txt": b"hi", "messages/inbox/a_1/message_1.json": {"messages": []}})
    assert not SlackConnector().sniff(path)
    with pytest.raises(InputError, match="not a Slack export"):
        parse(path)


def test_truncated_zip(tmp_path: Path) -> None:
    whole = workspace(tmp_path)
    path = tmp_path / "cut.zip"
    path.write_bytes(whole.read_bytes()[:300])
    assert not SlackConnector().sniff(path)
    with pytest.raises(InputError, match="truncated or corrupt"):
        parse(path)


@pytest.mark.parametrize("name", ["../evil.json", "/tmp/evil.json"])
def test_zip_with_escaping_entry(tmp_path: Path, name: str) -> None:
    path = workspace(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo(name), b"x")
    assert not SlackConnector().sniff(path)
    with pytest.raises(InputError, match="escapes the archive directory"):
        parse(path)


def test_zip_with_symlink(tmp_path: Path) -> None:
    path = workspace(tmp_path)
    link = zipfile.ZipInfo("__uploads/F1/route.pdf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(link, "/etc/shadow")
    with pytest.raises(InputError, match="symbolic link"):
        parse(path)


def test_random_bytes_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "random.zip"
    path.write_bytes(b"PK\x03\x04" + os.urandom(2048))
    assert not SlackConnector().sniff(path)
    assert not SlackConnector().sniff(tmp_path / "absent.zip")
    with pytest.raises(InputError):
        parse(path)
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "absent.zip")


VALID_MEMBERS: dict[str, Any] = {"users.json": USERS[:2], "channels.json": CHANNELS[:1],
                                 "roads/2024-03-09.json": ROADS_DAY}  # fmt: skip


def check_outcome(path: Path) -> None:
    read_or_refused(SlackConnector(), path, CONTEXT)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_random_bytes_property(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.zip"
    path.write_bytes(b"PK\x03\x04" + data if data[:1] == b"\0" else data)
    check_outcome(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(VALID_MEMBERS)), st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]),
       st.integers(0, 4000), st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))  # fmt: skip
def test_mutated_member_property(tmp_path: Path, member: str, edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(json.dumps(VALID_MEMBERS[member]).encode())
    mutate(data, edits)
    path = export(tmp_path, {**VALID_MEMBERS, member: bytes(data)}, "fuzz.zip")
    check_outcome(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 2000),
                          st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))  # fmt: skip
def test_mutated_zip_property(tmp_path: Path, edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(export(tmp_path, VALID_MEMBERS, "valid.zip").read_bytes())
    mutate(data, edits)
    path = tmp_path / "fuzz.zip"
    path.write_bytes(bytes(data))
    check_outcome(path)


def mutate(data: bytearray, edits: list[tuple[str, int, bytes]]) -> None:
    for kind, position, chunk in edits:
        position = min(position, len(data))
        if kind == "flip" and position < len(data):
            data[position] ^= chunk[0] or 1
        elif kind == "cut":
            del data[position:]
        else:
            data[position:position] = chunk
