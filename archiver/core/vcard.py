"""Contacts exported from a phone (vCard 2.1, 3.0 and 4.0): who is behind each handle.

An officer's phone already knows who "+52 631 555 0101" is; exporting the contacts (one
``.vcf`` file) lets the archiver name the people behind handles (36 CFR 1236.22(a)(3)).
Every phone number, e-mail address and the display name of a card become handles of one
person, with the card's categories (``archiver.core.participants`` turns them into roles).

Pure: parses text, no I/O.
"""

from __future__ import annotations

import quopri
from dataclasses import dataclass, field

from archiver.errors import ConfigError

MAX_CARDS = 200_000


@dataclass(frozen=True)
class Contact:
    """One handle of a card, the card's name and its categories (casefolded)."""

    handle: str
    name: str
    categories: tuple[str, ...]


@dataclass
class _Card:
    line: int
    name: str = ""
    structured: str = ""
    organization: str = ""
    handles: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


def parse_vcards(text: str, source: str) -> list[Contact]:
    """Every handle of every card in ``text``, in order.

    Raises:
        ConfigError: a card is not closed, a line is outside any card, or there are too
            many cards; the message names ``source`` and the line.
    """
    contacts: list[Contact] = []
    card: _Card | None = None
    cards = 0
    for number, line in _unfolded(text):
        name, params, value = _split(line)
        if name == "BEGIN" and value.upper() == "VCARD":
            if card is not None:
                raise ConfigError(f"{source}:{number}: BEGIN:VCARD inside the card opened on line {card.line}")
            cards += 1
            if cards > MAX_CARDS:
                raise ConfigError(f"{source}:{number}: more than {MAX_CARDS} contacts")
            card = _Card(number)
        elif name == "END" and value.upper() == "VCARD":
            if card is None:
                raise ConfigError(f"{source}:{number}: END:VCARD without BEGIN:VCARD")
            contacts.extend(_contacts(card))
            card = None
        elif card is None:
            if line.strip():
                raise ConfigError(f"{source}:{number}: {line[:40]!r} is outside any BEGIN:VCARD ... END:VCARD")
        else:
            _read_property(card, name, params, value)
    if card is not None:
        raise ConfigError(f"{source}:{card.line}: the card opened here has no END:VCARD")
    return contacts


def looks_like_vcard(text: str) -> bool:
    """True when the text opens with a vCard."""
    return text.lstrip("\ufeff \r\n\t").upper().startswith("BEGIN:VCARD")


def _unfolded(text: str) -> list[tuple[int, str]]:
    """Logical lines with their first physical line number: folded lines (RFC 6350: a
    leading space or tab) and quoted-printable soft breaks (vCard 2.1: a trailing "=") joined."""
    lines: list[tuple[int, str]] = []
    soft = False
    for number, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if lines and (soft or raw[:1] in (" ", "\t")):
            start, before = lines[-1]
            lines[-1] = (start, (before[:-1] + raw) if soft else before + raw[1:])
        else:
            lines.append((number, raw))
        current = lines[-1][1]
        soft = current.endswith("=") and "QUOTED-PRINTABLE" in current.split(":", 1)[0].upper()
    return lines


def _split(line: str) -> tuple[str, dict[str, str], str]:
    """Property name (without a group prefix), parameters and value."""
    head, _, value = line.partition(":")
    name, *raw_params = head.split(";")
    params: dict[str, str] = {}
    for param in raw_params:
        key, has_value, param_value = param.partition("=")
        # vCard 2.1 writes bare types ("TEL;CELL"); later versions write TYPE=CELL.
        params[key.upper() if has_value else "TYPE"] = param_value if has_value else key
    return name.rpartition(".")[2].upper(), params, value


def _decoded(params: dict[str, str], value: str) -> str:
    if params.get("ENCODING", "").upper() in ("QUOTED-PRINTABLE", "QP"):
        charset = params.get("CHARSET", "utf-8")
        raw = quopri.decodestring(value.encode("latin-1", "replace"))
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return raw.decode("utf-8", "replace")
    return value.replace("\\,", ",").replace("\\;", ";").replace("\\n", " ").replace("\\\\", "\\")


def _read_property(card: _Card, name: str, params: dict[str, str], value: str) -> None:
    text = _decoded(params, value).strip()
    if not text:
        return
    if name == "FN":
        card.name = text
    elif name == "N":
        family, given, *rest = (text.split(";") + ["", ""])[:5]
        card.structured = " ".join(p for p in (rest[1] if len(rest) > 1 else "", given, rest[0], family) if p)
    elif name == "ORG":
        card.organization = " ".join(part for part in text.split(";") if part)
    elif name in ("TEL", "EMAIL"):
        card.handles.append(text.removeprefix("tel:").removeprefix("mailto:"))
    elif name == "CATEGORIES":
        card.categories.extend(c.strip().casefold() for c in text.split(","))


def _contacts(card: _Card) -> list[Contact]:
    name = card.name or card.structured or card.organization
    handles = dict.fromkeys([*([name] if name else []), *card.handles])
    return [Contact(handle, name or handle, tuple(card.categories)) for handle in handles]
