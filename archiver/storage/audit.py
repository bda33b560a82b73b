"""The audit log's entries and their hash chain (pure; the catalog stores them).

Each entry carries the hash of the one before it, so removing, reordering or editing any
entry breaks every hash after it. Entries say who, when, what and why; they never carry
message text.

An unkeyed SHA-256 chain can be recomputed by whoever edits an entry, so entries written with
the archive's audit key are linked by HMAC-SHA256 instead (their hash starts ``hmac:``).
Older entries keep verifying with the unkeyed rule; once the chain is keyed, an unkeyed entry
after it is a forgery.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.model import canonical_json, utc_iso

GENESIS = "0" * 64
KEYED_PREFIX = "hmac:"


@dataclass(frozen=True)
class AuditEvent:
    """What is about to be recorded: the chain fields are added when it is appended."""

    actor: str
    action: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    case_id: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain."""

    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": utc_iso(self.event.at), "actor": self.event.actor,
                "action": self.event.action, "case_id": self.event.case_id,
                "detail": self.event.detail, "prev_hash": self.prev_hash, "hash": self.hash}


def entry_hash(seq: int, event: AuditEvent, prev_hash: str, key: bytes | None = None) -> str:
    """The link over the previous hash and the entry's canonical JSON: HMAC-SHA256 under the
    audit key when given (``hmac:`` + hex), else the older unkeyed SHA-256."""
    body = canonical_json([seq, utc_iso(event.at), event.actor, event.action, event.case_id,
                           event.detail, prev_hash])
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return KEYED_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def chain(seq: int, event: AuditEvent, prev_hash: str, key: bytes | None = None) -> AuditEntry:
    """The entry that follows ``prev_hash`` at position ``seq``."""
    return AuditEntry(seq, event, prev_hash, entry_hash(seq, event, prev_hash, key))


def is_keyed(entry: AuditEntry) -> bool:
    """Whether the entry was linked with the audit key."""
    return entry.hash.startswith(KEYED_PREFIX)


def verify_chain(entries: Iterable[AuditEntry], key: bytes | None = None) -> list[str]:
    """Problems found walking the chain from the start; empty when it is intact.

    With ``key``, keyed entries are checked with it and an unkeyed entry after a keyed one is a
    forgery by someone without the key. Without it, only the links, the sequence and the unkeyed
    entries can be checked."""
    problems: list[str] = []
    prev_hash, expected_seq, keyed_from = GENESIS, 1, None
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(f"audit entry {entry.seq}: expected sequence {expected_seq} (entries missing)")
        if entry.prev_hash != prev_hash:
            problems.append(f"audit entry {entry.seq}: does not follow the entry before it")
        keyed = is_keyed(entry)
        if keyed and keyed_from is None:
            keyed_from = entry.seq
        if key is not None and not keyed and keyed_from is not None:
            problems.append(f"audit entry {entry.seq}: unkeyed, but the chain is keyed from entry {keyed_from} "
                            "(rewritten without the audit key)")
        elif (key is not None or not keyed) and \
                entry_hash(entry.seq, entry.event, entry.prev_hash, key if keyed else None) != entry.hash:
            problems.append(f"audit entry {entry.seq}: contents changed after it was written")
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    return problems


def first_keyed(entries: Iterable[AuditEntry]) -> int | None:
    """The sequence number from which the chain is keyed, None if it never is."""
    return next((entry.seq for entry in entries if is_keyed(entry)), None)
