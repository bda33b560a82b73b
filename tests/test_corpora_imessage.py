"""The iMessage connector on real files from other projects (../shared/corpora/imessage).

Peer conventions (see each ``expected.json``): LangChain orders one chat by date and reads
``text`` before ``attributedBody``; plaso counts rows in ROWID order; imessage-exporter's
blob and plist expectations come from its Rust tests. Where we differ on purpose, the test
says so. Skipped when the corpora are not beside the checkout.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_DELETED, FLAG_EDITED, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors._apple import APPLE_EPOCH, AppleDecodeError, summary, typedstream_text
from connectors.imessage import IMessageConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
IMESSAGE = CORPORA / "imessage"
if not IMESSAGE.is_dir():
    pytest.skip(f"corpora not found at {IMESSAGE}", allow_module_level=True)

DATABASES = sorted(IMESSAGE.rglob("*.db"))
STREAMTYPED = IMESSAGE / "imessage-exporter" / "streamtyped"
EDITED = IMESSAGE / "imessage-exporter" / "edited_message"
CONTEXT = ParseContext(custodian="corpus-test")


def load(relative: str) -> Any:
    return json.loads((IMESSAGE / relative).read_text(encoding="utf-8"))


def messages(path: Path) -> list[Message]:
    items = list(IMessageConnector().parse(path, CONTEXT))
    assert all(isinstance(item, Message) for item in items), [i for i in items if isinstance(i, Rejection)]
    return [item for item in items if isinstance(item, Message)]


def naive(message: Message) -> str:
    return message.sent_at.astimezone(UTC).replace(tzinfo=None).isoformat()


@pytest.mark.parametrize("path", DATABASES, ids=lambda p: str(p.relative_to(IMESSAGE)))
def test_every_database_sniffs_and_parses(path: Path) -> None:
    assert IMessageConnector().sniff(path)
    assert messages(path)


def test_other_corpora_are_not_claimed() -> None:
    others = [p for p in CORPORA.rglob("*") if p.is_file() and p not in DATABASES]
    assert others
    assert [p for p in others if IMessageConnector().sniff(p)] == []


@pytest.mark.parametrize("name", ["imessage_chat.db", "imessage_chat_upgrade_osx_11.db"])
def test_langchain_chat(name: str) -> None:
    spec = load("langchain/expected.json")[name]
    found = messages(IMESSAGE / "langchain" / name)
    assert len(found) == spec["message_table_rows"]
    in_date_order = sorted(found, key=lambda m: m.sent_at)  # LangChain orders by date; we keep ROWID order
    first = in_date_order[0]
    assert spec["first_message"]["text_contains"] in first.body
    assert naive(first) == spec["first_message"]["date_naive"]
    assert first.direction == ("sent" if spec["first_message"]["is_from_me"] else "received")
    for index in (16, 18):
        if f"message_{index}_text_contains" in spec:
            assert spec[f"message_{index}_text_contains"] in in_date_order[index].body
    # The last row is a tapback (associated_message_type 2000) whose text is only in attributedBody.
    assert (found[-1].system, found[-1].body) == (True, "Loved “I see nothing here add”")
    assert sum(m.system for m in found) == 1


def test_langchain_senders() -> None:
    found = messages(IMESSAGE / "langchain" / "imessage_chat.db")
    assert {m.sender for m in found if m.direction == "received"} == {"testemail@gmail.com"}
    assert {m.sender for m in found if m.direction == "sent"} == {"corpus-test"}
    assert all(FLAG_RECIPIENTS_UNKNOWN in m.flags for m in found)  # no chat_handle_join table
    # Intended difference: this database's message rows name handle 67 (and once the text
    # "trash"), which its handle table lacks; we credit received rows to the chat's only member.
    upgraded = messages(IMESSAGE / "langchain" / "imessage_chat_upgrade_osx_11.db")
    assert {m.sender for m in upgraded if m.direction == "received"} == {"test@gmail.com"}
    assert {m.conversation for m in upgraded} == {"test@gmail.com"}


def test_plaso_chat() -> None:
    spec = load("plaso/expected.json")["imessage_chat.db"]
    found = messages(IMESSAGE / "plaso" / "imessage_chat.db")
    assert len(found) == spec["message_count"]
    row = spec["message_index_7_in_plaso_order"]
    seventh = found[7]
    assert seventh.sent_at.isoformat() == row["date_utc"]
    assert (seventh.sender, seventh.body, seventh.direction) == (row["handle_id_string"], row["text"], "received")
    assert seventh.conversation == "jondoh2015@icloud.com"
    assert (naive(found[0]), naive(found[-1])) == ("2015-11-22T18:09:46", "2015-12-02T19:24:53")
    assert [m.source_ref.line for m in found] == list(range(1, 11))
    assert {m.sender for m in found} == {"447775455555", "xxxxxx2015@icloud.com", "corpus-test"}
    assert sum(m.direction == "sent" for m in found) == 5


def test_plaso_wal_mode_file_is_untouched(tmp_path: Path) -> None:
    copy = tmp_path / "chat.db"
    shutil.copyfile(IMESSAGE / "plaso" / "imessage_chat.db", copy)
    before = (copy.read_bytes(), copy.stat().st_mtime_ns)
    messages(copy)
    assert (copy.read_bytes(), copy.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.db"]  # no -wal or -shm beside it


@pytest.mark.parametrize("path", sorted(STREAMTYPED.glob("*.bin")), ids=lambda p: p.name)
def test_streamtyped_blobs(path: Path) -> None:
    expected = load("imessage-exporter/streamtyped/expected.json")[path.name]
    blob = path.read_bytes()
    if path.name == "Blank.bin":
        # Intended difference: the blob is an NSString of length 0; imessage-exporter errors
        # because it finds no end marker, we read it as "" (a message without text is kept).
        assert expected["error"] and typedstream_text(blob) == ""
    elif path.name == "ExtraData.bin":
        # Intended difference: the blob declares 157 bytes of text but holds 17 before its
        # object ends; imessage-exporter salvages the part up to its end marker, we refuse
        # the damaged blob (its row becomes a Rejection) rather than archive cut text.
        assert blob[blob.index(b"This is parsing") :].startswith(expected["text_startswith"].encode())
        with pytest.raises(AppleDecodeError, match="157 bytes"):
            typedstream_text(blob)
    else:
        assert typedstream_text(blob) == expected["text"]


# Events for the two "see edited.rs" entries, transcribed from that file's tests.
EDIT_EVENTS = {
    "EditedToLink.plist": [(690514004000000000, "here we go!"),
                           (690514772000000000, "https://github.com/ReagentX/imessage-exporter/issues/10")],
    "EditedToLinkAndBack.plist": [
        (690514809000000000, "This is a normal message"),
        (690514819000000000, "Edit to a url https://github.com/ReagentX/imessage-exporter/issues/10"),
        (690514834000000000, "And edit it back to a normal message..."),
    ],
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(EDITED.glob("*.plist")), ids=lambda p: p.name)
def test_edit_history_plists(path: Path) -> None:
    spec = load("imessage-exporter/edited_message/expected.json")[path.name]
    history = summary(path.read_bytes())
    events = [
        (int((edit.when - APPLE_EPOCH).total_seconds()) * 10**9, edit.text)
        for _part, versions in sorted(history.edits.items())
        for edit in versions
    ]
    wanted = [(e["date"], e["text"]) for e in spec["events"]] if "events" in spec else EDIT_EVENTS[path.name]
    assert events == wanted
    assert history.retracted == bool(spec.get("is_deleted"))
    assert history.edited == bool(wanted)
    if wanted:
        assert history.final_text() == wanted[-1][1]


def test_corpus_blobs_inside_a_database(tmp_path: Path) -> None:
    """Each blob and plist stored in a message row, as chat.db holds them."""
    path = tmp_path / "chat.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE handle (ROWID INTEGER PRIMARY KEY, id TEXT NOT NULL);"
        "CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT, attributedBody BLOB, handle_id INTEGER,"
        " date INTEGER, is_from_me INTEGER, message_summary_info BLOB);"
        "CREATE TABLE chat_message_join (chat_id INTEGER, message_id INTEGER);"
        "INSERT INTO handle VALUES (1, '+15555550101');"
    )
    blobs = sorted(STREAMTYPED.glob("*.bin"))
    plists = sorted(EDITED.glob("*.plist"))
    for blob in blobs:
        db.execute("INSERT INTO message (attributedBody, handle_id, date, is_from_me) VALUES (?, 1, 1, 0)",
                   (blob.read_bytes(),))  # fmt: skip
    for plist in plists:
        db.execute("INSERT INTO message (message_summary_info, handle_id, date, is_from_me) VALUES (?, 1, 2, 1)",
                   (plist.read_bytes(),))  # fmt: skip
    db.commit()
    db.close()
    items = list(IMessageConnector().parse(path, CONTEXT))
    assert len(items) == len(blobs) + len(plists)
    names = [p.name for p in blobs + plists]
    outcome = dict(zip(names, items, strict=True))
    extra = outcome["ExtraData.bin"]
    assert isinstance(extra, Rejection) and extra.line == names.index("ExtraData.bin") + 1
    assert isinstance(outcome["Blank.bin"], Message) and outcome["Blank.bin"].body == ""
    deleted = outcome["Deleted.plist"]
    assert isinstance(deleted, Message) and deleted.flags == (FLAG_DELETED, FLAG_RECIPIENTS_UNKNOWN)
    for name in ("Edited.plist", "EditedToLink.plist", "EditedToLinkAndBack.plist"):
        edited = outcome[name]
        assert isinstance(edited, Message) and FLAG_EDITED in edited.flags
    edited = outcome["Edited.plist"]
    assert isinstance(edited, Message) and edited.body == "Edited message"  # text only in the history


@pytest.mark.parametrize("path", DATABASES, ids=lambda p: str(p.relative_to(IMESSAGE)))
def test_damaged_corpus_databases(tmp_path: Path, path: Path) -> None:
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1000):
        damaged = tmp_path / f"cut{cut}.db"
        damaged.write_bytes(data[:cut])
        try:
            items = list(IMessageConnector().parse(damaged, CONTEXT))
        except InputError:
            continue
        assert all(isinstance(item, Message | Rejection) for item in items)
