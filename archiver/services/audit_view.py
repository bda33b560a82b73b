"""``archiver audit``: the audit log as its readers are entitled to see it.

Records officers, investigators and admins read it. An investigator sees the entries made under
cases and their own. Sealed parts of a detail (a query, a case's reason) are opened for
investigators and admins; anyone else sees only that a sealed part is there. Every reading is
itself an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from archiver.model import utc_iso
from archiver.services.access import Principal, authorize, is_sealed, unsealed
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEntry, AuditEvent

READERS = ("records-officer", "investigator", "admin")
OPENS_SEALED = ("investigator", "admin")


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list: of one case, by one actor, from and to a UTC day (inclusive)."""

    case: str | None = None
    actor: str | None = None
    start: date | None = None
    end: date | None = None

    def matches(self, entry: AuditEntry) -> bool:
        """Whether ``entry`` passes every filter given."""
        event = entry.event
        day = event.at.astimezone(timezone.utc).date()
        return ((self.case is None or event.case_id == self.case) and (self.actor is None or event.actor == self.actor)
                and (self.start is None or day >= self.start) and (self.end is None or day <= self.end))

    def to_json(self) -> dict[str, str | None]:
        """The filters, as the ``audit-view`` entry records them."""
        return {"case": self.case, "actor": self.actor, "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}


def audit_view(archive: Archive, viewer: str, at: datetime, wanted: AuditFilter) -> list[dict[str, Any]]:
    """The entries ``viewer`` may see that ``wanted`` selects, oldest first (audited)."""
    who = authorize(archive, viewer, READERS, "read the audit log", at)
    opens = any(who.has(role) for role in OPENS_SEALED)
    shown = [_entry_json(archive, entry, opens) for entry in archive.catalog.audit_entries()
             if wanted.matches(entry) and _visible(who, entry)]
    archive.catalog.append_audit(AuditEvent(viewer, "audit-view", at, {**wanted.to_json(), "entries": len(shown)}))
    return shown


def _visible(who: Principal, entry: AuditEntry) -> bool:
    if who.has("records-officer") or who.has("admin"):
        return True
    return entry.event.case_id is not None or entry.event.actor == who.actor


def _entry_json(archive: Archive, entry: AuditEntry, opens: bool) -> dict[str, Any]:
    event = entry.event
    return {"seq": entry.seq, "at": utc_iso(event.at), "actor": event.actor, "action": event.action,
            "case_id": event.case_id,
            "detail": {key: _shown(archive, value, opens) for key, value in event.detail.items()}}


def _shown(archive: Archive, value: Any, opens: bool) -> Any:
    if not is_sealed(value):
        return value
    return unsealed(archive, value) if opens else {"sealed": value["object"]}
