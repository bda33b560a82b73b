"""Business inside personal conversations: requests for an official act, short commitments and
shift swaps between colleagues, in the six languages of the labeled set."""

from __future__ import annotations

import pytest

from archiver.core.classify import RECORD, Classifier, load_rules
from tests.test_classify import classify, msg


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules())


@pytest.mark.parametrize(("rule", "body"), [
    *(("official-act-request", body) for body in (
        "my boat got held at the harbor, can you talk to them and get it released?",
        "¿puedes ver lo de la visa de mi sobrino? se la negaron otra vez",
        "vos podes hacer algo con la multa que le pusieron en la aduana?",
        "Peux-tu regarder son visa ? Le consulat ne répond pas",
        "Kannst du bei der Anhörung etwas machen? Sie ist nächste Woche",
        "Você consegue adiantar a entrevista dele no consulado?",
        "Aracı serbest bıraktırabilir misin?",
    )),
    # asking the officer to use their position with another office, or declining to
    *(("intercession", body) for body in (
        "is there anyone you can call to move his interview up?",
        "tu no podrías hablarle a alguien para que lo suelten?",
        "No, no voy a hablar con nadie por él",
        "você não consegue falar com alguém lá no consulado?",
        "Kannst du nicht jemanden anrufen, damit sie den Container freigeben?",
        "Can't you put in a word for him with the port director?",
    )),
])
def test_asking_the_officer_for_an_official_act_is_kept_in_a_family_chat(classifier: Classifier, rule: str,
                                                                         body: str) -> None:
    result = classifier.classify(msg(body, conversation="Familia Ortega 🏠"))
    assert rule in result.reasons
    assert result.label == RECORD or result.review


@pytest.mark.parametrize("body", [
    "can you pick up the kids after practice?",
    "¿puedes traer las tortillas para la cena?",
    "Kannst du morgen die Oma abholen?",
])
def test_everyday_favours_are_no_official_act(classifier: Classifier, body: str) -> None:
    assert "official-act-request" not in classify(classifier, body).reasons


def test_asking_the_officer_to_ask_someone_is_intercession(classifier: Classifier) -> None:
    body = "You work with CBP, can you ask someone why they sent him back?"
    assert "intercession" in classifier.classify(msg(body, conversation="Family 🏡")).reasons


@pytest.mark.parametrize("body", [
    "Wendy me cambias el swing del jueves por tu mid del sábado? tengo lo de mi suegra",
    "can we trade shifts friday? my kid has a recital",
    "Können wir die Schicht am Montag tauschen?",
    "Tu peux échanger ta permanence de dimanche avec moi ?",
    "Dá pra trocar o plantão de sábado?",
    "Cumartesi nöbet değişimi yapabilir miyiz?",
])
def test_colleagues_swapping_shifts_is_a_request(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert result.label == RECORD
    assert "request-words" in result.reasons


@pytest.mark.parametrize("body", [
    "will do, thank you!!",
    "Danke, machen wir", "gracias, lo hacemos", "merci, je m'en occupe", "obrigado, pode deixar", "sağ ol, hallederiz",
    # entering it in the system
    "thx putting it in", "gracias, lo capturo", "merci, je le saisis", "danke, trage ich ein", "valeu, já lanço",
])
def test_thanks_with_a_short_commitment_are_the_commitment(classifier: Classifier, body: str) -> None:
    result = classify(classifier, body)
    assert "commitment-words" in result.reasons
    assert "brief-thanks" not in result.reasons


@pytest.mark.parametrize(("question", "reply"), [
    ("Danny u good to stay til 2200? Gabi's kid is sick", "dale"),
    ("¿te puedes quedar hasta las 10? Gabi no llega", "va"),
])
def test_a_yes_to_staying_past_the_shift_is_the_decision(classifier: Classifier, question: str,
                                                        reply: str) -> None:
    result = classify(classifier, reply, question)
    assert result.label == RECORD
    assert "short-reply-to-request" in result.reasons


def test_an_officer_refusing_an_intervention_stays_a_record_whatever_the_chat_is_called(
        classifier: Classifier) -> None:
    # The refusal is never overruled by the model, even in a chat named for a children's league.
    body = ("Dolores I'm sorry but I can't do that, it's USCIS and I'm not allowed to intervene. "
            "He can ask for an expedite on the website or contact his congressman's caseworkers")
    result = classifier.classify(msg(body, conversation="Little League ⚾"))
    assert result.label == RECORD
    assert {"refusal-or-referral", "referral-to-remedy"} <= set(result.reasons)
