"""Measure the classifier against messages a person labeled (``archiver classify --evaluate``).

A labeled file is the normalized JSON Lines form plus ``label`` (record or nonrecord) and,
optionally, ``kind`` (e.g. transitory, acknowledgement) and ``lang``. What matters legally is
measured first: the recall of records (a missed record is an unlawful disposal) and the
precision of nonrecord decisions (a wrong nonrecord is what would be discarded). Every measure
is also given per kind and per language, so a weak spot is not hidden by an average.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
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
SPAM = "spam"
# Kinds of a conversation nobody in it chose to have: spam and the app's own notices.
UNSOLICITED_KINDS: frozenset[str | None] = frozenset({"spam", "system"})
EVALUATION_CUSTODIAN = "evaluation"
NO_LANG = "-"
# Written into the JSON so a saved report explains itself; the README gives the same wording.
DEFINITIONS = {
    "accuracy": "share of messages decided right; review counts as a nonrecord decision",
    "record_recall": "of messages labeled record, the share decided record (review counts as missed)",
    "substantive_record_recall": "record_recall leaving out records of kind transitory",
    "nonrecord_precision": "of messages decided nonrecord or sent to review, the share labeled nonrecord",
    "nonrecords_recognized": "of messages labeled nonrecord, the share decided nonrecord or sent to review",
    "spam_caught": "of messages of kind spam, the share decided nonrecord or sent to review",
    "records_lost": "messages labeled record but decided nonrecord outright (not sent to review); "
                    "rate over messages labeled record",
    "records_to_review": "messages labeled record and sent to review; rate over messages labeled record",
}


@dataclass(frozen=True)
class LabeledMessage:
    """A message with the label a person gave it."""

    message: Message
    label: str
    kind: str | None
    line: int
    lang: str | None = None


Result = tuple[LabeledMessage, Classification]


@dataclass(frozen=True)
class Measures:
    """The measures of one group of labeled messages; "review" counts as a nonrecord decision."""

    results: list[Result]

    def record_recall(self, substantive_only: bool = False) -> float | None:
        """Share of labeled records kept as records (substantive: leaving out transitory ones)."""
        return _share([_prediction(result) == RECORD for item, result in self.results
                       if item.label == RECORD and not (substantive_only and item.kind == TRANSITORY)])

    def nonrecord_precision(self) -> float | None:
        """Of messages decided nonrecord (confident or sent to review), the share truly nonrecords."""
        return _share([item.label == NONRECORD for item, result in self.results if _prediction(result) != RECORD])

    def nonrecords_recognized(self) -> float | None:
        """Of labeled nonrecords, the share decided nonrecord or sent to review."""
        return _share([_prediction(result) != RECORD for item, result in self.results if item.label == NONRECORD])

    def spam_caught(self) -> float | None:
        """Of messages of kind spam, the share decided nonrecord or sent to review."""
        return _share([_prediction(result) != RECORD for item, result in self.results if item.kind == SPAM])

    def accuracy(self) -> float | None:
        """Share of messages decided right, review counting as a nonrecord decision."""
        return _share([_correct(item, result) for item, result in self.results])

    def records_decided(self, prediction: str) -> list[LabeledMessage]:
        """Labeled records given this decision: "nonrecord" (lost outright) or "review"."""
        return [item for item, result in self.results if item.label == RECORD and _prediction(result) == prediction]

    def to_json(self) -> dict[str, Any]:
        records = sum(item.label == RECORD for item, _ in self.results)
        return {"messages": len(self.results), "accuracy": self.accuracy(),
                "record_recall": self.record_recall(),
                "substantive_record_recall": self.record_recall(substantive_only=True),
                "nonrecord_precision": self.nonrecord_precision(),
                "nonrecords_recognized": self.nonrecords_recognized(), "spam_caught": self.spam_caught(),
                "records_lost": _count_rate(len(self.records_decided("nonrecord")), records),
                "records_to_review": _count_rate(len(self.records_decided("review")), records)}


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
                if not _correct(item, result)]

    @property
    def measures(self) -> Measures:
        return Measures(self.results)

    def record_recall(self, substantive_only: bool = False) -> float | None:
        """Share of labeled records kept as records (substantive: leaving out transitory ones)."""
        return self.measures.record_recall(substantive_only)

    def nonrecord_precision(self) -> float | None:
        """Of messages decided nonrecord (confident or sent to review), the share truly nonrecords."""
        return self.measures.nonrecord_precision()

    def by_kind(self) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for item, result in self.results:
            counts[_kind(item)]["correct" if _correct(item, result) else "wrong"] += 1
        return counts

    def measures_by_kind(self) -> dict[str, Measures]:
        """The measures of each kind (a message without one counts under its label)."""
        return self._grouped(_kind)

    def measures_by_lang(self) -> dict[str, Measures]:
        """The measures of each language (``-`` for messages labeled without one)."""
        return self._grouped(lambda item: item.lang or NO_LANG)

    def _grouped(self, key: Callable[[LabeledMessage], str]) -> dict[str, Measures]:
        groups: dict[str, list[Result]] = defaultdict(list)
        for item, result in self.results:
            groups[key(item)].append((item, result))
        return {name: Measures(results) for name, results in sorted(groups.items())}

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
        overall = self.measures.to_json()
        overall["records_lost"]["lines"] = [item.line for item in self.measures.records_decided("nonrecord")]
        return {
            "rules_version": self.rules_version,
            **overall,
            "definitions": DEFINITIONS,
            "confusion": {truth: {p: confusion[(truth, p)] for p in PREDICTIONS} for truth in (RECORD, NONRECORD)},
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind().items())},
            "measures_by_kind": {k: m.to_json() for k, m in self.measures_by_kind().items()},
            "measures_by_lang": {k: m.to_json() for k, m in self.measures_by_lang().items()},
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
                                        data.get("kind"), number, data.get("lang")))
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(str(path), f"not a labeled message: {exc}", line=number) from None
    return items


def evaluate(items: Iterable[LabeledMessage], classifier: Classifier) -> Evaluation:
    """Classify the labeled messages in order (context included) and compare."""
    items = list(items)
    results = classifier.classify_stream(item.message for item in items)
    return Evaluation([(item, result) for item, (_, result) in zip(items, results, strict=True)])


def render_evaluation(evaluation: Evaluation) -> str:
    """The measures, the confusion table, the measures per kind and language, and every error."""
    data = evaluation.to_json()
    lost, review = data["records_lost"], data["records_to_review"]
    lines = [f"Evaluated {data['messages']} labeled messages with rules {data['rules_version']}",
             f"  record recall              {_pct(data['record_recall'])}",
             f"  substantive record recall  {_pct(data['substantive_record_recall'])}",
             f"  nonrecord precision        {_pct(data['nonrecord_precision'])}",
             f"  nonrecords recognized      {_pct(data['nonrecords_recognized'])}",
             f"  spam caught                {_pct(data['spam_caught'])}",
             f"  accuracy                   {_pct(data['accuracy'])}",
             f"  records lost               {lost['count']} ({_pct(lost['rate'])})"
             + (f" lines {', '.join(map(str, lost['lines']))}" if lost["lines"] else ""),
             f"  records sent to review     {review['count']} ({_pct(review['rate'])})",
             "(review counts as a nonrecord decision; a record sent to review counts as missed)",
             "", f"{'labeled':<12}{'-> record':>11}{'-> review':>11}{'-> nonrecord':>14}"]
    for truth, row in data["confusion"].items():
        lines.append(f"{truth:<12}{row['record']:>11}{row['review']:>11}{row['nonrecord']:>14}")
    lines += ["", *_measures_table("kind", data["measures_by_kind"]),
              "", *_measures_table("language", data["measures_by_lang"]), ""]
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


def _correct(item: LabeledMessage, result: Classification) -> bool:
    return (item.label == RECORD) == (_prediction(result) == RECORD)


def _kind(item: LabeledMessage) -> str:
    return item.kind or item.label


def _share(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def _count_rate(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "rate": round(count / total, 4) if total else None}


def _prediction(result: Classification) -> str:
    if result.label == RECORD:
        return "record"
    return "review" if result.review else "nonrecord"


def _error_json(item: LabeledMessage, result: Classification) -> dict[str, Any]:
    return {"line": item.line, "label": item.label, "kind": item.kind, "predicted": _prediction(result),
            "confidence": result.confidence, "reasons": list(result.reasons), "evidence": list(result.evidence),
            "body": item.message.body}


# Columns of the per-kind and per-language tables: heading and the measure's JSON key.
TABLE_COLUMNS = (("acc", "accuracy"), ("recall", "record_recall"), ("subst", "substantive_record_recall"),
                 ("nr-prec", "nonrecord_precision"), ("nr-recog", "nonrecords_recognized"), ("spam", "spam_caught"))


def _measures_table(heading: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    """One row per group: message count, the shares, and records lost / sent to review."""
    head = "".join(f"{title:>9}" for title, _ in TABLE_COLUMNS)
    lines = [f"{'by ' + heading:<24}{'n':>5}{head}{'lost':>6}{'review':>8}"]
    for name, data in groups.items():
        shares = "".join(f"{_pct(data[key]):>9}" for _, key in TABLE_COLUMNS)
        lines.append(f"{name[:23]:<24}{data['messages']:>5}{shares}"
                     f"{data['records_lost']['count']:>6}{data['records_to_review']['count']:>8}")
    return lines


def _pct(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"
