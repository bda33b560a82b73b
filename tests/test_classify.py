"""Tests for the record/nonrecord classifier and its YAML rules."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING

import pytest

from archiver.core.classify import (
    DEFAULT_EXPLANATION,
    NONRECORD,
    RECORD,
    Classification,
    Classifier,
    load_rules,
    normalize,
)
from archiver.core.matching import _reads_text_as_written
from archiver.core.participants import Participant, ParticipantDirectory
from archiver.errors import ConfigError
from archiver.model import Attachment, Message

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2024, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=-7)))
TRANSITORY = "GRS-5.2-010"


def msg(body: str, conversation: str = "port ops", **fields: object) -> Message:
    """A WhatsApp message with sensible defaults; ``fields`` override any of them."""
    values: dict[str, object] = {
        "source": "whatsapp",
        "conversation": conversation,
        "sender": "Officer Diaz",
        "sent_at": T0,
        "body": body,
        "custodian": "diaz",
    }
    values.update(fields)
    return Message(**values)  # type: ignore[arg-type]


def rules_alone() -> Classifier:
    """The shipped rules without the learned model: these tests pin what the rules say
    (tests/test_learned.py covers the model weighing their verdict)."""
    return Classifier(load_rules(with_model=False))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return rules_alone()


def classify(classifier: Classifier, body: str, previous: str | None = None) -> Classification:
    """Classify ``body``; ``previous`` is the message before it, sent by someone else."""
    return classifier.classify(msg(body), None if previous is None else msg(previous, sender="Sup. Ortiz"))


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- records


@pytest.mark.parametrize(
    ("body", "expected_reasons"),
    [
        ("Approved, release the truck at gate 3", {"decision-words", "direction-words"}),
        ("Hold the white Tahoe in secondary until HSI arrives", {"direction-words"}),
        (
            "Buenas tardes oficial, le solicito la lista de pasajeros del vuelo AM 452. "
            "Lic. Gómez, Policía Federal",
            {"request-words", "outside-party-words"},
        ),
        ("Update: two subjects crossed at mile marker 14, both detained", {"event-report-words"}),
        ("His A-number is A123456789", {"pii-a-number"}),
        ("Passport no. G1234567, issued in Guatemala", {"pii-passport"}),
        ("Subject is Juan Perez, DOB 04/12/1988", {"pii-date-of-birth"}),
        ("SSN 123-45-6789 on file", {"pii-ssn"}),
        ("White pickup, plate TX 4KD-8821, heading north", {"pii-license-plate"}),
        ("I'll send the report by EOD", {"commitment-words"}),
    ],
)
def test_agency_business_is_a_record(
    classifier: Classifier, body: str, expected_reasons: set[str]
) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD
    assert expected_reasons <= set(result.reasons)
    assert result.confidence >= 0.8
    assert result.schedule is None


def test_attachment_is_a_record_even_without_text(classifier: Classifier) -> None:
    photo = Attachment(name="IMG-0001.jpg", media_type="image/jpeg", missing=True)
    result = classifier.classify(msg("", attachments=(photo,)))
    assert result.label == RECORD
    assert result.reasons == ("attachment-shared",)


def test_logistics_is_a_transitory_record(classifier: Classifier) -> None:
    result = classify(classifier, "Meeting moved to 3pm at the port office")
    assert (result.label, result.reasons, result.schedule) == (
        RECORD,
        ("logistics-words",),
        TRANSITORY,
    )


def test_logistics_with_a_decision_keeps_the_capstone_schedule(classifier: Classifier) -> None:
    result = classify(classifier, "Meeting moved to 3pm, transfer approved")
    assert result.label == RECORD
    assert "logistics-words" in result.reasons
    assert result.schedule is None


def test_unknown_message_is_a_low_confidence_record(classifier: Classifier) -> None:
    result = classify(classifier, "The blue one looks nicer")
    assert result.label == RECORD
    assert result.reasons == ("default",)
    assert result.explanations == (DEFAULT_EXPLANATION,)
    assert result.confidence == 0.5


@pytest.mark.parametrize("body", ["ok the truck left", "no sign of them", "ok, remove them"])
def test_acknowledgement_words_inside_a_real_message_do_not_discard_it(
    classifier: Classifier, body: str
) -> None:
    assert classify(classifier, body).label == RECORD


# ------------------------------------------------------------------------- nonrecords


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("love you", "affection-words"),
        ("Happy birthday!! 🎂", "celebration-words"),
        ("te quiero mucho, besos", "affection-words"),
        ("You won a prize, click here", "spam-words"),
        ("ok", "acknowledgement"),
        ("Thanks!", "acknowledgement"),
        ("👍", "acknowledgement"),
        ("jajaja", "laughter-only"),
        ("Good morning team", "greeting-only"),
        ("", "empty-message"),
    ],
)
def test_personal_talk_is_a_nonrecord(classifier: Classifier, body: str, reason: str) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, False)
    assert reason in result.reasons
    assert result.confidence >= 0.8
    assert result.schedule is None


def test_system_notice_is_a_nonrecord_whatever_its_text(classifier: Classifier) -> None:
    notice = msg(
        "Dmitry S changed this group's settings to allow only admins to send messages",
        system=True,
    )
    result = classifier.classify(notice)
    assert (result.label, result.reasons) == (NONRECORD, ("system-notice",))


def test_record_rule_wins_over_nonrecord_rule(classifier: Classifier) -> None:
    result = classify(classifier, "Love you, and the transfer is approved")
    assert result.label == RECORD
    assert {"affection-words", "decision-words"} <= set(result.reasons)


# ------------------------------------------------------------------------- context


def test_yes_to_a_decision_question_is_the_decision(classifier: Classifier) -> None:
    result = classify(classifier, "Yes", previous="Should I remove the lookouts?")
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


def test_spanish_si_to_an_authorization_question_is_a_record(classifier: Classifier) -> None:
    result = classify(classifier, "sí", previous="¿Autorizas la liberación del vehículo?")
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


@pytest.mark.parametrize("reply", ["ok", "yes", "de acuerdo", "👍"])
def test_short_reply_to_social_talk_is_a_nonrecord(classifier: Classifier, reply: str) -> None:
    assert classify(classifier, reply, previous="love you").label == NONRECORD


def test_the_same_reply_alone_is_a_nonrecord_acknowledgement(classifier: Classifier) -> None:
    assert classify(classifier, "Yes").label == NONRECORD


def test_a_question_that_is_not_a_request_gives_no_context(classifier: Classifier) -> None:
    assert classify(classifier, "yes", previous="Did you like the movie?").label == NONRECORD


def test_a_system_previous_message_gives_no_context(classifier: Classifier) -> None:
    notice = msg("Should I remove the lookouts? ¿Autorizas?", system=True)
    assert classifier.classify(msg("yes"), notice).label == NONRECORD


# ------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("Aprobado, libera el camión", "aprobado, libera el camion"),
        ("¿Autorizas la liberación del vehículo?", "autorizas la liberacion del vehiculo?"),
        ("Reunión cambiada a las 3pm en la oficina", "REUNION cambiada a las 3pm en la oficina"),
        ("Feliz cumpleaños mamá", "feliz cumpleanos mama"),
    ],
)
def test_spanish_with_and_without_accents_agree(
    classifier: Classifier, accented: str, plain: str
) -> None:
    with_accents = classify(classifier, accented)
    without = classify(classifier, plain)
    assert with_accents.reasons == without.reasons
    assert with_accents.reasons != ("default",)


def test_spanish_logistics_is_transitory(classifier: Classifier) -> None:
    assert classify(classifier, "La junta se movió a las 3").schedule == TRANSITORY


def test_normalize_folds_case_accents_and_emoji_variants() -> None:
    assert normalize("LIBERACIÓN Ñandú") == "liberacion nandu"
    assert normalize("❤️ 👍🏽") == "❤ 👍"
    assert normalize("I’ll") == "i'll"
    assert normalize("Liberacio\u0301n ＡＢＣ") == "liberacion abc"  # decomposed, full-width


# ------------------------------------------------------------------------- streams


def test_classify_stream_keeps_context_per_conversation(classifier: Classifier) -> None:
    stream = [
        msg("Should I remove the lookouts?", conversation="sector 3"),
        msg("love you", conversation="family"),
        msg("Alice added Bob", conversation="sector 3", system=True),
        msg("Yes", conversation="sector 3"),
        msg("ok", conversation="family"),
        msg("¿Autorizas la liberación del vehículo?", conversation="aduana"),
        msg("jajaja", conversation="family"),
        msg("sí", conversation="aduana"),
    ]
    labels = [(m.body, c.label) for m, c in classifier.classify_stream(stream)]
    assert labels == [
        ("Should I remove the lookouts?", RECORD),
        ("love you", NONRECORD),
        ("Alice added Bob", NONRECORD),
        ("Yes", RECORD),
        ("ok", NONRECORD),
        ("¿Autorizas la liberación del vehículo?", RECORD),
        ("jajaja", NONRECORD),
        ("sí", RECORD),
    ]


def test_classify_stream_agrees_with_classify_given_the_previous_message(
    classifier: Classifier,
) -> None:
    first, second = msg("Should I remove the lookouts?"), msg("yes")
    streamed = [c for _, c in classifier.classify_stream([first, second])]
    assert streamed == [classifier.classify(first), classifier.classify(second, first)]


# ------------------------------------------------------------------------- determinism


def test_classification_is_deterministic_and_carries_the_rules_version() -> None:
    packaged = resources.files("archiver.core.rules").joinpath("classifier.yaml").read_bytes()
    bodies = ["Approved", "ok", "love you", "Meeting at 3", "¿Autorizas?", "sí", "hmm"]
    runs = [
        [c.to_json() for _, c in rules_alone().classify_stream(map(msg, bodies))]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert {row["rules_version"] for row in runs[0]} == {hashlib.sha256(packaged).hexdigest()[:12]}
    assert set(runs[0][0]) == {"label", "review", "confidence", "reasons", "schedule", "rules_version"}


def test_changing_the_rules_file_changes_the_version(tmp_path: Path) -> None:
    text = resources.files("archiver.core.rules").joinpath("classifier.yaml").read_text("utf-8")
    changed = load_rules(write_rules(tmp_path, text + "\n# reviewed 2024-03-01\n"))
    assert changed.version != load_rules().version


# ------------------------------------------------------------------------- the shipped rules

RULE_EXAMPLES: dict[str, tuple[str, str | None]] = {
    "empty-message": ("", None),
    "document-words": ("See attached memo", None),
    "pii-a-number": ("A123456789", None),
    "pii-ssn": ("123-45-6789", None),
    "pii-passport": ("passport G12345678", None),
    "pii-date-of-birth": ("fecha de nacimiento: 4 de mayo de 1990", None),
    "pii-license-plate": ("placas ABC-123-D", None),
    "decision-words": ("Denied", None),
    "direction-words": ("Retengan el vehículo", None),
    "request-words": ("Please send the list", None),
    "commitment-words": ("Te lo envío a más tardar mañana", None),
    "event-report-words": ("Sin novedad en la garita", None),
    "outside-party-words": ("The consulate called", None),
    "official-information-words": ("Check the manifest", None),
    "logistics-words": ("Briefing at 0800", None),
    "short-reply-to-request": ("do it", "Should I release the truck?"),
    "spam-words": ("Haz clic aquí y reclama tu premio", None),
    "affection-words": ("miss you", None),
    "celebration-words": ("Feliz Navidad", None),
    "family-talk-words": ("Dinner at grandma's", None),
    "leisure-talk-words": ("Beers after the game?", None),
    "greeting-only": ("¡Buenos días a todos!", None),
    "acknowledgement": ("ok gracias", None),
    "laughter-only": ("lol", None),
    "reaction-only": ("🚀🚀", None),
    "short-reply-to-social": ("you too", "happy birthday"),
    "asking-words": ("¿Puede mandar una unidad al puente 2?", None),
    "food-and-drink-words": ("Coffee run in 10", None),
    "laughter-words": ("that printer again jaja", None),
    "social-invitation": ("Me apunto el viernes", None),
    "brief-thanks": ("Thanks Marta!", None),
    "phishing-words": ("Your mailbox is full, verify your account to keep receiving mail", None),
    "personal-money-words": ("Can you lend me $40 till payday?", None),
    "personal-sense-words": ("Mi hija aprobó el examen de inglés", None),
    "holding-reply": ("Déjame checar", None),
    "official-lookup-words": ("Can you run her name in the system?", None),
    "refusal-or-referral": ("I can't do favors for family, I'm not allowed to", None),
    "referral-to-remedy": ("He has to file the appeal online", None),
    "intercession": ("¿No podrías llamar a alguien para que le regresen la troca?", None),
    "official-act-request": ("can you talk to them and get my boat released?", None),
    "enforcement-matter-words": ("Mi tío dice que le decomisaron la troca en la garita", None),
    "short-reply-to-personal-talk": ("sure, what time", "Pizza night at my place? 🍕"),
    "conduct-words": ("Presentó una queja por malos tratos en la garita", None),
    "one-time-code": ("Acme Bank: your login code is 551902. It expires in 5 minutes.", None),
    "payment-link-scam": ("FedEx: your parcel could not be delivered, confirm your address at "
                          "https://fedx-redo.example.xyz", None),
    "scam-offer": ("Invierte $100 en Bitcoin hoy y duplica tu dinero", None),
    "reaction-notice-text": ("Dana Price reacted 👍 to your message", None),
    "app-notice-text": ("Missed video call", None),
}


@pytest.mark.parametrize(("rule_id", "example"), sorted(RULE_EXAMPLES.items()))
def test_every_text_rule_fires_on_its_example(
    classifier: Classifier, rule_id: str, example: tuple[str, str | None]
) -> None:
    body, previous = example
    assert rule_id in classify(classifier, body, previous).reasons


def test_every_shipped_rule_has_an_example() -> None:
    ids = {rule.id for rule in load_rules().rules}
    covered = set(RULE_EXAMPLES) | {
        "system-notice",
        "attachment-shared",
        "outside-party-participant",  # tested with a directory below
        "family-only-participants",
        "personal-conversation-name",  # reads the conversation's name: tested below
        "personal-conversation",  # needs a whole conversation: tested below
        "personal-talk-in-personal-conversation",
    }
    assert ids == covered
    assert len(ids) >= 15


# ------------------------------------------------------------------------- custom rules


MAYBE_SOCIAL = """
version: 1
nonrecord_threshold: 0.8
review_threshold: 0.5
rules:
  - id: maybe-social
    label: nonrecord
    words: [pizza]
    confidence: {confidence}
    explain: Probably social.
  - id: surely-social
    label: nonrecord
    words: [hugs]
    confidence: 0.9
    explain: Social.
  - id: business
    label: record
    words: [manifest]
    confidence: 0.9
    explain: Business.
