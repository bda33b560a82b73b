"""Tests for the participant directory the classifier consults."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pytest

from archiver.errors import ConfigError
from archiver.model import Message
from archiver.participants import ROLES, Participant, ParticipantDirectory, handle_key

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
    return ParticipantDirectory.from_csv(write_csv(tmp_path, GOOD_CSV))


def message(sender: str, *recipients: str, direction: str = "received", custodian: str = "Officer Diaz") -> Message:
    return Message(
        source="whatsapp", conversation="c", sender=sender, sent_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
        body="hi", recipients=recipients, direction=direction, custodian=custodian,  # type: ignore[arg-type]
    )


def test_from_csv_reads_every_row(directory: ParticipantDirectory) -> None:
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
    assert ParticipantDirectory.from_csv(path).role_of("ana") == "family"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: the header must be handle,name,role,official"),
        ("name,handle,role,official\n", ":1: the header must be"),
        ("handle,name,role,official\nAna,Ana,cousin,false\n", ":2: role must be one of official, "),
        ("handle,name,role,official\nAna,Ana,family,maybe\n", ":2: official must be true or false, got 'maybe'"),
        ("handle,name,role,official\nAna,Ana,family\n", ":2: expected 4 fields"),
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
        ParticipantDirectory.from_csv(path)
    assert str(caught.value).startswith(f"{path}:")
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.csv: cannot read the participant directory"):
        ParticipantDirectory.from_csv(tmp_path / "nope.csv")


def test_a_participant_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        ParticipantDirectory([Participant("A", "A", "boss", official=False)])
