"""The verdict on one message: the ``Classification`` a caller receives, and the
err-toward-record decision that turns the rules which fired on a message into it (record
rules win; a nonrecord needs the nonrecord threshold for the tombstone and the review
threshold for the review queue; below both, a record by default; a record rule that gave
way sends the message to review at most). Each outcome carries the sentence that explains it.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archiver.core.learned import probability
from archiver.core.ruleset import DEFAULT_REASON, NONRECORD, RECORD

if TYPE_CHECKING:
    from collections.abc import Callable

    from archiver.core.learned import LearnedModel
    from archiver.core.ruleset import Rule, RuleSet

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
LEARNED_RECORD = "learned-record"
LEARNED_NONRECORD = "learned-nonrecord"
LEARNED_RECORD_EXPLANATION = (
    "record: the learned model weighs the message a record ({p:.2f}, at or above {at:.2f}), whatever "
    "the rules above said; what weighed most: {evidence}"
)
SCAM_REVIEW_EXPLANATION = (
    "review: the learned model weighs the message a record ({p:.2f}), but it has the shape of a scam, "
    "so it is not kept as one; kept encrypted in the review queue until a records officer decides"
)
LEARNED_REVIEW_EXPLANATION = (
    "review: the learned model weighs the message a nonrecord ({p:.2f} of being a record, below {at:.2f}), "
    "and the rules did not settle it as a confident nonrecord the model agrees with; kept encrypted in "
    "the review queue until a records officer decides; what weighed most: {evidence}"
)
SET_ASIDE_EXPLANATION = "set aside: rule {rule} does not count because {by} fired"
IN_DOUBT_EXPLANATION = "in doubt: rule {rule} gives way because {by} fired"


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
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form printed by ``archiver classify``."""
        found = {
            "label": self.label,
            "review": self.review,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "schedule": self.schedule,
            "rules_version": self.rules_version,
        }
        if self.evidence:
            found["evidence"] = list(self.evidence)
        return found


def judge(fired: tuple[Rule, ...], rules: RuleSet) -> Classification:
    """Apply the err-toward-record decision of ``rules`` to the rules that fired."""
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
        return _result(rules, RECORD, confidence, kept, notes, RECORD_EXPLANATION, _agreed_schedule(records))
    nonrecord = max((rule.confidence for rule in kept), default=0.0)
    if doubted and kept and nonrecord >= rules.review_threshold:
        # A record rule fired: at most review, never the tombstone.
        by = sorted({name for rule in doubted for name in rule.review_if & ids})
        outcome = DOUBT_EXPLANATION.format(rules=", ".join(rule.id for rule in doubted), by=", ".join(by),
                                           threshold=rules.review_threshold)
        verdict = _result(rules, NONRECORD, rules.review_threshold, kept, notes, outcome)
        return replace(verdict, review=True)
    if kept and nonrecord >= rules.nonrecord_threshold:
        outcome = CONFIDENT_EXPLANATION.format(confidence=nonrecord, threshold=rules.nonrecord_threshold)
        return _result(rules, NONRECORD, nonrecord, kept, notes, outcome)
    if kept and nonrecord >= rules.review_threshold:
        outcome = REVIEW_EXPLANATION.format(confidence=nonrecord, threshold=rules.nonrecord_threshold)
        return replace(_result(rules, NONRECORD, nonrecord, kept, notes, outcome), review=True)
    return _default(rules, kept, notes, nonrecord)


def weigh(verdict: Classification, model: LearnedModel, log_odds: float,
          evidence: Callable[[bool], tuple[str, ...]], rules: RuleSet, promotable: bool = True) -> Classification:
    """Weigh the rules' ``verdict`` with the learned model's ``log_odds`` of record: a record
    when the model holds it one, a tombstone only when the rules decided a confident nonrecord
    and the model agrees beyond doubt, review otherwise. The model alone never leaves a
    tombstone. ``evidence(toward_record)`` names what weighed most, asked only when the
    model changes the verdict. A message a scam rule fired on is not ``promotable``: the model
    may keep the rules' record, never make one of it."""
    held = model.holds_record(log_odds, verdict.label == RECORD)
    if held and (verdict.label == RECORD or promotable):
        if verdict.label == RECORD:
            return verdict
        found = evidence(True)
        outcome = LEARNED_RECORD_EXPLANATION.format(p=probability(log_odds), at=probability(model.promote_at),
                                                    evidence="; ".join(found))
        return Classification(RECORD, round(probability(log_odds), 3), (*verdict.reasons, LEARNED_RECORD),
                              (*verdict.explanations[:-1], outcome), None, rules.version, False, found)
    if verdict.review or (verdict.label == NONRECORD and log_odds < model.discard_below):
        return verdict
    if held:  # a scam the model would keep: neither a record nor a tombstone
        outcome = SCAM_REVIEW_EXPLANATION.format(p=probability(log_odds))
        return Classification(NONRECORD, round(probability(-log_odds), 3), verdict.reasons,
                              (*verdict.explanations[:-1], outcome), None, rules.version, True)
    found = evidence(False)
    at = model.record_at if verdict.label == RECORD else model.promote_at
    outcome = LEARNED_REVIEW_EXPLANATION.format(p=probability(log_odds), at=probability(at), evidence="; ".join(found))
    reasons = tuple(reason for reason in verdict.reasons if reason != DEFAULT_REASON)
    return Classification(NONRECORD, round(probability(-log_odds), 3), (*reasons, LEARNED_NONRECORD),
                          (*verdict.explanations[:-1], outcome), None, rules.version, True, found)


def _default(rules: RuleSet, fired: tuple[Rule, ...], notes: tuple[str, ...], nonrecord: float) -> Classification:
    """Keep as a record; weak nonrecord evidence lowers the confidence, never raises it."""
    outcome = DEFAULT_EXPLANATION
    if fired:
        outcome = WEAK_NONRECORD_EXPLANATION.format(threshold=rules.review_threshold)
    kept = _result(rules, RECORD, min(DEFAULT_CONFIDENCE, 1.0 - nonrecord), fired, notes, outcome)
    return replace(kept, reasons=(*kept.reasons, DEFAULT_REASON))


def _result(
    rules: RuleSet,
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
        rules_version=rules.version,
    )


def _agreed_schedule(records: list[Rule]) -> str | None:
    """The schedule all record rules agree on; any disagreement means Capstone (None)."""
    schedules = {rule.schedule for rule in records}
    return schedules.pop() if len(schedules) == 1 else None
