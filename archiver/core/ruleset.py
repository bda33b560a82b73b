"""The classifier's rules as the classifier reads them: labels and contexts, the text folding
rules share with messages, the ``Facts`` a message offers and the ``When``, ``Rule`` and
``RuleSet`` structures that ``rules_loader`` builds from YAML and ``classify`` matches against.
Words in a rule are folded exactly as message text is, so both sides go through ``normalize``
and ``tokenize`` here.

Pure: no I/O.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archiver.core.learned import LearnedModel

RECORD = "record"
NONRECORD = "nonrecord"
LABELS: tuple[str, ...] = (RECORD, NONRECORD)
REPLY_TO_REQUEST = "reply_to_request"
REPLY_TO_SOCIAL = "reply_to_social"
REPLY_TO_PERSONAL = "reply_to_personal"
PERSONAL_CONVERSATION = "personal_conversation"
CONTEXTS: tuple[str, ...] = (REPLY_TO_REQUEST, REPLY_TO_SOCIAL, REPLY_TO_PERSONAL, PERSONAL_CONVERSATION)
DEFAULT_REASON = "default"
DEFAULT_THRESHOLD = 0.8
DEFAULT_REVIEW_THRESHOLD = 0.5
RULES_FORMAT_VERSION = 1

TOKEN_RE = re.compile(r"\w+|[^\w\s]")  # a word, or one mark or emoji
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
# Invisible emoji modifiers and typographic quotes, so "❤️" is "❤" and "I’ll" is "I'll"; the
# Turkish dotless "ı" has no accent to drop, so it is folded to "i" ("Günaydın" is "gunaydin").
_FOLD_EXTRA: dict[int, str | None] = {
    0xFE0E: None, 0xFE0F: None, **{cp: None for cp in range(0x1F3FB, 0x1F400)},
    0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x0131: "i",
}


# ---------------------------------------------------------------------------- text folding


@cache
def _fold_table() -> dict[int, str | None]:
    """Translation table deleting every combining mark (built once, on first use)."""
    table: dict[int, str | None] = {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))}
    table.update(_FOLD_EXTRA)
    return table


@lru_cache(maxsize=16384)
def _fold_run(run: str) -> str:
    return unicodedata.normalize("NFKD", run).translate(_fold_table())


def normalize(text: str) -> str:
    """Return ``text`` casefolded and without accents, so "Liberación" equals "liberacion"."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    # Only the non-ASCII runs need NFKD; they are few and recur ("í", "ñ"), so cache them.
    return _NON_ASCII_RE.sub(lambda run: _fold_run(run.group()), folded)


def tokenize(normalized: str) -> list[str]:
    """Split normalized text into words and single symbols (emoji, punctuation)."""
    return TOKEN_RE.findall(normalized)


# ---------------------------------------------------------------------------- data model


# Built for every new message: slotted, not frozen (four times faster to build); never changed.
@dataclass(slots=True)
class Facts:
    """What ``When`` conditions look at, read once per message.

    ``has_number`` is whether the text a person wrote has a digit (a time, count, date, plate
    or case number); file names an export writes for attachments do not count.
    ``roles`` are the roles of the sender and every recipient; ``others`` the roles of the
    participants other than the custodian (empty when there is nobody else). App notices
    have no roles at all: participant matchers never match them. ``conversation`` holds the
    normalized words and emoji of the conversation's name (the contact or group name the
    export gives); app notices have none either.
    """

    system: bool
    has_attachment: bool
    direction: str
    word_count: int
    body_empty: bool
    has_number: bool = False
    roles: frozenset[str] = frozenset()
    sender_role: str | None = None
    others: frozenset[str] = frozenset()
    conversation: frozenset[str] = frozenset()


