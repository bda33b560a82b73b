"""Measure the classifier against messages a person labeled (``archiver classify --evaluate``).

A labeled file is the normalized JSON Lines form plus ``label`` (record or nonrecord) and,
optionally, ``kind`` (e.g. transitory, acknowledgement) and ``lang``. What matters legally is
measured first: the recall of records (a missed record is an unlawful disposal) and the
precision of nonrecord decisions (a wrong nonrecord is what would be discarded).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.connector import ParseContext
from archiver.core.classify import NONRECORD, RECORD, Classification, Classifier
from archiver.errors import InputError
from archiver.model import Message
from connectors.jsonl import json_objects, message_from_json

PREDICTIONS = ("record", "review", "nonrecord")
TRANSITORY = "transitory"
# Kinds of a conversation nobody in it chose to have: spam and the app's own notices.
UNSOLICITED_KINDS: frozenset[str | None] = frozenset({"spam", "system"})
EVALUATION_CUSTODIAN = "evaluation"


@dataclass(frozen=True)
class LabeledMessage:
    """A message with the label a person gave it."""

    message: Message
    label: str
    kind: str | None
    line: int


@dataclass
class Evaluation:
    """Each labeled message with the classifier's decision; the measures derive from them."""

    results: list[tuple[LabeledMessage, Classification]] = field(default_factory=list)

    @property
    def rules_version(self) -> str:
        return self.results[0][1].rules_version if self.results else ""

    @property
    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter((item.label, _prediction(result)) for item, result in self.results)

    @property
    def errors(self) -> list[tuple[LabeledMessage, Classification]]:
        return [(item, result) for item, result in self.results
                if (item.label == RECORD) != (_prediction(result) == RECORD)]

    def record_recall(self, substantive_only: bool = False) -> float | None:
        """Share of labeled records kept as records (substantive: leaving out transitory ones)."""
        kept = [_prediction(result) == RECORD for item, result in self.results
                if item.label == RECORD and not (substantive_only and item.kind == TRANSITORY)]
        return round(sum(kept) / len(kept), 4) if kept else None

    def nonrecord_precision(self) -> float | None:
        """Of messages decided nonrecord (confident or sent to review), the share truly nonrecords."""
        truths = [item.label == NONRECORD for item, result in self.results if _prediction(result) != RECORD]
        return round(sum(truths) / len(truths), 4) if truths else None

    def by_kind(self) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for item, result in self.results:
            correct = (item.label == RECORD) == (_prediction(result) == RECORD)
            counts[item.kind or item.label]["correct" if correct else "wrong"] += 1
        return counts

    def mostly_record_personal_conversations(self) -> list[str]:
        """Conversations of personal talk (labeled wholly nonrecord, not just spam and app
        notices) that the classifier kept mostly as records."""
        return [c for c in self._mostly_records_wholly_nonrecord() if not self._kinds[c] <= UNSOLICITED_KINDS]

    def mostly_record_spam_conversations(self) -> list[str]:
        """Conversations of nothing but spam (and app notices) kept mostly as records."""
        return [c for c in self._mostly_records_wholly_nonrecord() if self._kinds[c] <= UNSOLICITED_KINDS]

    @property
    def _kinds(self) -> dict[str, set[str | None]]:
        kinds: dict[str, set[str | None]] = defaultdict(set)
        for item, _ in self.results:
            kinds[item.message.conversation].add(item.kind)
        return kinds

    def _mostly_records_wholly_nonrecord(self) -> list[str]:
        labels: dict[str, set[str]] = defaultdict(set)
        predictions: dict[str, Counter[bool]] = defaultdict(Counter)
        for item, result in self.results:
            labels[item.message.conversation].add(item.label)
            predictions[item.message.conversation][_prediction(result) == RECORD] += 1
        return sorted(c for c, found in labels.items()
                      if found == {NONRECORD} and predictions[c][True] > predictions[c][False])

    def to_json(self) -> dict[str, Any]:
        confusion = self.confusion
        return {
            "rules_version": self.rules_version,
            "messages": len(self.results),
            "record_recall": self.record_recall(),
            "substantive_record_recall": self.record_recall(substantive_only=True),
            "nonrecord_precision": self.nonrecord_precision(),
            "confusion": {truth: {p: confusion[(truth, p)] for p in PREDICTIONS} for truth in (RECORD, NONRECORD)},
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind().items())},
            "personal_conversations_mostly_records": self.mostly_record_personal_conversations(),
            "spam_conversations_mostly_records": self.mostly_record_spam_conversations(),
            "errors": [_error_json(item, result) for item, result in self.errors],
        }


def read_labeled(path: Path) -> list[LabeledMessage]:
    """Every labeled message of a file, in order; a bad line is an InputError naming it."""
    context = ParseContext(custodian=EVALUATION_CUSTODIAN)
    items = []
    for number, data in json_objects(path):
        try:
            if isinstance(data, str):
                raise ValueError(data)
            label = data.get("label")
            if label not in (RECORD, NONRECORD):
                raise ValueError("label must be record or nonrecord")
            items.append(LabeledMessage(message_from_json(data, path, number, context), label,
                                        data.get("kind"), number))
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(str(path), f"not a labeled message: {exc}", line=number) from None
    return items


def evaluate(items: Iterable[LabeledMessage], classifier: Classifier) -> Evaluation:
    """Classify the labeled messages in order (context included) and compare."""
    items = list(items)
    results = classifier.classify_stream(item.message for item in items)
    return Evaluation([(item, result) for item, (_, result) in zip(items, results, strict=True)])


def render_evaluation(evaluation: Evaluation) -> str:
    """Precision, recall, the confusion table and every error with its reasons."""
    data = evaluation.to_json()
    lines = [f"Evaluated {data['messages']} labeled messages with rules {data['rules_version']}",
             f"  record recall              {_pct(data['record_recall'])}",
             f"  substantive record recall  {_pct(data['substantive_record_recall'])}",
             f"  nonrecord precision        {_pct(data['nonrecord_precision'])}",
             "", f"{'labeled':<12}{'-> record':>11}{'-> review':>11}{'-> nonrecord':>14}"]
    for truth, row in data["confusion"].items():
        lines.append(f"{truth:<12}{row['record']:>11}{row['review']:>11}{row['nonrecord']:>14}")
    mostly = data["personal_conversations_mostly_records"]
    lines.append(f"Personal conversations kept mostly as records: {', '.join(mostly) if mostly else 'none'}")
    spam = data["spam_conversations_mostly_records"]
    lines.append(f"Spam conversations kept mostly as records: {', '.join(spam) if spam else 'none'}")
    lines.append(f"Errors: {len(evaluation.errors)}")
    for item, result in evaluation.errors:
        lines.append(f"  line {item.line}: labeled {item.label} ({item.kind or '-'}), decided "
                     f"{_prediction(result)} {result.confidence:.2f} by {', '.join(result.reasons)}: "
                     f"{item.message.body[:80]!r}")
    return "\n".join(lines)


def _prediction(result: Classification) -> str:
    if result.label == RECORD:
        return "record"
    return "review" if result.review else "nonrecord"


def _error_json(item: LabeledMessage, result: Classification) -> dict[str, Any]:
    return {"line": item.line, "label": item.label, "kind": item.kind, "predicted": _prediction(result),
            "confidence": result.confidence, "reasons": list(result.reasons), "body": item.message.body}


def _pct(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"
