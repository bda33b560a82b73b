"""Record or nonrecord: the classifier (44 U.S.C. 3301, 36 CFR 1222).

Rules live in YAML (``archiver/core/rules/classifier.yaml`` by default; loading and validation
are in ``archiver.core.rules_loader``) so a records officer can read and change them; the top of
that file explains every matcher. The classifier errs toward record. A message is a
nonrecord only when nonrecord rules fire and no record rule does; then the strongest
nonrecord rule decides between three outcomes:

- at or above ``nonrecord_threshold``: a confident nonrecord (only a tombstone is kept);
- at or above ``review_threshold``: an uncertain nonrecord (``review``: kept encrypted in a
  review queue until a records officer decides);
- below: a record, because wrongly discarding a record is unlawful destruction
  (36 CFR 1230) while keeping a nonrecord only costs storage.

A record rule may "give way" (``review_if``) to rules that show its words are meant in an
everyday sense, such as personal words in a conversation of personal talk: the message is
then at most ``review``, never a tombstone, since a record rule did fire on it. Context
alone (a short reply, a conversation of personal talk) never makes a rule that found words
in the message give way, and never sends a message to the tombstone: ``rules_loader``
refuses rules that would.
``classify_stream`` keeps a few values per conversation (the previous message as it was
decided, the question still open, and what its last eight messages left) so that replies
and personal conversations are judged in context.

Pure: no I/O except reading the rules files in ``load_rules``.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archiver.core.participants import ParticipantDirectory
from archiver.core.rules_loader import (
    CONTEXTS,
    DEFAULT_REASON,
    DEFAULT_REVIEW_THRESHOLD,
    DEFAULT_THRESHOLD,
    LABELS,
    NONRECORD,
    PERSONAL_CONVERSATION,
    RECORD,
    REPLY_TO_PERSONAL,
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
    "LABELS", "NONRECORD", "PERSONAL_CONVERSATION", "RECORD", "REPLY_TO_PERSONAL", "REPLY_TO_REQUEST",
    "REPLY_TO_SOCIAL", "RULES_FORMAT_VERSION",
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
DOUBT_EXPLANATION = (
    "review: record rule(s) {rules} gave way to {by} and no other record rule fired; a message a "
    "record rule fired on is never discarded outright, so it waits, encrypted, in the review queue "
    "(confidence set to the review threshold {threshold}) until a records officer decides"
)
SET_ASIDE_EXPLANATION = "set aside: rule {rule} does not count because {by} fired"
IN_DOUBT_EXPLANATION = "in doubt: rule {rule} gives way because {by} fired"
# Distinct combinations of fired rules (and of participants) seen so far; a bound keeps
# memory flat on odd input.
_VERDICT_CACHE_SIZE = 4096
_ROLES_CACHE_SIZE = 16384
# A conversation is personal when none of its last _HORIZON messages (app notices aside) was
# decided a record by a record rule (or kept by default with a figure in it and no personal
# words: "Truck 44 at dock 2" states a fact), and at least _PERSONAL_NEEDED of its last
# _WINDOW had personal words of their own. A conversation that has not yet had _WINDOW messages is never
# personal: two personal messages at its opening are not enough to judge it.
_HORIZON = 8
_WINDOW = 4
_PERSONAL_NEEDED = 2
# What each message of the window left: business (a record by a record rule, or by default
# with a figure and no personal words), personal talk, or neither.
_NEUTRAL, _PERSONAL, _RECORDED = 0, 1, 2
# The text an export writes in place of a file ("IMG-1.jpg (file attached)", "<Media omitted>"):
# the app wrote it, not a person, so words and patterns do not read it.
_PLACEHOLDER_RE = re.compile(r" ?\((?:file attached|archivo adjunto)\)|<(?:Media omitted|Multimedia omitido)>")

# The roles of all participants, the sender's role, the roles of all but the custodian.
_Roles = tuple[frozenset[str], str | None, frozenset[str]]
_NO_ROLES: _Roles = (frozenset(), None, frozenset())
# Whole-message entries, the longest entry in tokens, and every token the entries use.
_Vocabulary = tuple[frozenset[str], int, frozenset[str]]

_WORD_RE = re.compile(r"\w+")
_DIGIT_RE = re.compile(r"\d")
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
    personal: bool  # a personal rule fired on the text
    sender: str
    number: bool  # the text a person wrote has a figure


@dataclass(frozen=True, slots=True)
class _Prior:
    """A previous message and its verdict (in a stream, the verdict in its context)."""

    evaluation: _Evaluation
    verdict: Classification


@dataclass(frozen=True, slots=True)
class _Thread:
    """Where a conversation stands: its last message, the question still open, if any, and
    what each of its last few messages left (record, personal talk or neither)."""

    previous: _Prior
    sender: str
    question: _Prior | None
    answered_by: frozenset[str]
    recent: tuple[int, ...]


class _TextIndex:
    """Every word, phrase and pattern of a rule set, compiled once for one pass per message."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        words: dict[str, set[int]] = {}
        # Phrases by their first two words; a two-word phrase is found by its pair alone.
        pairs: dict[str, set[int]] = {}
        phrases: dict[str, list[tuple[str, int]]] = {}
        for index, rule in enumerate(rules):
            for entry in rule.words:
                parts = entry.split(" ")
                if len(parts) == 1:
                    words.setdefault(entry, set()).add(index)
                elif len(parts) == 2:
                    pairs.setdefault(entry, set()).add(index)
                else:
                    phrases.setdefault(" ".join(parts[:2]), []).append((f" {entry} ", index))
        self._words = {word: tuple(sorted(ids)) for word, ids in words.items()}
        self._word_keys = frozenset(self._words)
        self._pairs = {pair: tuple(sorted(ids)) for pair, ids in pairs.items()}
        self._phrases = {pair: tuple(found) for pair, found in phrases.items()}
        self._pair_keys = frozenset(self._pairs) | frozenset(self._phrases)
        compiled = [
            (index, re.compile(pattern), _reads_text_as_written(pattern))
            for index, rule in enumerate(rules)
            for pattern in rule.patterns
        ]
        self._patterns = tuple((index, regex) for index, regex, _ in compiled)
        self._folded_patterns = tuple((index, regex) for index, regex, written in compiled if not written)
        self._written_patterns = tuple((index, regex) for index, regex, written in compiled if written)

    def hits(self, body: str, normalized: str, tokens: list[str]) -> set[int]:
        """Return the indices of rules whose words or patterns occur in the message."""
        found: set[int] = set()
        for token in self._word_keys.intersection(tokens):
            found.update(self._words[token])
        if len(tokens) > 1:
            starts = self._pair_keys.intersection(map(" ".join, zip(tokens, tokens[1:], strict=False)))
            if starts:
                joined = None
                for pair in starts:
                    if pair in self._pairs:
                        found.update(self._pairs[pair])
                    if pair in self._phrases:
                        joined = joined or f" {' '.join(tokens)} "
                        found.update(index for phrase, index in self._phrases[pair] if phrase in joined)
        if normalized == body:  # one search suffices (lowercase ASCII, the common short reply)
            found.update(index for index, regex in self._patterns if regex.search(normalized))
            return found
        for index, regex in self._folded_patterns:
            if index not in found and regex.search(normalized):
                found.add(index)
        for index, regex in self._written_patterns:
            if index not in found and (regex.search(body) or regex.search(normalized)):
                found.add(index)
        return found


