"""The Signal connector on a real signal-export chat from another project (../shared/corpora/signal).

chat-miner's ``test_export.txt`` is an old-style signal-export Markdown chat
(``[2019-12-24, 12:23] Name: text``). Its ``target.json`` follows chat-miner's conventions:
newest message first, the lines of a message joined with one space, and naive wall-clock
timestamps. The tests read the chat in UTC (so the wall clock is unchanged) and compare
counts, authors, first and last times and the joined text under those conventions. Skipped
when the corpora are not beside the checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import Message
from connectors.signal import SignalConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SIGNAL = CORPORA / "signal"
if not SIGNAL.is_dir():
    pytest.skip(f"corpora not found at {SIGNAL}", allow_module_level=True)

CHAT_MINER = SIGNAL / "chat-miner" / "test_export.txt"
CONTEXT = ParseContext(custodian="corpus-test", tz=ZoneInfo("UTC"))


def naive(message: Message) -> str:
    return message.sent_at.replace(tzinfo=None).isoformat()


def test_chat_miner_target() -> None:
    target = json.loads((SIGNAL / "chat-miner" / "target.json").read_text(encoding="utf-8"))
    assert SignalConnector().sniff(CHAT_MINER)
    items = list(SignalConnector().parse(CHAT_MINER, CONTEXT))
    found = [item for item in items if isinstance(item, Message)]
    assert len(found) == len(items) == len(target) == 2
    oldest_first = target[::-1]
    assert [m.sender for m in found] == [t["author"] for t in oldest_first]
    assert naive(found[0]) == oldest_first[0]["timestamp"] and naive(found[-1]) == oldest_first[-1]["timestamp"]
    # chat-miner joins a message's lines with a space; the archive keeps the newline.
    assert [m.body.replace("\n", " ") for m in found] == [t["message"] for t in oldest_first]
    assert found[-1].body == "Hello\nJane!"
    assert {m.conversation for m in found} == {"test_export"}  # a bare file: its own name


def test_damaged_copies_give_input_error_or_rejections(tmp_path: Path) -> None:
    data = CHAT_MINER.read_bytes()
    for cut in range(len(data)):
        path = tmp_path / "chat.md"
        path.write_bytes(data[:cut] + b"\xff" + data[cut + 1 :])
        try:
            items = list(SignalConnector().parse(path, CONTEXT))
        except InputError:
            continue
        assert all(isinstance(item, Message | Rejection) for item in items)


def test_other_corpora_are_not_claimed() -> None:
    others = [p for p in CORPORA.rglob("*") if p.is_file() and SIGNAL not in p.parents]
    assert others
    assert [p for p in others if SignalConnector().sniff(p)] == []
