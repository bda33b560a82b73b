"""The Outlook .msg connector on messages built here as OLE2 compound files (all fiction).

olefile only reads compound files, so ``compound_file`` below writes a minimal one (version 3,
512-byte sectors, small streams in the mini stream) from a {"storage/stream": bytes} map, and
``build_msg`` lays MAPI properties out in it as [MS-OXMSG] describes.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import ParseContext
from archiver.errors import InputError
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Message
from connectors import outlook_msg
from connectors._mail import TZ_REQUIRED
from connectors.email import EmailConnector, MboxConnector
from connectors.outlook_msg import OutlookMsgConnector, decompress_rtf
from tests.hostile import read_or_refused

# --- a minimal compound-file writer --------------------------------------------------------

FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR, MINI_SECTOR, MINI_CUTOFF = 512, 64, 4096
MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class _Node:
    name: str
    data: bytes | None  # None for a storage
    children: list[_Node] = field(default_factory=list)
    sid: int = 0
    start: int = ENDOFCHAIN
    child: int = NOSTREAM
    right: int = NOSTREAM


def _sectors(size: int, unit: int) -> int:
    return -(-size // unit)


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3) with ``streams`` under "storage/stream" paths."""
    root = _Node("Root Entry", None)
    for path, data in streams.items():
        node = root
        *storages, leaf = path.split("/")
        for name in storages:
            found = next((c for c in node.children if c.name == name), None)
            if found is None:
                found = _Node(name, None)
                node.children.append(found)
            node = found
        node.children.append(_Node(leaf, data))
    nodes: list[_Node] = []
    pending = [root]
    while pending:
        node = pending.pop(0)
        node.sid = len(nodes)
        nodes.append(node)
        pending.extend(node.children)
    for node in nodes:  # siblings as a right-leaning chain in the compound-file name order
        kids = sorted(node.children, key=lambda c: (len(c.name), c.name.upper()))
        if kids:
            node.child = kids[0].sid
        for left, right in zip(kids, kids[1:], strict=False):
            left.right = right.sid
    mini = bytearray()
    minifat: list[int] = []
    big = [n for n in nodes[1:] if n.data is not None and len(n.data) >= MINI_CUTOFF]
    for node in nodes[1:]:
        if node.data and len(node.data) < MINI_CUTOFF:
            count = _sectors(len(node.data), MINI_SECTOR)
            node.start = len(minifat)
            minifat += [node.start + i + 1 for i in range(count - 1)] + [ENDOFCHAIN]
            mini += node.data.ljust(count * MINI_SECTOR, b"\0")
    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat)
    sizes = [len(nodes) * 128, len(minifat_bytes), len(mini), *(len(n.data or b"") for n in big)]
    counts = [_sectors(size, SECTOR) for size in sizes]
    fat_count = 1
    while fat_count * 128 < fat_count + sum(counts):
        fat_count += 1
    fat = [FATSECT] * fat_count

    def chain(count: int) -> int:
        if count == 0:
            return ENDOFCHAIN
        start = len(fat)
        fat.extend(range(start + 1, start + count))
        fat.append(ENDOFCHAIN)
        return start

    dir_start, minifat_start, mini_start = (chain(c) for c in counts[:3])
    for node, count in zip(big, counts[3:], strict=True):
        node.start = chain(count)
    fat += [FREESECT] * (fat_count * 128 - len(fat))
    root.start = mini_start
    entries = b"".join(_entry(n, len(mini) if n is root else len(n.data or b"")) for n in nodes)
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", MAGIC, bytes(16), 0x3E, 3, 0xFFFE, 9, 6, bytes(6), 0,
                         fat_count, dir_start, 0, MINI_CUTOFF, minifat_start, _sectors(len(minifat_bytes), SECTOR),
                         ENDOFCHAIN, 0)  # fmt: skip
    header += struct.pack("<109I", *range(fat_count), *[FREESECT] * (109 - fat_count))
    body = [struct.pack(f"<{len(fat)}I", *fat), entries, minifat_bytes, bytes(mini), *(n.data or b"" for n in big)]
    return header + b"".join(part.ljust(_sectors(len(part), SECTOR) * SECTOR, b"\0") for part in body)


def _entry(node: _Node, size: int) -> bytes:
    name = node.name.encode("utf-16-le") + b"\0\0"
    kind = 5 if node.sid == 0 else (1 if node.data is None else 2)
    start = 0 if node.data is None and node.sid else node.start
    return struct.pack("<64sHBBIII16sIQQIQ", name, len(name), kind, 1, NOSTREAM, node.right, node.child, bytes(16),
                       0, 0, 0, start, size)  # fmt: skip


