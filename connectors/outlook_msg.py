"""Outlook ``.msg``: one email saved from Outlook (drag to a folder, or File > Save As).

The file is an OLE2 compound file holding MAPI properties ([MS-OXMSG]): a string or binary
property XXXX of type YYYY is the stream ``__substg1.0_XXXXYYYY``; fixed-size ones (times,
numbers) are 16-byte entries of the ``__properties_version1.0`` stream; each recipient and
attachment is a ``__recip_version1.0_#N`` / ``__attach_version1.0_#N`` storage of its own.
It is read with ``olefile``, one property at a time, every size checked before reading.

Kept: the subject (PR_SUBJECT) without Re:/Fwd:-style prefixes as the conversation; the sender
as ``Name <address>`` (PR_SENDER_NAME, the SMTP address from PR_SENDER_SMTP_ADDRESS,
PR_SENDER_EMAIL_ADDRESS or the sent-representing ones; an Exchange X500 address only when
there is no name; else the transport headers' From); recipients from the recipient storages
(display name and SMTP address, To, Cc and Bcc), else the transport headers' To/Cc/Bcc, else
the display lists PR_DISPLAY_TO/CC/BCC; the time from PR_CLIENT_SUBMIT_TIME (UTC), else the
transport headers' Date, else PR_MESSAGE_DELIVERY_TIME; the plain body (PR_BODY, UTF-16 or
8-bit in the message's code page, cp1252 when none is given) with CRLF as LF and trailing NULs
dropped. Without a plain body, an HTML body (PR_HTML) is rendered as minimal text and kept as
an attachment too; with only the compressed RTF body, that RTF is decompressed ([MS-OXRTFCP])
and kept as an attachment and the body is empty. Attachments by value keep their bytes (up to
512 MiB); report messages (class ``REPORT.*``) are system messages.

Not kept: the RTF and HTML alternatives of a plain body; other MAPI properties (categories,
flags, conversation index, ...). Attachments whose bytes are not a plain stream (an embedded
.msg or OLE object, kept as a storage that cannot be copied out without rewriting a compound
file, or an attachment by reference) are listed as missing attachments with their names, and
the message carries the ``attachment_missing`` flag.
"""

from __future__ import annotations

import mimetypes
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import HeaderParser
from pathlib import Path
from typing import ClassVar, Final, cast
from zoneinfo import ZoneInfo

import olefile

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError
from archiver.model import Attachment, SourceRef
from connectors._mail import (
    ATTACHMENT_CAP,
    BODY_CAP,
    EMAIL_ERRORS,
    TZ_REQUIRED,
    MailDraft,
    attachment,
    clean,
    decode_text,
    header_date,
    header_people,
    html_to_text,
    normalize_newlines,
    person,
    to_message,
)

OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
STRING_CAP: Final = 4 * BODY_CAP  # a 16 MiB body is at most 64 MiB in any code page
PT_LONG, PT_SYSTIME, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x0040, 0x001E, 0x001F, 0x0102
_TOP_HEADER, _SUB_HEADER = 32, 8  # bytes before the entries of a properties stream
_FILETIME_EPOCH: Final = datetime(1601, 1, 1, tzinfo=UTC)
_RECIPIENT_KINDS: Final = {1: "to", 2: "cc", 3: "bcc"}
_CODEPAGES: Final = {65001: "utf-8", 20127: "ascii", 1200: "utf-16-le", 1201: "utf-16-be", 20866: "koi8-r",
                     21866: "koi8-u", 50220: "iso2022_jp", 50221: "iso2022_jp", 50222: "iso2022_jp",
                     51932: "euc_jp", 51949: "euc_kr", 54936: "gb18030", 936: "gbk", 10000: "mac_roman",
                     **{28590 + n: f"iso8859-{n}" for n in range(1, 16)}}  # fmt: skip
# What olefile and struct raise on a damaged compound file.
_OLE_ERRORS = (OSError, ValueError, TypeError, IndexError, KeyError, struct.error, EOFError, OverflowError,
               RecursionError, ZeroDivisionError, AttributeError)  # fmt: skip
