"""The learned part of the classifier: two linear models over the message's words, its shape,
the rules that fired on it and where its conversation stands.

The rules say what must never be missed and explain themselves; the model weighs everything
else the way the labeled conversations taught it, so a greeting in a business group, a
request inside a family chat or a notice the exporter did not flag is judged by what it says,
not by a rule written for the wording of another set. The model is a table of weights, one per
feature in each layer, trained at build time from the shipped labeled messages (``scripts/train_classifier.py``)
and shipped beside the rules; its digest is part of the rules version. Scoring sums the
weights of the features present: the same input always gives the same score, and the features
that weighed most are the explanation.

Pure: no I/O (``rules_loader`` reads the weights file).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import TYPE_CHECKING

from archiver.errors import ConfigError

if TYPE_CHECKING:
    from archiver.core.ruleset import Facts

MODEL_FORMAT_VERSION = 2
MODEL_FILE = "model.json"  # in archiver/core/rules, beside classifier.yaml
# Marks that tell a question, an exclamation or a link; other punctuation carries nothing.
_MARKS = frozenset("?¿!¡@/:")
_TOKEN_KINDS = ("w:", "s:", "e:")
# How business-like ``alone`` found the message before, from the most likely down, split at
# these log-odds. Four levels told apart the replies after a joke, an FYI and a request better
# than three on labeled files left out of training; six did no better.
_LEVELS = ("likely", "leaning_record", "leaning_nonrecord", "unlikely")
_LIKELY, _LEANING, _UNLIKELY = 2.0, 0.0, -2.0
_LEANING_RECORD = frozenset(_LEVELS[:2])
_LENGTHS = ((0, "0"), (1, "1"), (3, "2-3"), (7, "4-7"), (20, "8-20"))


def text_features(tokens: list[str]) -> list[str]:
    """The features of a message's folded tokens (see ``ruleset.tokenize``): each word without
    a figure (a plate, a time or an amount is the form's ``figure``, not a word to remember),
    each telling mark and each emoji. Word pairs and word beginnings were tried and left out:
    on conversations left out of training they fitted the tuning set and generalized worse."""
    return [feature for feature in map(_token_feature, tokens) if feature is not None]


def shape_features(facts: Facts, source: str, link: bool, from_number: bool) -> list[str]:
    """Features of the message's form: its length, a figure, a file, an app notice, a link,
    who sent it and from where. ``from_number`` is a sender or conversation known only by a
    phone number or short code: nobody the officer saved as a contact (spam's usual mark)."""
    length = next((name for bound, name in _LENGTHS if facts.word_count <= bound), "21+")
    features = [f"m:len={length}", f"m:{facts.direction}", f"m:src={source}"]
    for present, name in ((facts.has_number, "m:figure"), (facts.has_attachment, "m:file"),
                          (facts.system, "m:notice"), (link, "m:link"), (from_number, "m:from_number")):
        if present:
            features.append(name)
    return features


@dataclass(frozen=True)
class Layer:
    """One logistic regression: weights per feature and the intercept, in log-odds of record."""

    weights: Mapping[str, float]  # the form, the rules, their verdict and the context
    tokens: Mapping[str, float]  # words, marks and emoji, by the token itself
    intercept: float

    # Sums are exact (math.fsum): a set's order changes with the process's hash seed, and a
    # rounded sum in another order can move a message lying at a cut point to its other side.

    def text_score(self, distinct: set[str]) -> float:
        """The weight of a text's distinct tokens; tokens never seen weigh nothing."""
        return math.fsum(map(self.tokens.get, distinct, repeat(0.0)))

    def rest_score(self, features: Iterable[str]) -> float:
        """The weight of the other features (each counted once), intercept included."""
        weights = self.weights
        return math.fsum((self.intercept, *(weights.get(feature, 0.0) for feature in set(features))))

    def evidence(self, tokens: Iterable[str], features: Iterable[str], toward_record: bool,
                 most: int = 3) -> tuple[str, ...]:
        """The features that weighed most toward the decision, in words a reader follows."""
        sign = 1.0 if toward_record else -1.0
        weighed = [(sign * weight, feature) for weight, feature in filter(None, map(self._named.get, set(tokens)))]
        weighed += [(sign * self.weights.get(f, 0.0), f) for f in set(features)]
        top = sorted((item for item in weighed if item[0] > 0), reverse=True)[:most]  # as heapq.nlargest, on few
        return tuple(f"{describe(feature)} ({sign * weight:+.2f})" for weight, feature in top)

    @cached_property
    def _named(self) -> dict[str, tuple[float, str]]:
        # Each weighed token with its feature's name, worked out once rather than per decision.
        return {token: (weight, feature) for token, weight in self.tokens.items()
                if (feature := _token_feature(token)) is not None}


@dataclass(frozen=True)
class LearnedModel:
    """Two layers and the cut points, in log-odds of record.

    ``alone`` weighs a message by itself; ``in_context`` weighs it again with what ``alone``
    said of the message before it in its conversation (``previous_features``): "ok" after a
    business question is not "ok" after a joke. The decision reads ``in_context``: it holds a
    message a record at or above ``record_at`` when the rules kept it as one, and at or above
    ``promote_at`` when they did not (overruling the rules takes more). Below
    ``discard_below`` it agrees a nonrecord rule may leave only a tombstone. Otherwise a
    message goes to review. ``digest`` names the weights file.
    """

    alone: Layer
    in_context: Layer
    record_at: float
    promote_at: float
    discard_below: float
    digest: str

    def text_scores(self, tokens: Iterable[str]) -> tuple[float, float]:
        """``Layer.text_score`` of both layers, the tokens counted once."""
        distinct = set(tokens)
        return self.alone.text_score(distinct), self.in_context.text_score(distinct)

    def holds_record(self, log_odds: float, ruled_record: bool) -> bool:
        """Whether the model holds a message of this score a record, given the rules' verdict."""
        return log_odds >= (self.record_at if ruled_record else self.promote_at)

    def before_score(self, score: float | None, same_sender: bool, question: bool) -> float:
        """The weight ``in_context`` gives the message before (see ``previous_features``)."""
        return self._before[(None if score is None else _level(score), same_sender, question)]

    @cached_property
    def _before(self) -> dict[tuple[str | None, bool, bool], float]:
        # Few combinations: weigh each once rather than building its features per message.
        layer = self.in_context
        return {(level, same, question): layer.rest_score(_before_features(level, same, question)) - layer.intercept
                for level in (None, *_LEVELS) for same in (False, True) for question in (False, True)}


def previous_features(score: float | None, same_sender: bool, question: bool) -> list[str]:
    """What ``in_context`` reads of the message before: how business-like ``alone`` found it
    (likely, leaning either way, or unlikely) when someone else sent it, as a question or not, and
    only which way it leaned when the same person goes on."""
    return _before_features(None if score is None else _level(score), same_sender, question)


def _level(score: float) -> str:
    if score > _LEANING:
        return "likely" if score > _LIKELY else "leaning_record"
    return "leaning_nonrecord" if score > _UNLIKELY else "unlikely"


def _before_features(level: str | None, same_sender: bool, question: bool) -> list[str]:
    if level is None:
        return ["c:opening"]
    if same_sender:
        # The same person going on may change the subject: only which way they leaned counts.
        return ["c:goes_on_" + ("record" if level in _LEANING_RECORD else "nonrecord")]
    return [f"c:after_{level}", f"c:answers_{level}" + ("_question" if question else "")]


def _token_feature(token: str) -> str | None:
    """The feature a token gives, or ``None``: a word with a figure, or other punctuation."""
    if token.isalnum() or "_" in token:
        return None if any(c.isdigit() for c in token) else "w:" + token
    if token in _MARKS:
        return "s:" + token
    return "e:" + token if not token.isascii() else None  # an emoji


def probability(log_odds: float) -> float:
    """The log-odds as a probability of record, for the confidence a verdict shows."""
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, log_odds))))