# --- MAPI properties in it ------------------------------------------------------------------

PT_LONG, PT_SYSTIME = 0x0003, 0x0040
Props = dict[int, "str | bytes | int | datetime"]
SUBMITTED = datetime(2024, 3, 5, 14, 15, 30, tzinfo=UTC)


def filetime(moment: datetime) -> int:
    return (moment - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10


def _storage(prefix: str, props: Props, header: int) -> dict[str, bytes]:
    """Strings as PT_UNICODE, bytes as PT_BINARY streams; ints and datetimes in the properties stream."""
    streams: dict[str, bytes] = {}
    fixed = bytearray(header)
    for prop_id, value in props.items():
        if isinstance(value, str):
            streams[f"{prefix}__substg1.0_{prop_id:04X}001F"] = value.encode("utf-16-le")
        elif isinstance(value, bytes):
            streams[f"{prefix}__substg1.0_{prop_id:04X}0102"] = value
        elif isinstance(value, datetime):
            fixed += struct.pack("<IIQ", prop_id << 16 | PT_SYSTIME, 6, filetime(value))
        else:
            fixed += struct.pack("<IIq", prop_id << 16 | PT_LONG, 6, value)
    streams[f"{prefix}__properties_version1.0"] = bytes(fixed)
    return streams


def build_msg(props: Props | None = None, recipients: tuple[Props, ...] | None = None,
              attachments: tuple[Props, ...] = (), raw: dict[str, bytes] | None = None) -> bytes:  # fmt: skip
    """A .msg with sensible defaults; ``props`` override them (a None-like "" value drops one)."""
    top: Props = {0x001A: "IPM.Note", 0x0037: "RE: Checkpoint schedule", 0x1000: "Lane 4 closes.\r\n\r\n  Bring ID.",
                  0x0C1A: "Dana Whitfield", 0x5D01: "dana@example.com", 0x0039: SUBMITTED}  # fmt: skip
    top.update(props or {})
    streams = _storage("", {k: v for k, v in top.items() if v != ""}, 32)
    if recipients is None:
        recipients = ({0x3001: "Rosa Ortiz", 0x39FE: "rosa.ortiz@example.gov", 0x0C15: 1},
                      {0x3001: "Omar Haddad", 0x3003: "omar@example.org", 0x0C15: 2})  # fmt: skip
    for number, recipient in enumerate(recipients):
        streams.update(_storage(f"__recip_version1.0_#{number:08X}/", recipient, 8))
    for number, attached in enumerate(attachments):
        streams.update(_storage(f"__attach_version1.0_#{number:08X}/", attached, 8))
    streams.update(raw or {})
    return compound_file(streams)


CONTEXT = ParseContext(custodian="rortiz", custodian_names=("Rosa Ortiz", "rosa.ortiz@example.gov"),
                       export_sha256="ef" * 32)  # fmt: skip


def write(tmp_path: Path, data: bytes, name: str = "message.msg") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def parse(path: Path, tz: ZoneInfo | None = None) -> Message:
    context = ParseContext(CONTEXT.custodian, CONTEXT.account, tz, CONTEXT.custodian_names, CONTEXT.export_sha256)
    items = list(OutlookMsgConnector().parse(path, context))
    assert len(items) == 1 and isinstance(items[0], Message), items
    return items[0]


# --- fields -------------------------------------------------------------------------------------


def test_message_fields(tmp_path: Path) -> None:
    message = parse(write(tmp_path, build_msg()))
    assert message.source == "email"
    assert message.conversation == "Checkpoint schedule"
    assert message.sender == "Dana Whitfield <dana@example.com>"
    assert message.recipients == ("Rosa Ortiz <rosa.ortiz@example.gov>", "Omar Haddad <omar@example.org>")
    assert message.sent_at == SUBMITTED
    assert message.body == "Lane 4 closes.\n\n  Bring ID."
    assert message.direction == "received" and not message.system and message.flags == ()
    assert message.source_ref.file == "message.msg" and message.source_ref.export_sha256 == "ef" * 32


def test_sent_by_the_custodian(tmp_path: Path) -> None:
    data = build_msg({0x0C1A: "Rosa Ortiz", 0x5D01: "", 0x0C1F: "/O=EXCHANGELABS/OU=EXCHANGE/CN=RECIPIENTS/CN=R1"})
    message = parse(write(tmp_path, data))
    assert message.sender == "Rosa Ortiz" and message.direction == "sent"


def test_exchange_address_only_when_there_is_no_name(tmp_path: Path) -> None:
    data = build_msg({0x0C1A: "", 0x5D01: "", 0x0C1F: "/O=EX/CN=D1"}, recipients=({0x3003: "/O=EX/CN=R1"},))
    message = parse(write(tmp_path, data))
    assert message.sender == "/O=EX/CN=D1" and message.recipients == ("/O=EX/CN=R1",)


def test_eight_bit_strings_in_the_code_page(tmp_path: Path) -> None:
    raw = {"__substg1.0_0037001E": "Пропуск".encode("cp1251"), "__substg1.0_1000001E": "Ворота 3\x00".encode("cp1251")}
    data = build_msg({0x0037: "", 0x1000: "", 0x3FFD: 1251}, raw=raw)
    message = parse(write(tmp_path, data))
    assert (message.conversation, message.body) == ("Пропуск", "Ворота 3")
    western = parse(write(tmp_path, build_msg({0x1000: ""}, raw={"__substg1.0_1000001E": b"caf\xe9 \x80"})))
    assert western.body == "café €"  # no code page: cp1252


def test_transport_headers_give_date_and_recipients(tmp_path: Path) -> None:
    headers = ("Date: Tue, 5 Mar 2024 09:15:00 -0500\r\nFrom: Dana <dana@example.com>\r\n"
               "To: Rosa Ortiz <rosa.ortiz@example.gov>\r\nCc: lee@example.net\r\n\r\n")  # fmt: skip
    data = build_msg({0x0039: "", 0x007D: headers, 0x0C1A: "", 0x5D01: ""}, recipients=())
    message = parse(write(tmp_path, data))
    assert message.sent_at == datetime(2024, 3, 5, 14, 15, tzinfo=UTC)
    assert message.recipients == ("Rosa Ortiz <rosa.ortiz@example.gov>", "lee@example.net")
    assert message.sender == "Dana <dana@example.com>"


def test_zoneless_transport_date_needs_tz(tmp_path: Path) -> None:
    data = build_msg({0x0039: "", 0x007D: "Date: Tue, 5 Mar 2024 09:15:00\r\n\r\n"})
    path = write(tmp_path, data)
    with pytest.raises(InputError, match="--tz"):
        parse(path)
    assert parse(path, ZoneInfo("America/New_York")).sent_at == datetime(2024, 3, 5, 14, 15, tzinfo=UTC)
    assert TZ_REQUIRED.startswith("the message's date")


def test_delivery_time_and_no_time(tmp_path: Path) -> None:
    delivered = datetime(2024, 3, 6, 8, 0, tzinfo=UTC)
    assert parse(write(tmp_path, build_msg({0x0039: "", 0x0E06: delivered}))).sent_at == delivered
    with pytest.raises(InputError, match="no submit or delivery time"):
        parse(write(tmp_path, build_msg({0x0039: ""})))


def test_display_lists_when_nothing_better(tmp_path: Path) -> None:
    data = build_msg({0x0E04: "Rosa Ortiz; Omar Haddad", 0x0E03: "Lee Park"}, recipients=())
    assert parse(write(tmp_path, data)).recipients == ("Rosa Ortiz", "Omar Haddad", "Lee Park")
    unknown = parse(write(tmp_path, build_msg(recipients=())))
    assert unknown.recipients == () and unknown.flags == (FLAG_RECIPIENTS_UNKNOWN,)


def test_report_is_a_system_message(tmp_path: Path) -> None:
    assert parse(write(tmp_path, build_msg({0x001A: "REPORT.IPM.Note.NDR"}))).system


# --- bodies and attachments --------------------------------------------------------------------


def test_attachments(tmp_path: Path) -> None:
    pdf = b"%PDF-1.4 fictional" * 400  # over 4 KiB: a regular stream, not in the mini stream
    data = build_msg(
        attachments=(
            {0x3707: "Informe área.pdf", 0x3701: pdf, 0x370E: "application/pdf", 0x3705: 1},
            {0x3704: "NOTES.TXT", 0x3701: b"notes"},
            {0x3001: "Forwarded briefing", 0x3705: 5},
            {0x3707: "link.docx", 0x3705: 2},
        ),
        raw={"__attach_version1.0_#00000002/__substg1.0_3701000D/__substg1.0_0037001F": "x".encode("utf-16-le")},
    )
    message = parse(write(tmp_path, data))
    found = [(a.name, a.media_type, a.size, a.missing) for a in message.attachments]
    assert found == [("Informe área.pdf", "application/pdf", len(pdf), False), ("NOTES.TXT", "text/plain", 5, False),
                     ("Forwarded briefing", "application/vnd.ms-outlook", None, True),
                     ("link.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None,
                      True)]  # fmt: skip
    assert message.attachments[0].content == pdf
    assert message.attachments[0].sha256 == hashlib.sha256(pdf).hexdigest()
    assert message.flags == (FLAG_ATTACHMENT_MISSING,)


def test_attachment_over_the_cap_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outlook_msg, "ATTACHMENT_CAP", 4)
    message = parse(write(tmp_path, build_msg(attachments=({0x3707: "big.bin", 0x3701: b"12345"},))))
    assert [(a.name, a.missing, a.content) for a in message.attachments] == [("big.bin", True, None)]


