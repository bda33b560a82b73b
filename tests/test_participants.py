"""Tests for the participant directory the classifier consults."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from archiver.core.participants import ROLES, Participant, ParticipantDirectory, handle_key
from archiver.errors import ConfigError
from archiver.model import Message

if TYPE_CHECKING:
    from pathlib import Path

GOOD_CSV = """handle,name,role,official
Cmdte. Ruiz,Comandante Ruiz (SEMAR),foreign-official,false
+52 (631) 555-0101,Lic. Gómez,foreign-official,no
ana.diaz@example.com,Ana Diaz,family,false
Officer Diaz,Officer Diaz,official,true
"Acme Freight, Inc.",Dispatcher,outside-party,0

Tío Beto,Alberto Diaz,personal,
"""


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "participants.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def directory(tmp_path: Path) -> ParticipantDirectory:
    return ParticipantDirectory.from_file(write_csv(tmp_path, GOOD_CSV))


def message(sender: str, *recipients: str, direction: str = "received", custodian: str = "Officer Diaz") -> Message:
    return Message(
        source="whatsapp", conversation="c", sender=sender, sent_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
        body="hi", recipients=recipients, direction=direction, custodian=custodian,  # type: ignore[arg-type]
    )


def test_from_file_reads_every_csv_row(directory: ParticipantDirectory) -> None:
    assert len(directory) == 6
    assert directory.get("Cmdte. Ruiz") == Participant(
        "Cmdte. Ruiz", "Comandante Ruiz (SEMAR)", "foreign-official", official=False
    )
    assert directory.get("Officer Diaz") == Participant("Officer Diaz", "Officer Diaz", "official", official=True)
    assert directory.role_of("Acme Freight, Inc.") == "outside-party"
    assert directory.role_of("Tío Beto") == "personal"


@pytest.mark.parametrize(
    ("handle", "role"),
    [
        ("cmdte. ruiz", "foreign-official"),  # case-insensitive
        ("CMDTE.  RUIZ ", "foreign-official"),  # spaces collapsed and trimmed
        ("+52 631 555 0101", "foreign-official"),  # phone punctuation ignored
        ("+526315550101", "foreign-official"),
        ("52.631.555.0101", "foreign-official"),
        ("\u202a+52 631 555 0101\u202c", "foreign-official"),  # WhatsApp's direction marks
        ("ANA.DIAZ@EXAMPLE.COM", "family"),
        ("ana diaz@example.com", "unknown"),  # dots matter outside phone numbers
        ("Someone Else", "unknown"),
        ("555-0101", "unknown"),  # a different (shorter) number
    ],
)
def test_role_of_matches_handles_loosely_but_not_too_loosely(
    directory: ParticipantDirectory, handle: str, role: str
) -> None:
    assert directory.role_of(handle) == role


def test_handle_key_reduces_phone_numbers_to_digits_only() -> None:
    assert handle_key("+1 (520) 555-0101") == handle_key("1.520.555.0101") == "15205550101"
    assert handle_key("Unit 12-B") == "unit 12-b"  # not a phone number


def test_roles_cover_the_sender_and_every_recipient(directory: ParticipantDirectory) -> None:
    received = message("Cmdte. Ruiz", "Officer Diaz", "ana.diaz@example.com", "Stranger")
    assert directory.roles(received) == {"foreign-official", "official", "family", "unknown"}


def test_others_roles_leave_out_the_custodian(directory: ParticipantDirectory) -> None:
    assert directory.others_roles(message("ana.diaz@example.com", "Officer Diaz")) == {"family"}
    sent = message("Officer Diaz", "ana.diaz@example.com", direction="sent")
    assert directory.others_roles(sent) == {"family"}
    assert directory.others_roles(message("Officer Diaz", direction="sent")) == set()


def test_an_empty_directory_knows_nobody() -> None:
    directory = ParticipantDirectory()
    assert directory.role_of("Anyone") == "unknown"
    assert directory.roles(message("A", "B")) == {"unknown"}


def test_roles_are_the_documented_ones() -> None:
    assert ROLES == ("official", "foreign-official", "outside-party", "family", "personal", "unknown")


def test_a_byte_order_mark_from_a_spreadsheet_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffhandle,name,role,official\nAna,Ana,family,false\n".encode())
    assert ParticipantDirectory.from_file(path).role_of("ana") == "family"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: the header must be handle,name,role,official"),
        ("name,handle,role,official\n", ":1: the header must be"),
        ("handle,name,role,official\nAna,Ana,cousin,false\n", ":2: role must be one of official, "),
        ("handle,name,role,official\nAna,Ana,family,maybe\n", ":2: official must be true or false, got 'maybe'"),
        ("handle,name,role,official\nAna,Ana,family\n", ":2: expected 4 fields"),
        ("handle,name,role,official,organization\nAna,Ana,family,false\n", ":2: expected 5 fields"),
        ("handle,name,role,official,agency\n", ":1: the header must be"),
        ("handle,name,role,official\n\n ,Ana,family,false\n", ":3: the handle is empty"),
        (
            "handle,name,role,official\n+1 520 555 0101,A,family,false\n1-520-555-0101,B,personal,false\n",
            ":3: handle '1-520-555-0101' is already listed on line 2",
        ),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write_csv(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        ParticipantDirectory.from_file(path)
    assert str(caught.value).startswith(f"{path}:")
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.csv: cannot read the participant directory"):
        ParticipantDirectory.from_file(tmp_path / "nope.csv")


def test_a_participant_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        ParticipantDirectory([Participant("A", "A", "boss", official=False)])


# ------------------------------------------------------------------------- phone contacts (vCard)

VCARDS = """BEGIN:VCARD\r
VERSION:3.0\r
FN:Cmdte. Ruiz\r
TEL;TYPE=CELL:+52 (631) 555-0101\r
EMAIL:ruiz@semar.example\r
CATEGORIES:foreign-official\r
END:VCARD\r
\r
BEGIN:VCARD
VERSION:2.1
N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:D=C3=ADaz;Ana;;;
FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Ana D=C3=ADaz =F0=9F=8C=9F=
=F0=9F=92=AB
TEL;CELL:520 555 0199
CATEGORIES:Family,Friends
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Sgt. Lee
EMAIL;TYPE=work:lee@cbp.dhs.gov
TEL;VALUE=uri:tel:+1-520-555-0123
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Second card
TEL:+52 631 555 0101
NOTE:a long note folded
 over two lines