_RTF_PREBUF: Final = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)


class OutlookMsgConnector:
    """Reads one Outlook message saved as a ``.msg`` file."""

    name: ClassVar[str] = "outlook-msg"
    description: ClassVar[str] = "Outlook email saved as .msg (OLE2 compound file with MAPI properties)"

    def sniff(self, path: Path) -> bool:
        """True for an OLE2 compound file with MAPI ``__substg1.0_`` property streams."""
        try:
            with open(path, "rb") as handle:
                if handle.read(len(OLE_MAGIC)) != OLE_MAGIC:
                    return False
            with olefile.OleFileIO(str(path)) as ole:
                return any(entry[-1].lower().startswith("__substg1.0_") for entry in ole.listdir())
        except _OLE_ERRORS:
            return False

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield the one message of the file.

        Raises:
            InputError: the file is empty, not an OLE2 compound file, damaged, holds no message
                properties, has no time (an unsent draft) or a body over 16 MiB.
        """
        path = Path(path)
        check_export_file(path)
        display = str(path)
        draft = _read_file(path, display, context.tz)
        yield to_message(draft, context, SourceRef(path.name, None, None, context.export_sha256))


class _Refused(Exception):
    """The message cannot be archived, for the reason given."""


def _read_file(path: Path, display: str, tz: ZoneInfo | None) -> MailDraft:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(OLE_MAGIC))
    except OSError as exc:
        raise InputError(display, f"cannot be read ({exc.strerror})") from None
    if not magic:
        raise InputError(display, "empty file")
    if magic != OLE_MAGIC:
        raise InputError(display, "not an Outlook .msg: no OLE2 compound file signature")
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if not any(entry[-1].lower().startswith("__substg1.0_") for entry in ole.listdir()):
                raise _Refused("an OLE2 compound file without Outlook message properties")
            return _MsgReader(ole, tz).draft()
    except _Refused as exc:
        raise InputError(display, str(exc)) from None
    except _OLE_ERRORS as exc:
        raise InputError(display, f"damaged OLE2 compound file ({type(exc).__name__}: {exc})") from None


class _Props:
    """The properties of one storage: the message itself, one recipient or one attachment."""

    def __init__(self, ole: olefile.OleFileIO, prefix: str, header: int, codec: str | None = None) -> None:
        self._ole = ole
        self._prefix = prefix
        self._fixed: dict[int, tuple[int, bytes]] = {}
        data = self.stream("__properties_version1.0", STRING_CAP) or b""
        for offset in range(header, len(data) - 15, 16):
            tag = int.from_bytes(data[offset : offset + 4], "little")
            self._fixed[tag >> 16] = (tag & 0xFFFF, data[offset + 8 : offset + 16])
        self.codec = codec or _codec(self.long(0x3FFD) or self.long(0x3FDE))

    def path(self, name: str) -> str:
        return self._prefix + name

    def kind(self, name: str) -> int:
        """olefile's entry type of ``name`` here (a stream or storage), or 0 when absent."""
        return int(self._ole.get_type(self.path(name)) or 0)

    def size(self, prop_id: int, prop_type: int) -> int | None:
        name = _substg(prop_id, prop_type)
        return int(self._ole.get_size(self.path(name))) if self.kind(name) == olefile.STGTY_STREAM else None

    def stream(self, name: str, cap: int) -> bytes | None:
        """A stream's bytes, None when absent; refused when larger than ``cap``."""
        if self.kind(name) != olefile.STGTY_STREAM:
            return None
        if self._ole.get_size(self.path(name)) > cap:
            raise _Refused(f"stream {name} is larger than {cap // 1024**2} MiB")
        return cast(bytes, self._ole.openstream(self.path(name)).read())

    def binary(self, prop_id: int, cap: int = STRING_CAP) -> bytes | None:
        return self.stream(_substg(prop_id, PT_BINARY), cap)

    def text(self, prop_id: int) -> str | None:
        """A string property, UTF-16 or 8-bit in the code page; trailing NULs dropped."""
        data = self.stream(_substg(prop_id, PT_UNICODE), STRING_CAP)
        if data is not None:
            return clean(data.decode("utf-16-le", "replace").rstrip("\x00"))
        data = self.stream(_substg(prop_id, PT_STRING8), STRING_CAP)
        return None if data is None else decode_text(data, self.codec).rstrip("\x00")

    def long(self, prop_id: int) -> int | None:
        entry = self._fixed.get(prop_id)
        return int.from_bytes(entry[1][:4], "little", signed=True) if entry and entry[0] == PT_LONG else None

    def time(self, prop_id: int) -> datetime | None:
        entry = self._fixed.get(prop_id)
        return _filetime(entry[1]) if entry and entry[0] == PT_SYSTIME else None