"""


def maybe_social(tmp_path: Path, confidence: float) -> Classifier:
    return Classifier(load_rules(write_rules(tmp_path, MAYBE_SOCIAL.format(confidence=confidence))))


def test_weak_nonrecord_rule_below_the_review_band_keeps_the_message_as_a_record(tmp_path: Path) -> None:
    result = maybe_social(tmp_path, 0.4).classify(msg("pizza?"))
    assert (result.label, result.review) == (RECORD, False)
    assert result.reasons == ("maybe-social", "default")
    assert result.confidence == 0.5
    assert result.explanations[-1].startswith("default: no nonrecord rule reached the review threshold 0.5")


def test_nonrecord_rule_in_the_review_band_is_an_uncertain_nonrecord(tmp_path: Path) -> None:
    result = maybe_social(tmp_path, 0.6).classify(msg("pizza?"))
    assert (result.label, result.review, result.confidence) == (NONRECORD, True, 0.6)
    assert result.reasons == ("maybe-social",)
    assert result.explanations[0] == "Probably social."
    assert result.explanations[-1].startswith("review: ")
    assert result.to_json()["review"] is True


@pytest.mark.parametrize(("confidence", "review"), [(0.5, True), (0.79, True), (0.8, False)])
def test_the_thresholds_are_inclusive(tmp_path: Path, confidence: float, review: bool) -> None:
    result = maybe_social(tmp_path, confidence).classify(msg("pizza"))
    assert (result.label, result.review) == (NONRECORD, review)


def test_the_strongest_nonrecord_rule_decides_between_review_and_tombstone(tmp_path: Path) -> None:
    result = maybe_social(tmp_path, 0.6).classify(msg("pizza and hugs"))
    assert (result.label, result.review, result.confidence) == (NONRECORD, False, 0.9)
    assert result.explanations[-1].startswith("nonrecord: ")


def test_a_record_rule_wins_over_the_review_band(tmp_path: Path) -> None:
    result = maybe_social(tmp_path, 0.6).classify(msg("pizza, and check the manifest"))
    assert (result.label, result.review) == (RECORD, False)
    assert result.explanations[-1].startswith("record: ")


def test_a_reply_to_a_message_in_review_is_not_made_a_confident_nonrecord(tmp_path: Path) -> None:
    text = MAYBE_SOCIAL.format(confidence=0.6) + """
  - id: social-reply
    label: nonrecord
    context: reply_to_social
    confidence: 0.7
    explain: A reply to social talk.
"""
    classifier = Classifier(load_rules(write_rules(tmp_path, text)))
    assert classifier.classify(msg("sure"), msg("hugs", sender="Friend")).reasons == ("social-reply",)
    assert classifier.classify(msg("sure"), msg("pizza", sender="Friend")).reasons == ("default",)


def test_shipped_rules_have_a_review_band() -> None:
    rules = load_rules()
    assert (rules.review_threshold, rules.nonrecord_threshold) == (0.5, 0.8)


def test_custom_rule_words_are_normalized_and_when_conditions_apply(tmp_path: Path) -> None:
    rules = load_rules(
        write_rules(
            tmp_path,
            """
version: 1
rules:
  - id: sent-release
    label: record
    words: [LIBERACIÓN, "sí señor"]
    when: {direction: sent, max_words: 5}
    confidence: 0.9
    schedule: AGENCY-1-001
    explain: A release the custodian ordered.
