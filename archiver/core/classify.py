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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from archiver.core.conversation import Evaluation, Prior, Thread, advance, context_holds, is_personal, thread_context
from archiver.core.learned import previous_features, shape_features, text_features
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
from archiver.core.verdict import DEFAULT_EXPLANATION, Classification, judge, weigh

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

_MARK_RE = re.compile(r"[^\w\s]")
_TEXT_CACHE_SIZE = 16384
_MEMO_TEXT_CHARS = 1024  # longer texts are not memoized: they rarely recur, and 16,384 of them could be huge


# Built for every new text or message: slotted, not frozen (four times faster to build); never changed.
@dataclass(slots=True)
class _Text:
    """What a message's words give, whoever wrote them: tokens, word count, whether a person
    wrote a figure, the rules whose words or patterns occur, and the learned model's weight."""

    tokens: tuple[str, ...]
    words: int
    has_number: bool
    hits: frozenset[int]
    score: tuple[float, float]  # by the learned model's two layers
    link: bool


@dataclass(frozen=True, slots=True)
class Reading:
    """What the learned model reads of one message, and where it stands in its conversation."""

    features: list[str]
    conversation: tuple[str, str, str]
    sender: str
    question: bool
    system: bool


@dataclass(slots=True)  # not frozen, as _Text
class _Step:
    """One message judged in its conversation: by the rules alone, and weighed by the model."""

    message: Message
    current: Evaluation
    verdict: Classification
    thread: Thread | None
    judged: Classification