class _MsgReader:
    """The fields of the message in an open .msg, each from its best available property."""

    def __init__(self, ole: olefile.OleFileIO, tz: ZoneInfo | None) -> None:
        self._ole = ole
        self._tz = tz
        self._root = _Props(ole, "", _TOP_HEADER)
        self._headers = _transport_headers(self._root.text(0x007D))

    def draft(self) -> MailDraft:
        root = self._root
        sender, keys = self._sender()
        body, extra = self._body()
        return MailDraft(
            subject=root.text(0x0037) or root.text(0x0E1D) or "",
            sender=sender,
            sender_keys=keys,
            recipients=self._recipients(),
            sent_at=self._sent_at(),
            body=body,
            attachments=(*extra, *self._attachments()),
            system=(root.text(0x001A) or "").upper().startswith("REPORT."),
        )

    def _sender(self) -> tuple[str, tuple[str, ...]]:
        root = self._root
        name = root.text(0x0C1A) or root.text(0x0042) or ""
        addresses = [a for a in (root.text(p) for p in (0x5D01, 0x0C1F, 0x5D02, 0x0065)) if a]
        smtp = next((a for a in addresses if "@" in a), "")
        if not name and not smtp and self._headers is not None:
            people, keys = header_people(self._headers, ["from"])
            if people:
                return ", ".join(people), tuple(keys)
        address = smtp or ("" if name else next(iter(addresses), ""))
        return person(name, address), tuple(k for k in (name, *addresses) if k)

    def _recipients(self) -> tuple[str, ...]:
        found = []
        for storage in self._storages("__recip_version1.0_#"):
            props = _Props(self._ole, storage + "/", _SUB_HEADER, self._root.codec)
            name = props.text(0x3001) or ""
            smtp = props.text(0x39FE) or ""
            email = props.text(0x3003) or ""
            address = smtp or (email if "@" in email or not name else "")
            text = person(name, address)
            if text:
                found.append(text)
        if found:
            return tuple(found)
        if self._headers is not None:
            people, _ = header_people(self._headers, ["to", "cc", "bcc"])
            if people:
                return tuple(people)
        listed = (self._root.text(p) or "" for p in (0x0E04, 0x0E03, 0x0E02))
        return tuple(n.strip() for names in listed for n in names.split(";") if n.strip())

    def _sent_at(self) -> datetime:
        submitted = self._root.time(0x0039)
        if submitted is not None:
            return submitted
        zoneless = False
        if self._headers is not None:
            date = header_date(self._headers, self._tz)
            if date.moment is not None:
                return date.moment
            zoneless = date.zoneless
        delivered = self._root.time(0x0E06)
        if delivered is not None:
            return delivered
        raise _Refused(TZ_REQUIRED if zoneless else "no submit or delivery time (an unsent draft?)")

    def _body(self) -> tuple[str, tuple[Attachment, ...]]:
        """The plain body; else HTML as text (the HTML kept too); else the RTF kept, body empty."""
        root = self._root
        text = root.text(0x1000)
        extra: tuple[Attachment, ...] = ()
        if text is None:
            html = root.binary(0x1013)
            html_text = root.text(0x1013) if html is None else decode_text(html, _codec(root.long(0x3FDE)))
            if html_text is not None:
                text = html_to_text(html_text)
                extra = (attachment(None, "text/html", html if html is not None else html_text.encode()),)
            else:
                rtf = root.binary(0x1009)
                extra = () if rtf is None else (attachment(None, "application/rtf", decompress_rtf(rtf)),)
        text = normalize_newlines(text or "")
        if len(text) > BODY_CAP:
            raise _Refused(f"its body is longer than {BODY_CAP // 1024**2} MiB")
        return text, extra

    def _attachments(self) -> list[Attachment]:
        found = []
        for storage in self._storages("__attach_version1.0_#"):
            props = _Props(self._ole, storage + "/", _SUB_HEADER, self._root.codec)
            name = props.text(0x3707) or props.text(0x3704) or props.text(0x3001) or None
            media_type = props.text(0x370E) or (mimetypes.guess_type(name, strict=False)[0] if name else None)
            if props.kind(_substg(0x3701, 0x000D)) == olefile.STGTY_STORAGE:
                found.append(attachment(name, media_type or "application/vnd.ms-outlook", None))
                continue
            size = props.size(0x3701, PT_BINARY)
            if size is None or size > ATTACHMENT_CAP:
                found.append(attachment(name, media_type, None))  # by reference, or over the cap
            else:
                found.append(attachment(name, media_type, props.binary(0x3701, ATTACHMENT_CAP)))
        return found

    def _storages(self, prefix: str) -> list[str]:
        names = {e[0] for e in self._ole.listdir(streams=False, storages=True) if len(e) == 1}
        return sorted(n for n in names if n.lower().startswith(prefix.lower()))


