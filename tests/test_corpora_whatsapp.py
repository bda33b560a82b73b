"""The WhatsApp connector on real exports from other projects (../shared/corpora/whatsapp).

Each ``expected.json`` encodes its peer tool's conventions (see its ``_source`` and
``_semantics``): some drop system lines, sort by time, join lines with spaces or give
newest first. The tests compare what survives those differences. Skipped when the
corpora are not beside the checkout.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError
from archiver.model import FLAG_DELETED, Message
from connectors.whatsapp import WhatsAppConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
WHATSAPP = CORPORA / "whatsapp"
if not WHATSAPP.is_dir():
    pytest.skip(f"corpora not found at {WHATSAPP}", allow_module_level=True)

EXPORTS = sorted(p for p in WHATSAPP.rglob("*") if p.suffix in {".txt", ".zip"})
DAMAGED = WHATSAPP / "whats_json" / "bad_edited_ios.txt"
CONTEXT = ParseContext(custodian="corpus-test", tz=ZoneInfo("UTC"))


def load(relative: str) -> Any:
    return json.loads((WHATSAPP / relative).read_text(encoding="utf-8"))


# Exports whose every date reads both ways: the order their sources give (refused without it).
STATED_ORDERS = {"chat-analytics/4A_11M.txt": "dmy", "chat-analytics/4A_11M.zip": "dmy",
                 "whats_json/group_chat_xxx_android.txt": "dmy", "whats_json/group_chat_xxx_ios.txt": "mdy"}
LANGUAGES = WHATSAPP / "whats_json" / "languages"


def messages(path: Path) -> list[Message]:
    context = replace(CONTEXT, date_order=STATED_ORDERS.get("/".join(path.parts[-2:])))
    return [item for item in WhatsAppConnector().parse(path, context) if isinstance(item, Message)]


@pytest.mark.parametrize("name", sorted(STATED_ORDERS))
def test_exports_that_cannot_tell_day_from_month_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="--date-order dmy or --date-order mdy"):
        list(WhatsAppConnector().parse(WHATSAPP / name, CONTEXT))


def media_and_notices(found: list[Message]) -> list[tuple[bool, list[bool], bool]]:
    return [(m.system, [a.missing for a in m.attachments], FLAG_DELETED in m.flags) for m in found]


@pytest.mark.parametrize("name", ["deutch", "french", "italian", "portugal", "spanish", "russian", "czech"])
def test_ios_languages_read_like_english(name: str) -> None:
    english = media_and_notices(messages(LANGUAGES / "english_ios.txt"))
    assert media_and_notices(messages(LANGUAGES / f"{name}_ios.txt")) == english
    assert sum(bool(missing) for _system, missing, _deleted in english) == 14


def test_dutch_android_media_and_deletions() -> None:
    found = messages(LANGUAGES / "deutch_android_media.txt")  # Dutch, despite the name
    assert found[0].system and sum(FLAG_DELETED in m.flags for m in found) == 7
    assert sum(bool(m.attachments) for m in found) == 21  # 12 "<Media weggelaten>", 9 "(bestand bijgevoegd)"


def naive(message: Message) -> str:
    """The wall-clock time as the peers write it (read in UTC, so no shift)."""
    return message.sent_at.astimezone(UTC).replace(tzinfo=None).isoformat()


def authored(found: list[Message]) -> list[Message]:
    return [m for m in found if not m.system]


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: str(p.relative_to(WHATSAPP)))
def test_every_export_parses(path: Path) -> None:
    assert WhatsAppConnector().sniff(path)
    try:
        found = messages(path)
    except InputError:
        assert path == DAMAGED  # the hand-damaged file may be refused, never crash
        return
    assert found


def test_other_corpora_are_not_claimed() -> None:
    others = [p for p in CORPORA.rglob("*") if p.is_file() and WHATSAPP not in p.parents]
    assert others
    assert [p for p in others if WhatsAppConnector().sniff(p)] == []


WHATSR = ["EnglishAndroid24H", "EnglishAndroidAMPM", "EnglishIos24H", "EnglishIosAMPM",
          "GermanAndroid24H", "GermanAndroidAMPM", "GermanIos24H", "GermanIosAMPM"]  # fmt: skip


@pytest.mark.parametrize("name", WHATSR)
def test_whatsr_senders_and_times(name: str) -> None:
    expected = load(f"whatsr/expected/{name}_default.json")["rows"]
    found = messages(WHATSAPP / "whatsr" / f"{name.lower()}.txt")
    system = "WhatsApp System Message"
    assert Counter(r["Sender"] for r in expected if r["Sender"] != system) == Counter(m.sender for m in authored(found))
    assert [r["DateTime"]["utc"] for r in expected] == [m.sent_at.isoformat() for m in found]


def test_rwhatsapp_rows() -> None:
    expected = load("rwhatsapp/expected/rwa_read.json")["rows"]
    for path in (WHATSAPP / "rwhatsapp" / "sample.txt", WHATSAPP / "rwhatsapp" / "sample.zip"):
        found = messages(path)
        assert [(r["author"] or "", r["text"]) for r in expected] == [(m.sender, m.body) for m in found]
        assert [r["time"]["utc"][:16] for r in expected] == [m.sent_at.isoformat()[:16] for m in found]


@pytest.mark.parametrize("name", load("port-whatsapp-datadonation/expected.json")["files"])
def test_datadonation_per_author(name: str) -> None:
    spec = load("port-whatsapp-datadonation/expected.json")
    found = authored(messages(WHATSAPP / "port-whatsapp-datadonation" / name))
    for author in spec["per_author"]:
        mine = [naive(m) for m in found if m.sender == author["author"]]
        assert len(mine) == author["messages"]
        precision = 16 if name in {"_chat_file3.txt", "_chat_file4.txt"} else 19  # no seconds there
        assert min(mine)[:precision] == author["first"][:precision]
        assert max(mine)[:precision] == author["last"][:precision]


@pytest.mark.parametrize("path", sorted((WHATSAPP / "chat-miner").glob("*.txt")), ids=lambda p: p.name)
def test_chat_miner_target(path: Path) -> None:
    target = load("chat-miner/target.json")
    found = [(naive(m), m.sender, m.body.replace("\n", " ")) for m in authored(messages(path))]
    assert found[::-1] == [(t["timestamp"], t["author"], t["message"]) for t in target]


def test_chat_analytics_small_dm() -> None:
    expected = load("chat-analytics/expected.json")["2A_5M.txt"]["messages_in_expected_order"]
    found = sorted(messages(WHATSAPP / "chat-analytics" / "2A_5M.txt"), key=lambda m: m.sent_at)
    assert [(m.sender, naive(m)) for m in found] == [(e["author"], e["local"]) for e in expected]
    for message, entry in zip(found, expected, strict=True):
        if entry.get("attachments"):
            assert [a.missing for a in message.attachments] == [True]
        else:
            assert message.body == entry["text"]


@pytest.mark.parametrize("name", ["4A_11M.txt", "4A_11M.zip"])
def test_chat_analytics_group(name: str) -> None:
    spec = load("chat-analytics/expected.json")["4A_11M.txt"]
    found = messages(WHATSAPP / "chat-analytics" / name)
    assert len(authored(found)) == 11 and len(found) == 14
    assert {m.sender for m in authored(found)} <= set(spec["authors"])
    for check in spec["spot_checks"]:
        assert any((m.sender, m.body, naive(m)) == (check["author"], check["text"], check["local"]) for m in found)


def test_langchain_exports() -> None:
    spec = load("langchain/expected.json")
    ios = authored(messages(WHATSAPP / "langchain" / "whatsapp_chat_ios.txt"))
    assert spec["whatsapp_chat_ios.txt"]["first_non_system_message_contains"] in ios[0].body
    mixed = {(m.sender, m.body) for m in messages(WHATSAPP / "langchain" / "whatsapp_chat_mixed_formats.txt")}
    for entry in spec["whatsapp_chat_mixed_formats.txt"]["expected_langchain_document"]:
        assert (entry["author"].removeprefix("~ "), entry["text"]) in mixed


WHATS_JSON_GROUPS = [(group, name) for group, spec in load("whats_json/expected.json")["groups"].items()
                     for name in spec["files"]]  # fmt: skip


@pytest.mark.parametrize(("group", "name"), WHATS_JSON_GROUPS, ids=lambda v: v)
def test_whats_json_language_totals(group: str, name: str) -> None:
    total = load("whats_json/expected.json")["groups"][group]["total"]
    assert len(messages(WHATSAPP / "whats_json" / "languages" / name)) == total


def test_whats_json_attachments_and_deletions() -> None:
    spec = load("whats_json/expected.json")["dmitry_s_ios_with_attachments.txt"]
    found = messages(WHATSAPP / "whats_json" / "dmitry_s_ios_with_attachments.txt")
    assert len(found) == spec["total"]
    assert min(naive(m) for m in found) == spec["earliest_naive"]
    assert max(naive(m) for m in found) == spec["newest_naive"]
    names = {a.name for m in found for a in m.attachments if a.name}
    assert names >= {name for kind in spec["attachments"].values() for name in kind}  # upstream lists a sample
    deleted = [m.body for m in found if FLAG_DELETED in m.flags]
    assert sorted(deleted) == sorted(spec["deleted_notices_not_text"])
    assert sum(m.body == "Hello World" for m in found) == spec["hello_world_count"]


@pytest.mark.parametrize(("name", "key"), [("bad_edited_ios.txt", "total"),
                                           ("group_nomedia_2017_android.txt", "total_without_system"),
                                           ("group_nomedia_2019_ru_android.txt", "total_without_system")])  # fmt: skip
def test_whats_json_totals(name: str, key: str) -> None:
    found = messages(WHATSAPP / "whats_json" / name)
    count = len(found) if key == "total" else len(authored(found))
    assert count == load("whats_json/expected.json")[name][key]


# whatstk lists ~100 header formats as strftime-like patterns; render each with a date whose
# day (25) cannot be a month, so every format must come back as the same instant.
WHATSTK_FORMATS = [entry["format"] for entry in load("whatstk/header_format_support.json")]
WHEN = datetime(2020, 3, 25, 14, 7, 9)


def render(pattern: str) -> str:
    year = "2020" if pattern.startswith(("%y", "[%y")) else "20"  # year-first needs 4 digits
    fields = {"%y": year, "%m": "03", "%d": "25", "%H": "14", "%I": "02", "%M": "07", "%S": "09", "%p": "PM"}
    return re.sub(r"%name|%[ymdHIMSp]", lambda m: fields.get(m.group(), "Jorge Rivera"), pattern)


@pytest.mark.parametrize("pattern", WHATSTK_FORMATS)
def test_whatstk_header_formats(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / "chat.txt"
    header = render(pattern)
    path.write_text(f"{header} Lane 4 is closed\n{header} Reopened\n", encoding="utf-8")
    found = messages(path)
    expected = WHEN if "%S" in pattern else WHEN.replace(second=0)
    assert [(m.sender, m.body, naive(m)) for m in found] == [
        ("Jorge Rivera", "Lane 4 is closed", expected.isoformat()),
        ("Jorge Rivera", "Reopened", expected.isoformat()),
    ]
