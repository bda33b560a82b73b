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

This module reads each message once and walks the conversations; its parts live beside it:
the rule structures and text folding in ``ruleset``, finding words and patterns in
``matching``, conversation context in ``conversation``, and the decision with its
``Classification`` in ``verdict``.

Pure: no I/O.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from archiver.core.conversation import Evaluation, Prior, Thread, advance, context_holds, is_personal
from archiver.core.matching import TextIndex, covers, whole_message_vocabularies
from archiver.core.participants import ParticipantDirectory
from archiver.core.rules_loader import load_rules, parse_rules
from archiver.core.ruleset import (
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
    normalize,
    tokenize,
)
from archiver.core.verdict import DEFAULT_EXPLANATION, Classification, judge

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

# Distinct combinations of fired rules (and of participants) seen so far; a bound keeps
# memory flat on odd input.
_VERDICT_CACHE_SIZE = 4096
_ROLES_CACHE_SIZE = 16384
# The text an export writes in place of a file ("IMG-1.jpg (file attached)", "<Media omitted>"):
# the app wrote it, not a person, so words and patterns do not read it.
_PLACEHOLDER_RE = re.compile(r" ?\((?:file attached|archivo adjunto)\)|<(?:Media omitted|Multimedia omitido)>")

# The roles of all participants, the sender's role, the roles of all but the custodian.
_Roles = tuple[frozenset[str], str | None, frozenset[str]]
_NO_ROLES: _Roles = (frozenset(), None, frozenset())

_WORD_RE = re.compile(r"\w+")
_DIGIT_RE = re.compile(r"\d")


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
        self._index = TextIndex(rules.rules)
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
        self._whole = whole_message_vocabularies(rules.rules)
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
            prior = Prior(before, self._verdict(before.fired))
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
        threads: dict[tuple[str, str, str], Thread] = {}
        for message in messages:
            key = (message.custodian, message.source, message.conversation)
            current, thread = self._evaluate(message), threads.get(key)
            verdict, personal, question, answered_by = self._in_thread(current, message.sender, thread)
            yield message, verdict
            if not message.system:
                threads[key] = advance(thread, current, verdict, personal, question, answered_by)

    def _in_thread(
        self, current: Evaluation, sender: str, thread: Thread | None
    ) -> tuple[Classification, bool, Prior | None, frozenset[str]]:
        """Judge ``current`` after the previous message, or else as another answer to the
        question still open; return the verdict, whether a personal rule fired, the question
        left open (if the message answered one) and who, asker included, has answered it."""
        if thread is None:
            verdict, _, personal = self._decide(current, None, False)
            return verdict, personal, None, frozenset()
        conversation = is_personal(thread.recent)
        verdict, answered, personal = self._decide(current, thread.previous, conversation)
        question, answered_by = thread.previous, frozenset({thread.sender})
        if not answered and thread.question is not None and sender not in thread.answered_by:
            again, answered, again_personal = self._decide(current, thread.question, conversation)
            if answered:
                verdict, personal, question, answered_by = again, again_personal, thread.question, thread.answered_by
        if not answered or current.question:  # a new question opens a new exchange
            return verdict, personal, None, frozenset()
        return verdict, personal, question, answered_by | {sender}

    def _evaluate(self, message: Message) -> Evaluation:
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
                    covered[label] = covers(self._whole[label], tokens)
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
        return Evaluation(tuple(fired), tuple(pending), question, personal, message.sender, facts.has_number)

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
        self, current: Evaluation, prior: Prior | None, conversation: bool
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
            in_context = tuple(
                i for i in current.pending if context_holds(self._rules[i].context, current, prior, conversation)
            )
            if in_context:
                fired = tuple(sorted(fired + in_context))
                answered = any(self._rules[i].context == REPLY_TO_REQUEST for i in in_context)
        return self._verdict(fired), answered, personal

    def _verdict(self, fired: tuple[int, ...]) -> Classification:
        """The verdict on the rules that fired, memoized: few combinations ever recur."""
        verdict = self._verdicts.get(fired)
        if verdict is None:
            verdict = judge(tuple(self._rules[i] for i in fired), self.rules)
            if len(self._verdicts) < _VERDICT_CACHE_SIZE:
                self._verdicts[fired] = verdict
        return verdict