""",
        )
    )
    classifier = Classifier(rules)
    assert classifier.classify(msg("liberacion ya", direction="sent")).schedule == "AGENCY-1-001"
    assert classifier.classify(msg("Si senor!", direction="sent")).reasons == ("sent-release",)
    assert classifier.classify(msg("liberacion ya", direction="received")).reasons == ("default",)
    assert classifier.classify(msg("liberación " * 6, direction="sent")).reasons == ("default",)


# ------------------------------------------------------------------------- bad rules files

GOOD_RULE = """
  - id: ok-rule
    label: record
    words: [approve]
    confidence: 0.9
    explain: Fine.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [\n", "not valid YAML"),
        (
            "version: 1\nrules:\n  - id: typo\n    label: record\n    word: [x]\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'typo': unknown key(s) ['word']",
        ),
        (
            "version: 1\nrules:\n  - id: bad-regex\n    label: record\n    patterns: ['(open']\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'bad-regex': pattern '(open' is not",
        ),
        (
            "version: 1\nrules:\n  - id: bad-label\n    label: maybe\n    words: [x]\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'bad-label': label must be one of",
        ),
        (
            "version: 1\nrules:\n  - id: no-explain\n    label: record\n    words: [x]\n"
            "    confidence: 0.9\n",
            "rule 'no-explain': explain must be a non-empty text",
        ),
        (
            "version: 1\nrules:\n  - id: yes-word\n    label: nonrecord\n    words: [yes, ok]\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'yes-word': words: True is not text",
        ),
        (
            "version: 1\nrules:\n  - id: too-sure\n    label: record\n    words: [x]\n"
            "    confidence: 1.5\n    explain: x\n",
            "rule 'too-sure': confidence must be",
        ),
        (
            "version: 1\nrules:\n  - id: no-matcher\n    label: record\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'no-matcher': has no matcher",
        ),
        (
            "version: 1\nrules:\n  - id: bad-when\n    label: record\n    when: {lenght: 3}\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'bad-when': unknown key(s) ['lenght']",
        ),
        (
            "version: 1\nrules:\n  - id: bad-context\n    label: record\n    context: reply\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'bad-context': context must be",
        ),
        (
            "version: 1\nrules:\n  - id: sched\n    label: nonrecord\n    words: [x]\n"
            "    schedule: GRS-5.2-010\n    confidence: 0.9\n    explain: x\n",
            "rule 'sched': schedule is only for record rules",
        ),
        (
            "version: 1\nrules:\n  - id: whole\n    label: nonrecord\n    whole_message: true\n"
            "    patterns: ['x']\n    confidence: 0.9\n    explain: x\n",
            "rule 'whole': whole_message works with words only",
        ),
        (
            "version: 1\nrules:\n  - id: twice\n    label: record\n    words: [x]\n"
            "    words: [y]\n    confidence: 0.9\n    explain: x\n",
            "key 'words' is given twice",
        ),
        (
            "version: 1\nrules:\n  - id: default\n    label: record\n    words: [x]\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'default': the id 'default' is reserved",
        ),
        ("version: 1\nrules:\n  - label: record\n    words: [x]\n", "rule #1: needs an id"),
        ("version: 1\nrules:" + GOOD_RULE + GOOD_RULE, "rule 'ok-rule': id is used by an"),
        ("version: 2\nrules:" + GOOD_RULE, "version must be 1"),
        ("version: 1\nnonrecord_threshold: high\nrules:" + GOOD_RULE, "threshold must be"),
        ("version: 1\nextra: 1\nrules:" + GOOD_RULE, "unknown key(s) ['extra']"),
        (
            "version: 1\nnonrecord_threshold: 0.6\nreview_threshold: 0.7\nrules:" + GOOD_RULE,
            "review_threshold 0.7 must not be above nonrecord_threshold 0.6",
        ),
        (
            "version: 1\nrules:" + GOOD_RULE + "    unless: [nowhere]\n",
            "rule 'ok-rule': unless names unknown rule(s) ['nowhere']",
        ),
        (
            "version: 1\nrules:" + GOOD_RULE + "    unless: [ok-rule]\n",
            "rule 'ok-rule': unless must not name the rule itself",
        ),
        (
            "version: 1\nrules:\n  - id: bad-role\n    label: record\n"
            "    when: {participant_role: [ambassador]}\n    confidence: 0.9\n    explain: x\n",
            "rule 'bad-role': when: participant_role must list roles from",
        ),
        (
            "version: 1\nrules:\n  - id: bare-role\n    label: record\n"
            "    when: {sender_role: family}\n    confidence: 0.9\n    explain: x\n",
            "rule 'bare-role': when: sender_role must be list",
        ),
        ("version: 1\nrules: []\n", "rules must be a non-empty list"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_bad_rules_file_names_file_rule_and_cause(tmp_path: Path, text: str, expected: str) -> None:
    path = write_rules(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: cannot read the rules file"):
        load_rules(missing)


# ------------------------------------------------------------------------- agency overrides


def write_override(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_override_replaces_a_rule_in_place_and_appends_new_ones(tmp_path: Path) -> None:
    override = write_override(
        tmp_path,
        "agency.yaml",
        """
rules:
  - id: affection-words
    label: nonrecord
    words: [cariño]
    confidence: 0.6
    explain: Agency wording.
  - id: agency-case-number
    label: record
    patterns: ['ZX-\\d{6}']
    confidence: 0.95
    explain: An agency case number.
""",
    )
    base, rules = load_rules(with_model=False), load_rules(overrides=[override], with_model=False)
    base_ids, ids = [r.id for r in base.rules], [r.id for r in rules.rules]
    assert ids == [*base_ids, "agency-case-number"]
    classifier = Classifier(rules)
    assert classifier.classify(msg("love you")).reasons == ("default",)  # the old words are gone
    assert classifier.classify(msg("carino")).review is True
    assert classifier.classify(msg("see ZX-123456")).reasons == ("agency-case-number",)
    assert rules.overrides == (str(override),)


def test_override_thresholds_disable_and_extend(tmp_path: Path) -> None:
    override = write_override(
        tmp_path,
        "agency.yaml",
        """
nonrecord_threshold: 0.95
review_threshold: 0.6
disable: [laughter-only, laughter-words]
extend:
  affection-words: {words: [cuchi cuchi]}
  decision-words: {patterns: ['\\bOK to release\\b']}
""",
    )
    rules = load_rules(overrides=[override], with_model=False)
    assert (rules.nonrecord_threshold, rules.review_threshold) == (0.95, 0.6)
    classifier = Classifier(rules)
    assert "laughter-only" not in {r.id for r in rules.rules}
    assert classifier.classify(msg("jajaja")).reasons == ("default",)
    love = classifier.classify(msg("cuchi cuchi"))
    assert (love.reasons, love.label, love.review) == (("affection-words",), NONRECORD, True)
    assert classifier.classify(msg("OK to release")).label == RECORD


def test_overrides_apply_in_order(tmp_path: Path) -> None:
    first = write_override(tmp_path, "a.yaml", "review_threshold: 0.7\n")
    second = write_override(tmp_path, "b.yaml", "review_threshold: 0.6\n")
    assert load_rules(overrides=[first, second]).review_threshold == 0.6
    assert load_rules(overrides=[second, first]).review_threshold == 0.7


def test_the_version_covers_every_file_in_order(tmp_path: Path) -> None:
    packaged = resources.files("archiver.core.rules").joinpath("classifier.yaml").read_bytes()
    first = write_override(tmp_path, "a.yaml", "review_threshold: 0.6\n")
    second = write_override(tmp_path, "b.yaml", "nonrecord_threshold: 0.9\n")
    version = load_rules(overrides=[first, second]).version
    model = resources.files("archiver.core.rules").joinpath("model.json").read_bytes()
    expected = hashlib.sha256(packaged + first.read_bytes() + second.read_bytes() + model).hexdigest()[:12]
    assert version == expected
    assert version != load_rules(overrides=[second, first]).version != load_rules().version
    result = Classifier(load_rules(overrides=[first, second])).classify(msg("ok"))
    assert result.rules_version == version


def test_disabling_a_rule_named_in_unless_is_allowed(tmp_path: Path) -> None:
    override = write_override(tmp_path, "a.yaml", "disable: [acknowledgement]\n")
    rules = load_rules(overrides=[override])
    outside = next(r for r in rules.rules if r.id == "outside-party-participant")
    assert "acknowledgement" not in outside.unless


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("disable: [no-such-rule]\n", "disable: no rule 'no-such-rule' to disable"),
        ("extend:\n  no-such-rule: {words: [x]}\n", "extend: no rule 'no-such-rule' to extend"),
        ("extend:\n  acknowledgement: {patterns: ['x']}\n", "extend 'acknowledgement': whole_message works"),
        ("extend:\n  spam-words: {word: [x]}\n", "extend 'spam-words': unknown key(s) ['word']"),
        ("extend:\n  spam-words: {patterns: ['(x']}\n", "extend 'spam-words': pattern '(x' is not"),
        (
            "rules:\n  - id: spam-words\n    label: nonrecord\n    words: [x]\n    confidence: 2\n    explain: x\n",
            "rule 'spam-words': confidence must be",
        ),
        (
            "rules:\n  - id: new-rule\n    label: record\n    words: [x]\n    unless: [gone]\n"
            "    confidence: 0.9\n    explain: x\n",
            "rule 'new-rule': unless names unknown rule(s) ['gone']",
        ),
        ("review_threshold: 0.9\n", "review_threshold 0.9 must not be above nonrecord_threshold 0.8"),
        ("version: 2\n", "version must be 1"),
        ("threshold: 0.9\n", "unknown key(s) ['threshold']"),
        ("disable: spam-words\n", "disable must be a list of rule ids"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_override_names_the_file_and_the_rule(tmp_path: Path, text: str, expected: str) -> None:
    good = write_override(tmp_path, "good.yaml", "review_threshold: 0.5\n")
    bad = write_override(tmp_path, "agency.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_rules(overrides=[good, bad])
    assert str(caught.value).startswith(f"{bad}: ")
    assert expected in str(caught.value)


def test_disabling_every_rule_is_an_error(tmp_path: Path) -> None:
    ids = ", ".join(r.id for r in load_rules().rules)
    override = write_override(tmp_path, "all.yaml", f"disable: [{ids}]\n")
    with pytest.raises(ConfigError, match="all.yaml: no rules are left"):
        load_rules(overrides=[override])


def test_missing_override_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gone.yaml: cannot read the rules file"):
        load_rules(overrides=[tmp_path / "gone.yaml"])


# ------------------------------------------------------------------------- participants

DIRECTORY = ParticipantDirectory(
    [
        Participant("Cmdte. Ruiz", "Comandante Ruiz", "foreign-official", official=False),
        Participant("+52 631 555 0101", "Lic. Gomez", "foreign-official", official=False),
        Participant("Acme Freight", "Acme Freight dispatcher", "outside-party", official=False),
        Participant("Ana", "Ana Diaz", "family", official=False),
        Participant("Mom", "Rosa Diaz", "family", official=False),
        Participant("Officer Diaz", "Officer Diaz", "official", official=True),
        Participant("Sgt. Lee", "Sgt. Lee", "official", official=True),
    ]
)


@pytest.fixture(scope="module")
def with_directory() -> Classifier:
    return Classifier(load_rules(with_model=False), DIRECTORY)


def chat(body: str, sender: str, *recipients: str, **fields: object) -> Message:
    direction = "sent" if sender == "Officer Diaz" else "received"
    return msg(body, sender=sender, recipients=recipients, direction=direction, custodian="Officer Diaz", **fields)


@pytest.mark.parametrize(
    "message",
    [
        chat("Mañana paso a las 10", "Cmdte. Ruiz", "Officer Diaz"),
        chat("Will be there tomorrow", "Officer Diaz", "+52 (631) 555-0101"),
        chat("Truck 7 is late again", "Acme Freight", "Officer Diaz", "Sgt. Lee"),
        chat("Feliz año nuevo comandante", "Officer Diaz", "Cmdte. Ruiz"),
        chat("jajaja y la cerveza?", "Cmdte. Ruiz", "Officer Diaz"),
    ],
)
def test_talk_with_a_foreign_official_or_outside_party_is_a_record(
    with_directory: Classifier, message: Message
) -> None:
    result = with_directory.classify(message)
    assert result.label == RECORD
    assert "outside-party-participant" in result.reasons


@pytest.mark.parametrize("body", ["ok, gracias", "Buenos días, amigo", "jajaja", "👍👍", ""])
def test_a_plain_greeting_or_acknowledgement_to_an_outside_party_stays_a_nonrecord(
    with_directory: Classifier, body: str
) -> None:
    result = with_directory.classify(chat(body, "Cmdte. Ruiz", "Officer Diaz"))
    assert result.label == NONRECORD
    assert "outside-party-participant" not in result.reasons
    assert any(e.startswith("set aside: rule outside-party-participant") for e in result.explanations)


def test_an_acknowledgement_answering_an_outside_party_request_is_a_record(with_directory: Classifier) -> None:
    question = chat("¿Autoriza la liberación del camión?", "Cmdte. Ruiz", "Officer Diaz")
    answer = chat("sí", "Officer Diaz", "Cmdte. Ruiz")
    result = with_directory.classify(answer, question)
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


def test_a_family_only_message_goes_to_review(with_directory: Classifier) -> None:
    result = with_directory.classify(chat("Where are you?", "Ana", "Officer Diaz"))
    assert (result.label, result.review, result.reasons) == (NONRECORD, True, ("family-only-participants",))
    sent = with_directory.classify(chat("Running errands", "Officer Diaz", "Ana", "Mom"))
    assert (sent.label, sent.review) == (NONRECORD, True)


def test_a_family_message_with_social_words_is_a_confident_nonrecord(with_directory: Classifier) -> None:
    result = with_directory.classify(chat("love you, see you at dinner", "Mom", "Officer Diaz"))
    assert (result.label, result.review) == (NONRECORD, False)


def test_a_family_message_with_everyday_business_words_goes_to_review(with_directory: Classifier) -> None:
    result = with_directory.classify(chat("Your supervisor called, he approved the leave", "Ana", "Officer Diaz"))
    assert (result.label, result.review) == (NONRECORD, True)
    assert "family-only-participants" in result.reasons


def test_a_family_message_with_third_party_data_is_a_record(with_directory: Classifier) -> None:
    result = with_directory.classify(chat("Can you run his name in the system? DOB 04/05/1990", "Ana", "Officer Diaz"))
    assert result.label == RECORD
    assert "family-only-participants" in result.reasons


@pytest.mark.parametrize(
    "message",
    [
        chat("Where are you?", "Ana", "Officer Diaz", "Sgt. Lee"),  # a colleague is in the chat
        chat("Where are you?", "Ana", "Officer Diaz", "Stranger"),  # someone the directory does not list
        chat("Where are you?", "Officer Diaz"),  # nobody else is known
    ],
)
def test_family_rule_needs_every_other_participant_to_be_family(with_directory: Classifier, message: Message) -> None:
    assert "family-only-participants" not in with_directory.classify(message).reasons


def test_participant_rules_never_match_app_notices(with_directory: Classifier) -> None:
    notice = chat("Cmdte. Ruiz added Ana", "Cmdte. Ruiz", "Officer Diaz", system=True)
    assert with_directory.classify(notice).reasons == ("system-notice",)


def test_without_a_directory_participant_rules_do_not_fire(classifier: Classifier) -> None:
    assert "outside-party-participant" not in classifier.classify(chat("Mañana", "Cmdte. Ruiz")).reasons
    assert "family-only-participants" not in classifier.classify(chat("Where?", "Ana")).reasons


# ------------------------------------------------------------------------- the conversation's name


@pytest.mark.parametrize("name", ["Mom", "Familia Castillo 🏠", "Jess 💍", "Fut Domingo ⚽", "Tía Carmen", "Marisol ❤️",
                                  "Grand-mère Odile", "Lago Azul 🎣", "Outrigger paddlers 🛶"])
def test_everyday_business_words_in_a_conversation_named_for_family_go_to_review(
    classifier: Classifier, name: str
) -> None:
    result = classifier.classify(msg("The bank approved the loan, we pick it up Saturday", conversation=name))
    assert (result.label, result.review) == (NONRECORD, True)
    assert "personal-conversation-name" in result.reasons
    assert any(e.startswith("in doubt: rule decision-words gives way") for e in result.explanations)


@pytest.mark.parametrize("name", ["Port Ops Nogales", "Cmdte. Beltrán", "Sup. Hollis", "Op Cobre"])
def test_the_same_words_in_a_business_conversation_stay_a_record(classifier: Classifier, name: str) -> None:
    result = classifier.classify(msg("The bank approved the loan, we pick it up Saturday", conversation=name))
    assert result.label == RECORD
    assert "personal-conversation-name" not in result.reasons


@pytest.mark.parametrize("name", ["Familie Brandt", "Oma Hilde", "Teyze Nermin", "Annem", "Vizinha D. Célia",
                                  "Maman 🌷", "Les copains du jeudi", "Kickers Eltern", "Ruiz sisters",
                                  "Ernesto (landlord)", "Stammtisch Lindenhof", "Liga de Dominó 🎲",
                                  "Lucía (babysitter)", "Running Club Lille", "Nounou Sandrine"])
def test_names_for_family_friends_and_leisure_in_six_languages(classifier: Classifier, name: str) -> None:
    result = classifier.classify(msg("The bank approved the loan, we pick it up Saturday", conversation=name))
    assert "personal-conversation-name" in result.reasons


@pytest.mark.parametrize("name", ["Op Palmetto 🌴", "Clan del Golfo – FGR", "Derby Line POE", "Cmdte. Nieto",
                                  "Pesca ilegal – DIMAR", "Gotaways 🏃", "Targeting cell 🎯"])
def test_names_of_places_units_and_operations_are_not_personal(classifier: Classifier, name: str) -> None:
    result = classifier.classify(msg("The bank approved the loan, we pick it up Saturday", conversation=name))
    assert "personal-conversation-name" not in result.reasons


@pytest.mark.parametrize("name", ["Op Cayo Norte 🌴", "PD Vance – BRO", "TF Lobo ⚽ HSI/PCSO", "Zoll Kiel 🍺",
                                  "Turno noche 🎉 aduana", "Sahil Güvenlik – Bodrum 🌸"])
def test_a_name_that_names_work_is_not_personal_whatever_its_emoji(classifier: Classifier, name: str) -> None:
    result = classifier.classify(msg("The bank approved the loan, we pick it up Saturday", conversation=name))
    assert "personal-conversation-name" not in result.reasons and result.label == RECORD


def test_a_name_word_not_to_have_must_be_one_word(tmp_path: Path) -> None:
    rules = NAME_RULES.format(words="mom", confidence=0.6).replace(
        "{conversation_name: [mom]}", "{conversation_name: [mom], conversation_name_not: [task force]}")
    with pytest.raises(ConfigError, match="conversation_name_not: 'task force' must be one word or one emoji"):
        load_rules(write_rules(tmp_path, rules))


def test_a_conversation_name_alone_never_reaches_the_tombstone(classifier: Classifier) -> None:
    result = classifier.classify(msg("Son 185 en la página", conversation="Mom"))
    assert result.label == RECORD or result.review


@pytest.mark.parametrize(
    "body",
    ["Can you run her name in the system?", "Carnal no puedo checar eso, no está permitido buscar casos de conocidos"],
)
def test_official_look_ups_stay_records_even_in_a_family_conversation(classifier: Classifier, body: str) -> None:
    result = classifier.classify(msg(body, conversation="Primo Toño"))
    assert result.label == RECORD
    assert "official-lookup-words" in result.reasons


def test_the_conversation_name_does_not_match_app_notices(classifier: Classifier) -> None:
    notice = classifier.classify(msg("Ana added you", conversation="Familia 🏠", system=True))
    assert notice.reasons == ("system-notice",)


NAME_RULES = """
version: 1
nonrecord_threshold: 0.8
review_threshold: 0.5
rules:
  - id: family-chat
    label: nonrecord
    when: {{conversation_name: [{words}]}}
    confidence: {confidence}
    explain: A family chat.
"""


def test_a_name_rule_alone_cannot_reach_the_tombstone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule 'family-chat': reads the conversation's name and no words, so its "
                                          "confidence 0.9 must be below nonrecord_threshold 0.8"):
        load_rules(write_rules(tmp_path, NAME_RULES.format(words="mom", confidence=0.9)))


def test_an_agency_adds_names_to_the_shipped_name_rule(tmp_path: Path) -> None:
    override = tmp_path / "agency.yaml"
    override.write_text("extend:\n  personal-conversation-name:\n    conversation_name: [Bisabuela]\n",
                        encoding="utf-8")
    classifier = Classifier(load_rules(overrides=[override]))
    assert "personal-conversation-name" in classifier.classify(msg("Approved", conversation="BISABUELA")).reasons


def test_name_words_only_extend_a_rule_that_reads_names(tmp_path: Path) -> None:
    override = tmp_path / "agency.yaml"
    override.write_text("extend:\n  decision-words:\n    conversation_name: [mom]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="conversation_name can only extend a rule that reads the conversation"):
        load_rules(overrides=[override])


def test_a_name_word_must_be_one_word(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="conversation_name: 'mi amor' must be one word or one emoji"):
        load_rules(write_rules(tmp_path, NAME_RULES.format(words="mi amor", confidence=0.6)))


def test_name_words_fold_case_and_accents(tmp_path: Path) -> None:
    classifier = Classifier(load_rules(write_rules(tmp_path, NAME_RULES.format(words="Mamá, '🏠'", confidence=0.6))))
    for name in ("MAMA", "mamá", "Casa 🏠"):
        assert classifier.classify(msg("hola", conversation=name)).reasons == ("family-chat",)
    assert classifier.classify(msg("hola", conversation="Mamadou")).reasons == ("default",)


def test_sender_role_and_participant_role_matchers(tmp_path: Path) -> None:
    rules = load_rules(
        write_rules(
            tmp_path,
            """
version: 1
rules:
  - id: from-family
    label: nonrecord
    when: {sender_role: [family]}
    confidence: 0.9
    explain: Sent by family.
  - id: with-unknown
    label: record
    when: {participant_role: [unknown]}
    confidence: 0.9
    explain: Someone not in the directory takes part.
""",
        )
    )
    classifier = Classifier(rules, DIRECTORY)
    assert classifier.classify(chat("hi", "Mom", "Officer Diaz")).reasons == ("from-family",)
    assert classifier.classify(chat("hi", "Officer Diaz", "Mom")).reasons == ("default",)
    assert classifier.classify(chat("hi", "Mom", "Officer Diaz", "Nobody")).reasons == ("from-family", "with-unknown")


# ------------------------------------------------------------------------- tuned behaviour


@pytest.mark.parametrize(
    "body", ["hola, gracias jaja", "ok team 👍", "Recibido, muchas gracias comandante.", "ok 🙌🏽", "Thanks all!"]
)
def test_small_talk_mixing_greetings_acknowledgements_and_laughter_is_a_nonrecord(
    classifier: Classifier, body: str
) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, False)


def test_a_title_in_a_real_message_still_makes_it_a_record(classifier: Classifier) -> None:
    result = classify(classifier, "El comandante confirmó el cruce")
    assert result.label == RECORD
    assert "outside-party-words" in result.reasons


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Lunch at the Thai place?", "food-and-drink-words"),
        ("Anyone up for bowling after work?", "social-invitation"),
        ("that meme lol", "laughter-words"),
        ("Thanks Marta!", "brief-thanks"),
    ],
)
def test_messages_that_lean_social_go_to_review(classifier: Classifier, body: str, reason: str) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, True)
    assert reason in result.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Lunch with the consul at 12, he wants the manifest",
        "Thanks, release it",
        "jaja ya lo detuvieron en la garita",
        "Can I take Friday afternoon off?",
        "¿Me cubres el turno del sábado?",
    ],
)
def test_business_in_a_social_message_keeps_it_a_record(classifier: Classifier, body: str) -> None:
    assert classify(classifier, body).label == RECORD