# A name that is only a phone number or a short code ("+1 (833) 555-0147", "227898").
_PHONE_RE = re.compile(r"[\s+().\d-]{4,}\Z")
# A link or a bare domain ("https://…", "www.…", "usps-redeliver.example.top/pay").
_LINK_RE = re.compile(r"https?://|www\.|[\w-]\.(?:com|net|org|info|top|xyz|site|online|link|co|io|ly|me|app)\b")
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
        self._index = TextIndex(rules.rules, (_LINK_RE,))
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
        self._texts: dict[str, _Text] = {}
        self._evaluations: dict[tuple[object, ...], Evaluation] = {}
        self._scores: dict[tuple[object, ...], tuple[float, float]] = {}
        self._shapes: dict[tuple[object, ...], tuple[str, ...]] = {}
        self._model = rules.model
        self._protected, self._scams = rules.protected_ids, rules.scam_ids

    def classify(self, message: Message, previous: Message | None = None) -> Classification:
        """Classify one message; ``previous`` is the message before it in its conversation.

        App notices give no context, so a system ``previous`` is ignored.
        """
        thread = None
        if previous is not None and not previous.system:
            before = self._evaluate(previous)
            verdict, _, personal = self._decide(before, None, False)
            thread = advance(None, before, verdict, personal, None, frozenset(),
                             not self._protected.isdisjoint(verdict.reasons), self._weigh(before, verdict, None)[1])
        current = self._evaluate(message)
        return self._weigh(current, self._in_thread(current, message.sender, thread)[0], thread)[0]

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
        for step in self._walk(messages):
            yield step.message, step.judged

    def features(self, messages: Iterable[Message]) -> Iterator[Reading]:
        """What the learned model reads of each message, in context as ``classify_stream``
        reads it: what the model is trained on (``scripts/train_classifier.py``)."""
        for step in self._walk(messages):
            current = step.current
            features = _features(current, step.verdict, thread_context(step.thread))
            yield Reading([*text_features(current.tokens), *features],
                          (step.message.custodian, step.message.source, step.message.conversation),
                          current.sender, current.question, step.message.system)

    def _walk(self, messages: Iterable[Message]) -> Iterator[_Step]:
        """Each message judged in its conversation, the conversation then moved on past it."""
        threads: dict[tuple[str, str, str], Thread] = {}
        for message in messages:
            key = (message.custodian, message.source, message.conversation)
            current, thread = self._evaluate(message), threads.get(key)
            verdict, personal, question, answered_by = self._in_thread(current, message.sender, thread)
            judged, score = self._weigh(current, verdict, thread)
            yield _Step(message, current, verdict, thread, judged)
            if not message.system:
                threads[key] = advance(thread, current, verdict, personal, question, answered_by,
                                       not self._protected.isdisjoint(verdict.reasons), score)

    def _weigh(self, current: Evaluation, verdict: Classification,
               thread: Thread | None) -> tuple[Classification, float | None]:
        """The rules' verdict weighed by the learned model, when the rules use one, and what
        the model's first layer says of the message alone (the next message reads it)."""
        model = self._model
        if model is None:
            return verdict, None
        context = thread_context(thread)
        key = (current.shape, verdict.label, verdict.reasons, verdict.review, context)
        rest = self._scores.get(key)  # form, rules and context recur: weigh them once
        if rest is None:
            features = _features(current, verdict, context)
            rest = (model.alone.rest_score(features), model.in_context.rest_score(features))
            if len(self._scores) < _VERDICT_CACHE_SIZE:
                self._scores[key] = rest
        alone = rest[0] + current.text_score[0]
        if not self._protected.isdisjoint(verdict.reasons):
            return verdict, alone
        previous = None if thread is None else thread.previous.evaluation
        same, question = (False, False) if previous is None else (previous.sender == current.sender, previous.question)
        score = None if thread is None else thread.score
        log_odds = rest[1] + current.text_score[1] + model.before_score(score, same, question)

        def evidence(toward_record: bool) -> tuple[str, ...]:  # asked only when the model changes the verdict
            features = [*_features(current, verdict, context), *previous_features(score, same, question)]
            return model.in_context.evidence(current.tokens, features, toward_record)

        return weigh(verdict, model, log_odds, evidence, self.rules, self._scams.isdisjoint(verdict.reasons)), alone

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
        """Judge a message on its own: which rules fire without looking at context, and what
        the learned model reads of its text and form. Memoized: in a conversation the same
        person sends the same short reply again and again."""
        key = None
        if not message.attachments and len(message.body) <= _MEMO_TEXT_CHARS:
            key = (message.body, message.system, message.direction, message.source, message.conversation,
                   message.sender, message.recipients, message.custodian)
            found = self._evaluations.get(key)
            if found is not None:
                return found
        evaluation = self._judge_alone(message)
        if key is not None and len(self._evaluations) < _TEXT_CACHE_SIZE:
            self._evaluations[key] = evaluation
        return evaluation

    def _judge_alone(self, message: Message) -> Evaluation:
        """``_evaluate`` without the memo."""
        facts, text, candidates = self._read(message)
        tokens = text.tokens
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
        from_number = bool(_PHONE_RE.match(message.sender) or _PHONE_RE.match(message.conversation))
        # Few forms recur: length, direction, source and a few flags.
        form = (facts.word_count, facts.direction, message.source, facts.has_number, facts.has_attachment,
                facts.system, text.link, from_number)
        shape = self._shapes.get(form)
        if shape is None:
            shape = tuple(shape_features(facts, message.source, text.link, from_number))
            if len(self._shapes) < _VERDICT_CACHE_SIZE:
                self._shapes[form] = shape
        return Evaluation(tuple(fired), tuple(pending), question, personal, message.sender, facts.has_number,
                          tokens, text.score, shape)

    def _read(self, message: Message) -> tuple[Facts, _Text, frozenset[int]]:
        """Read the text once; return the facts, what the words give and the candidate rules."""
        # App notices are written by the app, not a person: no roles, and text matchers skip them.
        roles, sender_role, others = (
            self._participants(message) if self._reads_participants and not message.system else _NO_ROLES
        )
        text = self._text(message)
        facts = Facts(
            system=message.system,
            has_attachment=bool(message.attachments),
            direction=message.direction,
            word_count=text.words,
            body_empty=not message.body.strip(),
            has_number=text.has_number,
            roles=roles,
            sender_role=sender_role,
            others=others,
            conversation=self._name(message.conversation) if self._reads_names and not message.system else frozenset(),
        )
        always = self._always[(facts.system, facts.has_attachment, facts.body_empty)]
        return facts, text, text.hits | always

    def _text(self, message: Message) -> _Text:
        """What the words of a message give, memoized by text: short replies recur ("ok",
        "gracias", "👍"), and nothing here depends on who wrote them or where. An app notice
        gives its length and figures only: words and patterns do not read it."""
        body = message.body
        memo = not (message.attachments or message.system) and len(body) <= _MEMO_TEXT_CHARS
        found = self._texts.get(body) if memo else None
        if found is not None:
            return found
        written = body
        if message.attachments and body:
            body = written = _PLACEHOLDER_RE.sub("", body)
            for attachment in message.attachments:  # the export wrote the file's name, not a person
                if attachment.name:
                    written = written.replace(attachment.name, "")
        normalized = normalize(body)
        tokens = tokenize(normalized)
        # Every token is a word or a single mark: counting the marks counts the words.
        words, has_number = len(tokens) - len(_MARK_RE.findall(normalized)), _DIGIT_RE.search(written) is not None
        if message.system:
            return _Text((), words, has_number, frozenset(), (0.0, 0.0), False)
        hits, probed = self._index.hits(body, normalized, tokens)
        found = _Text(
            tuple(tokens), words, has_number, frozenset(hits),
            self._model.text_scores(tokens) if self._model is not None else (0.0, 0.0),
            bool(probed),  # the one probe: a link
        )
        if memo and len(self._texts) < _TEXT_CACHE_SIZE:
            self._texts[message.body] = found
        return found

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


def _features(current: Evaluation, verdict: Classification, context: tuple[str, ...]) -> list[str]:
    """What the learned model reads of a message besides its words: its form, the rules that
    fired on it in its conversation (a reply to a request, personal talk...) with their
    verdict, and what its conversation so far says (``Thread.context``).
    Measured on labeled files left out of training, other conversation features (how much of
    the last few messages was business or personal, whether the message answers a question) lowered
    the share of nonrecords recognized at the same record recall, so the model leaves them out."""
    outcome = "review" if verdict.review else verdict.label
    return [*current.shape, *(f"r:{r}" for r in verdict.reasons), f"v:{outcome}", *context]
