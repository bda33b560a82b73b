"""Record or nonrecord: the classifier (44 U.S.C. 3301, 36 CFR 1222).

Rules live in YAML (``archiver/rules/classifier.yaml`` by default) so a records officer can
read and change them; the top of that file explains every matcher. The classifier errs
toward record: a message is a nonrecord only when a nonrecord rule fires at or above the
threshold and no record rule fires, because wrongly discarding a record is unlawful
destruction (36 CFR 1230) while keeping a nonrecord only costs storage.

Pure: no I/O except reading the rules file in ``load_rules``.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from archiver.errors import ConfigError
from archiver.model import DIRECTIONS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from archiver.model import Message

RECORD = "record"
NONRECORD = "nonrecord"
LABELS: tuple[str, ...] = (RECORD, NONRECORD)
REPLY_TO_REQUEST = "reply_to_request"
REPLY_TO_SOCIAL = "reply_to_social"
CONTEXTS: tuple[str, ...] = (REPLY_TO_REQUEST, REPLY_TO_SOCIAL)

DEFAULT_REASON = "default"
DEFAULT_CONFIDENCE = 0.5
DEFAULT_EXPLANATION = (
    "default: no rule matched; kept as a record because discarding a record is unlawful "
    "(36 CFR 1230)"
)
WEAK_NONRECORD_EXPLANATION = (
    "default: no nonrecord rule reached the threshold {threshold}; kept as a record because "
    "discarding a record is unlawful (36 CFR 1230)"
)
DEFAULT_THRESHOLD = 0.8
# Distinct combinations of fired rules seen so far; a bound keeps memory flat on odd input.
_VERDICT_CACHE_SIZE = 4096
RULES_FORMAT_VERSION = 1

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"\w+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")
_RULE_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Invisible emoji modifiers and typographic quotes, so "❤️" is "❤" and "I’ll" is "I'll".
_FOLD_EXTRA: dict[int, str | None] = {
    0xFE0E: None,
    0xFE0F: None,
    **{cp: None for cp in range(0x1F3FB, 0x1F400)},
    0x2018: "'",
    0x2019: "'",
    0x201C: '"',
    0x201D: '"',
}


@cache
def _fold_table() -> dict[int, str | None]:
    """Translation table deleting every combining mark (built once, on first use)."""
    table: dict[int, str | None] = {
        cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))
    }
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
    return _TOKEN_RE.findall(normalized)


@dataclass(frozen=True)
class When:
    """Conditions on the message itself; ``None`` means "any"."""

    system: bool | None = None
    has_attachment: bool | None = None
    direction: str | None = None
    max_words: int | None = None
    body_empty: bool | None = None

    def holds(self, facts: _Facts) -> bool:
        """Return whether every condition given holds for the message."""
        return (
            (self.system is None or self.system == facts.system)
            and (self.has_attachment is None or self.has_attachment == facts.has_attachment)
            and (self.direction is None or self.direction == facts.direction)
            and (self.max_words is None or facts.word_count <= self.max_words)
            and (self.body_empty is None or self.body_empty == facts.body_empty)
        )


@dataclass(frozen=True)
class Rule:
    """One rule of the rules file; ``words`` are already normalized, tokens joined by spaces."""

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

    @property
    def reads_text(self) -> bool:
        """Whether the rule looks at the message text (words or patterns)."""
        return bool(self.words or self.patterns)


@dataclass(frozen=True)
class RuleSet:
    """A validated rules file. ``version`` is the sha256 of its bytes, first 12 hex digits."""

    rules: tuple[Rule, ...]
    nonrecord_threshold: float
    version: str
    source: str


@dataclass(frozen=True)
class Classification:
    """The verdict on one message, with the rules that led to it.

    ``reasons`` are the ids of the rules that fired, in rule order, followed by
    ``"default"`` when the record label comes from the err-toward-record default.
    ``schedule`` is the schedule item a rule suggests; ``None`` means the custodian's
    Capstone item.
    """

    label: str
    confidence: float
    reasons: tuple[str, ...]
    explanations: tuple[str, ...]
    schedule: str | None
    rules_version: str

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form printed by ``archiver classify``."""
        return {
            "label": self.label,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "schedule": self.schedule,
            "rules_version": self.rules_version,
        }