def test_a_leave_request_is_a_request_and_its_answer_the_decision(classifier: Classifier) -> None:
    assert "request-words" in classify(classifier, "Can I take the 24th off? Kid's school play").reasons
    assert classify(classifier, "👍", previous="Can I take the 24th off? Kid's school play").label == RECORD


@pytest.mark.parametrize("body", ["Earn $250/day from your phone!", "Gana $300 al día desde tu casa",
                                  "Gana de $500 a $2,000 pesos diarios con tu celular",
                                  "Your E-ZPass balance is overdue. Pay now at https://ezpass-due.example.top"])
def test_money_per_day_offers_are_spam(classifier: Classifier, body: str) -> None:
    assert "spam-words" in classify(classifier, body).reasons


def test_several_people_answer_the_same_question_in_a_group_chat(classifier: Classifier) -> None:
    stream = [
        msg("Can we hold the press release until 14:00?", sender="Kessler"),
        msg("De acuerdo, 14:00.", sender="Beltran"),
        msg("Sí", sender="Ruiz"),
        msg("👍", sender="Ortega"),
        msg("thanks all", sender="Kessler"),  # the asker thanks: no answer
        msg("ok", sender="Ruiz"),  # Ruiz has answered already
    ]
    results = [c for _, c in classifier.classify_stream(stream)]
    assert [c.label for c in results] == [RECORD, RECORD, RECORD, RECORD, NONRECORD, NONRECORD]
    assert all("short-reply-to-request" in c.reasons for c in results[1:4])


def test_a_question_stays_open_only_while_new_people_answer(classifier: Classifier) -> None:
    stream = [
        msg("Should I release the truck?", sender="Diaz"),
        msg("yes", sender="Lee"),
        msg("ok", sender="Lee"),
        msg("ok", sender="Diaz"),
    ]
    labels = [c.label for _, c in classifier.classify_stream(stream)]
    assert labels == [RECORD, RECORD, NONRECORD, NONRECORD]


# ------------------------------------------------------------------------- personal conversations


def stream(classifier: Classifier, bodies: list[str], conversation: str = "chat") -> list[Classification]:
    """Classify ``bodies`` as one conversation between two people who take turns, in order."""
    messages = [
        msg(body, conversation=conversation, sender="Officer Diaz" if n % 2 else "Friend",
            sent_at=T0 + timedelta(minutes=n))
        for n, body in enumerate(bodies)
    ]
    return [c for _, c in classifier.classify_stream(messages)]


def outcome(result: Classification) -> str:
    return "review" if result.review else result.label


# Four messages with personal words of their own: enough to make the conversation personal.
FAMILY_OPENING = [
    "Te quiero, mi amor ❤️",
    "jaja ¿qué hay de cenar?",
    "Pozole 🍲, los niños ya comieron",
    "Love you, dinner was great",
]


def test_personal_words_and_everyday_business_words_in_a_family_conversation_go_to_review(
    classifier: Classifier,
) -> None:
    results = stream(classifier, [*FAMILY_OPENING, "Lo de la reunión con tu hermano es el jueves, mija"])
    meeting = results[-1]
    assert outcome(meeting) == "review"
    assert "personal-talk-in-personal-conversation" in meeting.reasons
    assert "logistics-words" not in meeting.reasons  # it gave way
    assert any(e.startswith("in doubt: rule logistics-words gives way") for e in meeting.explanations)
    assert meeting.explanations[-1].startswith("review: record rule(s) logistics-words gave way")
    assert meeting.confidence == 0.5  # the review threshold


@pytest.mark.parametrize(
    "body",
    ["Approved, but only till ten 🙂", "I work the night shift Friday", "ok, denied", "Reported it already"],
)
def test_context_alone_never_outweighs_a_business_word(classifier: Classifier, body: str) -> None:
    result = stream(classifier, [*FAMILY_OPENING, body])[-1]
    assert result.label == RECORD
    assert "personal-conversation" in result.reasons  # the conversation is personal all the same


@pytest.mark.parametrize("body", ["sure, see you then", "on it", "the blue one"])
def test_a_short_message_with_no_business_words_in_a_personal_conversation_goes_to_review(
    classifier: Classifier, body: str
) -> None:
    result = stream(classifier, [*FAMILY_OPENING, body])[-1]
    assert outcome(result) == "review"
    assert "personal-conversation" in result.reasons


@pytest.mark.parametrize("body", ["back at 1730", "2 min", "gate 4, the 9:15"])
def test_a_short_message_with_a_figure_is_not_judged_by_its_context_alone(classifier: Classifier, body: str) -> None:
    result = stream(classifier, [*FAMILY_OPENING, body])[-1]
    assert result.reasons == ("default",)
    assert result.label == RECORD


