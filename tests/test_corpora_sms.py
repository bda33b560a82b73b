"""The SMS connectors on real files from other projects (../shared/corpora/sms).

Each ``expected.json`` states its peer's conventions in ``_source``: the shruggietech parser
counts sms/mms/call elements and reads raw attributes; the sms-backup-reader-2 counts were
computed with xml.etree; plaso reads ``mmssms.db`` rows. Intended differences from the peers:

- A peer reports the raw ``address``; the connector names the other party by the phone's
  ``contact_name`` when it has one (the number otherwise), and the custodian by name.
- The shruggietech parser returns call records; the connector refuses a call log with the
  number of calls, as calls are not messages.
- The truncated backup: strict parsers fail at its end; the connector archives every record
  that is complete (41 sms and 8 of the 9 mms, the 9th being cut inside its parts) and then
  refuses the rest with the line where the file stops.

Times are also checked against each record's ``readable_date``, the phone's own local
rendering (US Pacific time in the sms-backup-reader-2 files, UTC in the others). Skipped
when the corpora are not beside the checkout.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import FLAG_ATTACHMENT_MISSING, Message
from connectors.android_sms import AndroidSmsConnector
from connectors.sms_backup import SmsBackupConnector

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SMS = CORPORA / "sms"
if not SMS.is_dir():
    pytest.skip(f"corpora not found at {SMS}", allow_module_level=True)

RESTORE = SMS / "sms-backup-restore-parser"
READER = SMS / "sms-backup-reader-2"
PLASO = SMS / "plaso"
BACKUPS = sorted(SMS.rglob("*.xml"))
REFUSED = {"malformed.xml", "minimal_calls.xml", "sms_and_mms.xml"}  # broken, a call log, truncated
ME = "Corpus Custodian"
CONTEXT = ParseContext(custodian=ME)
LOCAL_ZONES = {RESTORE: ZoneInfo("UTC"), READER: ZoneInfo("America/Los_Angeles")}
_RECORD_RE = re.compile(r"<(sms|mms) ([^>]*)>")


def records(path: Path, attribute: str) -> list[str | None]:
    """One attribute of each sms and mms start tag in the file, read with a regex (None when absent)."""
    found = []
    for tag, attributes in _RECORD_RE.findall(path.read_text(encoding="utf-8")):
        name = {"type": "type" if tag == "sms" else "msg_box"}.get(attribute, attribute)
        match = re.search(rf'\b{name}="([^"]*)"', attributes)
        found.append(match[1] if match else None)
    return found


def load(folder: Path) -> Any:
    return json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def read(path: Path) -> tuple[list[Message], list[Rejection], InputError | None]:
    """Everything the connector yields for a file, and the error that ended it, if any."""
    found: list[Message | Rejection] = []
    try:
        found.extend(SmsBackupConnector().parse(path, CONTEXT))
    except InputError as exc:
        return _split(found) + (exc,)
    return _split(found) + (None,)


def clean(path: Path) -> list[Message]:
    """The messages of a file that must read without a rejection or an error."""
    messages, rejections, error = read(path)
    assert rejections == [] and error is None
    return messages


def _split(items: list[Message | Rejection]) -> tuple[list[Message], list[Rejection]]:
    return [i for i in items if isinstance(i, Message)], [i for i in items if isinstance(i, Rejection)]


def local(message: Message, zone: ZoneInfo) -> str:
    """The time as the phone's readable_date writes it (both 24-hour and 12-hour styles occur)."""
    moment = message.sent_at.astimezone(zone)
    return moment.strftime("%b %-d, %Y %-I:%M:%S %p" if zone.key == "UTC" else "%b %-d, %Y %H:%M:%S")