END:VCARD
"""


def write_vcf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contacts.vcf"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_phone_contacts_name_every_handle_of_a_card(tmp_path: Path) -> None:
    directory = ParticipantDirectory.from_file(write_vcf(tmp_path, VCARDS))
    ruiz = directory.get("+52 631 555 0101")
    assert ruiz == Participant("+52 (631) 555-0101", "Cmdte. Ruiz", "foreign-official", official=False)
    assert directory.role_of("ruiz@semar.example") == "foreign-official"
    assert directory.role_of("Cmdte. Ruiz") == "foreign-official"
    # Quoted-printable UTF-8 with a soft line break, and a category that is a role.
    assert directory.get("5205550199") == Participant("520 555 0199", "Ana Díaz 🌟💫", "family", official=False)
    assert directory.get("Ana Díaz 🌟💫") is not None


def test_a_government_address_is_official_and_a_card_without_role_is_unknown(tmp_path: Path) -> None:
    directory = ParticipantDirectory.from_file(write_vcf(tmp_path, VCARDS))
    lee = directory.get("lee@cbp.dhs.gov")
    assert lee is not None and lee.official and lee.role == "unknown"
    assert directory.get("+15205550123") is not None  # a tel: URI (vCard 4.0)


def test_a_handle_on_two_cards_belongs_to_the_first(tmp_path: Path) -> None:
    directory = ParticipantDirectory.from_file(write_vcf(tmp_path, VCARDS))
    assert directory.get("+52 631 555 0101").name == "Cmdte. Ruiz"  # type: ignore[union-attr]
    assert directory.get("Second card") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BEGIN:VCARD\nFN:A\n", "contacts.vcf:1: the card opened here has no END:VCARD"),
        ("BEGIN:VCARD\nFN:A\nBEGIN:VCARD\n", "contacts.vcf:3: BEGIN:VCARD inside the card opened on line 1"),
        ("BEGIN:VCARD\nEND:VCARD\nFN:stray\n", "contacts.vcf:3: 'FN:stray' is outside any BEGIN:VCARD"),
        ("BEGIN:VCARD\nEND:VCARD\nEND:VCARD\n", "contacts.vcf:3: END:VCARD without BEGIN:VCARD"),
    ],
)
def test_a_broken_contacts_file_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        ParticipantDirectory.from_file(write_vcf(tmp_path, text))


def test_contacts_from_a_real_phone_export(tmp_path: Path) -> None:
    from tests.conftest import corpora_dir

    path = corpora_dir("whatsapp", "whatsapp-chat-exporter") / "contacts.vcf"
    directory = ParticipantDirectory.from_file(path)
    assert directory.get("+85288888888").name == "Sample Contact"  # type: ignore[union-attr]
    assert directory.get("5556667777").name == "John Butler 🌟💫🌟"  # type: ignore[union-attr]
    assert directory.get("1234567890").name == "Airline Contact #'s"  # type: ignore[union-attr]


def test_an_organization_column_is_optional_and_a_name_in_parentheses_gives_one(
        tmp_path: Path, directory: ParticipantDirectory) -> None:
    assert directory.get("Cmdte. Ruiz").organization_name == "SEMAR"  # type: ignore[union-attr]
    assert directory.get("Officer Diaz").organization_name == ""  # type: ignore[union-attr]
    path = write_csv(tmp_path, "handle,name,role,official,organization\n"
                               "Lic. Gomez,Lic. Gomez (FGR),foreign-official,false,Fiscalia General\n"
                               "Acme,Dispatcher,outside-party,false,\n")
    with_column = ParticipantDirectory.from_file(path)
    assert with_column.get("lic. gomez") == Participant("Lic. Gomez", "Lic. Gomez (FGR)", "foreign-official",
                                                        official=False, organization="Fiscalia General")
    assert with_column.get("Lic. Gomez").organization_name == "Fiscalia General"  # type: ignore[union-attr]
    assert with_column.role_of("Acme") == "outside-party" and with_column.get("Acme").organization == ""  # type: ignore[union-attr]