def test_a_conversation_is_personal_only_after_four_messages(classifier: Classifier) -> None:
    opening = stream(classifier, ["Te quiero ❤️", "love you 😘", "miss you", "the blue one"])
    assert "personal-conversation" not in opening[-1].reasons  # three messages before it
    later = stream(classifier, ["Te quiero ❤️", "love you 😘", "miss you", "ok", "the blue one"])
    assert "personal-conversation" in later[-1].reasons


def test_a_personal_conversation_needs_two_personal_messages_and_no_recent_record(classifier: Classifier) -> None:
    assert "personal-conversation" not in stream(classifier, ["ok", "jaja", "fine", "ok", "the blue one"])[-1].reasons
    assert "personal-conversation" in stream(classifier, ["ok", "jaja", "fine", "lol", "the blue one"])[-1].reasons
    # A record among the last 8 messages: not a personal conversation, even after laughter.
    after_record = stream(classifier, ["Release the truck at gate 3", "ok", "jaja", "lol", "the blue one"])
    assert "personal-conversation" not in after_record[-1].reasons
    long_ago = stream(classifier, ["Release the truck at gate 3", *["ok"] * 6, "jaja", "lol", "the blue one"])
    assert "personal-conversation" in long_ago[-1].reasons


def test_a_fact_with_a_figure_ends_a_personal_conversation(classifier: Classifier) -> None:
    # No rule fires on "Truck 44 at dock 2", but a figure with no personal words states a
    # fact: the conversation is no longer judged personal talk.
    results = stream(classifier, [*FAMILY_OPENING, "Truck 44 at dock 2", "moving it now"])
    assert results[-2].reasons == ("default",)
    assert "personal-conversation" not in results[-1].reasons
    assert results[-1].label == RECORD


def test_personal_talk_is_read_from_words_never_inherited_from_replies(classifier: Classifier) -> None:
    # "sure" and "the red one" are short replies to personal talk (review), but they have no
    # personal words of their own: they do not make the conversation personal.
    results = stream(classifier, ["ok", "Pizza tonight? 🍕", "sure", "noted", "the red one", "the blue one"])
    assert "short-reply-to-personal-talk" in results[2].reasons
    assert "personal-conversation" not in results[-1].reasons


def test_personal_information_of_others_stays_a_record_in_a_personal_conversation(classifier: Classifier) -> None:
    results = stream(
        classifier,
        [
            "lol did you see the game last night 😂",
            "haha brutal, my cousin cried",
            "jaja pobre 😂",
            "love you bro",
            "Hey can you check if my cousin is ok? A-number A123456789, DOB 04/12/1990",
            "I can't look that up for family, sorry",
            "the blue one",  # a record ended the personal conversation
        ],
    )
    assert [c.label for c in results[4:]] == [RECORD, RECORD, RECORD]
    assert "pii-a-number" in results[4].reasons


def test_a_look_up_in_official_systems_is_a_record_even_among_friends(classifier: Classifier) -> None:
    results = stream(
        classifier,
        [
            "Qué onda carnal ⚽",
            "jaja todo bien, con mi primo viendo el partido 🍺",
            "Vamos a la carne asada del domingo 🍻",
            "jaja simón",
            "¿Me checas si mi primo tiene orden de arresto?",
        ],
    )
    assert results[-1].label == RECORD
    assert "official-lookup-words" in results[-1].reasons


def test_a_long_message_without_rules_is_not_pulled_into_review_by_the_conversation(classifier: Classifier) -> None:
    long_default = "Mañana temprano paso por los papeles que dejó el licenciado en la ventanilla de atrás"
    results = stream(classifier, ["jaja qué risa 😂", "lol 🤣", "hahaha", "jeje", long_default])
    assert results[-1].reasons == ("default",)


def test_classify_alone_never_sees_a_personal_conversation(classifier: Classifier) -> None:
    assert classifier.classify(photo("<Media omitted>"), msg("jaja", sender="Friend")).label == RECORD


# ------------------------------------------------------------------------- short replies


def test_a_short_reply_to_personal_talk_in_review_goes_to_review(classifier: Classifier) -> None:
    for previous, reply in [("Brunch at Lupe's on Sunday? 🥞", "count me in pls"),
                            ("¿Unas chelas al salir? 🍻", "¡Va que va!")]:
        result = classify(classifier, reply, previous=previous)
        assert (result.label, result.review) == (NONRECORD, True)
        assert "short-reply-to-personal-talk" in result.reasons


def test_a_short_reply_to_personal_talk_with_a_business_word_stays_a_record(classifier: Classifier) -> None:
    for previous, reply in [("Mom asks: are you coming to the posada? 🎄", "Sorry, night shift that week"),
                            ("¿Vienes a la comida familiar? 🌮", "No puedo, estoy de guardia")]:
        result = classify(classifier, reply, previous=previous)
        assert result.label == RECORD
        assert {"logistics-words", "short-reply-to-personal-talk"} <= set(result.reasons)


def test_a_short_reply_with_a_figure_is_not_a_reply_to_social_talk(classifier: Classifier) -> None:
    result = classify(classifier, "5 min", previous="Happy birthday!! 🎂")
    assert result.reasons == ("default",)


def test_the_same_person_going_on_is_not_a_reply(classifier: Classifier) -> None:
    social, personal = msg("Happy birthday!! 🎂", sender="Friend"), msg("Pizza tonight? 🍕", sender="Friend")
    for previous in (social, personal):
        assert classifier.classify(msg("the blue one", sender="Friend"), previous).reasons == ("default",)
        answer = classifier.classify(msg("the blue one", sender="Officer Diaz"), previous)
        assert answer.label == NONRECORD


def test_a_reply_to_social_talk_judged_by_context_alone_goes_to_review(classifier: Classifier) -> None:
    result = classify(classifier, "the blue one", previous="¡Buenos días a todos!")
    assert (result.label, result.review, result.reasons) == (NONRECORD, True, ("short-reply-to-social",))
    # With words of its own, a short reply is still a confident nonrecord.
    thanks = classify(classifier, "thanks!!", previous="Happy birthday!! 🎂")
    assert (thanks.label, thanks.review) == (NONRECORD, False)


def test_a_personal_remark_leaves_nothing_to_answer(classifier: Classifier) -> None:
    for remark in ["JAJAJAJA 😂", "Feliz día a todas 💐🎉", "My kid scored twice today ⚽"]:
        result = classify(classifier, "Keys are at the front desk", previous=remark)
        assert "short-reply-to-personal-talk" not in result.reasons
        assert result.label == RECORD


def test_a_reply_to_an_acknowledgement_is_not_a_reply_to_personal_talk(classifier: Classifier) -> None:
    assert "short-reply-to-personal-talk" not in classify(classifier, "Truck 7 late again", previous="ok").reasons


def test_a_reply_to_a_personal_reply_is_not_pulled_in_by_the_chain(classifier: Classifier) -> None:
    results = stream(classifier, ["Release the truck at gate 3", "Pizza? 🍕", "yes pls", "Truck seven late again"])
    assert "short-reply-to-personal-talk" in results[2].reasons
    assert results[3].reasons == ("default",)


def test_an_answer_to_a_business_question_with_family_words_stays_a_record(classifier: Classifier) -> None:
    request = "Can someone cover my Friday shift? My son's graduation"
    results = stream(classifier, ["Copy", "👍", request, "I'll take it"])
    assert [c.label for c in results[2:]] == [RECORD, RECORD]


# ------------------------------------------------------------------------- asking, laughter, captions


def photo(body: str) -> Message:
    return msg(body, attachments=(Attachment(name="IMG-0001.jpg", media_type="image/jpeg", missing=True),))


def test_a_personal_question_goes_to_review_not_to_the_tombstone(classifier: Classifier) -> None:
    result = classify(classifier, "Can you pick up the kids? I'm stuck at work")
    assert (result.label, result.review) == (NONRECORD, True)
    assert "asking-words" not in result.reasons
    assert any(e.startswith("in doubt: rule asking-words gives way") for e in result.explanations)


@pytest.mark.parametrize(
    "body", ["Could you call me back when you're free? 😂", "¿Me puedes marcar cuando salgas? jaja"]
)
def test_laughter_alone_does_not_make_a_request_doubtful(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD
    assert "asking-words" in result.reasons


@pytest.mark.parametrize(
    "body", ["IMG-0001.jpg (archivo adjunto)\nte quiero ❤️", "IMG-0001.jpg (file attached)\nthe kids at grandma's"]
)
def test_a_photo_with_a_personal_caption_goes_to_review(classifier: Classifier, body: str) -> None:
    result = classifier.classify(photo(body))
    assert (result.label, result.review) == (NONRECORD, True)
    assert any(e.startswith("in doubt: rule attachment-shared gives way") for e in result.explanations)
    assert "document-words" not in result.reasons  # "(file attached)" is the app's text


@pytest.mark.parametrize(
    "body",
    ["IMG-0001.jpg (file attached)\nfoto del decomiso jaja", "IMG-0001.jpg (file attached)\nlol look at this one 😂",
     "<Media omitted>", ""],
)
def test_a_photo_with_business_laughter_or_no_caption_stays_a_record(classifier: Classifier, body: str) -> None:
    assert classifier.classify(photo(body)).label == RECORD


def test_a_bare_photo_in_a_personal_conversation_goes_to_review(classifier: Classifier) -> None:
    bodies = ["jaja 😂", "lol", "te quiero ❤️", "love you"]
    messages = [msg(body, sender="Friend" if n % 2 else "Officer Diaz") for n, body in enumerate(bodies)]
    result = [c for _, c in classifier.classify_stream([*messages, photo("<Media omitted>")])][-1]
    assert (result.label, result.review) == (NONRECORD, True)
    assert "personal-conversation" in result.reasons


def test_the_file_name_is_not_a_figure(classifier: Classifier) -> None:
    bodies = ["jaja 😂", "lol", "te quiero ❤️", "love you"]
    messages = [msg(body, sender="Friend" if n % 2 else "Officer Diaz") for n, body in enumerate(bodies)]
    named = photo("IMG-0001.jpg (file attached)\nsunrise")  # digits in the name only
    assert "personal-conversation" in [c for _, c in classifier.classify_stream([*messages, named])][-1].reasons


# ------------------------------------------------------------------------- official vocabulary


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("La familia presentó una queja por el trato que recibió en la estación", "conduct-words"),
        ("Felicidades por el buen trato a los detenidos, la señora lo comentó", "conduct-words"),
        ("She says the detainees were treated with respect, congrats to your team", "conduct-words"),
        ("¿Nos ayudan a localizar a su papá? Dice que vive en Phoenix", "official-lookup-words"),
        ("Any idea of the whereabouts of her brother?", "official-lookup-words"),
        ("Llegaron dos menores no acompañados, uno dice que su papá vive en Dallas", "official-information-words"),
        ("Please resend it by the secure line, not here", "official-information-words"),
        ("Mejor por correo oficial, que luego me regañan jeje", "official-information-words"),
        ("Panga with 9 aboard landed on the beach at 0300", "official-information-words"),
        ("Ya notificamos al consulado, los trasladaron ayer", "event-report-words"),
        ("The victim paid the scammer by Zelle, twice", "official-information-words"),
        ("Checking the plate now", "official-lookup-words"),
        ("I'm in position by the north gate", "logistics-words"),
        ("I'll bring the paperwork", "document-words"),
    ],
)
def test_official_vocabulary_keeps_records_with_personal_or_social_words(
    classifier: Classifier, body: str, rule: str
) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD
    assert rule in result.reasons


def test_a_beach_as_a_place_is_not_leisure(classifier: Classifier) -> None:
    assert "leisure-talk-words" not in classify(classifier, "Dos bultos en la playa norte, cerca del muelle").reasons
    assert "leisure-talk-words" in classify(classifier, "Beach day on Sunday?").reasons


