"""Envelope encryption: round trip, tamper detection, id binding, key files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from archiver.errors import IntegrityError, KeyProviderError, UsageError
from archiver.storage.envelope import DEFLATE_DICTIONARY, VERSION, VERSION_DEFLATED, open_sealed, seal
from archiver.storage.keys import LocalKeyProvider


@pytest.fixture
def keys(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider.create(tmp_path / "k.key")


def test_round_trip(keys: LocalKeyProvider) -> None:
    sealed = seal(keys, "rec1", b"release the truck at gate 3")
    assert b"release" not in sealed
    assert open_sealed(keys, "rec1", sealed) == b"release the truck at gate 3"


RECORD = json.dumps({"format": "archiver-record", "message": {
    "body": "Hold trailer 4471 at lane 3 until the manifest is checked", "sender": "Ana Lopez",
    "recipients": ["Jorge Rivera", "Luis Vega"], "sent_at": "2026-03-01T09:15:00-07:00", "source": "whatsapp"},
    "classification": {"label": "record", "reasons": ["official-information-words"]},
    "forwarding": {"status": "late", "reason": "archived 2026-12-06T21:45:32.293172Z, 3 days after the "
                   "20-day deadline 2026-03-21T16:15:00Z (44 U.S.C. 2911(a)(2))"}}, sort_keys=True).encode()


def test_a_record_document_is_deflated_before_sealing(keys: LocalKeyProvider) -> None:
    sealed = seal(keys, "rec1", RECORD)
    assert sealed[4] == VERSION_DEFLATED
    assert len(sealed) < len(RECORD)  # the envelope's 118 bytes of header and tag included
    assert open_sealed(keys, "rec1", sealed) == RECORD


def test_what_does_not_shrink_is_sealed_as_it_is(keys: LocalKeyProvider) -> None:
    noise = os.urandom(2000)  # a JPEG or a zip does not deflate either
    sealed = seal(keys, "att1", noise)
    assert sealed[4] == VERSION
    assert open_sealed(keys, "att1", sealed) == noise


def test_the_version_byte_is_authenticated(keys: LocalKeyProvider) -> None:
    sealed = bytearray(seal(keys, "rec1", RECORD))
    sealed[4] = VERSION  # deflated content passed off as plain
    with pytest.raises(IntegrityError, match="authentication"):
        open_sealed(keys, "rec1", bytes(sealed))


def test_the_deflate_dictionary_never_changes() -> None:
    # Every version 2 envelope ever written opens only with these bytes: a new dictionary
    # needs a new envelope version, never an edit of this one.
    assert hashlib.sha256(DEFLATE_DICTIONARY).hexdigest() == \
        "1e8b781ab5727c1d2366e41134bd7f18443542901d68b3333423358df814b70f"


def test_each_seal_uses_a_fresh_data_key_and_nonce(keys: LocalKeyProvider) -> None:
    assert seal(keys, "rec1", b"same") != seal(keys, "rec1", b"same")


def test_envelope_opened_under_another_id_fails(keys: LocalKeyProvider) -> None:
    sealed = seal(keys, "rec1", b"payload")
    with pytest.raises(IntegrityError, match="rec2"):
        open_sealed(keys, "rec2", sealed)


@pytest.mark.parametrize("position", [0, 5, 30, -1])
def test_any_flipped_byte_is_detected(keys: LocalKeyProvider, position: int) -> None:
    sealed = bytearray(seal(keys, "rec1", b"payload"))
    sealed[position] ^= 0x01
    with pytest.raises(IntegrityError):
        open_sealed(keys, "rec1", bytes(sealed))


def test_truncated_envelope_is_an_integrity_error(keys: LocalKeyProvider) -> None:
    with pytest.raises(IntegrityError):
        open_sealed(keys, "rec1", seal(keys, "rec1", b"payload")[:20])


def test_a_wrapped_key_too_short_for_its_nonce_is_an_integrity_error(keys: LocalKeyProvider) -> None:
    """A forged header may declare a wrapped key of a few bytes: never a crash, only damage."""
    key_id = keys.key_id.encode()
    forged = b"ARCV" + bytes((VERSION, len(key_id))) + key_id + (3).to_bytes(2, "big") + b"abc" + os.urandom(40)
    with pytest.raises(IntegrityError, match="fails authentication"):
        open_sealed(keys, "msg-1", forged)


def test_other_key_cannot_open(keys: LocalKeyProvider, tmp_path: Path) -> None:
    other = LocalKeyProvider.create(tmp_path / "other.key")
    with pytest.raises(IntegrityError):
        open_sealed(other, "rec1", seal(keys, "rec1", b"payload"))


def test_key_file_is_owner_only_and_reloads(keys: LocalKeyProvider, tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    assert (path.stat().st_mode & 0o777) == 0o600
    reloaded = LocalKeyProvider.load(path)
    assert open_sealed(reloaded, "x", seal(keys, "x", b"data")) == b"data"


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    LocalKeyProvider.create(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyProviderError, match="chmod 600"):
        LocalKeyProvider.load(path)


def test_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    LocalKeyProvider.create(tmp_path / "k.key")
    with pytest.raises(UsageError, match="already exists"):
        LocalKeyProvider.create(tmp_path / "k.key")


def test_missing_and_garbage_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError, match="archiver init"):
        LocalKeyProvider.load(tmp_path / "none.key")
    bad = tmp_path / "bad.key"
    bad.write_text("{not json")
    bad.chmod(0o600)
    with pytest.raises(KeyProviderError, match="unreadable"):
        LocalKeyProvider.load(bad)


def test_derived_keys_differ_by_purpose(keys: LocalKeyProvider) -> None:
    assert keys.derive("message-id") != keys.derive("blind-index")
