"""Loading the classifier's rules: reading a rules file plus agency override files, checking
every key and value with an error that names the file, the rule and the cause, and assembling
the ``RuleSet`` (see the header of ``archiver/core/rules/classifier.yaml`` for the format a
records officer edits; the structures themselves are in ``archiver.core.ruleset``).

Pure: no I/O except reading the rules files in ``load_rules`` and the packaged model's weights
in ``packaged_model``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from archiver.core.learned import MODEL_FILE, LearnedModel, parse_model
from archiver.core.participants import ROLES
from archiver.core.ruleset import (
    CONTEXTS,
    DEFAULT_REASON,
    DEFAULT_REVIEW_THRESHOLD,
    DEFAULT_THRESHOLD,
    LABELS,
    NONRECORD,
    RECORD,
    RULES_FORMAT_VERSION,
    Rule,
    RuleSet,
    When,
    normalize,
    tokenize,
)
from archiver.errors import ConfigError
from archiver.model import DIRECTIONS

_RULE_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_TOP_KEYS = ("version", "nonrecord_threshold", "review_threshold", "learned_model", "rules")
_OVERRIDE_KEYS = ("version", "nonrecord_threshold", "review_threshold", "rules", "disable", "extend")
_THRESHOLDS = ("nonrecord_threshold", "review_threshold")
_RULE_KEYS = (
    "id", "label", "confidence", "explain", "schedule", "words", "patterns", "when", "context",
    "whole_message", "unless", "review_if", "personal", "protected", "scam",
)
_EXTEND_KEYS = ("words", "patterns", "conversation_name")
_WHEN_TYPES: dict[str, type] = {
    "system": bool, "has_attachment": bool, "direction": str, "max_words": int, "body_empty": bool, "has_number": bool,
    "participant_role": list, "sender_role": list, "all_roles": list, "personal_talk": bool,
    "conversation_name": list, "conversation_name_not": list,
}


class _Invalid(ValueError):
    """A problem in a rules file; the caller adds the file name and the rule id."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice (PyYAML would silently keep the last)."""


def _construct_unique_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key_node.value!r} is given twice", key_node.start_mark
            )
        seen.add(key_node.value)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


@dataclass
class _Draft:
    """Rules being assembled from the base file and its overrides."""

    rules: dict[str, Rule]
    origin: dict[str, str]  # rule id -> the file that last defined it, for error messages
    thresholds: dict[str, float]
    threshold_source: str
    disabled: set[str] = field(default_factory=set)
    learned: bool = False


def load_rules(path: Path | None = None, overrides: Sequence[Path] = (), with_model: bool = True) -> RuleSet:
    """Load and validate a rules file, then apply agency override files in order.

    Args:
        path: the base YAML rules file; ``None`` loads the packaged
            ``archiver/core/rules/classifier.yaml``.
        overrides: override files applied in order: thresholds replace, ``rules`` replace
            rules of the same id or are appended, ``disable`` removes rules, ``extend``
            adds words and patterns to existing rules.
        with_model: ``False`` leaves out the learned model the rules ask for (to train it).

    Raises:
        ConfigError: a file cannot be read, is not valid YAML, or a rule is invalid. The
            message names the file, the rule id and the cause.
    """
    if path is None:
        resource = resources.files("archiver.core.rules").joinpath("classifier.yaml")
        data, source = resource.read_bytes(), str(resource)
    else:
        data, source = _read(Path(path)), str(path)
    draft = _base_draft(data, source)
    draft.learned &= with_model
    digest = hashlib.sha256(data)
    for override in overrides:
        extra = _read(Path(override))
        digest.update(extra)
        _apply_override(draft, extra, str(override))
    return _finish(draft, digest, source, tuple(map(str, overrides)))


def parse_rules(data: bytes, source: str) -> RuleSet:
    """Validate the bytes of one rules file; ``source`` names the file in error messages."""
    draft = _base_draft(data, source)
    return _finish(draft, hashlib.sha256(data), source, ())


