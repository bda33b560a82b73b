"""Email an officer saves: one message as ``.eml`` (RFC 5322/MIME), or a mailbox as ``.mbox``.

An ``.mbox`` (mboxo or mboxrd: Gmail Takeout, Thunderbird, Apple Mail) is streamed in binary:
a line starting ``From `` opens a message when the next line is a header field (so an unescaped
"From time to time" in a body stays body text); ``>From `` lines (any number of ``>``) lose one
``>`` as mboxrd requires, which also un-escapes mboxo bodies (mboxo cannot tell an escaped
"From " from a quoted ">From ", so such a quote loses its ``>``); the blank line mbox writers
put before each separator is not part of the message. One message may be 64 MiB; a larger one
is skipped without being held and rejected with its line number. A ``.eml`` file is one
message of at most 64 MiB; one saved with a ``From `` envelope line first is an mbox of one
message, and ``sniff`` leaves it to the mbox reader.

Kept, per message: the From addresses as ``Name <addr>`` (several are joined with ", "; no
From -> the Sender header, else an empty sender); To, Cc and Bcc as recipients; the Date header
(a zone-less date is read in ``--tz``; "-0000" is UTC). A message with no usable Date takes the
date of its first Received header (the first server's stamp, usually seconds after sending);
with neither it is rejected (``.eml``: InputError). The subject without Re:/Fwd:-style prefixes
is the conversation. The body is the text/plain part decoded from its charset (RFC 2047
headers and RFC 2231 parameters are decoded too); an undeclared or unknown charset is read as
UTF-8 when valid, else Latin-1; bytes invalid in a declared charset become U+FFFD; CRLF line
ends become LF, nothing else changes. A message with only an HTML body gets that HTML turned
into text minimally (tags dropped, entities decoded, ``<br>`` and block ends as line breaks)
and keeps the HTML part itself as an attachment. Every other part (attachments, inline images,
extra text parts, calendar invitations, forwarded ``message/*`` parts) is an attachment with its
decoded bytes; a ``message/*`` part's bytes are its re-serialized content. Delivery reports
(multipart/report) are system messages.

Not kept: the plain or HTML alternatives of the text/plain body (other alternatives, such as
calendar parts, are attachments); header fields other than those above (Message-ID, Received,
Reply-To, ...); the mbox ``From `` line (its delivery date is never used as the sent time) and
mboxcl ``Content-Length`` (never used to split).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import BinaryIO, ClassVar, Final, cast

from archiver.connector import ParseContext, ParsedItem, check_export_file
from archiver.errors import InputError, Rejection
from archiver.model import Attachment, Message, SourceRef
from connectors._limits import SNIFF_BYTES
from connectors._mail import (
    BODY_CAP,
    EMAIL_ERRORS,
    MESSAGE_CAP,
    TZ_REQUIRED,
    MailDraft,
    attachment,
    clean,
    decode_text,
    header_date,
    header_people,
    header_text,
    html_to_text,
    normalize_newlines,
    over_mime_caps,
    received_date,
    to_message,
)
from connectors._text import LINE_CAP

_HEADER_LINE_RE = re.compile(rb"([!-9;-~]+)[ \t]*:")
_ESCAPED_FROM_RE = re.compile(rb">+From ")
_RAW_NAME_RE = re.compile(r"(?:^|[;\s])(?:file)?name\s*=\s*(\"[^\"]*\"|[^;]+)", re.IGNORECASE)
_MAIL_HEADERS: Final = frozenset({b"from", b"to", b"cc", b"date", b"subject", b"received", b"message-id",
                                  b"return-path", b"mime-version", b"delivered-to", b"reply-to", b"sender",
                                  b"in-reply-to", b"references", b"x-mailer"})  # fmt: skip
_SEND_POLICY = policy.default.clone(refold_source="none", linesep="\n")  # re-emit parsed headers untouched
_GENERATE_ERRORS = (*EMAIL_ERRORS, UnicodeError)


class EmailConnector:
    """Reads one email saved as an ``.eml`` file."""

    name: ClassVar[str] = "email"
    description: ClassVar[str] = "one email message saved as .eml (RFC 5322/MIME), e.g. from Thunderbird or Gmail"

    def sniff(self, path: Path) -> bool:
        """True when the file opens with RFC 5322 header fields that include a mail header."""
        try:
            with open(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except OSError:
            return False
        return _looks_like_headers(head.splitlines()) and not head.startswith(b"From ")

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield the one message of the file.

        Raises:
            InputError: the file is empty, over 64 MiB, not an email, or its message cannot be
                archived (no date, a zone-less date without --tz, a body over 16 MiB).
        """
        path = Path(path)
        check_export_file(path)
        display = str(path)
        size = path.stat().st_size
        if size == 0:
            raise InputError(display, "empty file")
        if size > MESSAGE_CAP:
            raise InputError(display, f"the message is larger than {MESSAGE_CAP // 1024**2} MiB")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(display, f"cannot be read ({exc.strerror})") from None
        result = read_email(data, context, SourceRef(path.name, None, None, context.export_sha256))
        if isinstance(result, str):
            raise InputError(display, result)
        yield result


