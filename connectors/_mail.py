"""What the email connectors share: header decoding, dates, text, attachments, the Message.

Used by ``connectors.email`` (``.eml`` and ``.mbox``) and ``connectors.outlook_msg``. Every
function here takes hostile values: header parsing errors are caught and the raw value kept,
strings come back free of lone surrogates (they would break the archive's UTF-8 JSON).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from email.utils import parsedate_to_datetime
from typing import Final
from zoneinfo import ZoneInfo

from archiver.connector import ParseContext
from archiver.model import FLAG_ATTACHMENT_MISSING, FLAG_RECIPIENTS_UNKNOWN, Attachment, Message, SourceRef
from connectors._html_text import html_to_text as html_text

SOURCE: Final = "email"
MESSAGE_CAP: Final = 64 * 1024**2  # one raw message (.eml file, or one message of an mbox)
BODY_CAP: Final = 16 * 1024**2
ATTACHMENT_CAP: Final = 512 * 1024**2
# The stdlib parser is superlinear in these (100,000 RFC 2231 parameters took 182 s and 633 MB,
# 50,000 parts 79 s), so the raw bytes are counted before it sees them; real mail is far below.
MIME_PARTS_CAP: Final = 1000      # boundary delimiter lines in one message
MULTIPART_CAP: Final = 100        # multipart boundaries, or enclosed message/* parts, in one message (bounds nesting)
MIME_PARAMS_CAP: Final = 100      # parameters of one Content-Type or Content-Disposition header
NO_SUBJECT: Final = "(no subject)"
TZ_REQUIRED: Final = (
    "the message's date has no time zone; give --tz ZONE (an IANA name such as America/New_York) "
    "or set timezone in archiver.yaml"
)
# What the stdlib email package can raise on hostile headers and MIME structure.
EMAIL_ERRORS: Final = (ValueError, TypeError, IndexError, KeyError, LookupError, AttributeError, RecursionError)

_REPLY_PREFIX_RE = re.compile(r"^(?:\s*(?:re|fwd?|rv|reenviar|res|enc|aw|wg)\s*(?:\[\d+\]|\(\d+\))?\s*[:：])+\s*",
                              re.IGNORECASE)  # fmt: skip
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_LINE_BREAK_RE = re.compile(r"\r|\n")  # unfolding, as the email package does before parsing a header
_NO_ZONE_RE = re.compile(r"-0000\s*(?:\([^()]*\))?\s*$")
_BOUNDARY_RE = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))', re.IGNORECASE)
_DELIMITER_RE = re.compile(rb"^--([^\r\n]*)", re.MULTILINE)
_ENCLOSED_RE = re.compile(rb":\s*message/", re.IGNORECASE)
_PARAM_HEADER_RE = re.compile(rb"^content-(?:type|disposition)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*",
                              re.IGNORECASE | re.MULTILINE)


def over_mime_caps(data: bytes) -> str | None:
    """Why one raw message is too complex to parse safely (which cap it passes), else None.

    One linear pass each over the bytes; counts are upper bounds (a body line that happens to
    look like a delimiter counts), so only messages far beyond real mail are refused.
    """
    boundaries: set[bytes] = set()
    for match in _BOUNDARY_RE.finditer(data):
        boundaries.add(match[1] or match[2])
        if len(boundaries) > MULTIPART_CAP:
            return f"the message declares more than {MULTIPART_CAP} multipart boundaries (MIME nesting cap)"
    delimiters = 0
    for match in _DELIMITER_RE.finditer(data) if boundaries else ():
        line = match[1].rstrip()
        delimiters += line in boundaries or line[:-2] in boundaries
        if delimiters > MIME_PARTS_CAP:
            return f"the message has more than {MIME_PARTS_CAP} MIME parts (MIME parts cap)"
    enclosed = 0
    for match in _PARAM_HEADER_RE.finditer(data):
        enclosed += _ENCLOSED_RE.search(match[0]) is not None
        if enclosed > MULTIPART_CAP:
            return f"the message encloses more than {MULTIPART_CAP} messages (MIME nesting cap)"
        if match[0].count(b";") > MIME_PARAMS_CAP:
            return f"a Content-Type or Content-Disposition header has more than {MIME_PARAMS_CAP} parameters " \
                   "(RFC 2231 parameters cap)"
    return None


@dataclass(frozen=True)
class MailDraft:
    """The fields of one email, read from whichever container held it."""

    subject: str
    sender: str
    sender_keys: tuple[str, ...]  # the From addresses and names, each tested against the custodian
    recipients: tuple[str, ...]
    sent_at: datetime
    body: str
    attachments: tuple[Attachment, ...]
    system: bool = False


def to_message(draft: MailDraft, context: ParseContext, ref: SourceRef) -> Message:
    """The normalized message for one email."""
    flags = []
    if any(a.missing for a in draft.attachments):
        flags.append(FLAG_ATTACHMENT_MISSING)
    if not draft.recipients:
        flags.append(FLAG_RECIPIENTS_UNKNOWN)
    sent = any(context.is_custodian(key) for key in (draft.sender, *draft.sender_keys) if key)
    return Message(
        source=SOURCE,
        conversation=thread_title(draft.subject),
        sender=draft.sender,
        sent_at=draft.sent_at,
        body=draft.body,
        recipients=draft.recipients,
        attachments=draft.attachments,
        direction="sent" if sent else "received",
        account=context.account,
        custodian=context.custodian,
        system=draft.system,
        source_ref=ref,
        flags=tuple(flags),
    )


def thread_title(subject: str) -> str:
    """The subject without its reply/forward prefixes ("Re: Fwd: x" -> "x"), or "(no subject)"."""
    return _REPLY_PREFIX_RE.sub("", subject).strip() or NO_SUBJECT


def clean(text: str) -> str:
    """``text`` without lone surrogates: escaped raw bytes are read as UTF-8 (else Latin-1)."""
    if _SURROGATE_RE.search(text) is None:
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        latin = _ESCAPED_BYTE_RE.sub(lambda m: chr(ord(m.group()) - 0xDC00), text)
        return _SURROGATE_RE.sub("\ufffd", latin)


def person(name: str, address: str) -> str:
    """``Name <address>`` so both are kept; just the one that is known otherwise."""
    name, address = clean(name).strip(), clean(address).strip()
    if name and address and name != address:
        return f"{name} <{address}>"
    return address or name


def normalize_newlines(text: str) -> str:
    """CRLF as LF: mail is CRLF on the wire and LF in many files, and the same email must read the same."""
    return text.replace("\r\n", "\n")


def decode_text(data: bytes, charset: str | None) -> str:
    """Text in its declared charset; undeclared or unknown: UTF-8 if valid, else Latin-1.

    Bytes that are invalid in a known declared charset become U+FFFD.
    """
    name = (charset or "").strip().strip("\"'").lower()
    if name and name not in {"us-ascii", "ascii", "unknown-8bit"}:
        try:
            return data.decode(name, errors="replace")
        except (LookupError, UnicodeError):  # unknown name, or a codec that is not a text encoding
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def html_to_text(html: str) -> str:
    """Minimal text of an HTML body: tags dropped, entities decoded, one line per paragraph or
    line break (``connectors._html_text``: a linear scan, safe on hostile markup)."""
    return html_text(html).text


def attachment(name: str | None, media_type: str | None, content: bytes | None) -> Attachment:
    """An attachment with its bytes and hash; missing when absent or over the 512 MiB cap."""
    name = clean(name) if name else None
    if content is None or len(content) > ATTACHMENT_CAP:
        return Attachment(name, media_type, missing=True)
    return Attachment(name, media_type, hashlib.sha256(content).hexdigest(), len(content), content=content)


def header_text(msg: EmailMessage, name: str) -> str:
    """A header's decoded value (RFC 2047 words decoded), or its raw text if it cannot be decoded."""
    try:
        value = msg.get(name)
    except EMAIL_ERRORS:
        raw = _raw(msg, name)
        return clean(raw[0]) if raw else ""
    return clean(str(value)) if value is not None else ""