def test_phishing_alone_is_a_nonrecord(classifier: Classifier) -> None:
    for body in ["Your mailbox is full. Click the link below to keep your email",
                 "Su buzón está lleno, ingrese su contraseña aquí"]:
        result = classify(classifier, body)
        assert (result.label, result.review) == (NONRECORD, False)
        assert "phishing-words" in result.reasons


def test_phishing_that_names_the_agency_goes_to_review_not_the_tombstone(classifier: Classifier) -> None:
    result = classify(classifier, "CBP Payroll: verify your PIV credentials at cbp-pay.example.com today")
    assert (result.label, result.review) == (NONRECORD, True)
    assert "official-information-words" not in result.reasons


@pytest.mark.parametrize(
    "body", ["¡Ganaste un premio! Reclama tu premio aquí", "Congratulations, you're a winner! Tap here"]
)
def test_more_prize_spam_in_english_and_spanish(classifier: Classifier, body: str) -> None:
    assert "spam-words" in classify(classifier, body).reasons


def test_a_holding_reply_to_a_request_is_not_the_decision(classifier: Classifier) -> None:
    for previous, reply in [("Can you confirm the plate of the white truck?", "Let me check"),
                            ("¿Nos autoriza el cruce de la unidad?", "Déjame preguntar a mi supervisor")]:
        result = classify(classifier, reply, previous=previous)
        assert (result.label, result.review) == (NONRECORD, True)
        assert "short-reply-to-request" not in result.reasons


def test_a_holding_reply_that_promises_an_answer_is_a_commitment(classifier: Classifier) -> None:
    result = classify(classifier, "Déjeme consultar y le aviso hoy", previous="¿Nos autoriza el cruce?")
    assert result.label == RECORD
    assert "commitment-words" in result.reasons


@pytest.mark.parametrize(
    "body", ["Can u lend me $100 till friday", "ok I'll venmo you later", "¿Me prestas dinero para la renta?"]
)
def test_money_between_friends_goes_to_review(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, True)
    assert "personal-money-words" in result.reasons


@pytest.mark.parametrize(
    "body",
    [
        "My mom approved the trip to the lake 🙌",
        "Mi prima aprobó el examen de admisión 🎉",
        "Got Jamie's report card today, mostly B's",
        "Grandpa Joe finally approved the camping trip",  # a relative, a name, then the verb
        "Mi suegra ya dijo que sí a lo de diciembre",
        "¡Mi hermana ya ha aprobado el examen de manejo!",
        "No puedo el martes, hay junta de vecinos",
        "PTA meeting moved to Wednesday night",
        "Gracias por el aventón, te debo un cafecito",
        "I owe you a beer for Saturday",
    ],
)
def test_business_words_in_their_everyday_sense_are_not_records(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == NONRECORD  # review, or a tombstone when plainly family or leisure talk
    assert "personal-sense-words" in result.reasons


@pytest.mark.parametrize(
    "body", ["Can I take vacation the week of the 14th?", "¿Puedo pedir vacaciones la semana que entra?",
             "Can I borrow the mobile scanner on Wednesday?"]
)
def test_leave_and_equipment_requests_are_not_mistaken_for_leisure_or_money(classifier: Classifier, body: str) -> None:
    assert classify(classifier, body).label == RECORD


def test_an_approval_by_a_supervisor_stays_a_record(classifier: Classifier) -> None:
    assert classify(classifier, "Our supervisor approved my TDY to Tucson").label == RECORD


@pytest.mark.parametrize(
    "body",
    [
        "Debo el informe de la inspección, lo mando mañana",  # "debo": I must / I owe the report
        "Can someone cover my shift Saturday? I owe you one",
        "Meet at the office after work to sign the incident report",
        "La mamá del joven aprobó que lo recoja su tía en el puente",  # a party's mother, not mine
        "The father approved the sponsor release",
        "La mamá aprobó el traslado del joven",
        "Ramírez aprobó el examen de control de confianza",  # an official exam, not school
    ],
)
def test_owing_a_report_or_a_favour_for_work_stays_a_record(classifier: Classifier, body: str) -> None:
    assert classify(classifier, body).label == RECORD


@pytest.mark.parametrize(
    "body",
    [
        "Banco Nacional: tu tarjeta ha sido suspendida temporalmente. Entra a bn-seguridad.co y reactívala",
        "Your account was locked due to unusual logins, restore access at www.secure-bank-login.com",
    ],
)
def test_an_account_said_to_be_blocked_with_a_link_is_phishing(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, False)
    assert "phishing-words" in result.reasons


def test_a_blocked_account_in_an_investigation_is_not_phishing(classifier: Classifier) -> None:
    result = classify(classifier, "The suspect's bank account was blocked by the court on Monday")
    assert result.label == RECORD
    assert "phishing-words" not in result.reasons


@pytest.mark.parametrize("body", ["ok mi amor, ten cuidado 🙏", "Drive safe!", "¡Cuídense!"])
def test_take_care_wishes_are_greetings(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, False)


# ------------------------------------------------------------------------- review_if, personal


GIVE_WAY = """
version: 1
nonrecord_threshold: 0.8
review_threshold: 0.5
rules:
  - id: business
    label: record
    words: [meeting]
    review_if: [school]
    confidence: 0.8
    explain: Business.
  - id: strong-business
    label: record
    words: [manifest]
    confidence: 0.9
    explain: Strong business.
  - id: school
    label: nonrecord
    personal: true
    words: [parent-teacher]
    confidence: {confidence}
    explain: School.
  - id: personal-and-business
    label: nonrecord
    when: {{personal_talk: true, max_words: 5}}
    confidence: 0.6
    explain: Short personal talk.
"""


def give_way(tmp_path: Path, confidence: float) -> Classifier:
    return Classifier(load_rules(write_rules(tmp_path, GIVE_WAY.format(confidence=confidence))))


def test_a_record_rule_that_gives_way_sends_the_message_to_review_never_to_the_tombstone(tmp_path: Path) -> None:
    result = give_way(tmp_path, 0.95).classify(msg("parent-teacher meeting at 5 on thursday"))
    assert (result.label, result.review, result.confidence) == (NONRECORD, True, 0.5)
    assert result.reasons == ("school",)
    assert "in doubt: rule business gives way because school fired" in result.explanations


def test_another_record_rule_still_makes_a_record(tmp_path: Path) -> None:
    result = give_way(tmp_path, 0.95).classify(msg("parent-teacher meeting, bring the manifest"))
    assert result.label == RECORD
    assert result.reasons == ("strong-business", "school")


def test_a_record_rule_gives_way_only_to_evidence_in_the_review_band(tmp_path: Path) -> None:
    result = give_way(tmp_path, 0.3).classify(msg("parent-teacher meeting at 5 on thursday"))
    assert (result.label, result.reasons) == (RECORD, ("school", "default"))


def test_personal_talk_condition_looks_at_personal_rules(tmp_path: Path) -> None:
    classifier = give_way(tmp_path, 0.95)
    assert classifier.classify(msg("parent-teacher at 5")).reasons == ("school", "personal-and-business")
    assert "personal-and-business" not in classifier.classify(msg("meeting at 5")).reasons


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    label: nonrecord\n    review_if: [school]\n", "review_if is only for record rules"),
        ("    label: record\n    review_if: [nowhere]\n", "review_if names unknown rule(s) ['nowhere']"),
        ("    label: record\n    review_if: [odd]\n", "review_if must not name the rule itself"),
        ("    label: record\n    personal: true\n", "personal is only for nonrecord rules"),
        ("    label: nonrecord\n    personal: yes-please\n", "personal must be true or false"),
        (
            "    label: nonrecord\n    personal: true\n    when: {personal_talk: true}\n",
            "cannot depend on personal_talk",
        ),
        ("    label: record\n    context: personal_chat\n", "context must be one of"),
        (
            "    label: nonrecord\n    personal: true\n    context: reply_to_social\n",
            "personal is only for rules without a context",
        ),
    ],
)
def test_bad_review_if_and_personal_fields_are_config_errors(tmp_path: Path, text: str, expected: str) -> None:
    rules = (
        "version: 1\nrules:\n  - id: school\n    label: nonrecord\n    words: [school]\n"
        "    confidence: 0.7\n    explain: School.\n"
        f"  - id: odd\n{text}    words: [odd]\n    confidence: 0.9\n    explain: Odd.\n"
    )
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_rules(write_rules(tmp_path, rules))


def test_disabling_a_rule_named_in_review_if_is_allowed(tmp_path: Path) -> None:
    base = write_rules(tmp_path, GIVE_WAY.format(confidence=0.95))
    override = tmp_path / "override.yaml"
    override.write_text("disable: [school]\n", encoding="utf-8")
    classifier = Classifier(load_rules(base, [override]))
    assert classifier.classify(msg("parent-teacher meeting")).reasons == ("business",)


def test_lowercase_patterns_match_any_case_and_accent(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, """
version: 1
rules:
  - id: folded
    label: record
    patterns: ['aprob\\w+ el examen']
    confidence: 0.9
    explain: Folded.
  - id: as-written
    label: record
    patterns: ['EXAMEN']
    confidence: 0.9
    explain: As written.
"""))
    classifier = Classifier(rules)
    assert classifier.classify(msg("Aprobó el Examen")).reasons == ("folded",)
    assert classifier.classify(msg("aprobó el EXAMEN")).reasons == ("folded", "as-written")


def test_patterns_naming_guillemets_and_emoji_match_any_case(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, """
version: 1
rules:
  - id: guillemets
    label: record
    patterns: ['dit\\s«[^»]*»\\s👍']
    confidence: 0.9
    explain: Guillemets and an emoji, which normalizing leaves as they are.
"""))
    classifier = Classifier(rules)
    assert classifier.classify(msg("Il a DIT «Oui» 👍")).reasons == ("guillemets",)
    assert classifier.classify(msg("il a dit oui 👍")).reasons == ("default",)


@pytest.mark.parametrize(
    ("pattern", "as_written"),
    [("dit «oui» 👍", False), ("mesajınıza", True), ("dijo “fin”", True), ("canción", True), ("EXAMEN", True)],
)
def test_only_patterns_naming_what_normalizing_changes_search_the_text_as_written(
    pattern: str, as_written: bool
) -> None:
    # Quotation marks and emoji are the same in the normalized text: one search is enough; the
    # dotless ı is folded to "i", so a pattern naming it searches the text as written too.
    assert _reads_text_as_written(pattern) is as_written


# ------------------------------------------------------------------------- context alone, has_number


CONTEXT_ALONE = """
version: 1
nonrecord_threshold: 0.8
review_threshold: 0.5
rules:
  - id: business
    label: record
    words: [manifest]
    {key}: [{named}]
    confidence: 0.9
    explain: Business.
  - id: photo
    label: record
    when: {{has_attachment: true}}
    review_if: [chatter]
    confidence: 0.9
    explain: A file.
  - id: chatter
    label: nonrecord
    context: personal_conversation
    confidence: {confidence}
    explain: Context alone.
  - id: personal-chatter
    label: nonrecord
    context: personal_conversation
    when: {{personal_talk: true}}
    confidence: 0.7
    explain: Personal words in a personal conversation.
  - id: hugs
    label: nonrecord
    personal: true
    words: [hugs]
    confidence: 0.9
    explain: Affection.
"""


def context_alone(tmp_path: Path, named: str = "personal-chatter", key: str = "review_if",
                  confidence: float = 0.7) -> Path:
    return write_rules(tmp_path, CONTEXT_ALONE.format(named=named, key=key, confidence=confidence))


def test_context_alone_may_make_a_rule_without_words_give_way(tmp_path: Path) -> None:
    rules = load_rules(context_alone(tmp_path))
    assert {rule.id for rule in rules.rules if rule.context_alone} == {"chatter"}