@pytest.mark.parametrize("path", BACKUPS, ids=lambda p: str(p.relative_to(SMS)))
def test_every_backup_is_claimed_and_read_or_refused(path: Path) -> None:
    assert SmsBackupConnector().sniff(path)
    assert not AndroidSmsConnector().sniff(path)
    messages, _rejections, error = read(path)
    assert (error is not None) == (path.name in REFUSED)
    assert all(m.source == "sms" and m.sent_at.utcoffset() is not None for m in messages)


@pytest.mark.parametrize("path", BACKUPS, ids=lambda p: str(p.relative_to(SMS)))
def test_times_match_the_phones_readable_dates(path: Path) -> None:
    messages, _rejections, _error = read(path)
    readable = records(path, "readable_date")[: len(messages)]
    zone = LOCAL_ZONES[path.parent]
    assert [local(m, zone) if shown else None for m, shown in zip(messages, readable, strict=True)] == readable


@pytest.mark.parametrize("path", BACKUPS, ids=lambda p: str(p.relative_to(SMS)))
def test_direction_follows_the_message_box(path: Path) -> None:
    messages, _rejections, _error = read(path)
    boxes = records(path, "type")[: len(messages)]
    assert [m.direction for m in messages] == ["received" if b == "1" else "sent" for b in boxes]
    assert all((m.sender == ME) == (m.direction == "sent") for m in messages)


def test_other_corpora_are_not_claimed() -> None:
    others = [p for p in CORPORA.rglob("*") if p.is_file() and SMS not in p.parents]
    assert others
    assert [p for p in others if SmsBackupConnector().sniff(p) or AndroidSmsConnector().sniff(p)] == []


# shruggietech/sms-backup-restore-parser


def test_restore_parser_minimal_sms() -> None:
    spec = load(RESTORE)["minimal_sms.xml"]
    [message] = clean(RESTORE / "minimal_sms.xml")
    assert spec["sms_count"] == 1
    assert message.sent_at.isoformat() == spec["sms0"]["date_iso_utc"]
    assert message.body == spec["sms0"]["body"]
    assert (message.sender, message.conversation, message.recipients) == ("Alice Smith", "Alice Smith", (ME,))


def test_restore_parser_minimal_mms() -> None:
    spec = load(RESTORE)["minimal_mms.xml"]
    [message] = clean(RESTORE / "minimal_mms.xml")
    assert spec["mms_count"] == 1 and spec["mms0"]["parts"] == 3 and spec["mms0"]["addrs"] == 2
    # three parts: the SMIL layout (not kept), the text (the body), a PNG (kept with its bytes)
    assert message.body == spec["mms0"]["part1_text"]
    [image] = message.attachments
    assert (image.name, image.missing, image.size) == ("image.jpg", False, 70)
    assert image.content is not None and image.content.startswith(b"\x89PNG")
    assert spec["mms0"]["addr0_type"] == "137" and message.sender == "Alice Smith"


def test_restore_parser_call_log_is_refused() -> None:
    spec = load(RESTORE)["minimal_calls.xml"]
    messages, rejections, error = read(RESTORE / "minimal_calls.xml")
    assert messages == [] and rejections == []
    assert error is not None and f"is a call log ({spec['call_count']} calls)" in error.cause


def test_restore_parser_mixed_and_edge_cases() -> None:
    spec = load(RESTORE)
    mixed = clean(RESTORE / "mixed.xml")
    counts = spec["mixed.xml"]
    assert len(mixed) == counts["sms_count"] + counts["mms_count"] and counts["call_count"] == 0
    assert {m.sender for m in mixed} == {"Alice Smith", ME}
    edge = clean(RESTORE / "edge_cases.xml")
    assert len(edge) >= spec["edge_cases.xml"]["sms_count_at_least"]
    assert any(spec["edge_cases.xml"]["some_body_contains"] in m.body for m in edge)
    assert [m.body for m in edge][2:] == ["", ""]  # the empty sms body; the mms with empty <parts>