_DESCRIPTIONS = {
    "w": "the word '{}'", "s": "the mark '{}'",
    "e": "the emoji {}", "r": "rule {}", "v": "the rules' verdict {}", "m": "form: {}", "c": "context: {}",
}


def describe(feature: str) -> str:
    """A feature as a records officer reads it: "the word 'decomiso'", "rule pii-passport"."""
    kind, _, value = feature.partition(":")
    return _DESCRIPTIONS.get(kind, "{}").format(value)


def parse_model(data: Mapping[str, object], digest: str, source: str) -> LearnedModel:
    """Check a weights file already read as JSON; errors name the file."""
    try:
        if data.get("format") != MODEL_FORMAT_VERSION:
            raise ValueError(f"format must be {MODEL_FORMAT_VERSION}, got {data.get('format')!r}")
        alone, in_context = (_layer(data[name], name) for name in ("alone", "in_context"))
        keys = ("record_at", "promote_at", "discard_below")
        record_at, promote_at, discard_below = (float(data[key]) for key in keys)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: not a classifier model: {exc}") from None
    if not discard_below <= record_at <= promote_at:
        raise ConfigError(f"{source}: the cut points must keep discard_below <= record_at <= promote_at")
    return LearnedModel(alone, in_context, record_at, promote_at, discard_below, digest)


def _layer(data: object, name: str) -> Layer:
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be an object")
    weights = data["weights"]
    if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) for k, v in weights.items()):
        raise ValueError(f"{name}: weights must map feature names to numbers")
    tokens = {k[2:]: float(v) for k, v in weights.items() if k[:2] in _TOKEN_KINDS}
    others = {k: float(v) for k, v in weights.items() if k[:2] not in _TOKEN_KINDS}
    return Layer(others, tokens, float(data["intercept"]))