@cache
def packaged_model() -> tuple[LearnedModel, bytes]:
    """The learned model shipped beside the rules, and the bytes its digest is taken of."""
    resource = resources.files("archiver.core.rules").joinpath(MODEL_FILE)
    data = resource.read_bytes()
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"{resource}: not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{resource}: not a classifier model: the top level must be an object")
    return parse_model(parsed, hashlib.sha256(data).hexdigest()[:12], str(resource)), data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the rules file: {err.strerror or err}") from None


def _load_yaml(data: bytes, source: str) -> object:
    loader = _StrictLoader(data)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    finally:
        loader.dispose()


def _base_draft(data: bytes, source: str) -> _Draft:
    """Check the base file's top level and every rule in it."""
    try:
        top = _mapping(_load_yaml(data, source), _TOP_KEYS, "the file")
        _check_version(top, required=True)
        thresholds = {
            "nonrecord_threshold": _fraction(top.get("nonrecord_threshold", DEFAULT_THRESHOLD), "nonrecord_threshold"),
            "review_threshold": _fraction(top.get("review_threshold", DEFAULT_REVIEW_THRESHOLD), "review_threshold"),
        }
        entries = top.get("rules")
        if not isinstance(entries, list) or not entries:
            raise _Invalid("rules must be a non-empty list")
        learned = _flag(top.get("learned_model", False), "learned_model")
    except _Invalid as problem:
        raise ConfigError(f"{source}: {problem}") from None
    draft = _Draft({}, {}, thresholds, source, learned=learned)
    for rule in _parse_rules(entries, source):
        draft.rules[rule.id] = rule
        draft.origin[rule.id] = source
    return draft


def _check_version(top: dict[str, Any], required: bool) -> None:
    version = top.get("version")
    if version is None and not required:
        return
    if type(version) is not int or version != RULES_FORMAT_VERSION:
        raise _Invalid(f"version must be {RULES_FORMAT_VERSION}, got {version!r}")


def _parse_rules(entries: list[Any], source: str) -> list[Rule]:
    """Validate a list of rule entries; an id may appear only once per file."""
    rules: list[Rule] = []
    for number, entry in enumerate(entries, 1):
        rule = _parse_rule(entry, number, source)
        if any(rule.id == earlier.id for earlier in rules):
            raise ConfigError(f"{source}: rule {rule.id!r}: id is used by an earlier rule too")
        rules.append(rule)
    return rules


def _apply_override(draft: _Draft, data: bytes, source: str) -> None:
    """Apply one override file to ``draft``: thresholds, then rules, disable, extend."""
    try:
        top = _mapping(_load_yaml(data, source), _OVERRIDE_KEYS, "an override file")
        _check_version(top, required=False)
        for key in _THRESHOLDS:
            if key in top:
                draft.thresholds[key] = _fraction(top[key], key)
                draft.threshold_source = source
        entries = top.get("rules", [])
        if not isinstance(entries, list):
            raise _Invalid(f"rules must be a list, got {entries!r}")
    except _Invalid as problem:
        raise ConfigError(f"{source}: {problem}") from None
    for rule in _parse_rules(entries, source):
        # A replaced rule keeps its place, so reasons keep their order.
        draft.rules[rule.id] = rule
        draft.origin[rule.id] = source
        draft.disabled.discard(rule.id)
    _disable(draft, top.get("disable", []), source)
    _extend(draft, top.get("extend", {}), source)


def _disable(draft: _Draft, ids: object, source: str) -> None:
    if not isinstance(ids, list):
        raise ConfigError(f"{source}: disable must be a list of rule ids, got {ids!r}")
    for rule_id in ids:
        if rule_id not in draft.rules:
            raise ConfigError(f"{source}: disable: no rule {rule_id!r} to disable")
        del draft.rules[rule_id]
        draft.disabled.add(rule_id)