def test_restore_parser_malformed_is_refused_with_position() -> None:
    assert load(RESTORE)["malformed.xml"]["expect"] == "XML parse error"
    messages, _rejections, error = read(RESTORE / "malformed.xml")
    assert messages == [] and error is not None and error.line == 4 and "malformed XML" in error.cause


# devadvance/sms-backup-reader-2


@pytest.mark.parametrize("name", ["sms_small.xml", "sample_small.xml", "sample_mms.xml", "empty.xml"])
def test_reader_counts(name: str) -> None:
    spec = load(READER)[name]
    messages, rejections, error = read(READER / name)
    assert error is None and rejections == []
    assert len(messages) == spec["sms"] + spec["mms"] == spec["count_attr"]


def test_reader_senders() -> None:
    messages, _rejections, _error = read(READER / "sms_small.xml")
    assert {m.sender for m in messages} == {"Contact A", "Contact B", "Contact C", ME}
    assert {m.conversation for m in messages} == {"Contact A", "Contact B", "Contact C"}


def test_reader_mms_attachments_have_their_bytes() -> None:
    messages, _rejections, _error = read(READER / "sample_mms.xml")
    kinds = [(a.media_type, a.missing) for m in messages for a in m.attachments]
    assert kinds == [("image/png", False), ("video/mp4", False), ("audio/mp3", False), ("application/pdf", False)]
    assert all(a.sha256 and a.size for m in messages for a in m.attachments)


def test_reader_corrupt_base64_is_a_missing_attachment_and_a_rejection() -> None:
    spec = load(READER)["corrupt_attachments.xml"]
    messages, rejections, error = read(READER / "corrupt_attachments.xml")
    assert error is None and len(messages) == spec["mms"] == len(rejections)
    assert all(FLAG_ATTACHMENT_MISSING in m.flags and m.attachments[0].missing for m in messages)
    assert [m.body for m in messages] == [
        "MMS with corrupted base64 image data",
        "MMS with unsupported attachment type",
    ]
    assert all("is not valid base64" in r.reason for r in rejections)


def test_reader_truncated_backup_keeps_every_complete_record() -> None:
    spec = load(READER)["sms_and_mms.xml"]
    messages, rejections, error = read(READER / "sms_and_mms.xml")
    assert spec["sms_elements_present"] == 41 and spec["mms_elements_present"] == 9
    assert len(messages) == 41 + 8 and rejections == []
    assert error is not None and error.line == 136 and "the rest is refused" in error.cause
    assert (messages[0].body, messages[-1].body) == ("Body text 1", "Body text 55")
    group = [m for m in messages if m.conversation == "group_8@rcs.google.com"]
    assert [(m.sender, m.direction) for m in group] == [("+15550000009", "received"), (ME, "sent"),
                                                        ("+15550000010", "received")]  # fmt: skip


# plaso mmssms.db


def test_plaso_mmssms_db() -> None:
    spec = load(PLASO)["mmssms.db"]
    path = PLASO / "mmssms.db"
    assert AndroidSmsConnector().sniff(path) and not SmsBackupConnector().sniff(path)
    items = list(AndroidSmsConnector().parse(path, CONTEXT))
    messages = [i for i in items if isinstance(i, Message)]
    assert len(items) == len(messages) == spec["sms_count"]
    assert sum(m.direction == "sent" for m in messages) == spec["sent_type2"]
    assert sum(m.direction == "received" for m in messages) == spec["received_type1"]
    assert spec["mms_pdu_rows"] == 0 and {m.source_ref.entry for m in messages} == {"sms"}
    first, row = messages[0], spec["first_row"]
    assert first.sent_at == datetime.fromisoformat(row["date_utc"])
    assert (first.body, first.direction, first.sender, first.recipients) == (row["body"], "sent", ME, (row["address"],))
    assert {m.conversation for m in messages} == {row["address"]}  # the thread's canonical address
    assert {m.sender for m in messages} == {ME, "15555215554"}  # received rows store the number unformatted