class MboxConnector:
    """Reads a mailbox file (mboxo/mboxrd), streaming one message at a time."""

    name: ClassVar[str] = "mbox"
    description: ClassVar[str] = "mailbox file (.mbox, mboxo/mboxrd), e.g. Gmail Takeout or a Thunderbird export"

    def sniff(self, path: Path) -> bool:
        """True when the first line is a ``From `` separator and a header field follows it."""
        try:
            with open(path, "rb") as handle:
                lines = handle.read(SNIFF_BYTES).splitlines()
        except OSError:
            return False
        while lines and not lines[0].strip():
            del lines[0]
        return len(lines) > 1 and lines[0].startswith(b"From ") and _looks_like_headers(lines[1:])

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        """Yield each message in file order, or a Rejection for one that cannot be read.

        Raises:
            InputError: the file is empty or does not start with a ``From `` line.
        """
        path = Path(path)
        check_export_file(path)
        display = str(path)
        if path.stat().st_size == 0:
            raise InputError(display, "empty file")
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise InputError(display, f"cannot be read ({exc.strerror})") from None
        with stream:
            for pending in _split_mbox(stream, display):
                yield _mbox_item(pending, context, display, path.name)


def _mbox_item(pending: _Pending, context: ParseContext, display: str, name: str) -> ParsedItem:
    if pending.oversized:
        return Rejection(display, pending.line, f"message is larger than {MESSAGE_CAP // 1024**2} MiB")
    data = b"".join(pending.parts)
    if not data.strip():
        return Rejection(display, pending.line, "empty message")
    result = read_email(data, context, SourceRef(name, pending.line, None, context.export_sha256))
    return Rejection(display, pending.line, result) if isinstance(result, str) else result


def _looks_like_headers(lines: list[bytes]) -> bool:
    """Header fields (and their folded continuations) up to the first blank line, one a mail header."""
    known = False
    for number, line in enumerate(lines):
        if not line.strip():
            return known
        match = _HEADER_LINE_RE.match(line)
        if match is not None:
            known = known or match[1].lower() in _MAIL_HEADERS
        elif number == 0 or line[:1] not in b" \t":
            return known and number > 0
    return known


# --- mbox splitting ------------------------------------------------------------------------


@dataclass
class _Pending:
    """One message's raw bytes as they are collected, dropped once over the cap."""

    line: int  # the line of its "From " separator
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    oversized: bool = False
    blank_tail: bool = False  # whether the last piece added is a whole empty line

    def add(self, piece: bytes, starts: bool) -> None:
        self.blank_tail = starts and piece in (b"\n", b"\r\n")
        if self.oversized:
            return
        self.size += len(piece)
        if self.size > MESSAGE_CAP:
            self.oversized = True
            self.parts = []  # an oversized message is skipped, not held
        else:
            self.parts.append(piece)

    def finish(self) -> _Pending:
        """Drop the blank line mbox writers put before the next separator."""
        if self.blank_tail and self.parts:
            self.parts.pop()
        return self


_Piece = tuple[int, bytes, bool]  # line number, bytes, whether the piece starts its line


def _pieces(stream: BinaryIO) -> Iterator[_Piece]:
    """The file as pieces of at most LINE_CAP bytes; a longer line comes in several pieces."""
    number = 0
    starts = True
    while piece := stream.readline(LINE_CAP):
        if starts:
            number += 1
        yield number, piece, starts
        starts = piece.endswith(b"\n")


def _split_mbox(stream: BinaryIO, display: str) -> Iterator[_Pending]:
    """Each message of the mbox, split at ``From `` lines that a header field follows."""
    pieces = _pieces(stream)
    first = next(pieces, None)
    while first is not None and first[2] and not first[1].strip():  # some writers start with a blank line
        first = next(pieces, None)
    if first is None or not first[1].startswith(b"From "):
        raise InputError(display, "not an mbox: the first line is not a 'From ' separator line", first and first[0])
    current = _Pending(first[0])
    held: _Piece | None = None  # a "From " line waiting for the line after it
    for piece in pieces:
        number, data, starts = piece
        if held is not None:
            if starts and _HEADER_LINE_RE.match(data):
                yield current.finish()
                current = _Pending(held[0])
            else:
                current.add(held[1], True)
            held = None
        if starts and data.startswith(b"From "):
            held = piece
        else:
            current.add(_unescape(data) if starts else data, starts)
    if held is not None:
        current.add(held[1], True)
    yield current.finish()


def _unescape(line: bytes) -> bytes:
    return line[1:] if _ESCAPED_FROM_RE.match(line) else line


# --- one message ---------------------------------------------------------------------------


def read_email(data: bytes, context: ParseContext, ref: SourceRef) -> Message | str:
    """The normalized message of one RFC 5322 message, or the reason it cannot be archived."""
    too_complex = over_mime_caps(data)
    if too_complex is not None:
        return too_complex
    try:
        msg = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(data))
        return _read(msg, context, ref)
    except EMAIL_ERRORS as exc:
        return f"cannot be read as an email ({type(exc).__name__})"


