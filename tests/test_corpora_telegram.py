"""The Telegram connector on real exports from other projects (../shared/corpora/telegram).

Each ``expected.json`` encodes its peer tool's conventions (see its ``_source`` and
``_semantics``); the tests compare what survives them. Intended differences from the peers:
service messages (joins, calls) are kept as system messages where chat-analytics drops them
or turns calls into call records; entity texts are concatenated exactly as shown, where
chat-analytics and chat-miner put spaces between them; LangChain merges consecutive messages
of one sender, we keep each message. Skipped when the corpora are not beside the checkout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors.telegram import HTML_EXPORT, TZ_REQUIRED, TelegramConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
TELEGRAM = CORPORA / "telegram"
if not TELEGRAM.is_dir():
    pytest.skip(f"corpora not found at {TELEGRAM}", allow_module_level=True)

EXPORTS = [TELEGRAM / "chat-analytics" / "DM_2A_7M.json", TELEGRAM / "langchain" / "result.json",
           TELEGRAM / "langchain" / "telegram_mojibake_names.json", TELEGRAM / "chat-miner" / "test_single_export.json",
           TELEGRAM / "chat-miner" / "test_batch_export.json"]  # fmt: skip
NOT_JSON_EXPORTS = [
    TELEGRAM / "langchain" / "messages.html",
    TELEGRAM / "langchain" / "telegram_channel_telethon_style.json",
]
# The exporting machine of the chat-analytics sample is unknown; its zone-less 'date' fields are
# read in UTC here so they compare as the wall-clock text chat-analytics keeps.
CONTEXT = ParseContext(custodian="corpus-test", tz=ZoneInfo("UTC"))
ALICE = ParseContext(custodian="alice", custodian_names=("Alice",), tz=ZoneInfo("UTC"))  # the exporter


def load(relative: str) -> Any:
    return json.loads((TELEGRAM / relative).read_text(encoding="utf-8"))


def messages(path: Path, context: ParseContext = CONTEXT) -> list[Message]:
    items = list(TelegramConnector().parse(path, context))
    assert all(isinstance(item, Message) for item in items)
    return [item for item in items if isinstance(item, Message)]


def naive(message: Message) -> str:
    return message.sent_at.astimezone(UTC).replace(tzinfo=None).isoformat()


def test_every_export_is_claimed_and_parses() -> None:
    assert sorted(p for p in TELEGRAM.rglob("*") if p.is_file() and TelegramConnector().sniff(p)) == sorted(EXPORTS)
    for path in EXPORTS:
        assert messages(path)


def test_other_corpora_are_not_claimed() -> None:
    others = [p for p in CORPORA.rglob("*") if p.is_file() and TELEGRAM not in p.parents]
    assert others
    assert [p for p in others if TelegramConnector().sniff(p)] == []


def test_chat_analytics_dm() -> None:
    spec = load("chat-analytics/expected.json")["DM_2A_7M.json"]
    names = {author["id"]: author["name"] for author in spec["authors"]}
    found = messages(TELEGRAM / "chat-analytics" / "DM_2A_7M.json", ALICE)
    assert len(found) == len(spec["messages"]) + len(spec["calls"]) + len(spec["not_messages"]) == 8
    authored = [m for m in found if not m.system]
    assert [m.sender for m in authored] == [names[e["author"]] for e in spec["messages"]]
    assert [m.source_ref.line for m in found] == list(range(1, 9))
    for message, entry in zip(authored, spec["messages"], strict=True):
        if "unix" in entry:  # date_unixtime is the true instant
            assert message.sent_at == datetime.fromtimestamp(entry["unix"], UTC)
        else:  # an older message with only the local 'date'
            assert naive(message) == entry["date_field"]
        if "attachments" in entry:
            assert [(a.media_type, a.missing) for a in message.attachments] == [("image/jpeg", True)]
            assert message.flags == (FLAG_ATTACHMENT_MISSING,)
        elif "text" in entry:
            assert message.body == entry["text"]
    # chat-analytics pads entity texts with spaces (' https://google.com  👀'); the export shows no such space.
    assert authored[0].body == "https://google.com 👀"
    call, joined = found[-1], found[0]
    (expected_call,) = spec["calls"]
    assert call.system and call.sender == names[expected_call["author"]]
    assert call.sent_at.timestamp() == expected_call["start_unix"]
    assert call.body == f"Alice: phone_call (duration {expected_call['duration_seconds']} s, discard_reason hangup)"
    assert joined.system and joined.body == "Bob: joined_telegram"
    assert {m.conversation for m in found} == {"Bob"}
    assert {(m.sender, m.direction, m.recipients) for m in found} == {("Bob", "received", ("Alice",)),
                                                                      ("Alice", "sent", ("Bob",))}  # fmt: skip


def test_chat_analytics_needs_a_zone_for_its_old_dates() -> None:
    with pytest.raises(InputError, match="--tz"):
        messages(TELEGRAM / "chat-analytics" / "DM_2A_7M.json", ParseContext(custodian="corpus-test"))


def test_langchain_result_json() -> None:
    spec = load("langchain/expected.json")["result.json"]["messages"]
    found = messages(TELEGRAM / "langchain" / "result.json")
    # LangChain merges consecutive messages of one sender into one; each message is kept here.
    assert [(m.sender, m.body) for m in found] == [(e["from"], e["text"]) for e in spec]
    assert [m.sent_at.timestamp() for m in found] == [e["unix"] for e in spec]
    # 'date' is the exporter's wall clock at UTC-7; the instant comes from date_unixtime.
    los_angeles = ZoneInfo("America/Los_Angeles")
    dated = [(m, e) for m, e in zip(found, spec, strict=True) if "date_field" in e]
    assert [m.sent_at.astimezone(los_angeles).replace(tzinfo=None).isoformat() for m, _ in dated] == [
        e["date_field"] for _, e in dated
    ]
    assert {m.conversation for m in found} == {"Jimmeny"}


def test_langchain_mojibake_names_are_kept() -> None:
    path = TELEGRAM / "langchain" / "telegram_mojibake_names.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    found = messages(path)
    assert [(m.sender, m.body, naive(m)) for m in found] == [(e["from"], e["text"], e["date"]) for e in raw["messages"]]
    assert {m.conversation for m in found} == {raw["name"]} == {"Grace \u00f0\u0178\u00a7\u00a4"}
    # Neither sender is the chat's name nor (numeric from_id) its id: the other side is not certain.
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in found)
    with pytest.raises(InputError) as caught:
        messages(path, ParseContext(custodian="corpus-test"))
    assert TZ_REQUIRED in str(caught.value)


def test_langchain_non_json_exports_are_refused() -> None:
    html, telethon = NOT_JSON_EXPORTS
    for path in NOT_JSON_EXPORTS:
        assert not TelegramConnector().sniff(path)
    with pytest.raises(InputError) as caught:
        messages(html)
    assert HTML_EXPORT in str(caught.value) and "Machine-readable JSON" in str(caught.value)
    with pytest.raises(InputError, match="not a Telegram Desktop export"):
        messages(telethon)


@pytest.mark.parametrize("name", ["test_single_export.json", "test_batch_export.json"])
def test_chat_miner_target(name: str) -> None:
    target = load("chat-miner/target.json")
    found = messages(TELEGRAM / "chat-miner" / name)
    # chat-miner joins entity texts with a space ("Link: https://telegram.org/"); the export's
    # visible text is "Link:" + "https://telegram.org/" with nothing between.
    assert [(naive(m), m.sender, m.body) for m in found] == [
        (t["timestamp"], t["author"], t["message"].replace("Link: ", "Link:")) for t in target
    ]
    expected_name = "Chatname" if name == "test_batch_export.json" else "test_single_export"  # unnamed: file stem
    assert {m.conversation for m in found} == {expected_name}
