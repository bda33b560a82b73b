"""Record or nonrecord: the classifier (44 U.S.C. 3301, 36 CFR 1222).

Rules live in YAML (``archiver/rules/classifier.yaml`` by default; loading and validation
are in ``archiver.rules_loader``) so a records officer can read and change them; the top of
that file explains every matcher. The classifier errs toward record. A message is a
nonrecord only when nonrecord rules fire and no record rule does; then the strongest
nonrecord rule decides between three outcomes:

- at or above ``nonrecord_threshold``: a confident nonrecord (only a tombstone is kept);
- at or above ``review_threshold``: an uncertain nonrecord (``review``: kept encrypted in a
  review queue until a records officer decides);
- below: a record, because wrongly discarding a record is unlawful destruction
  (36 CFR 1230) while keeping a nonrecord only costs storage.

Pure: no I/O except reading the rules files in ``load_rules``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archiver.participants import ParticipantDirectory
from archiver.rules_loader import (
    CONTEXTS,
    DEFAULT_REASON,
    DEFAULT_REVIEW_THRESHOLD,
    DEFAULT_THRESHOLD,
    LABELS,
    NONRECORD,
    RECORD,
    REPLY_TO_REQUEST,
    REPLY_TO_SOCIAL,
    RULES_FORMAT_VERSION,
    Facts,
    Rule,
    RuleSet,
    When,
    load_rules,
    normalize,
    parse_rules,
    tokenize,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from archiver.model import Message

__all__ = [
    "CONTEXTS", "DEFAULT_EXPLANATION", "DEFAULT_REASON", "DEFAULT_REVIEW_THRESHOLD", "DEFAULT_THRESHOLD",
    "LABELS", "NONRECORD", "RECORD", "REPLY_TO_REQUEST", "REPLY_TO_SOCIAL", "RULES_FORMAT_VERSION",
    "Classification", "Classifier", "Facts", "Rule", "RuleSet", "When", "load_rules", "normalize",
    "parse_rules", "tokenize",
]

DEFAULT_CONFIDENCE = 0.5
DEFAULT_EXPLANATION = (
    "default: no rule matched; kept as a record because discarding a record is unlawful "
    "(36 CFR 1230)"
)
WEAK_NONRECORD_EXPLANATION = (
    "default: no nonrecord rule reached the review threshold {threshold}; kept as a record "
    "because discarding a record is unlawful (36 CFR 1230)"
)
RECORD_EXPLANATION = "record: a record rule fired, and a record rule always wins over nonrecord rules"
CONFIDENT_EXPLANATION = (
    "nonrecord: no record rule fired and the strongest nonrecord rule ({confidence}) reaches "
    "the nonrecord threshold {threshold}; only a tombstone (id, hash, reasons) is kept"
)
REVIEW_EXPLANATION = (
    "review: no record rule fired, but the strongest nonrecord rule ({confidence}) is below the "
    "nonrecord threshold {threshold}; kept encrypted in the review queue until a records "
    "officer decides"
)
SET_ASIDE_EXPLANATION = "set aside: rule {rule} does not count because {by} fired"
# Distinct combinations of fired rules (and of participants) seen so far; a bound keeps
# memory flat on odd input.
_VERDICT_CACHE_SIZE = 4096
_ROLES_CACHE_SIZE = 16384

# The roles of all participants, the sender's role, the roles of all but the custodian.
_Roles = tuple[frozenset[str], str | None, frozenset[str]]
_NO_ROLES: _Roles = (frozenset(), None, frozenset())
# Whole-message entries, the longest entry in tokens, and every token the entries use.
_Vocabulary = tuple[frozenset[str], int, frozenset[str]]

_WORD_RE = re.compile(r"\w+")
# Unicode categories of single tokens that carry no words: punctuation, symbols such as
# emoji (a reaction adds no business to "ok"), and format characters such as the
# zero-width joiner inside "🤦‍♂️".
_FILLER_CATEGORIES = frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "So", "Sk", "Cf"})


@dataclass(frozen=True)
class Classification:
    """The verdict on one message, with the rules that led to it.

    ``label`` is ``record`` or ``nonrecord``. ``review`` is true for an uncertain
    nonrecord: nonrecord rules fired, no record rule did, and the strongest is below
    ``nonrecord_threshold`` but at or above ``review_threshold``; such a message waits,
    encrypted, for a records officer instead of being reduced to a tombstone.
    ``reasons`` are the ids of the rules that fired, in rule order, followed by
    ``"default"`` when the record label comes from the err-toward-record default.
    ``explanations`` are the texts of those rules, then notes on rules set aside by
    ``unless``, then one sentence naming the outcome. ``schedule`` is the schedule item a
    rule suggests; ``None`` means the custodian's Capstone item.
    """

    label: str
    confidence: float
    reasons: tuple[str, ...]
    explanations: tuple[str, ...]
    schedule: str | None
    rules_version: str
    review: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form printed by ``archiver classify``."""
        return {
            "label": self.label,
            "review": self.review,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "schedule": self.schedule,
            "rules_version": self.rules_version,
        }


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """A message judged on its own: rules fired, and context rules waiting for context."""

    fired: tuple[int, ...]
    pending: tuple[int, ...]
    question: bool


