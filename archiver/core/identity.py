"""What identifies a message: the canonical bytes its id derives from (pure: no I/O).

Version 2 (``ID_SCHEME``) decides identity from what the messages are, never from how the
officer named or packed the export. An attachment counts by its name when it has one, else by
its hash, so a WhatsApp zip (which holds the media) and its own ``_chat.txt`` (which only names
the files) give the same ids. A connector that takes the conversation's title from the file or
folder name says so (``conversation_in_content = False``): the title then stays out of the
identity, and the message the current run of messages follows takes its place, which keeps two
chats apart when the same sender posts the same text at the same instant to both.

Version 1 ids (the conversation title always in, attachments by hash) stay readable: an
archive that holds them is looked up under both (``MessageId.legacy``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from archiver.model import Attachment, Message, canonical_json, handle_key, utc_iso

ID_SCHEME = "v2"                 # the archive holds only version 2 ids; also leads their canonical bytes
ID_SCHEME_WITH_LEGACY = "v1+v2"  # it also holds ids written before version 2

KeyedHex = Callable[[bytes], str]
KEY_BYTES = 16   # a content hash as the occurrence count keeps it: the archive's are 128 bits
BUCKETS = 1 << 14  # packed byte strings the content hashes seen once are spread over


@dataclass(frozen=True)
class MessageId:
    """A message's id, the keyed hash it derives from and its occurrence number."""

    record_id: str
    content_hash: str
    occurrence: int
    legacy: MessageId | None = None  # the version 1 id, when the archive may hold it


@dataclass(frozen=True)
class _Run:
    """The last message seen in a conversation, and what the run it belongs to follows."""

    sender: str
    sent_at: datetime
    key: list[Any]
    follows: list[Any] | None


class Occurrences:
    """How many times each content hash has occurred so far in one export, kept for the whole
    export in about 17 bytes a message (a ``Counter`` of hex strings took about 120).

    Nearly every message occurs once, so a hash seen once is only its 16 bytes appended to one of
    ``BUCKETS`` packed byte strings (chosen by the hash, so each stays short to search); a hash
    seen again moves to a counter of its own. The archive's content hashes are 16 bytes kept as
    they are, so the counts are exact; a longer hash is folded to 16 bytes with BLAKE2b.
    """

    def __init__(self) -> None:
        self._seen: list[bytearray | None] = [None] * BUCKETS  # made on first use: a small export needs few
        self._repeated: dict[bytes, int] = {}

    def add(self, content_hash: str) -> int:
        """Count one more occurrence of ``content_hash`` (hex); return its occurrence number."""
        key = bytes.fromhex(content_hash)
        if len(key) != KEY_BYTES:
            key = hashlib.blake2b(key, digest_size=KEY_BYTES).digest()
        count = self._repeated.get(key)
        if count is not None:
            self._repeated[key] = count + 1
            return count + 1
        place = hash(key) % BUCKETS
        seen = self._seen[place]
        if seen is None:
            seen = self._seen[place] = bytearray()
        if _holds(seen, key):
            self._repeated[key] = 2
            return 2
        seen += key
        return 1


def _holds(packed: bytearray, key: bytes) -> bool:
    """Whether ``packed``, a run of ``KEY_BYTES``-byte keys, holds ``key`` as one of them (not
    across two)."""
    at = packed.find(key)
    while at >= 0 and at % KEY_BYTES:
        at = packed.find(key, at - at % KEY_BYTES + KEY_BYTES)
    return at >= 0


def attachment_identity(attachment: Attachment) -> str | None:
    """An attachment as identity sees it: its name, else the hash of its bytes."""
    return attachment.name or attachment.sha256


def message_key(message: Message, conversation_in_content: bool) -> list[Any]:
    """What the message itself is: source, conversation (when the content names it), sender,
    the instant sent (in UTC), body and attachments."""
    return [message.source, message.conversation if conversation_in_content else None, message.sender,
            utc_iso(message.sent_at), message.body, [attachment_identity(a) for a in message.attachments]]


class MessageIdentities:
    """The ids of one export's messages, given in export order.

    ``keyed_hex`` is the archive's keyed hash (ids reveal nothing of the content). Identical
    identities within the export are told apart by their occurrence number, so two "ok"s sent
    in the same minute stay two records and a re-export numbers them the same way.
    """

    def __init__(self, keyed_hex: KeyedHex, conversation_in_content: bool, legacy: bool) -> None:
        self._hex, self._in_content, self._legacy = keyed_hex, conversation_in_content, legacy
        self._occurrences = Occurrences()
        self._legacy_occurrences = Occurrences()
        self._runs: dict[str, _Run] = {}

    def of(self, message: Message) -> MessageId:
        """The id of the next message of the export."""
        key = message_key(message, self._in_content)
        place = None if self._in_content else self._follows(message, key)
        legacy = self._numbered(message.content_key(), self._legacy_occurrences) if self._legacy else None
        # Tagged with the scheme, so a later version's ids can coexist with these.
        current = self._numbered(canonical_json([ID_SCHEME, key, place]), self._occurrences)
        return MessageId(current.record_id, current.content_hash, current.occurrence, legacy)

    def _follows(self, message: Message, key: list[Any]) -> list[Any] | None:
        """The message before the run this one belongs to (same sender, same instant), in its chat.

        A run rather than the message just before, so that a burst forwarded to several chats
        (a photo and its caption) stays one record per chat.
        """
        last = self._runs.get(message.conversation)
        if last is None:
            follows = None
        elif (last.sender, last.sent_at) == (message.sender, message.sent_at):
            follows = last.follows
        else:
            follows = last.key
        self._runs[message.conversation] = _Run(message.sender, message.sent_at, key, follows)
        return follows

    def _numbered(self, content: bytes, occurrences: Occurrences) -> MessageId:
        content_hash = self._hex(content)
        occurrence = occurrences.add(content_hash)
        return MessageId(self._hex(f"{content_hash}#{occurrence}".encode()), content_hash, occurrence)


def copy_material(source: str, sent_at: datetime, body: str, system: bool) -> bytes | None:
    """What every custodian's copy of one message shares, whoever exported it: the app, the
    minute sent in UTC (exports round to it) and the text with its spacing collapsed.

    The conversation's title is left out (a 1:1 chat is titled by the other person in each
    phone) and so is the sender (a display name in one phone, the owner in the other): the
    sender is matched apart (``sender_material``). None for app notices and empty messages,
    which each phone words its own way.
    """
    text = " ".join(body.split())
    if system or not text:
        return None
    minute = sent_at.astimezone(timezone.utc).replace(second=0, microsecond=0)
    return canonical_json(["copy", source, utc_iso(minute), text])


def sender_material(handle: str) -> bytes:
    """A sender's handle as copies are matched by: compared as ``handle_key`` compares it."""
    return canonical_json(["sender", handle_key(handle)])