def _extend(draft: _Draft, additions: object, source: str) -> None:
    if not isinstance(additions, dict):
        raise ConfigError(f"{source}: extend must map rule ids to words and patterns, got {additions!r}")
    for rule_id, extra in additions.items():
        rule = draft.rules.get(rule_id)
        if rule is None:
            raise ConfigError(f"{source}: extend: no rule {rule_id!r} to extend")
        try:
            draft.rules[rule_id] = _extended(rule, extra)
        except _Invalid as problem:
            raise ConfigError(f"{source}: extend {rule_id!r}: {problem}") from None


def _extended(rule: Rule, extra: object) -> Rule:
    """``rule`` with more words, patterns or conversation-name words; checked like any rule."""
    fields = _mapping(extra, _EXTEND_KEYS, "an extension")
    if not fields:
        raise _Invalid("give words, patterns or conversation_name words to add")
    words = tuple(dict.fromkeys(rule.words + _words(fields.get("words", []))))
    patterns = tuple(dict.fromkeys(rule.patterns + _patterns(fields.get("patterns", []))))
    if rule.whole_message and patterns:
        raise _Invalid("whole_message works with words only (and no patterns)")
    when = rule.when
    if "conversation_name" in fields:
        if when.conversation_name is None:
            raise _Invalid("conversation_name can only extend a rule that reads the conversation's name")
        when = replace(when, conversation_name=when.conversation_name | _name_words(fields["conversation_name"]))
    return replace(rule, words=words, patterns=patterns, when=when)


def _finish(draft: _Draft, digest: hashlib._Hash, source: str, overrides: tuple[str, ...]) -> RuleSet:
    """Check what only the whole set can tell: thresholds in order, ``unless`` targets; add
    the learned model when the rules ask for it, its weights counted in the version."""
    nonrecord, review = draft.thresholds["nonrecord_threshold"], draft.thresholds["review_threshold"]
    if review > nonrecord:
        raise ConfigError(
            f"{draft.threshold_source}: review_threshold {review} must not be above "
            f"nonrecord_threshold {nonrecord}"
        )
    if not draft.rules:
        raise ConfigError(f"{overrides[-1] if overrides else source}: no rules are left")
    for rule in draft.rules.values():
        for key, named in (("unless", rule.unless), ("review_if", rule.review_if)):
            unknown = sorted(named - draft.rules.keys() - draft.disabled)
            if unknown:
                raise ConfigError(f"{draft.origin[rule.id]}: rule {rule.id!r}: {key} names unknown rule(s) {unknown}")
            # Context alone never outweighs what the message itself says.
            alone = sorted(name for name in named if name in draft.rules and draft.rules[name].context_alone)
            if alone and rule.reads_text:
                raise ConfigError(
                    f"{draft.origin[rule.id]}: rule {rule.id!r}: {key} names {alone}, which fire on context "
                    "alone; context alone must not set aside a rule that found words in the message"
                )
        if rule.context_alone and rule.label == NONRECORD and rule.confidence >= nonrecord:
            raise ConfigError(
                f"{draft.origin[rule.id]}: rule {rule.id!r}: fires on context alone, so its confidence "
                f"{rule.confidence} must be below nonrecord_threshold {nonrecord} (context alone sends a "
                "message to review at most, never to the tombstone)"
            )
        if (rule.when.conversation_name is not None and not rule.reads_text and rule.label == NONRECORD
                and rule.confidence >= nonrecord):
            raise ConfigError(
                f"{draft.origin[rule.id]}: rule {rule.id!r}: reads the conversation's name and no words, so its "
                f"confidence {rule.confidence} must be below nonrecord_threshold {nonrecord} (a name alone "
                "sends a message to review at most, never to the tombstone)"
            )
        if rule.when.personal_talk is not None and rule.personal:
            raise ConfigError(f"{draft.origin[rule.id]}: rule {rule.id!r}: a personal rule cannot depend on "
                              "personal_talk (it would depend on itself)")
    # A disabled rule never fires, so it can set nothing aside.
    rules = tuple(replace(r, unless=r.unless - draft.disabled, review_if=r.review_if - draft.disabled)
                  if (r.unless | r.review_if) & draft.disabled else r
                  for r in draft.rules.values())
    model = None
    if draft.learned:
        model, weights = packaged_model()
        digest.update(weights)
    return RuleSet(rules, nonrecord, digest.hexdigest()[:12], source, review, overrides, model)


