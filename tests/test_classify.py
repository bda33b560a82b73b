"""Tests for the record/nonrecord classifier and its YAML rules."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING

import pytest

from archiver.classify import (
    DEFAULT_EXPLANATION,
    NONRECORD,
    RECORD,
    Classification,
    Classifier,
    load_rules,
    normalize,
)
from archiver.errors import ConfigError
from archiver.model import Attachment, Message
from archiver.participants import Participant, ParticipantDirectory

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


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules())


def classify(classifier: Classifier, body: str, previous: str | None = None) -> Classification:
    return classifier.classify(msg(body), None if previous is None else msg(previous))


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
        ("Can you pick up the kids from school? Mom is making dinner", "family-talk-words"),
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
    packaged = resources.files("archiver.rules").joinpath("classifier.yaml").read_bytes()
    bodies = ["Approved", "ok", "love you", "Meeting at 3", "¿Autorizas?", "sí", "hmm"]
    runs = [
        [c.to_json() for _, c in Classifier(load_rules()).classify_stream(map(msg, bodies))]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert {row["rules_version"] for row in runs[0]} == {hashlib.sha256(packaged).hexdigest()[:12]}
    assert set(runs[0][0]) == {"label", "review", "confidence", "reasons", "schedule", "rules_version"}


def test_changing_the_rules_file_changes_the_version(tmp_path: Path) -> None:
    text = resources.files("archiver.rules").joinpath("classifier.yaml").read_text("utf-8")
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
    confidence: 0.9
    explain: A reply to social talk.
"""
    classifier = Classifier(load_rules(write_rules(tmp_path, text)))
    assert classifier.classify(msg("sure"), msg("hugs")).reasons == ("social-reply",)
    assert classifier.classify(msg("sure"), msg("pizza")).reasons == ("default",)


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
    base, rules = load_rules(), load_rules(overrides=[override])
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
    rules = load_rules(overrides=[override])
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
    packaged = resources.files("archiver.rules").joinpath("classifier.yaml").read_bytes()
    first = write_override(tmp_path, "a.yaml", "review_threshold: 0.6\n")
    second = write_override(tmp_path, "b.yaml", "nonrecord_threshold: 0.9\n")
    version = load_rules(overrides=[first, second]).version
    expected = hashlib.sha256(packaged + first.read_bytes() + second.read_bytes()).hexdigest()[:12]
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
    return Classifier(load_rules(), DIRECTORY)


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


def test_a_family_message_with_business_words_is_a_record(with_directory: Classifier) -> None:
    result = with_directory.classify(chat("Your supervisor called, he approved the leave", "Ana", "Officer Diaz"))
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


def test_a_personal_question_is_not_a_request(classifier: Classifier) -> None:
    result = classify(classifier, "Can you pick up the kids? I'm stuck at work")
    assert result.label == NONRECORD
    assert "asking-words" not in result.reasons
    assert any(e.startswith("set aside: rule asking-words") for e in result.explanations)


@pytest.mark.parametrize("body", ["Earn $250/day from your phone!", "Gana $300 al día desde tu casa"])
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