def _read(msg: EmailMessage, context: ParseContext, ref: SourceRef) -> Message | str:
    if not msg.keys():
        return "not an email message: it has no header fields"
    date = header_date(msg, context.tz)
    sent_at = date.moment or received_date(msg)
    if sent_at is None:
        return TZ_REQUIRED if date.zoneless else "no usable Date header and no dated Received header"
    senders, sender_keys = header_people(msg, ["from"])
    if not senders:
        senders, sender_keys = header_people(msg, ["sender"])
    recipients, _ = header_people(msg, ["to", "cc", "bcc"])
    body = _body(msg)
    if isinstance(body, str):
        return body
    text, attachments = body
    draft = MailDraft(
        subject=header_text(msg, "subject"),
        sender=", ".join(senders),
        sender_keys=tuple(sender_keys),
        recipients=tuple(recipients),
        sent_at=sent_at,
        body=text,
        attachments=attachments,
        system=msg.get_content_type() == "multipart/report",
    )
    return to_message(draft, context, ref)


def _body(msg: EmailMessage) -> tuple[str, tuple[Attachment, ...]] | str:
    """The body text and the attachments, or the reason the message cannot be kept."""
    body_part = msg.get_body(preferencelist=("plain", "html"))
    leaves = _leaves(msg)
    alternative = next((alt for part, alt in leaves if part is body_part), None)
    text = ""
    kept: list[Attachment] = []
    for part, alt in leaves:
        if part is body_part:
            decoded = _part_text(part)
            if decoded is None:
                return f"its body is longer than {BODY_CAP // 1024**2} MiB"
            text = decoded
            if part.get_content_subtype() == "html":
                kept.append(_attachment(part))  # the text is a lossy rendering: keep the HTML too
        elif not (alternative is not None and alt is alternative and _is_rendering(part)):
            kept.append(_attachment(part))
    return text, tuple(kept)


def _leaves(msg: EmailMessage) -> list[tuple[EmailMessage, EmailMessage | None]]:
    """Every non-multipart part in order, each with its nearest multipart/alternative ancestor.

    ``message/*`` parts are leaves: a forwarded message is kept whole as one attachment.
    """
    found: list[tuple[EmailMessage, EmailMessage | None]] = []
    stack: list[tuple[EmailMessage, EmailMessage | None]] = [(msg, None)]
    while stack:
        part, alternative = stack.pop()
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            inner = part if part.get_content_subtype() == "alternative" else alternative
            children = cast(list[EmailMessage], part.get_payload())
            stack.extend((child, inner) for child in reversed(children))
        else:
            found.append((part, alternative))
    return found


def _is_rendering(part: EmailMessage) -> bool:
    """A plain or HTML alternative of the body (not itself a file someone attached)."""
    return part.get_content_type() in {"text/plain", "text/html"} and not _has_name(part)


def _has_name(part: EmailMessage) -> bool:
    return part.get_content_disposition() == "attachment" or bool(part.get_filename())


def _part_text(part: EmailMessage) -> str | None:
    """The part's text in its charset (HTML rendered as text); None when over the body cap."""
    data = cast(bytes | None, part.get_payload(decode=True)) or b""
    if len(data) > BODY_CAP:
        return None
    text = normalize_newlines(decode_text(data, part.get_content_charset()))
    return html_to_text(text) if part.get_content_subtype() == "html" else text


def _attachment(part: EmailMessage) -> Attachment:
    name = _filename(part)
    if part.get_content_maintype() == "message":
        return attachment(name, part.get_content_type(), _message_bytes(part))
    content = cast(bytes | None, part.get_payload(decode=True))
    return attachment(name, part.get_content_type(), content or b"")


def _filename(part: EmailMessage) -> str | None:
    """The decoded file name: RFC 2231 parameters, and the non-standard forms clients write.

    An unquoted name with spaces (``name=A B.txt``), which the parser cuts at the space, and an
    RFC 2047 word used as a parameter value are read from the raw header.
    """
    try:
        parsed = part.get_filename()
    except EMAIL_ERRORS:
        parsed = None
    raw = _raw_filename(part)
    name = parsed or raw
    if parsed and raw and raw != parsed and raw.startswith(parsed):
        name = raw
    if not name:
        return None
    if "=?" in name:
        name = str(policy.default.header_factory("x-filename", name))  # type: ignore[attr-defined]
    return clean(name)


def _raw_filename(part: EmailMessage) -> str | None:
    for header in ("content-disposition", "content-type"):
        for key, value in part.raw_items():
            match = _RAW_NAME_RE.search(str(value)) if key.casefold() == header else None
            if match is not None:
                return " ".join(match[1].strip().strip('"').split()) or None
    return None


def _message_bytes(part: EmailMessage) -> bytes | None:
    """A ``message/*`` part's content (the forwarded message), re-serialized; None if it cannot be."""
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=_SEND_POLICY).flatten(part)
    except _GENERATE_ERRORS:
        return None
    whole = buffer.getvalue()
    _, separator, content = whole.partition(b"\n\n")
    return content if separator else b""
