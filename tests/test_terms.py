"""Search terms: every form of a number, a date, a participant and a name meets its query."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from archiver.core.terms import (
    HAS_ATTACHMENT,
    MAX_TOKENS_PER_MESSAGE,
    conversation_term,
    date_terms,
    index_terms,
    json_terms,
    name_terms,
    number_terms,
    participant_key,
    participant_term,
    word_terms,
)
from archiver.model import Attachment, Message

AT = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def message(body: str, sender: str = "Ana Lopez", recipients: tuple[str, ...] = ("Jorge Rivera",),
            conversation: str = "Puerto Nogales", attachments: tuple[Attachment, ...] = ()) -> Message:
    return Message("whatsapp", conversation, sender, AT, body, recipients=recipients, attachments=attachments)


def body_terms(body: str) -> set[str]:
    return set(index_terms(message(body)))


@pytest.mark.parametrize("written", ["1985-12-03", "12/03/1985", "3-12-85", "3.12.1985", "03/12/1985",
                                     "3 dic 1985", "3 DIC. 1985", "Dec 3, 1985", "Dec. 3 '85", "3 de diciembre de 1985",
                                     "December 3rd 1985", "3rd December, 1985", "03-Dec-1985", "3 diciembre 1985"])
def test_every_usual_form_of_a_date_meets_its_query(written: str) -> None:
    terms = body_terms(f"DOB {written}, checked")
    assert "d:1985-12-03" in terms
    assert "d:1985-12-03" in date_terms(written)
    assert "d:1985-12-03" in date_terms("1985-12-03") and len(date_terms("1985-12-03")) == 1


def test_an_ambiguous_numeric_date_gives_both_readings() -> None:
    assert {"d:1985-12-03", "d:1985-03-12"} <= body_terms("nacido 12/03/1985")
    assert date_terms("12/03/1985") == ["d:1985-03-12", "d:1985-12-03"]
    assert date_terms("25/12/1985") == ["d:1985-12-25"]  # a day over 12 reads one way only
    assert date_terms("3/3/1985") == ["d:1985-03-03"]


def test_two_digit_years_pivot_at_30() -> None:
    assert "d:1985-12-03" in date_terms("3-12-85")
    assert "d:2024-12-03" in date_terms("3-12-24")
    assert "d:2030-12-03" in date_terms("3-12-30") and "d:1931-12-03" in date_terms("3-12-31")


def test_impossible_dates_give_nothing() -> None:
    assert not any(t.startswith("d:") for t in body_terms("31/02/1985 and 32 dic 1985 and 2024-13-45"))
    with pytest.raises(ValueError, match="impossible"):
        date_terms("31/02/1985")
    for typed in ("hello", "", "1985", "tomorrow", "12/03"):
        with pytest.raises(ValueError, match="not a date"):
            date_terms(typed)


def test_phone_numbers_meet_in_every_usual_form() -> None:
    forms = ["+1 520 555 0100", "(520) 555-0100", "520.555.0100", "520-555-0100", "15205550100", "5205550100"]
    for written in forms:
        assert "n:5205550100" in body_terms(f"call {written} tonight"), written
        assert number_terms(written) == ["n:5205550100"], written
    assert {"n:526315550101", "n:6315550101"} <= body_terms("su cel +52 (631) 555-0101")
    assert number_terms("631 555 0101") == ["n:6315550101"]


def test_document_numbers_meet_whatever_their_spacing() -> None:
    for written in ("A-123-456-789", "A123456789", "A 123 456 789"):
        assert {"n:123456789", "n:a123456789"} <= body_terms(f"alien number {written}."), written
        assert number_terms(written) == ["n:a123456789", "n:123456789"]
    assert "n:123456789" in body_terms("SSN 123 45 6789")
    assert number_terms("123-45-6789") == ["n:123456789"]
    for written in ("G12345678", "G 1234 5678", "g-12345678"):
        assert "n:g12345678" in body_terms(f"passport {written}"), written
    assert "n:x1234567" in body_terms("permiso X1234567")
    assert number_terms("no number here") == [] and number_terms("123") == []


def test_short_numbers_and_dates_are_not_numbers() -> None:
    terms = body_terms("gate 3 at 12/03/1985, lane 42")
    assert not any(t.startswith("n:") for t in terms)


def test_participants_conversation_and_attachments() -> None:
    msg = message("see attached", sender="+1 (520) 555-0100", recipients=("Jorge Rivera", "j.rivera@cbp.dhs.gov"),
                  conversation="Puerto  NOGALES", attachments=(Attachment("Informe_Vehículos 2024.pdf"),))
    terms = index_terms(msg)
    assert terms[:3] == [HAS_ATTACHMENT, "c:puerto nogales", "p:5205550100"]
    assert {"p:jorge rivera", "p:j.rivera@cbp.dhs.gov", "w:informe_vehiculos", "w:pdf", "w:see"} <= set(terms)
    assert conversation_term("Puerto Nogales") == "c:puerto nogales"
    assert participant_term("15205550100") == participant_term("(520) 555-0100") == "p:5205550100"
    assert participant_key("JORGE  Rivera") == "jorge rivera" and participant_key("+52 631 555 0101") == "6315550101"
    assert HAS_ATTACHMENT not in body_terms("no files")


def test_json_form_gives_the_same_terms() -> None:
    msg = message("DOB 3 dic 1985, passport G48213377", attachments=(Attachment("a.jpg"),))
    assert json_terms(msg.to_json()) == index_terms(msg)


def test_words_and_names_fold_case_accents_and_order() -> None:
    assert word_terms("¿Vehículos? VEHICULOS vehiculos") == ["w:vehiculos"]
    assert name_terms("Jorge RIVERA") == name_terms("rivera jórge") == ["w:jorge", "w:rivera"]


def test_terms_are_distinct_and_bounded() -> None:
    words = ["".join(chr(97 + n // 26 ** i % 26) for i in range(3)) for n in range(5000)]  # aaa, baa, ...
    terms = index_terms(message(" ".join(words), recipients=tuple(f"r{n}" for n in range(900))))
    assert len(terms) == MAX_TOKENS_PER_MESSAGE == len(set(terms))
    assert "w:aaa" in terms  # recipients are bounded too: they do not crowd out the body


@pytest.mark.parametrize("body", [
    "lookout " * 130_000,                                   # about 1 MB of one word
    "1" * 100_000,                                          # 100k digits
    "12/03/1985 " * 90_000,                                 # a date again and again
    "+1 520 555 0100 " * 60_000,                            # a phone number again and again
    ("\u0301\u200f\ufeffA\u0308" * 50_000) + "ſept 3 1985 K",  # combining marks, direction marks, look-alikes
    "x" * 1_000_000,                                        # one endless word
    "9-" * 300_000,                                         # separators with no end
])
def test_hostile_bodies_stay_bounded_and_fast(body: str) -> None:
    start = time.perf_counter()
    terms = index_terms(message(body))
    assert time.perf_counter() - start < 3.0
    assert len(terms) <= MAX_TOKENS_PER_MESSAGE
    assert all(len(term) <= 200 for term in terms)