def test_html_only_body(tmp_path: Path) -> None:
    html = b"<html><body><p>Gate 3</p>closed<br>today</body></html>"
    message = parse(write(tmp_path, build_msg({0x1000: "", 0x1013: html, 0x3FDE: 65001})))
    assert message.body == "Gate 3\nclosed\ntoday"
    assert [(a.media_type, a.content) for a in message.attachments] == [("text/html", html)]


def test_rtf_only_body_is_kept_as_attachment(tmp_path: Path) -> None:
    # [MS-OXRTFCP] section 4.1, example 1
    compressed = bytes.fromhex("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c0900206277"
                               "05b06c647d0a800fa0")  # fmt: skip
    message = parse(write(tmp_path, build_msg({0x1000: "", 0x1009: compressed})))
    assert message.body == ""
    assert [(a.media_type, a.content) for a in message.attachments] == [
        ("application/rtf", b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n")
    ]


def test_rtf_decompression_edge_cases() -> None:
    # [MS-OXRTFCP] section 4.2, example 2: a run that overlaps what it copies
    example = bytes.fromhex("1a0000001c0000004c5a4675e2d44b51410004205758595a0d6e7d010eb0")
    assert decompress_rtf(example) == b"{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}"
    assert decompress_rtf(b"short") is None
    assert decompress_rtf(struct.pack("<II", 12, 3) + b"MELA" + bytes(4) + b"abcdef") == b"abc"
    assert decompress_rtf(struct.pack("<II", 12, 3) + b"XXXX" + bytes(4)) is None
    assert decompress_rtf(bytes.fromhex("1a0000001c0000004c5a4675e2d44b51ff")) is None


def test_body_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outlook_msg, "BODY_CAP", 5)
    with pytest.raises(InputError, match="body is longer"):
        parse(write(tmp_path, build_msg()))


