"""Decoders for the binary values Apple's Messages app keeps in ``chat.db``.

* ``attributedBody``: an ``NSAttributedString`` archived with ``NSArchiver`` (the
  "typedstream" format, header ``\\x04\\x0bstreamtyped``). Newer macOS and iOS versions leave
  ``message.text`` NULL and keep the text only here. The text is the ``NSString`` object of
  the archive: the class name ``NSString``, its type code ``+`` and a length-prefixed UTF-8
  string. The declared length is trusted only when the string ends where the archive says
  its object ends; peers that cut at the first end marker instead break on text holding
  those bytes (e.g. the emoji U+1F184) and salvage text from damaged blobs silently.
* ``message_summary_info``: a binary property list. ``ec`` maps a message part to its edit
  history (``d`` seconds since the Apple epoch, ``t`` a typedstream of that version), ``ep``
  lists edited parts and ``rp`` retracted ("unsent") parts.
* Dates: seconds since 2001-01-01 UTC in old databases, nanoseconds since macOS 10.13.

Everything here reads untrusted bytes and raises ``AppleDecodeError`` (a ``ValueError``) for
anything it cannot read, never another exception.
"""

from __future__ import annotations

import plistlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

APPLE_EPOCH: Final = datetime(2001, 1, 1, tzinfo=UTC)
NANOSECONDS_FROM: Final = 10**11  # 10**11 s would be the year 5170; 10**11 ns is 100 s after the epoch
TYPEDSTREAM_HEADER: Final = b"\x04\x0bstreamtyped"
BPLIST_HEADER: Final = b"bplist00"

_NSSTRING: Final = b"\x08NSString"  # the class name with its length byte
_STRING_TYPE: Final = b"\x84\x01+"  # "+": a length-prefixed byte string follows
_TYPE_SEARCH: Final = 8  # class version and superclass reference sit between name and type
_INT16, _INT32 = 0x81, 0x82  # tags: a 2- or 4-byte little-endian integer follows
_SMALL_MAX = 0x7F  # one byte holds 0..127 itself; 0x80-0x91 are tags and higher bytes negative
_END_OF_OBJECT: Final = 0x86
# plistlib's binary reader fails on hostile input with any of these
_PLIST_ERRORS: Final = (
    plistlib.InvalidFileException, ValueError, TypeError, KeyError, IndexError, AttributeError,
    OverflowError, struct.error, RecursionError, EOFError,
)  # fmt: skip


class AppleDecodeError(ValueError):
    """A value from chat.db that cannot be decoded; the message says why."""


@dataclass(frozen=True)
class Edit:
    """One version of an edited message part: when it was written and its text."""

    when: datetime
    text: str | None  # None when that version's typedstream cannot be read


@dataclass(frozen=True)
class Summary:
    """What ``message_summary_info`` tells about edits and unsends."""

    edits: Mapping[int, tuple[Edit, ...]]  # part index -> versions, oldest first
    edited_parts: tuple[int, ...]
    retracted_parts: tuple[int, ...]

    @property
    def edited(self) -> bool:
        """True when any part of the message was edited."""
        return bool(self.edited_parts) or any(len(versions) > 1 for versions in self.edits.values())

    @property
    def retracted(self) -> bool:
        """True when any part of the message was unsent."""
        return bool(self.retracted_parts)

    def final_text(self) -> str:
        """The latest version of every edited part, in part order ("" when none is readable)."""
        latest = (versions[-1].text for _part, versions in sorted(self.edits.items()) if versions)
        return "".join(text for text in latest if text is not None)