def _parse_rule(entry: object, number: int, source: str) -> Rule:
    """Validate one rule; errors name the rule by id, or by position when it has none."""
    rule_id = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(rule_id, str) or not _RULE_ID_RE.fullmatch(rule_id):
        raise ConfigError(f"{source}: rule #{number}: needs an id of lowercase words joined by '-', got {rule_id!r}")
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
        unless=frozenset(_strings(fields.get("unless", []), "unless")),
        review_if=frozenset(_strings(fields.get("review_if", []), "review_if")),
        personal=_flag(fields.get("personal", False), "personal"),
        protected=_flag(fields.get("protected", False), "protected"),
        scam=_flag(fields.get("scam", False), "scam"),
    )
    if not (rule.reads_text or rule.context or rule.when != When()):
        raise _Invalid("has no matcher: give words, patterns, when or context")
    if rule.whole_message and (rule.patterns or not rule.words):
        raise _Invalid("whole_message works with words only (and no patterns)")
    if rule_id in rule.unless:
        raise _Invalid("unless must not name the rule itself")
    if rule_id in rule.review_if:
        raise _Invalid("review_if must not name the rule itself")
    if rule.review_if and label != RECORD:
        raise _Invalid("review_if is only for record rules")
    if rule.protected and label != RECORD:
        raise _Invalid("protected is only for record rules")
    if rule.scam and label != NONRECORD:
        raise _Invalid("scam is only for nonrecord rules")
    if rule.personal and label != NONRECORD:
        raise _Invalid("personal is only for nonrecord rules")
    if rule.personal and rule.context is not None:
        raise _Invalid("personal is only for rules without a context: personal talk is read from the "
                       "message itself, never inherited from the messages before it")
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
            raise _Invalid(f"pattern {pattern!r} is not a valid regular expression: {err}") from None
    return tuple(patterns)


def _when(value: object) -> When:
    conditions = dict(_mapping(value, tuple(_WHEN_TYPES), "when"))
    for key, expected in _WHEN_TYPES.items():
        given = conditions.get(key)
        if given is not None and type(given) is not expected:
            raise _Invalid(f"when: {key} must be {expected.__name__}, got {given!r}")
    if conditions.get("direction") not in (None, *DIRECTIONS):
        raise _Invalid(f"when: direction must be one of {', '.join(DIRECTIONS)}")
    if (conditions.get("max_words") or 0) < 0:
        raise _Invalid("when: max_words must not be negative")
    for key in ("participant_role", "sender_role", "all_roles"):
        if key in conditions:
            conditions[key] = _roles(conditions[key], key)
    for key in ("conversation_name", "conversation_name_not"):
        if key in conditions:
            conditions[key] = _name_words(conditions[key], key)
    return When(**conditions)


def _name_words(value: list[Any], key: str = "conversation_name") -> frozenset[str]:
    """Single words or emoji, normalized as names are: a name is matched word by word."""
    found = set()
    for word in _strings(value, f"when: {key}"):
        tokens = tokenize(normalize(word))
        if len(tokens) != 1:
            raise _Invalid(f"when: {key}: {word!r} must be one word or one emoji")
        found.add(tokens[0])
    if not found:
        raise _Invalid(f"when: {key} must list at least one word or emoji")
    return frozenset(found)


def _roles(value: list[Any], key: str) -> frozenset[str]:
    roles = _strings(value, f"when: {key}")
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise _Invalid(f"when: {key} must list roles from {', '.join(ROLES)}, got {value!r}")
    return frozenset(roles)