def header_people(msg: EmailMessage, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The people named in address headers as ``Name <addr>``, and every address and name alone.

    A header whose value yields no address is kept whole as one entry, unless it is only an
    empty group such as ``undisclosed-recipients:;``.
    """
    people: list[str] = []
    keys: list[str] = []
    for name in names:
        for value in _raw(msg, name):
            found = _addresses(msg, name, value)
            if found is None:
                found = [("", clean(value).strip())] if value.strip() else []
            for display, address in found:
                text = person(display, address)
                if text:
                    people.append(text)
                    keys.extend(k for k in (clean(display).strip(), clean(address).strip()) if k)
    return people, keys


def _addresses(msg: EmailMessage, name: str, value: str) -> list[tuple[str, str]] | None:
    """The (name, address) pairs of an address header; None when it names nobody readable."""
    try:
        header = msg.policy.header_factory(name, _LINE_BREAK_RE.sub("", value))  # type: ignore[attr-defined]
        found = [(a.display_name, a.addr_spec) for a in header.addresses]
        named_groups = [g for g in header.groups if g.display_name]
    except EMAIL_ERRORS:
        return None
    return found if found or named_groups else None


def _raw(msg: EmailMessage, name: str) -> list[str]:
    folded = name.casefold()
    return [str(v) for k, v in msg.raw_items() if k.casefold() == folded]


@dataclass(frozen=True)
class DateResult:
    """A header date: the instant, or why there is none (``zoneless`` when only a zone was missing)."""

    moment: datetime | None
    zoneless: bool = False


def header_date(msg: EmailMessage, tz: ZoneInfo | None) -> DateResult:
    """The Date header as an aware datetime (zone-less dates read in ``tz``)."""
    values = _raw(msg, "date")
    return parse_date(values[0], tz) if values else DateResult(None)


def received_date(msg: EmailMessage) -> datetime | None:
    """The date the first server stamped on the message (the lowest Received header with a zone)."""
    for value in reversed(_raw(msg, "received")):
        _, _, stamp = value.rpartition(";")
        result = parse_date(stamp, None)
        if result.moment is not None:
            return result.moment
    return None


def parse_date(text: str, tz: ZoneInfo | None) -> DateResult:
    """An RFC 5322 date; "-0000" is UTC per RFC 5322 3.3; no zone at all is read in ``tz``."""
    text = clean(" ".join(text.split()))
    try:
        moment = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return DateResult(None)
    if moment.tzinfo is not None:
        return DateResult(moment)
    if _NO_ZONE_RE.search(text):
        return DateResult(moment.replace(tzinfo=UTC))
    if tz is None:
        return DateResult(None, zoneless=True)
    return DateResult(moment.replace(tzinfo=tz))