@pytest.mark.parametrize("key", ["review_if", "unless"])
def test_context_alone_cannot_set_aside_a_rule_that_found_words(tmp_path: Path, key: str) -> None:
    expected = f"rule 'business': {key} names ['chatter'], which fire on context alone"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_rules(context_alone(tmp_path, named="chatter", key=key))


def test_context_alone_never_reaches_the_tombstone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule 'chatter': fires on context alone, so its confidence 0.8 must be"):
        load_rules(context_alone(tmp_path, confidence=0.8))


def test_an_override_that_lowers_the_threshold_under_a_context_rule_is_refused(tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("nonrecord_threshold: 0.65\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be below nonrecord_threshold 0.65"):
        load_rules(context_alone(tmp_path), [override])


def test_the_shipped_context_rules_stay_in_the_review_band_and_away_from_words() -> None:
    rules = load_rules()
    alone = {rule.id: rule for rule in rules.rules if rule.context_alone and rule.label == NONRECORD}
    assert set(alone) == {"short-reply-to-social", "personal-conversation", "short-reply-to-personal-talk"}
    for rule in alone.values():
        assert rule.label == NONRECORD
        assert rule.confidence < rules.nonrecord_threshold
        assert rule.when.has_number is False
        assert not rule.personal
    for rule in rules.rules:
        if rule.reads_text:
            assert not (rule.review_if | rule.unless) & set(alone), rule.id


def test_has_number_looks_at_what_a_person_wrote(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, """
version: 1
rules:
  - id: figures
    label: record
    when: {has_number: true}
    confidence: 0.9
    explain: A figure.
  - id: no-figures
    label: nonrecord
    when: {has_number: false}
    confidence: 0.7
    explain: No figure.
"""))
    classifier = Classifier(rules)
    assert classifier.classify(msg("lane 4 at 0630")).reasons == ("figures",)
    assert classifier.classify(msg("lane four")).reasons == ("no-figures",)
    named = msg("IMG-20260101-WA0001.jpg (file attached)\nlane four",
                attachments=(Attachment(name="IMG-20260101-WA0001.jpg", missing=True),))
    assert classifier.classify(named).reasons == ("no-figures",)


def test_has_number_must_be_true_or_false(tmp_path: Path) -> None:
    text = "version: 1\nrules:\n  - id: odd\n    label: record\n    when: {has_number: 'yes'}\n" \
           "    confidence: 0.9\n    explain: Odd.\n"
    with pytest.raises(ConfigError, match="when: has_number must be bool"):
        load_rules(write_rules(tmp_path, text))



# ------------------------------------------------------------------------- spam, scams, app notices as text

def _confident_nonrecord(classifier: Classifier, body: str, rule_id: str) -> None:
    """``body`` alone is a confident nonrecord, and ``rule_id`` is among its reasons."""
    result = classify(classifier, body)
    assert (result.label, result.review) == (NONRECORD, False), (body, result.reasons)
    assert rule_id in result.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Acme Bank: your login code is 551902. It expires in 5 minutes.",
        "Use verification code 40917 to sign in to Shoply",
        "Tu código de verificación de PagoYa es 203948. No lo compartas.",
        "Seu código de confirmação é 664107",
        "Votre code de vérification est 390217.",
        "Ihr Bestätigungscode lautet 845120.",
        "Doğrulama kodunuz: 730195",
    ],
)
def test_one_time_codes_are_spam_in_six_languages(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "one-time-code")


@pytest.mark.parametrize(
    "body",
    [
        "FedEx: your parcel could not be delivered, confirm your address at https://fedx-redo.example.xyz",
        "EZ-Pass: unpaid tolls of $4.15 on your account. Settle it at https://ezpass-due.example.top",
        "Correos: su paquete no pudo ser entregado. Actualice la dirección en https://correos-envio.example.top",
        "Detran: você tem multas pendentes. Regularize agora em https://detran-multas.example.top",
        "Chronopost : votre colis n'a pas pu être livré, reprogrammez sur https://chrono-colis.example.top",
        "Hermes: Ihr Paket konnte nicht zugestellt werden. Neuer Termin: https://hermes-termin.example.top",
        "Banco Azul: compra de $3,200. Si no fue usted ingrese a https://bancoazul-seguro.example.top",
    ],
)
def test_parcel_toll_and_charge_smishing_with_a_link_is_spam(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "payment-link-scam")


@pytest.mark.parametrize(
    "body",
    [
        "Join our crypto club and earn 30% a week 🚀",
        "Invierte $100 en Bitcoin hoy y duplica tu dinero",
        "Trabalho de casa, sem experiência, R$ 350 por dia",
        "Work from home with our team, $200-$500/day",
        "Para más detalles escribe a mi asesora por WhatsApp",
        "Reply YES to get your free starter kit",
    ],
)
def test_crypto_job_and_easy_money_offers_are_spam(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "scam-offer")


@pytest.mark.parametrize(
    ("body", "rule_id"),
    [
        ("UPS: your parcel is on hold, a handling fee of $2.49 is due: ups-hold.example.top/p", "payment-link-scam"),
        ("Correos: su envío está retenido, abone 1,95 EUR para liberarlo", "payment-link-scam"),
        ("Sua encomenda foi taxada, pague R$ 9,80 para receber", "payment-link-scam"),
        ("La Poste : votre colis est en attente, confirmez votre adresse sous 24 h", "payment-link-scam"),
        ("GLS: Ihre Sendung wartet auf Zustellung, bitte Kartendaten angeben", "payment-link-scam"),
        ("Yurtiçi Kargo: gönderiniz teslim edilemedi, adresinizi güncelleyin", "payment-link-scam"),
        ("Krypto-Signale: 200% Gewinn garantiert, jetzt beitreten", "scam-offer"),
        ("Kripto grubumuza katılın, haftada %40 kazanç", "scam-offer"),
        ("Gana hasta $2,500 diarios desde tu celular", "scam-offer"),
        ("Günde 1.500 TL kazanç, tecrübe gerekmez", "scam-offer"),
        ("Mom it's me, this is my new number, can you send a transfer for the rent today?", "scam-offer"),
        ("Oi mãe, novo número! Faz um pix pra mim? Te devolvo sexta", "scam-offer"),
    ],
)
def test_scam_shapes_are_spam_in_six_languages(classifier: Classifier, body: str, rule_id: str) -> None:
    """A fee to release a parcel, card or address details asked for it, earnings by the day,
    a crypto group to join, money asked from a new number: the shapes, whatever the wording."""
    result = classify(classifier, body)
    assert result.label == NONRECORD, (body, result.reasons)
    assert rule_id in result.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Summer sale on all tires this weekend! Reply STOP to opt out",
        "Use promo code VERANO at checkout",
        "Soldes d'été -40% sur tout le site. STOP au 36111",
        "Hasta 25% de descuento en seguros de auto",
    ],
)
def test_marketing_with_an_opt_out_or_a_discount_is_spam(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "spam-words")


@pytest.mark.parametrize(
    "body",
    [
        "Dana Price reacted 👍 to your message",
        "Loved “see you at the park”",
        "Le encantó “qué bonito día”",
        "A Marisa le gustó tu mensaje",
        "Reaccionó con 😮 a \"no manches\"",
        "Curtiu “boa noite”",
        "Bia reagiu com 😂 à sua mensagem",
        "Hugo a réagi avec ❤️ à « à demain »",
        "Lena hat mit 😂 auf deine Nachricht reagiert",
        "Ayşe mesajınıza 🙏 ile tepki verdi",
        'Rosa Quintal liked "see you at six"',
        "Caio Prates reagiu com 😂 à mensagem",
        "Lena Voss hat auf eine Nachricht mit 🙏 reagiert",
    ],
)
def test_reactions_written_as_text_are_app_notices(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "reaction-notice-text")


@pytest.mark.parametrize(
    "body",
    [
        "Missed video call",
        "Videollamada perdida",
        "Chamada de vídeo perdida",
        "Appel vidéo manqué",
        "Verpasster Videoanruf",
        "Cevapsız görüntülü arama",
        "You deleted this message",
        "Eliminaste este mensaje",
        "Você apagou esta mensagem",
        "Vous avez supprimé ce message",
        "Du hast diese Nachricht gelöscht",
        "Bu mesajı sildiniz",
        "Marta joined using this group's invite link",
        "Rafa se unió usando el enlace de invitación de este grupo",
        "Duda entrou usando o link de convite deste grupo",
        "Paul a rejoint ce groupe via un lien d’invitation",
        "Tim ist über den Einladungslink dieser Gruppe beigetreten",
        "Emre bu grubun davet bağlantısını kullanarak katıldı",
        'Sam changed the group name to "Weekend hike"',
        'Lola cambió el asunto a "Cena viernes"',
        'Nina mudou o nome do grupo para "Praia"',
        'Max hat den Gruppennamen zu "Grillen" geändert',
        "Ken changed their phone number to a new number. Tap to message or add the new number.",
        "Your security code with Leo changed. Tap to learn more.",
        "Tu código de seguridad con Leo cambió. Toca para más información.",
        "Los mensajes y las llamadas están cifrados de extremo a extremo. Nadie fuera de este chat puede leerlos.",
        "O número de segurança com Leo Matos mudou.",
        "Leo Matos hat Ihre Sicherheitsnummer geändert.",
        "Kerem Aydın güvenlik kodunuz değişti. Doğrulamak için dokunun.",
        "Kerem Aydın bir mesajı sildi",
        "Ruth Ames deleted a message",
        "Ruth Ames joined the group via invite link",
        "Duda Reis entrou no grupo via link de convite",
        'Ruth Ames pinned "bring chairs"',
    ],
)
def test_app_notices_written_as_text_are_nonrecords(classifier: Classifier, body: str) -> None:
    _confident_nonrecord(classifier, body, "app-notice-text")