@dataclass(frozen=True)
class When:
    """Conditions on the message itself; ``None`` means "any"."""

    system: bool | None = None
    has_attachment: bool | None = None
    direction: str | None = None
    max_words: int | None = None
    body_empty: bool | None = None
    has_number: bool | None = None
    participant_role: frozenset[str] | None = None
    sender_role: frozenset[str] | None = None
    all_roles: frozenset[str] | None = None
    # Words or emoji, any of which in the conversation's name ("Mom", "Familia Castillo 🏠").
    conversation_name: frozenset[str] | None = None
    # Words none of which may be in the name: a name that names work ("Op Cayo Norte 🌴",
    # "PD Vance – BRO") is not taken for a personal one by its emoji or a code read as a word.
    conversation_name_not: frozenset[str] | None = None
    # Whether a personal rule fires on the message; the classifier checks it after the
    # other rules, so ``holds`` leaves it aside.
    personal_talk: bool | None = None

    @property
    def reads_participants(self) -> bool:
        """Whether a condition needs the participant directory."""
        return any(roles is not None for roles in (self.participant_role, self.sender_role, self.all_roles))

    def holds(self, facts: Facts) -> bool:
        """Return whether every condition given holds for the message."""
        return (
            (self.system is None or self.system == facts.system)
            and (self.has_attachment is None or self.has_attachment == facts.has_attachment)
            and (self.direction is None or self.direction == facts.direction)
            and (self.max_words is None or facts.word_count <= self.max_words)
            and (self.body_empty is None or self.body_empty == facts.body_empty)
            and (self.has_number is None or self.has_number == facts.has_number)
            and (self.participant_role is None or not self.participant_role.isdisjoint(facts.roles))
            and (self.sender_role is None or facts.sender_role in self.sender_role)
            and (self.all_roles is None or bool(facts.others) and facts.others <= self.all_roles)
            and (self.conversation_name is None or not self.conversation_name.isdisjoint(facts.conversation))
            and (self.conversation_name_not is None or self.conversation_name_not.isdisjoint(facts.conversation))
        )


@dataclass(frozen=True)
class Rule:
    """One rule of the rules file; ``words`` are already normalized, tokens joined by spaces.

    ``unless`` names rules that set this one aside when they fire on the same message;
    ``review_if`` (record rules) names rules that set it aside too, but then the message is
    at most an uncertain nonrecord (review), never a confident one. ``personal`` marks a
    nonrecord rule that shows personal talk (family, friends, leisure), which the
    ``personal_talk`` condition and the ``reply_to_personal`` and ``personal_conversation``
    contexts look for.
    """

    id: str
    label: str
    confidence: float
    explain: str
    schedule: str | None = None
    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    when: When = When()
    context: str | None = None
    whole_message: bool = False
    unless: frozenset[str] = frozenset()
    review_if: frozenset[str] = frozenset()
    personal: bool = False
    protected: bool = False
    # A scam's shape: the learned model may not keep as a record a message it fired on.
    scam: bool = False

    @property
    def reads_text(self) -> bool:
        """Whether the rule looks at the message text (words or patterns)."""
        return bool(self.words or self.patterns)

    @property
    def context_alone(self) -> bool:
        """Whether the rule fires on context alone: it has a context but reads neither the
        message's words nor whether personal words are in it (a short reply, say)."""
        return self.context is not None and not self.reads_text and self.when.personal_talk is None


@dataclass(frozen=True)
class RuleSet:
    """Validated rules: the base file and its overrides applied in order.

    ``version`` is the sha256 over the bytes of every file in order (the learned model's
    weights included, when the rules use it), first 12 hex digits, so a classification names
    exactly which rules produced it. ``model`` weighs what the rules leave open (see
    ``learned``); without it the rules alone decide.
    """

    rules: tuple[Rule, ...]
    nonrecord_threshold: float
    version: str
    source: str
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    overrides: tuple[str, ...] = ()
    model: LearnedModel | None = None

    @property
    def protected_ids(self) -> frozenset[str]:
        """The rules whose record verdict the model cannot pull down."""
        return frozenset(rule.id for rule in self.rules if rule.protected)

    @property
    def scam_ids(self) -> frozenset[str]:
        """The rules that name a scam's shape: the model may not keep a message they fire on as a record."""
        return frozenset(rule.id for rule in self.rules if rule.scam)