def _substg(prop_id: int, prop_type: int) -> str:
    return f"__substg1.0_{prop_id:04X}{prop_type:04X}"


def _codec(codepage: int | None) -> str:
    """The Python codec of a Windows code page number; cp1252 (Outlook's Western default) if none."""
    if codepage is None or codepage <= 0:
        return "cp1252"
    return _CODEPAGES.get(codepage, f"cp{codepage}")


def _filetime(value: bytes) -> datetime | None:
    """A FILETIME (100 ns ticks since 1601, UTC); None for zero or out of datetime's range."""
    ticks = int.from_bytes(value, "little")
    if ticks == 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def _transport_headers(text: str | None) -> EmailMessage | None:
    """The internet headers Outlook kept (PR_TRANSPORT_MESSAGE_HEADERS), parsed."""
    if not text:
        return None
    try:
        return cast(EmailMessage, HeaderParser(policy=policy.default).parsestr(text))
    except EMAIL_ERRORS:
        return None


def decompress_rtf(data: bytes) -> bytes | None:
    """The RTF of a PR_RTF_COMPRESSED value ([MS-OXRTFCP]); None when it is damaged."""
    if len(data) < 16:
        return None
    raw_size = int.from_bytes(data[4:8], "little")
    kind = data[8:12]
    if kind == b"MELA":  # stored uncompressed
        return data[16 : 16 + raw_size]
    if kind != b"LZFu" or raw_size > ATTACHMENT_CAP:
        return None
    window = bytearray(_RTF_PREBUF.ljust(4096, b"\0"))
    write = len(_RTF_PREBUF)
    out = bytearray()
    pos = 16
    while pos < len(data) and len(out) < raw_size:
        control = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(data) or len(out) >= raw_size:
                break
            if not control & (1 << bit):
                byte = data[pos]
                pos += 1
                out.append(byte)
                window[write] = byte
                write = (write + 1) % 4096
                continue
            if pos + 1 >= len(data):
                return None
            ref = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            offset, length = ref >> 4, (ref & 0xF) + 2
            if offset == write:  # the end marker
                return bytes(out[:raw_size])
            for i in range(length):
                byte = window[(offset + i) % 4096]
                out.append(byte)
                window[write] = byte
                write = (write + 1) % 4096
    return bytes(out[:raw_size]) if len(out) >= raw_size else None  # cut short: damaged