@pytest.mark.parametrize(
    "body",
    [
        "Please send the seizure report for case 2026-4471-0932 through https://portal.example.com/cases by Friday",
        "Can you verify the code 7731 on the container seal? Photos at https://share.example.com/seal",
        "Remote position at the Nogales port: TDY per diem $155/day, report Monday 0700",
        "El importador dice que su paquete no pudo ser entregado porque lo retuvo aduana, ¿puede revisar "
        "https://rastreo.example.com/8812?",
        "Consulado: favor de confirmar la multa pendiente del transportista en https://www.sat.gob.mx/multas",
        "Subject wallet received 2 BTC; he claimed it was a loan. Seizure memo attached",
        "The driver reacted badly to “secondary”, supervisor notified",
        "Missed the call, can you send the manifest again?",
        "Comisario, le encantó el informe al fiscal, solicita copia certificada",
        "El paquete está retenido en aduana; confirme la dirección del consignatario en la entrada 4471",
        "The informant says he was promised $300 a day to move the parcels; interview notes attached",
    ],
)
def test_official_business_with_a_link_or_a_number_stays_a_record(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD, (body, result.reasons)
    assert not {"one-time-code", "payment-link-scam", "scam-offer",
                "reaction-notice-text", "app-notice-text"} & set(result.reasons)


def test_a_reaction_quoting_a_request_goes_to_review_not_the_tombstone(classifier: Classifier) -> None:
    result = classify(classifier, 'Cmdr. Ruiz reacted 👍 to "Can we release the two detainees to CBP?"')
    assert (result.label, result.review) == (NONRECORD, True)
    assert "reaction-notice-text" in result.reasons


def test_a_smishing_text_with_business_words_goes_to_review(classifier: Classifier) -> None:
    result = classify(classifier, "Your package could not be delivered, customs inspection fee due: "
                                  "https://parcel-fee.example.top")
    assert (result.label, result.review) == (NONRECORD, True)
    assert "payment-link-scam" in result.reasons


def test_a_reply_to_an_app_notice_kept_as_text_is_not_an_answer(classifier: Classifier) -> None:
    result = classify(classifier, "Bia reagiu com 👍 à sua mensagem", previous="Can I take the 24th off?")
    assert "short-reply-to-request" not in result.reasons
    assert (result.label, result.review) == (NONRECORD, False)


@pytest.mark.parametrize(("body", "reason"), [
    ("bien reçu, merci beaucoup", "acknowledgement"),
    ("vielen Dank, verstanden", "acknowledgement"),
    ("certo, muito obrigada", "acknowledgement"),
    ("peki, sağ olun", "acknowledgement"),
    ("Bonsoir madame", "greeting-only"),
    ("Guten Morgen, Kollegen", "greeting-only"),
    ("Bom dia pessoal", "greeting-only"),
    ("Günaydın arkadaşlar", "greeting-only"),
    ("Frohe Weihnachten und einen guten Rutsch!", "celebration-words"),
    ("İyi bayramlar hocam", "celebration-words"),
    ("Parabéns pela promoção! 🎉", "celebration-words"),
    # receipts, sign-offs and holiday wishes in the six languages
    ("Thanks and good night", "acknowledgement"),
    ("Acusamos recibo. Saludos cordiales", "acknowledgement"),
    ("Recebido, obrigada e boa semana", "acknowledgement"),
    ("Bien compris, merci et bonne fin de journée", "acknowledgement"),
    ("Danke für den Hinweis, schöne Grüße", "acknowledgement"),
    ("Sorun yok, bilgi aldım", "acknowledgement"),
    ("Appreciate it, cheers", "acknowledgement"),
    ("Bendiciones, que tenga bonito día", "greeting-only"),
    ("Cumhuriyet Bayramınız kutlu olsun 🇹🇷", "celebration-words"),
    ("Bom Carnaval a todos!", "celebration-words"),
])
def test_small_talk_in_six_languages_is_a_nonrecord(classifier: Classifier, body: str, reason: str) -> None:
    result = classify(classifier, body)
    assert result.label == NONRECORD
    assert reason in result.reasons


@pytest.mark.parametrize("body", ["Buenos días comandante, mucho gusto.", "Nice to meet you, Inspector. Regards"])
def test_meeting_an_outside_official_is_not_mere_small_talk(classifier: Classifier, body: str) -> None:
    # Opening a channel with a counterpart documents the contact.
    assert classify(classifier, body).label == RECORD


@pytest.mark.parametrize("reply", ["sorun yok", "entiendo", "aye sir", "recebido"])
def test_a_receipt_answering_a_request_for_a_decision_stays_the_decision(classifier: Classifier, reply: str) -> None:
    result = classify(classifier, reply, previous="Can I release the container to the broker?")
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


@pytest.mark.parametrize("reply", ["tamam", "d'accord", "ja", "sim"])
def test_a_foreign_yes_to_a_request_for_a_decision_stays_the_decision(classifier: Classifier, reply: str) -> None:
    result = classify(classifier, reply, previous="Can I release the container to the broker?")
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


@pytest.mark.parametrize("reply", ["merci", "danke", "valeu", "teşekkürler"])
def test_thanks_after_an_fyi_is_a_nonrecord(classifier: Classifier, reply: str) -> None:
    assert classify(classifier, reply, previous="FYI the convoy left the yard at 0600.").label == NONRECORD


def test_the_dotless_turkish_i_folds_like_an_accent() -> None:
    assert normalize("GÜNAYDIN, İyi akşamlar") == normalize("gunaydin, iyi aksamlar") == "gunaydin, iyi aksamlar"


def test_a_wish_to_an_outside_official_goes_to_review_but_a_request_with_it_stays_a_record(
        classifier: Classifier) -> None:
    wish = classify(classifier, "¡Felicidades, comandante! 🎉")
    assert (wish.label, wish.review) == (NONRECORD, True)
    assert "outside-party-words" not in wish.reasons
    request = classify(classifier, "Comandante, felicidades 🎉 ¿nos puede enviar el acta del decomiso?")
    assert request.label == RECORD
    assert "request-words" in request.reasons


@pytest.mark.parametrize("body", ["Votre code de validation est 204 718.", "Your sign-in code is 550 913"])
def test_a_one_time_code_written_in_two_groups_is_still_a_code(classifier: Classifier, body: str) -> None:
    assert "one-time-code" in classify(classifier, body).reasons


def test_a_phone_number_in_groups_is_not_a_code(classifier: Classifier) -> None:
    assert classify(classifier, "Call me at 555 123 4567 about the code").label == RECORD


@pytest.mark.parametrize("body", ["Herzliches Beileid an die ganze Familie", "meus pêsames, amigo 🖤",
                                  "good luck at the race Sunday!", "que te mejores pronto"])
def test_condolences_and_good_wishes_are_social_talk(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == NONRECORD
    assert "celebration-words" in result.reasons


def test_wilco_after_a_direction_is_an_acknowledgement(classifier: Classifier) -> None:
    result = classify(classifier, "wilco", previous="Lane 4 closes at 1800, reroute the trucks to lane 6.")
    assert result.label == NONRECORD
    assert "acknowledgement" in result.reasons


@pytest.mark.parametrize("body", ["Sgt. Mara Quill joined the group", "Jörg Brandt ist der Gruppe beigetreten",
                                  "Ayşe Kaya gruba katıldı", "Inês Prado entrou no grupo"])
def test_a_join_written_as_text_is_an_app_notice(classifier: Classifier, body: str) -> None:
    assert "app-notice-text" in classify(classifier, body).reasons


def test_joining_a_group_inside_a_sentence_is_not_an_app_notice(classifier: Classifier) -> None:
    result = classify(classifier, "The Guardia Civil liaison joined the group at the port to inspect the container")
    assert "app-notice-text" not in result.reasons


@pytest.mark.parametrize("body", [
    "Sorry, I can't intervene for someone I know, it's against the rules",
    "Lo siento prima, no puedo meterme en eso, es conflicto de interés",
    "Désolée, je n'ai pas le droit de m'en occuper pour un proche",
    "Tut mir leid, das darf ich nicht, auch nicht für Familie",
    "Infelizmente não posso interferir, é proibido para nós",
    "Kusura bakma, müdahale edemem, kurallara aykırı",
])
def test_an_officer_declining_an_official_act_is_a_record_in_a_family_chat(classifier: Classifier,
                                                                          body: str) -> None:
    result = classifier.classify(msg(body, conversation="Familia Ortega 🏠"))
    assert result.label == RECORD
    assert "refusal-or-referral" in result.reasons


@pytest.mark.parametrize("body", [
    "She should ask for an expedited appointment on the website",
    "He can ask for an expedite, or contact the congressman's caseworkers",
    "Tiene que pedirlo con un abogado, yo no",
    "Il peut faire un recours auprès du consulat",
    "Er muss einen Widerspruch einlegen",
    "Ele pode entrar com recurso no portal",
])
def test_pointing_to_the_remedy_is_a_referral(classifier: Classifier, body: str) -> None:
    assert "referral-to-remedy" in classifier.classify(msg(body, conversation="Tía Rosa")).reasons


def test_not_making_it_to_dinner_is_no_refusal(classifier: Classifier) -> None:
    assert "refusal-or-referral" not in classify(classifier, "no puedo ir a la cena hoy, besos").reasons


@pytest.mark.parametrize("body", [
    "Que vaya con el abogado, yo no me meto",
    "She needs a lawyer if he's in proceedings",
])
def test_sending_the_asker_to_a_lawyer_is_a_referral(classifier: Classifier, body: str) -> None:
    assert "referral-to-remedy" in classifier.classify(msg(body, conversation="Tía Rosa")).reasons


@pytest.mark.parametrize("body", [
    "Bonjour, pourriez-vous nous transmettre la liste des passagers du vol ?",
    "Merci de confirmer la date de l'audition",
    "Könnten Sie mir die Frachtpapiere des Containers schicken?",
    "Wir bitten um Bestätigung der Übergabe",
    "Por favor envie o relatório da apreensão até sexta",
    "Yük listesini gönderebilir misiniz?",
    "Konteyneri yarına kadar bekletelim mi?",
    "Bilgi rica ediyoruz, teşekkürler",
])
def test_requests_in_french_german_portuguese_and_turkish_are_records(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD
    assert {"request-words", "asking-words"} & set(result.reasons)


@pytest.mark.parametrize(("asked", "reply"), [
    ("Pouvez-vous retenir le conteneur jusqu'à demain ?", "oui"),
    ("Können wir die Ladung freigeben?", "ja, passt"),
    ("Você pode segurar o caminhão na inspeção?", "sim"),
    ("Konteyneri yarına kadar bekletebilir misiniz?", "tamam"),
    ("Tutanağı bugün savcılığa gönderelim mi?", "evet"),
    ("Konteyner yarın serbest bırakılsın mı?", "evet"),
    ("Aracı yarın teslim etmem uygun olur mu?", "tamam"),
])
def test_a_short_yes_to_a_request_in_four_languages_is_the_decision(classifier: Classifier, asked: str,
                                                                    reply: str) -> None:
    result = classify(classifier, reply, previous=asked)
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


@pytest.mark.parametrize(("before", "reply"), [
    ("FYI: le conteneur est parti ce matin.", "merci"),
    ("Zur Info: die Ladung ist heute raus.", "danke"),
])
def test_thanks_after_an_fyi_is_not_a_decision(classifier: Classifier, before: str, reply: str) -> None:
    result = classify(classifier, reply, previous=before)
    assert result.label == NONRECORD
    assert "short-reply-to-request" not in result.reasons


@pytest.mark.parametrize("body", [
    "Vous avez droit à un remboursement, veuillez confirmer vos coordonnées bancaires",
    "Bitte aktualisieren Sie Ihre Bankdaten, sonst wird das Konto gesperrt",
])
def test_phishing_in_french_and_german_is_not_kept_as_a_request(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == NONRECORD
    assert "phishing-words" in result.reasons


# A hostile text: a trigger word, then a long run of dashes, which word windows written as
# (?:[\w-]+\W+){0,N} could split in about n^(2N) ways (a few hundred dashes took minutes).
HOSTILE_RUNS = ["verify your ", "can ", "no puedo checar ", "your package ", "codigo de verificacion ", "debo un ",
                "pay now ", "cuenta ", "your ", "mi gerente "]


@pytest.mark.parametrize("opening", HOSTILE_RUNS)
def test_a_long_run_of_dashes_after_a_trigger_word_is_classified(classifier: Classifier, opening: str) -> None:
    for tail in ("-" * 5000, "- -- " * 1000, "x -- " * 1000):
        assert classify(classifier, opening + tail).label in (RECORD, NONRECORD)


def test_no_shipped_word_window_lets_a_dash_belong_to_a_word_and_a_separator_at_once() -> None:
    # Words and separators are taken whole (possessive): the windows stay linear in the text's length.
    text = resources.files("archiver.core.rules").joinpath("classifier.yaml").read_text(encoding="utf-8")
    assert r"(?:[\w-]+\W+)" not in text and r"\W+(?:[\w-]" not in text and r"\W+(?:(?:[\w-]" not in text


def test_long_texts_are_not_memoized() -> None:
    # The memos of recurring texts hold up to 16,384 entries: a hostile export of long, distinct
    # messages (a body may be 16 MB) must not fill them with its bulk.
    classifier = Classifier(load_rules())
    messages = [msg(f"release {n} " + "x" * 2000) for n in range(3)] + [msg("ok"), msg("ok")]
    decided = [c for _, c in classifier.classify_stream(messages)]
    assert len(decided) == 5 and list(classifier._texts) == ["ok"]
    assert [key[0] for key in classifier._evaluations] == ["ok"]
