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
    assert result.label == NONRECORD
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
    assert set(runs[0][0]) == {"label", "confidence", "reasons", "schedule", "rules_version"}


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
}


@pytest.mark.parametrize(("rule_id", "example"), sorted(RULE_EXAMPLES.items()))
def test_every_text_rule_fires_on_its_example(
    classifier: Classifier, rule_id: str, example: tuple[str, str | None]
) -> None:
    body, previous = example
    assert rule_id in classify(classifier, body, previous).reasons


def test_every_shipped_rule_has_an_example() -> None:
    ids = {rule.id for rule in load_rules().rules}
    covered = set(RULE_EXAMPLES) | {"system-notice", "attachment-shared"}
    assert ids == covered
    assert len(ids) >= 15


# ------------------------------------------------------------------------- custom rules


def test_weak_nonrecord_rule_keeps_the_message_as_a_record(tmp_path: Path) -> None:
    rules = load_rules(
        write_rules(
            tmp_path,
            """
version: 1
nonrecord_threshold: 0.8
rules:
  - id: maybe-social
    label: nonrecord
    words: [pizza]
    confidence: 0.6
    explain: Probably social.
""",
        )
    )
    result = Classifier(rules).classify(msg("pizza?"))
    assert result.label == RECORD
    assert result.reasons == ("maybe-social", "default")
    assert result.confidence == 0.4


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
