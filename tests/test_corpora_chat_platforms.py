"""Slack, Teams and Messenger connectors on real exports from other projects (../shared/corpora).

``slack/expected.json`` holds counts computed by counting the zips' JSON items (plus LangChain
facts); ``messenger/*/expected.json`` encode LangChain's and chat-analytics' conventions (see their
``_source``/``_semantics``); ``messenger/chat-miner-instagram/target.json`` is chat-miner's own
(newest first, naive UTC times). The Teams folder has no expected file: its counts are read by
eye from Microsoft's documentation example (see ``test_teams_graph_docs_example``). Skipped when
the corpora are not beside the checkout.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.connector import ParseContext, ParsedItem
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors.messenger import MessengerConnector
from connectors.slack import SlackConnector
from connectors.teams import TeamsConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SLACK, TEAMS, MESSENGER = CORPORA / "slack", CORPORA / "teams", CORPORA / "messenger"
if not all(folder.is_dir() for folder in (SLACK, TEAMS, MESSENGER)):
    pytest.skip(f"corpora not found under {CORPORA}", allow_module_level=True)

CONTEXT = ParseContext(custodian="corpus-test")
CONNECTORS = {SLACK: SlackConnector(), TEAMS: TeamsConnector(), MESSENGER: MessengerConnector()}
EXPECTED_NAMES = {"expected.json", "target.json"}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def items(connector: Any, path: Path) -> list[ParsedItem]:
    return list(connector.parse(path, CONTEXT))


def messages(connector: Any, path: Path) -> list[Message]:
    found = items(connector, path)
    assert not [i for i in found if isinstance(i, Rejection)]
    return [i for i in found if isinstance(i, Message)]


def utc_ms(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in EXPECTED_NAMES)


@pytest.mark.parametrize("folder", [SLACK, TEAMS, MESSENGER], ids=lambda p: p.name)
def test_every_corpus_file_is_claimed_and_parses(folder: Path) -> None:
    connector = CONNECTORS[folder]
    for path in corpus_files(folder):
        assert connector.sniff(path), path
        try:
            found = items(connector, path)
        except InputError:
            pytest.fail(f"{path} was refused as a whole")
        assert all(isinstance(i, Message | Rejection) for i in found) and found


def test_other_corpora_are_not_claimed() -> None:
    for folder, connector in CONNECTORS.items():
        others = [p for p in CORPORA.rglob("*") if p.is_file() and folder not in p.parents]
        assert others
        assert [p for p in others if connector.sniff(p)] == [], connector.name


# --- Slack -----------------------------------------------------------------------------------


def raw_slack_items(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(folder, item) for every item of every day file, read here independently of the connector."""
    found = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            folder, _, day = name.partition("/")
            if day.endswith(".json") and "/" not in day:
                found += [(folder, item) for item in json.loads(archive.read(name))]
    return found


@pytest.mark.parametrize("name", ["langchain/slack_export.zip", "slack-export-viewer/testarchive.zip"])
def test_slack_counts(name: str) -> None:
    spec = load(SLACK / "expected.json")[name]
    found = messages(SlackConnector(), SLACK / name)
    assert len(found) == spec["message_items_total"]
    assert Counter(m.conversation for m in found) == {f"#{c}": n for c, n in spec["per_channel"].items()}
    subtypes = spec["subtypes"]
    system = subtypes.get("channel_join", 0) + subtypes.get("bot_add", 0)  # the only notice subtypes present
    assert sum(m.system for m in found) == system
    for channel in spec["channels"]:
        times = [m.sent_at for m in found if m.conversation == f"#{channel}"]
        assert times == sorted(times)  # one channel, its days and each day's ts in order


def test_slack_export_viewer_details() -> None:
    path = SLACK / "slack-export-viewer" / "testarchive.zip"
    found = messages(SlackConnector(), path)
    raw = raw_slack_items(path)
    subtypes = load(SLACK / "expected.json")["slack-export-viewer/testarchive.zip"]["subtypes"]
    # The integrations post without a username and users.json knows no bot: the bot_id stands in.
    assert sum(m.sender.startswith("B0") for m in found) == subtypes["bot_message"]
    assert {m.sender for m in found if not m.sender.startswith("B0")} == {
        "Hamza Faran", "Hermione Granger", "Harry Potter", "heroeshannibal"}  # fmt: skip
    assert sum(FLAG_EDITED in m.flags for m in found) == sum("edited" in item for _f, item in raw)
    # file_share messages carry the file (URL only: missing); the file_comment does not repeat it.
    assert sum(FLAG_ATTACHMENT_MISSING in m.flags for m in found) == subtypes["file_share"]
    assert not any(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in found)  # channels.json lists members
    bodies = Counter(m.body for m in found)
    assert not bodies[""]  # integrations' empty text is replaced by their attachments' fallback
    first, last = min(m.sent_at for m in found), max(m.sent_at for m in found)
    stamps = sorted(float(item["ts"]) for _f, item in raw)
    assert (first.timestamp(), last.timestamp()) == pytest.approx((stamps[0], stamps[-1]), abs=1e-6)


