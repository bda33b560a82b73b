"""Custodians: whose exports the archive holds, and what the 2911 rule needs to know of them.

Pure data and validation; the catalog stores the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archiver.core.retention import ROLE_SCHEDULE
from archiver.errors import UsageError
from archiver.model import parse_instant, utc_iso

_ID = re.compile(r"^[\w.@+-][\w .@+-]{0,127}$")
_APP = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class PersonalAccount:
    """A non-official account the custodian uses for official business: app and handle."""

    app: str
    handle: str

    @classmethod
    def parse(cls, text: str) -> PersonalAccount:
        """``APP:HANDLE``, e.g. ``whatsapp:+1 520 555 0100``."""
        app, sep, handle = text.partition(":")
        app = app.strip().lower()
        if not sep or not _APP.match(app) or not handle.strip():
            raise UsageError(f"personal account {text!r} must be APP:HANDLE, e.g. whatsapp:+15205550100")
        return cls(app, handle.strip())

    def __str__(self) -> str:
        return f"{self.app}:{self.handle}"


@dataclass(frozen=True)
class Custodian:
    """One custodian in the registry."""

    id: str
    name: str = ""
    role: str | None = None
    timezone: str | None = None
    supervisor: str | None = None
    official_accounts: tuple[str, ...] = ()
    personal_accounts: tuple[PersonalAccount, ...] = ()
    names: tuple[str, ...] = ()
    registered_at: datetime | None = None
    registered: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise UsageError(f"custodian id {self.id!r} must be 1-128 letters, digits, spaces or . @ + - _")
        if self.role is not None and self.role not in ROLE_SCHEDULE:
            raise UsageError(f"role must be one of {', '.join(ROLE_SCHEDULE)}, not {self.role!r}")
        if self.timezone is not None:
            load_zone(self.timezone)

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every name or handle under which the custodian may appear as a sender."""
        handles = (a.handle for a in self.personal_accounts)
        return tuple(n for n in dict.fromkeys((self.name, *self.names, *handles, *self.official_accounts)) if n)

    @property
    def email(self) -> str | None:
        """Where the custodian's notices go: the first official e-mail address."""
        return next((a for a in self.official_accounts if "@" in a), None)

    def zone(self) -> ZoneInfo | None:
        return load_zone(self.timezone) if self.timezone else None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "timezone": self.timezone,
                "supervisor": self.supervisor, "official_accounts": list(self.official_accounts),
                "personal_accounts": [str(a) for a in self.personal_accounts], "names": list(self.names),
                "registered_at": utc_iso(self.registered_at) if self.registered_at else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Custodian:
        registered = data.get("registered_at")
        return cls(id=data["id"], name=data.get("name", ""), role=data.get("role"), timezone=data.get("timezone"),
                   supervisor=data.get("supervisor"), official_accounts=tuple(data.get("official_accounts", ())),
                   personal_accounts=tuple(PersonalAccount.parse(a) for a in data.get("personal_accounts", ())),
                   names=tuple(data.get("names", ())),
                   registered_at=parse_instant(registered) if registered else None, registered=True)


def find_custodian(registered: Iterable[Custodian], text: str) -> Custodian | None:
    """The registered custodian ``text`` names: by id, else by name or alias, compared as ingest
    tells the custodian's own messages (case and surrounding spaces aside); None if none does."""
    custodians = list(registered)
    by_id = next((c for c in custodians if c.id == text), None)
    if by_id is not None:
        return by_id
    folded = text.strip().casefold()
    named = [c for c in custodians if any(folded == alias.strip().casefold() for alias in c.aliases)]
    if len(named) > 1:
        raise UsageError(f"custodian {text!r} is a name of {', '.join(c.id for c in named)}; give the custodian id")
    return named[0] if named else None


def load_zone(name: str) -> ZoneInfo:
    """An IANA zone, or a usage error that says what is accepted."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone {name!r}; use an IANA name such as America/New_York") from None