def _allows(rule: Rule, system: bool, has_attachment: bool, body_empty: bool) -> bool:
    """Whether a rule may fire on a message of this kind, by ``when`` and context alone.

    App notices are not part of the dialogue: context rules never fire on them.
    """
    when = rule.when
    return (
        (when.system is None or when.system == system)
        and (when.has_attachment is None or when.has_attachment == has_attachment)
        and (when.body_empty is None or when.body_empty == body_empty)
        and not (rule.context and system)
    )


def _reads_text_as_written(pattern: str) -> bool:
    """Whether a pattern may match the text as written where its normalized form does not:
    only if it names an uppercase or accented letter (or any character by a code escape).
    Otherwise the normalized form, which folds every case and accent, is the only one to search."""
    if re.search(r"\\[uUxN0-7]", pattern):
        return True
    plain = re.sub(r"\\.", "", pattern)
    return any(char.isupper() or not char.isascii() for char in plain)


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
        self._reads_names = any(rule.when.conversation_name is not None for rule in rules.rules)
        self._index = _TextIndex(rules.rules)
        # Rules without words or patterns are checked on every message, but only on the kinds
        # of message (app notice or not, with a file or not, empty or not) their `when` allows.
        self._always = {
            kind: frozenset(
                i for i, rule in enumerate(rules.rules)
                if not rule.reads_text and _allows(rule, *kind)
            )
            for kind in itertools.product((False, True), repeat=3)
        }
        # What remains to check of each rule's `when`: nothing, a word count and whether the
        # text has a figure, or all of it.
        self._max_words: dict[int, int] = {}
        self._has_number: dict[int, bool] = {}
        self._full_check: set[int] = set()
        for i, rule in enumerate(rules.rules):
            rest = replace(rule.when, max_words=None, personal_talk=None, has_number=None)
            if rule.reads_text and rest != When():
                self._full_check.add(i)
            elif replace(rest, system=None, has_attachment=None, body_empty=None) != When():
                self._full_check.add(i)
            else:
                if rule.when.max_words is not None:
                    self._max_words[i] = rule.when.max_words
                if rule.when.has_number is not None:
                    self._has_number[i] = rule.when.has_number
        self._in_context = frozenset(i for i, rule in enumerate(rules.rules) if rule.context)
        self._whole_rules = frozenset(i for i, rule in enumerate(rules.rules) if rule.whole_message)
        self._personal = frozenset(i for i, rule in enumerate(rules.rules) if rule.personal)
        # Rules that look at whether a personal rule fired: checked after all the others.
        self._after_personal = {
            i: rule.when.personal_talk for i, rule in enumerate(rules.rules) if rule.when.personal_talk is not None
        }
        self._whole = _whole_message_vocabularies(rules.rules)
        self._verdicts: dict[tuple[int, ...], Classification] = {}
        self._roles: dict[tuple[str, tuple[str, ...], str, str], _Roles] = {}
        self._names: dict[str, frozenset[str]] = {}

    def classify(self, message: Message, previous: Message | None = None) -> Classification:
        """Classify one message; ``previous`` is the message before it in its conversation.

        App notices give no context, so a system ``previous`` is ignored.
        """
        current = self._evaluate(message)
        prior = None
        if current.pending and previous is not None and not previous.system:
            before = self._evaluate(previous)
            prior = _Prior(before, self._verdict(before.fired))
        return self._decide(current, prior, False)[0]

    def classify_stream(
        self, messages: Iterable[Message]
    ) -> Iterator[tuple[Message, Classification]]:
        """Classify messages in export order, tracking the previous message per conversation.

        Conversations are told apart by custodian, source and conversation name, so
        interleaved chats keep their own context; app notices are skipped as context. A
        short answer to a question keeps the question open: in a group chat several people
        answer it ("Can we hold the release?" "De acuerdo." "Sí"), and each answer counts.
        Each message is judged after the previous one as that one was judged in context,
        and the last few messages tell whether the conversation is personal talk; the state
        kept per conversation is a few values, whatever its length.
        """
        threads: dict[tuple[str, str, str], _Thread] = {}
        for message in messages:
            key = (message.custodian, message.source, message.conversation)
            current, thread = self._evaluate(message), threads.get(key)
            verdict, personal, question, answered_by = self._in_thread(current, message.sender, thread)
            yield message, verdict
            if not message.system:
                if verdict.label == RECORD:
                    by_default = verdict.reasons[-1:] == (DEFAULT_REASON,)
                    left = _NEUTRAL if by_default and not (current.number and not personal) else _RECORDED
                else:
                    left = _PERSONAL if personal else _NEUTRAL
                recent = (*thread.recent[1 - _HORIZON :], left) if thread is not None else (left,)
                threads[key] = _Thread(_Prior(current, verdict), message.sender, question, answered_by, recent)

    def _in_thread(
        self, current: _Evaluation, sender: str, thread: _Thread | None
    ) -> tuple[Classification, bool, _Prior | None, frozenset[str]]:
        """Judge ``current`` after the previous message, or else as another answer to the
        question still open; return the verdict, whether a personal rule fired, the question
        left open (if the message answered one) and who, asker included, has answered it."""
        if thread is None:
            verdict, _, personal = self._decide(current, None, False)
            return verdict, personal, None, frozenset()
        conversation = _is_personal(thread.recent)
        verdict, answered, personal = self._decide(current, thread.previous, conversation)
        question, answered_by = thread.previous, frozenset({thread.sender})
        if not answered and thread.question is not None and sender not in thread.answered_by:
            again, answered, again_personal = self._decide(current, thread.question, conversation)
            if answered:
                verdict, personal, question, answered_by = again, again_personal, thread.question, thread.answered_by
        if not answered or current.question:  # a new question opens a new exchange
            return verdict, personal, None, frozenset()
        return verdict, personal, question, answered_by | {sender}

    def _evaluate(self, message: Message) -> _Evaluation:
        """Judge a message on its own: which rules fire without looking at context."""
        facts, tokens, candidates = self._read(message)
        fired: list[int] = []
        pending: list[int] = []
        covered: dict[str, bool] = {}
        later = self._after_personal
        rules, full, max_words, in_context = self._rules, self._full_check, self._max_words, self._in_context
        has_number, number = self._has_number, facts.has_number
        words = facts.word_count
        deferred: list[int] = []
        for index in sorted(candidates):
            if index in later:
                deferred.append(index)
                continue
            if index in full:
                if not rules[index].when.holds(facts):
                    continue
            elif (index in max_words and words > max_words[index]) or (
                index in has_number and number != has_number[index]
            ):
                continue
            if index in self._whole_rules:
                label = rules[index].label
                if label not in covered:
                    covered[label] = _covers(self._whole[label], tokens)
                if not covered[label]:
                    continue
            (pending if index in in_context else fired).append(index)
        personal = not self._personal.isdisjoint(fired)
        if deferred:
            for index in deferred:
                if later[index] != personal or not rules[index].when.holds(facts):
                    continue
                (pending if index in in_context else fired).append(index)
            fired.sort()
            pending.sort()
        question = "?" in tokens or "¿" in tokens
        return _Evaluation(tuple(fired), tuple(pending), question, personal, message.sender, facts.has_number)

    def _read(self, message: Message) -> tuple[Facts, list[str], set[int] | frozenset[int]]:
        """Normalize and tokenize once; return the facts, tokens and candidate rules."""
        body = written = message.body
        if message.attachments and body:
            body = written = _PLACEHOLDER_RE.sub("", body)
            for attachment in message.attachments:  # the export wrote the file's name, not a person
                if attachment.name:
                    written = written.replace(attachment.name, "")
        normalized = normalize(body)
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
            has_number=_DIGIT_RE.search(written) is not None,
            roles=roles,
            sender_role=sender_role,
            others=others,
            conversation=self._name(message.conversation) if self._reads_names and not message.system else frozenset(),
        )
        always = self._always[(facts.system, facts.has_attachment, facts.body_empty)]
        if message.system:
            return facts, [], always
        tokens = tokenize(normalized)
        return facts, tokens, self._index.hits(body, normalized, tokens) | always

    def _name(self, conversation: str) -> frozenset[str]:
        """The words and emoji of a conversation's name, memoized: a conversation repeats it."""
        found = self._names.get(conversation)
        if found is None:
            found = frozenset(tokenize(normalize(conversation)))
            if len(self._names) < _ROLES_CACHE_SIZE:
                self._names[conversation] = found
        return found

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

    def _decide(
        self, current: _Evaluation, prior: _Prior | None, conversation: bool
    ) -> tuple[Classification, bool, bool]:
        """Add the context rules that hold, then give the verdict.

        ``prior`` is the previous message, ``conversation`` whether the conversation is
        personal talk. Also says whether the message answers the previous one (a reply rule
        fired) and whether a personal rule fired on its own text (context rules are never
        personal: personal talk is not inherited from the messages before).
        """
        fired = current.fired
        answered, personal = False, current.personal
        if current.pending and (prior is not None or conversation):
            in_context = tuple(i for i in current.pending if self._context_holds(i, current, prior, conversation))
            if in_context:
                fired = tuple(sorted(fired + in_context))
                answered = any(self._rules[i].context == REPLY_TO_REQUEST for i in in_context)
        return self._verdict(fired), answered, personal

    def _context_holds(self, index: int, current: _Evaluation, prior: _Prior | None, conversation: bool) -> bool:
        """Whether context rule ``index`` holds for ``current`` after the previous message
        ``prior``, in a conversation that is (``conversation``) or is not personal talk."""
        context = self._rules[index].context
        if context == PERSONAL_CONVERSATION:
            return conversation
        if prior is None:
            return False
        verdict = prior.verdict
        if context == REPLY_TO_REQUEST:
            # A record rule (not the default) must have decided the question.
            return prior.evaluation.question and verdict.label == RECORD and DEFAULT_REASON not in verdict.reasons
        if prior.evaluation.sender == current.sender:
            return False  # the same person going on is not a reply to talk (social or personal)
        if context == REPLY_TO_PERSONAL:
            # A personal question: personal words in the previous message itself (not a reply to
            # a reply), a question mark, and not a record. Personal talk kept from the tombstone
            # (review) still makes a reply personal; a personal remark leaves nothing to answer.
            evaluation = prior.evaluation
            return evaluation.personal and evaluation.question and verdict.label == NONRECORD
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
        standing = tuple(rule for rule in fired if rule.unless.isdisjoint(ids))
        kept = tuple(rule for rule in standing if rule.review_if.isdisjoint(ids))
        doubted = tuple(rule for rule in standing if not rule.review_if.isdisjoint(ids))
        notes = tuple(
            SET_ASIDE_EXPLANATION.format(rule=rule.id, by=", ".join(sorted(rule.unless & ids)))
            for rule in fired
            if not rule.unless.isdisjoint(ids)
        ) + tuple(
            IN_DOUBT_EXPLANATION.format(rule=rule.id, by=", ".join(sorted(rule.review_if & ids)))
            for rule in doubted
        )
        records = [rule for rule in kept if rule.label == RECORD]
        if records:
            confidence = max(rule.confidence for rule in records)
            return self._result(RECORD, confidence, kept, notes, RECORD_EXPLANATION, _agreed_schedule(records))
        nonrecord = max((rule.confidence for rule in kept), default=0.0)
        if doubted and kept and nonrecord >= self.rules.review_threshold:
            # A record rule fired: at most review, never the tombstone.
            by = sorted({name for rule in doubted for name in rule.review_if & ids})
            outcome = DOUBT_EXPLANATION.format(rules=", ".join(rule.id for rule in doubted), by=", ".join(by),
                                               threshold=self.rules.review_threshold)
            verdict = self._result(NONRECORD, self.rules.review_threshold, kept, notes, outcome)
            return replace(verdict, review=True)
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


def _is_personal(recent: tuple[int, ...]) -> bool:
    """Whether a conversation whose last messages left ``recent`` is personal talk."""
    return (
        len(recent) >= _WINDOW
        and _RECORDED not in recent
        and recent[-_WINDOW:].count(_PERSONAL) >= _PERSONAL_NEEDED
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