@dataclass(frozen=True, slots=True)
class _Facts:
    """What ``When`` conditions look at, read once per message."""

    system: bool
    has_attachment: bool
    direction: str
    word_count: int
    body_empty: bool


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """A message judged on its own: rules fired, and context rules waiting for context."""

    fired: tuple[int, ...]
    pending: tuple[int, ...]
    question: bool


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
        for index, regex in self._patterns:
            if index not in found and (regex.search(body) or regex.search(normalized)):
                found.add(index)
        return found


def _is_punctuation(token: str) -> bool:
    return len(token) == 1 and unicodedata.category(token).startswith("P")


def _covers(entries: frozenset[str], longest: int, tokens: list[str]) -> bool:
    """Return whether ``tokens`` are made entirely of ``entries`` (and punctuation).

    Tries every split, not only the greedy one, so "ok thanks a lot" is covered by
    "ok" + "thanks a lot" even when "ok thanks" is listed too.
    """
    reachable = {0}
    for start, token in enumerate(tokens):
        if start not in reachable:
            continue
        if _is_punctuation(token):
            reachable.add(start + 1)
        for length in range(1, longest + 1):
            if " ".join(tokens[start : start + length]) in entries:
                reachable.add(start + length)
    return bool(tokens) and len(tokens) in reachable


class Classifier:
    """Classifies messages with one rule set; everything is compiled once, here."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._rules = rules.rules
        self._index = _TextIndex(rules.rules)
        self._always = frozenset(i for i, rule in enumerate(rules.rules) if not rule.reads_text)
        self._whole = {
            i: (frozenset(rule.words), max(entry.count(" ") + 1 for entry in rule.words))
            for i, rule in enumerate(rules.rules)
            if rule.whole_message
        }
        self._verdicts: dict[tuple[int, ...], Classification] = {}

    def classify(self, message: Message, previous: Message | None = None) -> Classification:
        """Classify one message; ``previous`` is the message before it in its conversation.

        App notices give no context, so a system ``previous`` is ignored.
        """
        current = self._evaluate(message)
        prior = None
        if current.pending and previous is not None and not previous.system:
            prior = self._evaluate(previous)
        return self._decide(current, prior)

    def classify_stream(
        self, messages: Iterable[Message]
    ) -> Iterator[tuple[Message, Classification]]:
        """Classify messages in export order, tracking the previous message per conversation.

        Conversations are told apart by custodian, source and conversation name, so
        interleaved chats keep their own context; app notices are skipped as context.
        """
        last: dict[tuple[str, str, str], _Evaluation] = {}
        for message in messages:
            key = (message.custodian, message.source, message.conversation)
            current = self._evaluate(message)
            yield message, self._decide(current, last.get(key))
            if not message.system:
                last[key] = current

    def _evaluate(self, message: Message) -> _Evaluation:
        """Judge a message on its own: which rules fire without looking at context."""
        facts, tokens, candidates = self._read(message)
        fired: list[int] = []
        pending: list[int] = []
        for index in sorted(candidates):
            rule = self._rules[index]
            # App notices are not part of the dialogue: they answer nothing.
            if not rule.when.holds(facts) or (rule.context and message.system):
                continue
            if index in self._whole and not _covers(*self._whole[index], tokens):
                continue
            (pending if rule.context else fired).append(index)
        question = "?" in tokens or "¿" in tokens
        return _Evaluation(tuple(fired), tuple(pending), question)

    def _read(self, message: Message) -> tuple[_Facts, list[str], set[int]]:
        """Normalize and tokenize once; return the facts, tokens and candidate rules."""
        normalized = normalize(message.body)
        facts = _Facts(
            system=message.system,
            has_attachment=bool(message.attachments),
            direction=message.direction,
            word_count=len(_WORD_RE.findall(normalized)),
            body_empty=not message.body.strip(),
        )
        if message.system:  # written by the app, not a person: text matchers skip it
            return facts, [], set(self._always)
        tokens = tokenize(normalized)
        return facts, tokens, self._index.hits(message.body, normalized, tokens) | self._always

    def _decide(self, current: _Evaluation, prior: _Evaluation | None) -> Classification:
        """Add the context rules the previous message satisfies, then give the verdict."""
        fired = current.fired
        if current.pending and prior is not None:
            in_context = tuple(i for i in current.pending if self._context_holds(i, prior))
            fired = tuple(sorted(fired + in_context))
        return self._verdict(fired)

    def _context_holds(self, index: int, prior: _Evaluation) -> bool:
        if self._rules[index].context == REPLY_TO_REQUEST:
            return prior.question and any(self._rules[i].label == RECORD for i in prior.fired)
        return self._verdict(prior.fired).label == NONRECORD

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
        records = [rule for rule in fired if rule.label == RECORD]
        if records:
            confidence = max(rule.confidence for rule in records)
            return self._result(RECORD, confidence, fired, _agreed_schedule(records))
        nonrecord = max((rule.confidence for rule in fired), default=0.0)
        if fired and nonrecord >= self.rules.nonrecord_threshold:
            return self._result(NONRECORD, nonrecord, fired, None)
        return self._default(fired, nonrecord)

    def _default(self, fired: tuple[Rule, ...], nonrecord: float) -> Classification:
        """Keep as a record; weak nonrecord evidence lowers the confidence, never raises it."""
        explanation = DEFAULT_EXPLANATION
        if fired:
            explanation = WEAK_NONRECORD_EXPLANATION.format(
                threshold=self.rules.nonrecord_threshold
            )
        kept = self._result(RECORD, min(DEFAULT_CONFIDENCE, 1.0 - nonrecord), fired, None)
        return replace(
            kept,
            reasons=(*kept.reasons, DEFAULT_REASON),
            explanations=(*kept.explanations, explanation),
        )

    def _result(
        self, label: str, confidence: float, fired: tuple[Rule, ...], schedule: str | None
    ) -> Classification:
        return Classification(
            label=label,
            confidence=round(confidence, 3),
            reasons=tuple(rule.id for rule in fired),
            explanations=tuple(rule.explain for rule in fired),
            schedule=schedule,
            rules_version=self.rules.version,
        )


def _agreed_schedule(records: list[Rule]) -> str | None:
    """The schedule all record rules agree on; any disagreement means Capstone (None)."""
    schedules = {rule.schedule for rule in records}
    return schedules.pop() if len(schedules) == 1 else None


# ---------------------------------------------------------------------------- loading rules

_TOP_KEYS = ("version", "nonrecord_threshold", "rules")
_RULE_KEYS = (
    "id",
    "label",
    "confidence",
    "explain",
    "schedule",
    "words",
    "patterns",
    "when",
    "context",
    "whole_message",
)
_WHEN_TYPES: dict[str, type] = {
    "system": bool,
    "has_attachment": bool,
    "direction": str,
    "max_words": int,
    "body_empty": bool,
}


class _Invalid(ValueError):
    """A problem in the rules file; the caller adds the file name and the rule id."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice (PyYAML would silently keep the last)."""


