"""The audit log's entries and their hash chain (pure; the catalog stores them).

Each entry carries the hash of the one before it, so removing, reordering or editing any
entry breaks every hash after it. Entries say who, when, what and why; they never carry
message text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.model import canonical_json, utc_iso

GENESIS = "0" * 64


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


def entry_hash(seq: int, event: AuditEvent, prev_hash: str) -> str:
    """SHA-256 over the previous hash and the entry's canonical JSON."""
    body = canonical_json([seq, utc_iso(event.at), event.actor, event.action, event.case_id,
                           event.detail, prev_hash])
    return hashlib.sha256(body).hexdigest()


def chain(seq: int, event: AuditEvent, prev_hash: str) -> AuditEntry:
    """The entry that follows ``prev_hash`` at position ``seq``."""
    return AuditEntry(seq, event, prev_hash, entry_hash(seq, event, prev_hash))


def verify_chain(entries: Iterable[AuditEntry]) -> list[str]:
    """Problems found walking the chain from the start; empty when it is intact."""
    problems: list[str] = []
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            problems.append(f"audit entry {entry.seq}: expected sequence {expected_seq} (entries missing)")
        if entry.prev_hash != prev_hash:
            problems.append(f"audit entry {entry.seq}: does not follow the entry before it")
        if entry_hash(entry.seq, entry.event, entry.prev_hash) != entry.hash:
            problems.append(f"audit entry {entry.seq}: contents changed after it was written")
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    return problems
