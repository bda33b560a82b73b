"""What a disclosure accounting (5 U.S.C. 552a(c)) says of one message, from the classifier's
reasons and the message text, without repeating any of the personal information (pure).

- the *kinds* of information sent: the classifier's personal-information rules (``pii-*``)
  and a shared file, named by kind ("date of birth", "passport number"), never by value;
- a *list* of people: two or more lines (or ``;`` parts) of the message each carrying an
  identifier;
- the *stated purpose*: a category from keyword rules ("vehicle lookout", "identity check"...)
  or "not stated", never the sentence itself, which could name the people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from archiver.core.participants import FOREIGN_OFFICIAL, OUTSIDE_PARTY
from archiver.core.terms import normalize_words

OUTSIDE_ROLES = (FOREIGN_OFFICIAL, OUTSIDE_PARTY)
OUTSIDE_REASON = "outside-party-participant"  # the classifier saw a foreign official or outside party take part
KINDS = {
    "pii-date-of-birth": "date of birth",
    "pii-passport": "passport number",
    "pii-a-number": "A-number",
    "pii-ssn": "Social Security number",
    "pii-license-plate": "license plate",
    "attachment-shared": "shared document",
}
PERSONAL_KINDS = frozenset(reason for reason in KINDS if reason.startswith("pii-"))
LIST_KIND = "list of names with identifiers"
NOT_STATED = "not stated"
# First category whose words the message holds; English and Spanish, folded as the blind index folds them.
PURPOSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vehicle lookout", ("lookout", "bolo", "be on the lookout", "alerta", "vehicle", "vehiculo", "truck", "camion",
                         "plates", "placas")),
    ("identity check", ("verify", "verification", "confirm", "identity", "identify", "background check",
                        "record check", "antecedentes", "verificar", "confirmar", "identidad", "revisar")),
    ("arrest or detention", ("arrest", "detain", "detained", "detention", "warrant", "arresto", "detenido",
                             "detener", "orden de aprehension")),
    ("removal or return", ("removal", "deport", "deportation", "repatriation", "deportacion", "repatriacion")),
    ("crossing or travel", ("crossing", "cross", "travel", "traveling", "flight", "cruce", "cruzar", "viaje",
                            "vuelo")),
    ("meeting", ("meeting", "meet", "reunion", "junta")),
)
_PARTS = re.compile(r"[\n;]+")


def kinds_of(reasons: Iterable[str]) -> list[str]:
    """The kinds of information the classifier found, in a fixed order, by name."""
    fired = set(reasons)
    return [kind for reason, kind in KINDS.items() if reason in fired]


def entries(body: str) -> list[str]:
    """The lines (or ``;`` parts) of a message: each may carry one person's identifiers."""
    return [part.strip() for part in _PARTS.split(body) if part.strip()]


def stated_purpose(body: str) -> str:
    """The category of purpose the message states, or ``NOT_STATED``."""
    text = f" {' '.join(normalize_words(body))} "
    for category, words in PURPOSES:
        if any(f" {' '.join(normalize_words(word))} " in text for word in words):
            return category
    return NOT_STATED