def _construct_unique_mapping(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key_node.value!r} is given twice", key_node.start_mark
            )
        seen.add(key_node.value)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_rules(path: Path | None = None) -> RuleSet:
    """Load and validate a rules file.

    Args:
        path: the YAML rules file; ``None`` loads the packaged ``archiver/rules/classifier.yaml``.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or a rule is invalid. The
            message names the file, the rule id and the cause.
    """
    if path is None:
        resource = resources.files("archiver.rules").joinpath("classifier.yaml")
        return parse_rules(resource.read_bytes(), str(resource))
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the rules file: {err.strerror or err}") from None
    return parse_rules(data, str(path))


def parse_rules(data: bytes, source: str) -> RuleSet:
    """Validate the bytes of a rules file; ``source`` names the file in error messages."""
    document = _load_yaml(data, source)
    try:
        threshold, entries = _check_document(document)
    except _Invalid as problem:
        raise ConfigError(f"{source}: {problem}") from None
    rules: list[Rule] = []
    for number, entry in enumerate(entries, 1):
        rule = _parse_rule(entry, number, source)
        if any(rule.id == earlier.id for earlier in rules):
            raise ConfigError(f"{source}: rule {rule.id!r}: id is used by an earlier rule too")
        rules.append(rule)
    return RuleSet(tuple(rules), threshold, hashlib.sha256(data).hexdigest()[:12], source)


def _load_yaml(data: bytes, source: str) -> object:
    loader = _StrictLoader(data)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    finally:
        loader.dispose()


def _check_document(document: object) -> tuple[float, list[Any]]:
    """Check the top level; return the threshold and the raw rule entries."""
    top = _mapping(document, _TOP_KEYS, "the file")
    version = top.get("version")
    if type(version) is not int or version != RULES_FORMAT_VERSION:
        raise _Invalid(f"version must be {RULES_FORMAT_VERSION}, got {version!r}")
    threshold = _fraction(top.get("nonrecord_threshold", DEFAULT_THRESHOLD), "nonrecord_threshold")
    entries = top.get("rules")
    if not isinstance(entries, list) or not entries:
        raise _Invalid("rules must be a non-empty list")
    return threshold, entries


