"""Who takes part in a conversation: the participant directory the classifier consults.

A records officer keeps a CSV with one row per handle (display name, phone number or
address exactly as it appears in exports)::

    handle,name,role,official
    +52 631 555 0101,Cmdte. Ruiz (SEMAR),foreign-official,false
    Ana Diaz,Ana Diaz,family,false

An optional fifth column, ``organization``, names the person's agency or company (the
disclosure accounting reports it); without it, a name ending in parentheses ("Cmdte. Ruiz
(SEMAR)") gives the organization.

or gives the contacts exported from the officer's phone (a vCard ``.vcf`` file): each card's
numbers, addresses and name become handles of one person. A card's role is the first of its
``CATEGORIES`` that is a role ("family", "foreign-official"...), else ``unknown``; the
category "official" or an address under ``.gov`` or ``.mil`` marks an official account.

Roles say why a participant matters for records: talk with a foreign official or an
outside party is agency business; talk among family is personal.

Pure: no I/O except reading the file in ``ParticipantDirectory.from_file``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archiver.core.terms import normalize_words, participant_key
from archiver.core.vcard import Contact, looks_like_vcard, parse_vcards
from archiver.errors import ConfigError
from archiver.model import handle_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from archiver.model import Message

OFFICIAL = "official"
FOREIGN_OFFICIAL = "foreign-official"
OUTSIDE_PARTY = "outside-party"
FAMILY = "family"
PERSONAL = "personal"
UNKNOWN = "unknown"
ROLES: tuple[str, ...] = (OFFICIAL, FOREIGN_OFFICIAL, OUTSIDE_PARTY, FAMILY, PERSONAL, UNKNOWN)
HEADER: tuple[str, ...] = ("handle", "name", "role", "official")
HEADER_WITH_ORGANIZATION: tuple[str, ...] = (*HEADER, "organization")

_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
# Handles seen in one run are few (the people of a custodian's chats); a bound keeps memory flat.
_CACHE_SIZE = 65536
_ORGANIZATION_IN_NAME = re.compile(r"\(([^()]+)\)\s*$")
_OFFICIAL_DOMAIN_RE = re.compile(r"@(?:[\w-]+\.)*(?:gov|mil)>?$", re.IGNORECASE)
MAX_DIRECTORY_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class Participant:
    """One row of the directory: a handle, the person's name, their role and whether the
    handle is an official (government) account."""

    handle: str
    name: str
    role: str
    official: bool
    organization: str = ""

    @property
    def organization_name(self) -> str:
        """The organization the directory gives, else the one in parentheses at the end of the name."""
        found = _ORGANIZATION_IN_NAME.search(self.name)
        return self.organization or (found.group(1).strip() if found else "")


class ParticipantDirectory:
    """Roles of the handles a records officer has listed; everyone else is ``unknown``."""

    def __init__(self, participants: Iterable[Participant] = ()) -> None:
        self._by_key: dict[str, Participant] = {}
        for participant in participants:
            if participant.role not in ROLES:
                raise ValueError(f"{participant.handle!r}: role must be one of {', '.join(ROLES)}")
            self._by_key[handle_key(participant.handle)] = participant
        self._roles: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: Path) -> ParticipantDirectory:
        """Read a directory: a CSV with the header ``handle,name,role,official`` (and optionally
        ``organization``), or vCards.

        Raises:
            ConfigError: the file cannot be read, or a row or card is bad; the message
                names the file, the line and the cause.
        """
        try:
            if Path(path).stat().st_size > MAX_DIRECTORY_BYTES:
                raise ConfigError(f"{path}: the participant directory is larger than {MAX_DIRECTORY_BYTES} bytes")
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the participant directory: {err}") from None
        if looks_like_vcard(text):
            return cls(_from_contacts(parse_vcards(text, str(path))))
        return cls(_parse_csv(text, str(path)))

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, handle: str) -> Participant | None:
        """The participant listed under ``handle``, or ``None``."""
        return self._by_key.get(handle_key(handle))

    def handles_named(self, text: str) -> set[str]:
        """Every handle of the people ``text`` names, by one of their handles or by their name
        (case, accents and word order aside): how a search finds a person under any handle."""
        wanted, key = _name_key(text), participant_key(text)
        names = {_name_key(p.name) for p in self._by_key.values()
                 if _name_key(p.name) == wanted or participant_key(p.handle) == key} - {""}
        return {p.handle for p in self._by_key.values() if _name_key(p.name) in names}

    def role_of(self, handle: str) -> str:
        """The role of ``handle``; ``"unknown"`` when the directory does not list it."""
        role = self._roles.get(handle)
        if role is None:
            found = self._by_key.get(handle_key(handle))
            role = found.role if found else UNKNOWN
            if len(self._roles) < _CACHE_SIZE:
                self._roles[handle] = role
        return role

    def roles(self, message: Message) -> set[str]:
        """The roles of the sender and of every recipient of ``message``."""
        return {self.role_of(handle) for handle in (message.sender, *message.recipients)}

    def others_roles(self, message: Message) -> set[str]:
        """The roles of every participant but the custodian; empty when nobody else is known.

        The custodian is the sender of a sent message, and any handle equal to the
        message's custodian. A custodian listed under another name counts as another
        participant, which can only keep a message as a record.
        """
        custodian = handle_key(message.custodian) if message.custodian else None
        handles = message.recipients if message.direction == "sent" else (message.sender, *message.recipients)
        return {self.role_of(h) for h in handles if not custodian or handle_key(h) != custodian}


def _name_key(name: str) -> str:
    return " ".join(sorted(normalize_words(name)))


def _from_contacts(contacts: Iterable[Contact]) -> list[Participant]:
    """Participants of phone contacts; a handle on two cards belongs to the first."""
    participants: dict[str, Participant] = {}
    for contact in contacts:
        role = next((c for c in contact.categories if c in ROLES), UNKNOWN)
        official = OFFICIAL in contact.categories or bool(_OFFICIAL_DOMAIN_RE.search(contact.handle))
        participants.setdefault(handle_key(contact.handle), Participant(contact.handle, contact.name, role, official))
    return list(participants.values())


def _parse_csv(text: str, source: str) -> list[Participant]:
    """Validate every row; errors name ``source`` and the line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    columns = tuple(cell.strip().casefold() for cell in header) if header is not None else ()
    if columns not in (HEADER, HEADER_WITH_ORGANIZATION):
        raise ConfigError(f"{source}:1: the header must be {','.join(HEADER)} (optionally followed by "
                          f",organization), got {header!r}")
    participants: list[Participant] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines are allowed, as spreadsheets leave them
        participant = _parse_row(row, columns, f"{source}:{line}")
        key = handle_key(participant.handle)
        if key in seen:
            raise ConfigError(f"{source}:{line}: handle {participant.handle!r} is already listed on line {seen[key]}")
        seen[key] = line
        participants.append(participant)
    return participants


def _parse_row(row: list[str], columns: tuple[str, ...], where: str) -> Participant:
    if len(row) != len(columns):
        raise ConfigError(f"{where}: expected {len(columns)} fields ({','.join(columns)}), got {len(row)}")
    handle, name, role, official, *organization = (cell.strip() for cell in row)
    if not handle:
        raise ConfigError(f"{where}: the handle is empty")
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    flag = official.casefold()
    if flag not in _TRUE | _FALSE:
        raise ConfigError(f"{where}: official must be true or false, got {official!r}")
    return Participant(handle=handle, name=name, role=role, official=flag in _TRUE,
                       organization=organization[0] if organization else "")