# --- whole-file problems and sniffing -----------------------------------------------------------


def test_not_a_msg(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty file"):
        parse(write(tmp_path, b""))
    with pytest.raises(InputError, match="no OLE2"):
        parse(write(tmp_path, b"From: a@example.com\n\nhello\n"))
    with pytest.raises(InputError, match="without Outlook message properties"):
        parse(write(tmp_path, compound_file({"WordDocument": b"x" * 10})))
    with pytest.raises(InputError, match="damaged"):
        parse(write(tmp_path, build_msg()[:1100]))
    with pytest.raises(InputError, match="damaged"):
        parse(write(tmp_path, MAGIC + bytes(600)))
    with pytest.raises(InputError, match="directory"):
        parse(tmp_path)


def test_sniff(tmp_path: Path) -> None:
    msg = write(tmp_path, build_msg())
    assert OutlookMsgConnector().sniff(msg)
    assert not EmailConnector().sniff(msg) and not MboxConnector().sniff(msg)
    for other in [write(tmp_path, compound_file({"WordDocument": b"x"}), "a.doc"),
                  write(tmp_path, b"From: a@example.com\nSubject: x\n\nhi\n", "a.eml"),
                  write(tmp_path, MAGIC + bytes(100), "broken.msg"), tmp_path / "absent.msg", tmp_path]:  # fmt: skip
        assert not OutlookMsgConnector().sniff(other), other


# --- hostile bytes ----------------------------------------------------------------------------

VALID = build_msg(attachments=({0x3707: "a.txt", 0x3701: b"abc" * 2000}, {0x3707: "b.txt", 0x3701: b"b"}))
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def outcome(path: Path) -> None:
    read_or_refused(OutlookMsgConnector(), path, ParseContext(custodian="x", tz=ZoneInfo("UTC")))


@HYPOTHESIS
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    outcome(write(tmp_path, MAGIC + data))


@HYPOTHESIS
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, len(VALID)), st.integers(0, 255)), max_size=8))
def test_mutations(tmp_path: Path, edits: list[tuple[int, int, int]]) -> None:
    buffer = bytearray(VALID)
    for kind, position, value in edits:
        at = min(position, len(buffer))
        if kind == 0 and at < len(buffer):
            buffer[at] ^= value or 1
        elif kind == 1:
            buffer.insert(at, value)
        else:
            del buffer[at:]
    outcome(write(tmp_path, bytes(buffer)))