def _parse_rule(entry: object, number: int, source: str) -> Rule:
    """Validate one rule; errors name the rule by id, or by position when it has none."""
    rule_id = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(rule_id, str) or not _RULE_ID_RE.fullmatch(rule_id):
        raise ConfigError(
            f"{source}: rule #{number}: needs an id of lowercase words joined by '-', "
            f"got {rule_id!r}"
        )
    try:
        return _build_rule(rule_id, entry)
    except _Invalid as problem:
        raise ConfigError(f"{source}: rule {rule_id!r}: {problem}") from None


def _build_rule(rule_id: str, entry: object) -> Rule:
    fields = _mapping(entry, _RULE_KEYS, "a rule")
    if rule_id == DEFAULT_REASON:
        raise _Invalid(f"the id {DEFAULT_REASON!r} is reserved for the default decision")
    label = _choice(fields.get("label"), LABELS, "label")
    schedule = fields.get("schedule")
    if schedule is not None and label != RECORD:
        raise _Invalid("schedule is only for record rules")
    context = fields.get("context")
    rule = Rule(
        id=rule_id,
        label=label,
        confidence=_fraction(fields.get("confidence"), "confidence"),
        explain=_text(fields.get("explain"), "explain"),
        schedule=None if schedule is None else _text(schedule, "schedule"),
        words=_words(fields.get("words", [])),
        patterns=_patterns(fields.get("patterns", [])),
        when=_when(fields.get("when", {})),
        context=None if context is None else _choice(context, CONTEXTS, "context"),
        whole_message=_flag(fields.get("whole_message", False), "whole_message"),
    )
    if not (rule.reads_text or rule.context or rule.when != When()):
        raise _Invalid("has no matcher: give words, patterns, when or context")
    if rule.whole_message and (rule.patterns or not rule.words):
        raise _Invalid("whole_message works with words only (and no patterns)")
    return rule


def _mapping(value: object, known: tuple[str, ...], what: str) -> dict[str, Any]:
    """Return ``value`` as a mapping that uses only ``known`` keys."""
    if not isinstance(value, dict):
        raise _Invalid(f"{what} must be a mapping of keys ({', '.join(known)}), got {value!r}")
    unknown = sorted(set(value) - set(known), key=str)
    if unknown:
        raise _Invalid(f"unknown key(s) {unknown} in {what}; known: {', '.join(known)}")
    return value


def _fraction(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _Invalid(f"{key} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{key} must be a non-empty text, got {value!r}")
    return value.strip()


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{key} must be true or false, got {value!r}")
    return value


def _choice(value: object, allowed: tuple[str, ...], key: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _Invalid(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _strings(value: object, key: str) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"{key} must be a list, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise _Invalid(
                f"{key}: {item!r} is not text; put it in quotes (YAML reads yes, no, on, off "
                "as true/false and digits as numbers)"
            )
    return value


def _words(value: object) -> tuple[str, ...]:
    """Normalize and tokenize every word or phrase exactly as message text is."""
    entries: list[str] = []
    for word in _strings(value, "words"):
        tokens = tokenize(normalize(word))
        if not tokens:
            raise _Invalid(f"words: {word!r} is blank")
        entries.append(" ".join(tokens))
    return tuple(dict.fromkeys(entries))


def _patterns(value: object) -> tuple[str, ...]:
    patterns = _strings(value, "patterns")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise _Invalid(
                f"pattern {pattern!r} is not a valid regular expression: {err}"
            ) from None
    return tuple(patterns)


def _when(value: object) -> When:
    conditions = _mapping(value, tuple(_WHEN_TYPES), "when")
    for key, expected in _WHEN_TYPES.items():
        given = conditions.get(key)
        if given is not None and type(given) is not expected:
            raise _Invalid(f"when: {key} must be {expected.__name__}, got {given!r}")
    if conditions.get("direction") not in (None, *DIRECTIONS):
        raise _Invalid(f"when: direction must be one of {', '.join(DIRECTIONS)}")
    if conditions.get("max_words", 0) < 0:
        raise _Invalid("when: max_words must not be negative")
    return When(**conditions)