def apple_time(value: object) -> datetime:
    """An Apple-epoch timestamp (seconds, or nanoseconds when large) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AppleDecodeError(f"date is not a number (it is {type(value).__name__})")
    try:
        if isinstance(value, float):
            seconds = value / 1e9 if abs(value) >= NANOSECONDS_FROM else value
            return APPLE_EPOCH + timedelta(seconds=seconds)
        microseconds = value // 1000 if abs(value) >= NANOSECONDS_FROM else value * 10**6
        return APPLE_EPOCH + timedelta(microseconds=microseconds)
    except (OverflowError, ValueError):
        raise AppleDecodeError(f"date {value} is out of range") from None


def typedstream_text(blob: bytes) -> str:
    """The text of an ``attributedBody`` typedstream (U+FFFC marks inline attachments)."""
    if not blob.startswith(TYPEDSTREAM_HEADER):
        raise AppleDecodeError("attributedBody is not a typedstream archive")
    name = blob.find(_NSSTRING, len(TYPEDSTREAM_HEADER))
    if name < 0:
        raise AppleDecodeError("attributedBody holds no NSString")
    after_name = name + len(_NSSTRING)
    type_at = blob.find(_STRING_TYPE, after_name, after_name + _TYPE_SEARCH + len(_STRING_TYPE))
    if type_at < 0:
        raise AppleDecodeError("attributedBody's NSString has no string value")
    length, start = _read_length(blob, type_at + len(_STRING_TYPE))
    end = start + length
    if end >= len(blob) or blob[end] != _END_OF_OBJECT:
        raise AppleDecodeError(f"attributedBody declares {length} bytes of text that do not end its NSString")
    try:
        return blob[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise AppleDecodeError("attributedBody text is not valid UTF-8") from None


def _read_length(blob: bytes, at: int) -> tuple[int, int]:
    """A typedstream integer at ``at`` that must not be negative, and the position after it."""
    if at >= len(blob):
        raise AppleDecodeError("attributedBody ends before its text length")
    tag = blob[at]
    if tag == _INT16 or tag == _INT32:
        size = 2 if tag == _INT16 else 4
        raw = blob[at + 1 : at + 1 + size]
        if len(raw) < size:
            raise AppleDecodeError("attributedBody ends inside its text length")
        value = int.from_bytes(raw, "little", signed=True)
        if value < 0:
            raise AppleDecodeError("attributedBody declares a negative text length")
        return value, at + 1 + size
    if tag > _SMALL_MAX:
        raise AppleDecodeError(f"attributedBody text length has an unexpected tag 0x{tag:02x}")
    return tag, at + 1


def summary(blob: bytes) -> Summary:
    """Edit and unsend history from a ``message_summary_info`` binary property list."""
    if not blob.startswith(BPLIST_HEADER):
        raise AppleDecodeError("message_summary_info is not a binary property list")
    try:
        root = plistlib.loads(blob, fmt=plistlib.FMT_BINARY)
    except _PLIST_ERRORS as exc:
        raise AppleDecodeError(f"message_summary_info is not a readable property list ({type(exc).__name__})") from None
    if not isinstance(root, dict):
        raise AppleDecodeError("message_summary_info is not a dictionary")
    return Summary(_edits(root.get("ec")), _parts(root.get("ep"), "ep"), _parts(root.get("rp"), "rp"))


def _parts(value: Any, key: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        raise AppleDecodeError(f"message_summary_info '{key}' is not a list of part numbers")
    return tuple(value)


def _edits(value: Any) -> dict[int, tuple[Edit, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppleDecodeError("message_summary_info 'ec' is not a dictionary")
    edits: dict[int, tuple[Edit, ...]] = {}
    for part, versions in value.items():
        if not isinstance(part, str) or not part.isdecimal() or len(part) > 9:
            raise AppleDecodeError("message_summary_info 'ec' has a part that is not a number")
        if not isinstance(versions, list):
            raise AppleDecodeError(f"message_summary_info 'ec' part {part} is not a list")
        edits[int(part)] = tuple(_edit(version) for version in versions)
    return edits


def _edit(version: Any) -> Edit:
    if not isinstance(version, dict):
        raise AppleDecodeError("message_summary_info edit is not a dictionary")
    text_blob = version.get("t")
    text = None
    if isinstance(text_blob, bytes):
        try:
            text = typedstream_text(text_blob)
        except AppleDecodeError:
            text = None  # an unreadable earlier version is not kept anyway; its date still counts
    return Edit(apple_time(version.get("d")), text)