def test_slack_langchain_details() -> None:
    found = messages(SlackConnector(), SLACK / "langchain" / "slack_export.zip")
    example = [m for m in found if m.conversation == "#example-channel" and not m.system]
    assert example[0].body == "Example message" and example[0].sender == "Example User"
    # U0500003428 is missing from users.json: its messages carry a user_profile, except the join
    # notice, where the raw id is all the export gives.
    assert Counter(m.sender for m in found) == {"Example User": 4, "U0500003428": 1}
    assert min(m.sent_at for m in found) == datetime.fromtimestamp(1681413317.397479, UTC)


# --- Teams -----------------------------------------------------------------------------------


def test_teams_graph_docs_example() -> None:
    """Microsoft's example page holds three chatMessages, newest first (read by eye):

    1. a text "Hello world" from Robin Kline at 2021-03-28T20:48:29.832Z;
    2. an HTML body that is only an inline picture (hostedContents link, no bytes in the page);
    3. a chat-renamed system event whose createdDateTime is "2021-03-1706:47:05.123Z" (no "T"):
       not a valid time, so it is rejected with its position.
    """
    path = TEAMS / "ms-graph-docs" / "chat-list-messages_example1.json"
    first, second, third = items(TeamsConnector(), path)
    assert isinstance(first, Message) and isinstance(second, Message)
    assert (first.sender, first.body, first.sent_at) == (
        "Robin Kline", "Hello world", datetime(2021, 3, 28, 20, 48, 29, 832000, tzinfo=UTC))  # fmt: skip
    assert first.conversation == "19:2da4c29f6d7041eca70b638b43d45437@thread.v2"
    assert second.sender == "Robin Kline" and second.body == ""
    assert second.sent_at == datetime(2021, 3, 17, 8, 59, 8, 136000, tzinfo=UTC)
    assert [a.missing for a in second.attachments] == [True] and FLAG_ATTACHMENT_MISSING in second.flags
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in (first, second))
    assert isinstance(third, Rejection) and third.line == 3 and "createdDateTime" in third.reason


# --- Messenger / Instagram -------------------------------------------------------------------

KIND_TYPES = {"Image": "image/", "Sticker": "image/", "Audio": "audio/", "Other": "application/"}


def test_messenger_chat_analytics() -> None:
    spec = load(MESSENGER / "chat-analytics" / "expected.json")["2A_7M.json"]
    found = messages(MessengerConnector(), MESSENGER / "chat-analytics" / "2A_7M.json")
    expected = spec["messages_sorted_oldest_first"]
    assert [(m.sender, m.sent_at) for m in found] == [(e["author"], utc_ms(e["ts_ms"])) for e in expected]
    assert {m.sender for m in found} == set(spec["authors"])
    for message, entry in zip(found, expected, strict=True):
        if entry.get("text") is not None:
            assert message.body == entry["text"] and not message.attachments
        else:  # attachment-only: the export has no media bytes beside a lone JSON file
            (attachment,) = message.attachments
            assert attachment.missing and (attachment.media_type or "").startswith(KIND_TYPES[entry["attachments"][0]])
    assert {m.conversation for m in found} == {"Alice"}


def test_messenger_langchain() -> None:
    spec = load(MESSENGER / "langchain" / "expected.json")["facebook_chat.json"]
    found = messages(MessengerConnector(), MESSENGER / "langchain" / "facebook_chat.json")
    # LangChain drops the photo-only message; it is kept here, with its photo as a missing attachment.
    photo = spec["photo_only_message"]
    (kept,) = [m for m in found if m.attachments]
    assert (kept.sender, kept.sent_at, kept.body) == (photo["sender"], utc_ms(photo["timestamp_ms"]), "")
    assert [a.name for a in kept.attachments] == photo["photos"] and kept.attachments[0].missing
    texts = [m for m in found if m is not kept]
    newest_first = spec["messages_newest_first"]
    assert [(m.sender, m.body, m.sent_at) for m in texts[::-1]] == [
        (e["sender"], e["text"], datetime.fromisoformat(e["utc"]))
        for e in newest_first  # true UTC, not upstream_local
    ]
    assert {m.conversation for m in found} == {"User 1 and User 2 chat"}
    assert all(m.recipients == ({"User 1": "User 2", "User 2": "User 1"}[m.sender],) for m in found)


def test_instagram_chat_miner_target() -> None:
    target = load(MESSENGER / "chat-miner-instagram" / "target.json")
    found = messages(MessengerConnector(), MESSENGER / "chat-miner-instagram" / "test_export.json")
    naive = [(m.sent_at.astimezone(UTC).replace(tzinfo=None).isoformat(), m.sender, m.body) for m in found]
    assert naive[::-1] == [(t["timestamp"], t["author"], t["message"]) for t in target]  # chat-miner: newest first
    # No participants list and no Instagram folder or media path in this sample: the recipients are
    # the other sender, flagged unknown, and the source cannot be told from Messenger.
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags and m.source == "messenger" for m in found)
