"""The normalized message every connector yields, and its canonical bytes.

Pure data: no I/O. The JSON form (``Message.to_json``) is also the ``jsonl`` input format,
so any tool can feed the archiver.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

Direction = Literal["sent", "received"]
Account = Literal["personal", "official"]

DIRECTIONS: tuple[str, ...] = ("sent", "received")
ACCOUNTS: tuple[str, ...] = ("personal", "official")

# Completeness flags a connector may set (36 CFR 1236.22: records officers must see what is
# incomplete).
FLAG_ATTACHMENT_MISSING = "attachment_missing"
FLAG_DELETED = "deleted"
FLAG_EDITED = "edited"
FLAG_RECIPIENTS_UNKNOWN = "recipients_unknown"
FLAG_UNDELIVERED = "undelivered"  # written but, as far as the export says, never sent (draft, outbox, failed)


@dataclass(frozen=True)
class Attachment:
    """A file that belonged to a message.

    ``missing`` marks a placeholder such as ``<Media omitted>``: the message had a file the
    export did not include. ``content`` carries the bytes while in flight from connector to
    store; it is never part of the JSON form.
    """

    name: str | None
    media_type: str | None = None
    sha256: str | None = None
    size: int | None = None
    missing: bool = False
    content: bytes | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "size": self.size,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class SourceRef:
    """Where a message came from: export file, member inside an archive, line or row."""

    file: str
    line: int | None = None
    entry: str | None = None
    export_sha256: str | None = None

    # Written out, not generated, like Message.__init__ (one of these is made per message).
    def __init__(
        self, file: str, line: int | None = None, entry: str | None = None, export_sha256: str | None = None
    ) -> None:
        object.__setattr__(self, "__dict__", {"file": file, "line": line, "entry": entry,
                                              "export_sha256": export_sha256})  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "entry": self.entry,
            "line": self.line,
            "export_sha256": self.export_sha256,
        }


@dataclass(frozen=True)
class Message:
    """One message in normalized form (see DESIGN.md, "The normalized message")."""

    source: str
    conversation: str
    sender: str
    sent_at: datetime
    body: str
    recipients: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    direction: Direction = "received"
    account: Account = "personal"
    custodian: str = ""
    system: bool = False
    source_ref: SourceRef = field(default_factory=lambda: SourceRef(file=""))
    flags: tuple[str, ...] = ()

    # Written out, not generated: a frozen dataclass's own __init__ sets each field through
    # object.__setattr__, which cost more than reading the message from a chat export. The
    # signature is the fields' own (tests/test_model.py holds the two together).
    def __init__(
        self,
        source: str,
        conversation: str,
        sender: str,
        sent_at: datetime,
        body: str,
        recipients: tuple[str, ...] = (),
        attachments: tuple[Attachment, ...] = (),
        direction: Direction = "received",
        account: Account = "personal",
        custodian: str = "",
        system: bool = False,
        source_ref: SourceRef | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        zone = sent_at.tzinfo
        # A ZoneInfo or fixed offset always gives one; asking a ZoneInfo costs a search of its rules.
        if zone is None or (type(zone) is not ZoneInfo and type(zone) is not timezone and sent_at.utcoffset() is None):
            raise ValueError("sent_at must carry a UTC offset")
        object.__setattr__(self, "__dict__", {
            "source": source, "conversation": conversation, "sender": sender, "sent_at": sent_at, "body": body,
            "recipients": recipients, "attachments": attachments, "direction": direction, "account": account,
            "custodian": custodian, "system": system,
            "source_ref": SourceRef(file="") if source_ref is None else source_ref, "flags": flags,
        })  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The message as a JSON-ready dict (the ``jsonl`` line format)."""
        return {
            "source": self.source,
            "conversation": self.conversation,
            "sender": self.sender,
            "recipients": list(self.recipients),
            "sent_at": self.sent_at.isoformat(),
            "body": self.body,
            "attachments": [a.to_json() for a in self.attachments],
            "direction": self.direction,
            "account": self.account,
            "custodian": self.custodian,
            "system": self.system,
            "source_ref": self.source_ref.to_json(),
            "flags": list(self.flags),
        }

    def content_key(self) -> bytes:
        """Canonical bytes of a message's version 1 identity, kept to recognise records archived
        before version 2 (``archiver.core.identity``).

        Source, conversation, sender, the instant sent (in UTC, so the same instant written
        with another offset is the same message), body and attachment hashes. Recipients,
        custodian and source_ref are left out on purpose: a longer re-export of the same chat
        must map each message to the same id.
        """
        return canonical_json(
            [
                self.source,
                self.conversation,
                self.sender,
                utc_iso(self.sent_at),
                self.body,
                [a.sha256 for a in self.attachments],
            ]
        )


# One encoder for every call: json.dumps with options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8."""
    return _CANONICAL.encode(value).encode()


def sealed_json(value: Any) -> bytes:
    """JSON bytes of a document that is only ever sealed and read back, never hashed (a record
    document, a segment manifest): by orjson, keys sorted, in a tenth of ``canonical_json``'s time
    (1.7 µs against 22.8 µs for a 1.4 kB record document). The bytes are ``canonical_json``'s but
    for floats under 1e-4, which orjson writes without an exponent (``0.000032`` for ``3.2e-05``):
    the same number read back. What orjson refuses (integers past 64 bits, keys that are not
    strings) goes to ``canonical_json``. Not for NaN or infinities, which orjson writes as null: a
    document's only float is a confidence in [0, 1]."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return canonical_json(value)


def parse_json(data: bytes | str) -> Any:
    """``json.loads(data)``, by orjson where it can: ``verify`` parses every sealed document and
    manifest in the archive, and orjson does it in a third of the time. What orjson refuses and
    ``json`` reads (NaN, integers past 64 bits, lone surrogates, UTF-16) goes to ``json``, so the
    result, or the error and its words, is ``json.loads``'s."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def day_start(day: date, days_after: int = 0) -> datetime:
    """The first instant (UTC) of ``day`` plus ``days_after`` days: a UTC day as a time bound."""
    return datetime.combine(day + timedelta(days=days_after), time(), timezone.utc)


# Memoized: an ingest formats the same few instants (its own time, a minute's messages) many
# times per message. Equal instants give the same text, whatever their zones.
@lru_cache(maxsize=8192)
def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` suffix, second precision or finer."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that must carry a UTC offset (``Z`` accepted)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment


_PHONE_RE = re.compile(r"\+?[\d\s().-]+")
_PHONE_PUNCT_RE = re.compile(r"[\s().+-]")
_MIN_PHONE_DIGITS = 7


def handle_key(handle: str) -> str:
    """The form handles are compared in: case-insensitive, spaces collapsed, and phone
    numbers reduced to their digits ("+1 (520) 555-0101" equals "15205550101").

    Invisible format characters are dropped: WhatsApp wraps phone numbers in direction marks.
    """
    text = unicodedata.normalize("NFKC", handle)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split()).casefold()
    if _PHONE_RE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= _MIN_PHONE_DIGITS:
        return _PHONE_PUNCT_RE.sub("", text)
    return text