@dataclass(frozen=True, slots=True)
class _Thread:
    """Where a conversation stands: its last message and the question still open, if any."""

    previous: _Evaluation
    sender: str
    question: _Evaluation | None
    answered_by: frozenset[str]


class _TextIndex:
    """Every word, phrase and pattern of a rule set, compiled once for one pass per message."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        words: dict[str, set[int]] = {}
        phrases: dict[str, list[tuple[str, int]]] = {}
        for index, rule in enumerate(rules):
            for entry in rule.words:
                first, _, rest = entry.partition(" ")
                if rest:
                    phrases.setdefault(first, []).append((f" {entry} ", index))
                else:
                    words.setdefault(entry, set()).add(index)
        self._words = {word: tuple(sorted(ids)) for word, ids in words.items()}
        self._word_keys = frozenset(self._words)
        self._phrases = {first: tuple(found) for first, found in phrases.items()}
        self._phrase_keys = frozenset(self._phrases)
        self._patterns = tuple(
            (index, re.compile(pattern))
            for index, rule in enumerate(rules)
            for pattern in rule.patterns
        )

    def hits(self, body: str, normalized: str, tokens: list[str]) -> set[int]:
        """Return the indices of rules whose words or patterns occur in the message."""
        present = set(tokens)
        found: set[int] = set()
        for token in present & self._word_keys:
            found.update(self._words[token])
        starts = present & self._phrase_keys
        if starts:
            joined = f" {' '.join(tokens)} "
            for token in starts:
                found.update(index for phrase, index in self._phrases[token] if phrase in joined)
        if normalized == body:  # one search suffices (lowercase ASCII, the common short reply)
            found.update(index for index, regex in self._patterns if regex.search(normalized))
            return found
        for index, regex in self._patterns:
            if index not in found and (regex.search(body) or regex.search(normalized)):
                found.add(index)
        return found


def _is_filler(token: str) -> bool:
    """Punctuation, an emoji or an invisible joiner: nothing a whole-message rule must list."""
    return len(token) == 1 and unicodedata.category(token) in _FILLER_CATEGORIES


def _covers(vocabulary: _Vocabulary, tokens: list[str]) -> bool:
    """Return whether ``tokens`` are made entirely of the vocabulary's entries (and
    punctuation or emoji).

    Tries every split, not only the greedy one, so "ok thanks a lot" is covered by
    "ok" + "thanks a lot" even when "ok thanks" is listed too.
    """
    entries, longest, known = vocabulary
    # Most messages have a word no entry uses: reject them before trying splits.
    if not all(token in known or _is_filler(token) for token in tokens):
        return False
    reachable = {0}
    for start, token in enumerate(tokens):
        if start not in reachable:
            continue
        if _is_filler(token):
            reachable.add(start + 1)
        for length in range(1, longest + 1):
            if " ".join(tokens[start : start + length]) in entries:
                reachable.add(start + length)
    return bool(tokens) and len(tokens) in reachable


class Classifier:
    """Classifies messages with one rule set; everything is compiled once, here.

    ``participants`` gives the roles the ``participant_role``, ``sender_role`` and
    ``all_roles`` matchers look at; without it every participant is ``unknown``.
    """

    def __init__(self, rules: RuleSet, participants: ParticipantDirectory | None = None) -> None:
        self.rules = rules
        self.participants = participants
        self._rules = rules.rules
        self._directory = participants if participants is not None else ParticipantDirectory()
        self._reads_participants = any(rule.when.reads_participants for rule in rules.rules)
        self._index = _TextIndex(rules.rules)
        self._always = frozenset(i for i, rule in enumerate(rules.rules) if not rule.reads_text)
        self._conditional = frozenset(i for i, rule in enumerate(rules.rules) if rule.when != When())
        self._whole = _whole_message_vocabularies(rules.rules)
        self._verdicts: dict[tuple[int, ...], Classification] = {}
        self._roles: dict[tuple[str, tuple[str, ...], str, str], _Roles] = {}

    def classify(self, message: Message, previous: Message | None = None) -> Classification:
        """Classify one message; ``previous`` is the message before it in its conversation.

        App notices give no context, so a system ``previous`` is ignored.
        """
        current = self._evaluate(message)
        prior = None
        if current.pending and previous is not None and not previous.system:
            prior = self._evaluate(previous)
        return self._decide(current, prior)[0]

    def classify_stream(
        self, messages: Iterable[Message]
    ) -> Iterator[tuple[Message, Classification]]:
        """Classify messages in export order, tracking the previous message per conversation.

        Conversations are told apart by custodian, source and conversation name, so
        interleaved chats keep their own context; app notices are skipped as context. A
        short answer to a question keeps the question open: in a group chat several people
        answer it ("Can we hold the release?" "De acuerdo." "Sí"), and each answer counts.
        """
        threads: dict[tuple[str, str, str], _Thread] = {}
        for message in messages:
            key = (message.custodian, message.source, message.conversation)
            current, thread = self._evaluate(message), threads.get(key)
            verdict, question, answered_by = self._in_thread(current, message.sender, thread)
            yield message, verdict
            if not message.system:
                threads[key] = _Thread(current, message.sender, question, answered_by)

    def _in_thread(
        self, current: _Evaluation, sender: str, thread: _Thread | None
    ) -> tuple[Classification, _Evaluation | None, frozenset[str]]:
        """Judge ``current`` after the previous message, or else as another answer to the
        question still open; return the verdict, the question left open (if the message
        answered one) and who, asker included, has answered it."""
        if thread is None:
            return self._decide(current, None)[0], None, frozenset()
        verdict, answered = self._decide(current, thread.previous)
        question, answered_by = thread.previous, frozenset({thread.sender})
        if not answered and thread.question is not None and sender not in thread.answered_by:
            again, answered = self._decide(current, thread.question)
            if answered:
                verdict, question, answered_by = again, thread.question, thread.answered_by
        if not answered or current.question:  # a new question opens a new exchange
            return verdict, None, frozenset()
        return verdict, question, answered_by | {sender}

    def _evaluate(self, message: Message) -> _Evaluation:
        """Judge a message on its own: which rules fire without looking at context."""
        facts, tokens, candidates = self._read(message)
        fired: list[int] = []
        pending: list[int] = []
        covered: dict[str, bool] = {}
        for index in sorted(candidates):
            rule = self._rules[index]
            # App notices are not part of the dialogue: they answer nothing.
            if (index in self._conditional and not rule.when.holds(facts)) or (rule.context and message.system):
                continue
            if rule.whole_message:
                if rule.label not in covered:
                    covered[rule.label] = _covers(self._whole[rule.label], tokens)
                if not covered[rule.label]:
                    continue
            (pending if rule.context else fired).append(index)
        question = "?" in tokens or "¿" in tokens
        return _Evaluation(tuple(fired), tuple(pending), question)

    def _read(self, message: Message) -> tuple[Facts, list[str], set[int]]:
        """Normalize and tokenize once; return the facts, tokens and candidate rules."""
        normalized = normalize(message.body)
        # App notices are written by the app, not a person: no roles, and text matchers skip them.
        roles, sender_role, others = (
            self._participants(message) if self._reads_participants and not message.system else _NO_ROLES
        )
        facts = Facts(
            system=message.system,
            has_attachment=bool(message.attachments),
            direction=message.direction,
            word_count=len(_WORD_RE.findall(normalized)),
            body_empty=not message.body.strip(),
            roles=roles,
            sender_role=sender_role,
            others=others,
        )
        if message.system:
            return facts, [], set(self._always)
        tokens = tokenize(normalized)
        return facts, tokens, self._index.hits(message.body, normalized, tokens) | self._always

    def _participants(self, message: Message) -> _Roles:
        """The roles of who takes part, memoized: a conversation repeats the same people."""
        key = (message.sender, message.recipients, message.direction, message.custodian)
        found = self._roles.get(key)
        if found is None:
            directory = self._directory
            found = (
                frozenset(directory.roles(message)),
                directory.role_of(message.sender),
                frozenset(directory.others_roles(message)),
            )
            if len(self._roles) < _ROLES_CACHE_SIZE:
                self._roles[key] = found
        return found

    def _decide(self, current: _Evaluation, prior: _Evaluation | None) -> tuple[Classification, bool]:
        """Add the context rules the previous message satisfies, then give the verdict.

        Also says whether the message answers the previous one (a reply rule fired).
        """
        fired = current.fired
        answered = False
        if current.pending and prior is not None:
            in_context = tuple(i for i in current.pending if self._context_holds(i, prior))
            fired = tuple(sorted(fired + in_context))
            answered = any(self._rules[i].context == REPLY_TO_REQUEST for i in in_context)
        return self._verdict(fired), answered

    def _context_holds(self, index: int, prior: _Evaluation) -> bool:
        """Whether context rule ``index`` holds given the previous message ``prior``."""
        context = self._rules[index].context
        verdict = self._verdict(prior.fired)
        if context == REPLY_TO_REQUEST:
            # A record rule (not the default) must have decided the question.
            return prior.question and verdict.label == RECORD and DEFAULT_REASON not in verdict.reasons
        # Only confident social talk makes a short reply social: doubt is not inherited as certainty.
        return verdict.label == NONRECORD and not verdict.review

    def _verdict(self, fired: tuple[int, ...]) -> Classification:
        """The verdict on the rules that fired, memoized: few combinations ever recur."""
        verdict = self._verdicts.get(fired)
        if verdict is None:
            verdict = self._judge(tuple(self._rules[i] for i in fired))
            if len(self._verdicts) < _VERDICT_CACHE_SIZE:
                self._verdicts[fired] = verdict
        return verdict

    def _judge(self, fired: tuple[Rule, ...]) -> Classification:
        """Apply the err-toward-record decision to the rules that fired."""
        ids = {rule.id for rule in fired}
        kept = tuple(rule for rule in fired if rule.unless.isdisjoint(ids))
        notes = tuple(
            SET_ASIDE_EXPLANATION.format(rule=rule.id, by=", ".join(sorted(rule.unless & ids)))
            for rule in fired
            if not rule.unless.isdisjoint(ids)
        )
        records = [rule for rule in kept if rule.label == RECORD]
        if records:
            confidence = max(rule.confidence for rule in records)
            return self._result(RECORD, confidence, kept, notes, RECORD_EXPLANATION, _agreed_schedule(records))
        nonrecord = max((rule.confidence for rule in kept), default=0.0)
        if kept and nonrecord >= self.rules.nonrecord_threshold:
            outcome = CONFIDENT_EXPLANATION.format(confidence=nonrecord, threshold=self.rules.nonrecord_threshold)
            return self._result(NONRECORD, nonrecord, kept, notes, outcome)
        if kept and nonrecord >= self.rules.review_threshold:
            outcome = REVIEW_EXPLANATION.format(confidence=nonrecord, threshold=self.rules.nonrecord_threshold)
            return replace(self._result(NONRECORD, nonrecord, kept, notes, outcome), review=True)
        return self._default(kept, notes, nonrecord)

    def _default(self, fired: tuple[Rule, ...], notes: tuple[str, ...], nonrecord: float) -> Classification:
        """Keep as a record; weak nonrecord evidence lowers the confidence, never raises it."""
        outcome = DEFAULT_EXPLANATION
        if fired:
            outcome = WEAK_NONRECORD_EXPLANATION.format(threshold=self.rules.review_threshold)
        kept = self._result(RECORD, min(DEFAULT_CONFIDENCE, 1.0 - nonrecord), fired, notes, outcome)
        return replace(kept, reasons=(*kept.reasons, DEFAULT_REASON))

    def _result(
        self,
        label: str,
        confidence: float,
        fired: tuple[Rule, ...],
        notes: tuple[str, ...],
        outcome: str,
        schedule: str | None = None,
    ) -> Classification:
        return Classification(
            label=label,
            confidence=round(confidence, 3),
            reasons=tuple(rule.id for rule in fired),
            explanations=(*(rule.explain for rule in fired), *notes, outcome),
            schedule=schedule,
            rules_version=self.rules.version,
        )


def _whole_message_vocabularies(rules: tuple[Rule, ...]) -> dict[str, _Vocabulary]:
    """Per label, every entry of its whole_message rules, the longest entry in tokens, and
    every token the entries use.

    Whole-message rules of one label share their words, so "hola, gracias 😂" (greeting and
    acknowledgement) is small talk as much as "hola" or "gracias" alone.
    """
    vocabularies: dict[str, _Vocabulary] = {}
    for label in {rule.label for rule in rules if rule.whole_message}:
        words = [entry for rule in rules if rule.whole_message and rule.label == label for entry in rule.words]
        longest = max(entry.count(" ") + 1 for entry in words)
        vocabularies[label] = (frozenset(words), longest, frozenset(" ".join(words).split()))
    return vocabularies


def _agreed_schedule(records: list[Rule]) -> str | None:
    """The schedule all record rules agree on; any disagreement means Capstone (None)."""
    schedules = {rule.schedule for rule in records}
    return schedules.pop() if len(schedules) == 1 else None
