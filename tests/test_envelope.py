"""Envelope encryption: round trip, tamper detection, id binding, key files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archiver.errors import IntegrityError, KeyProviderError, UsageError
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.keys import LocalKeyProvider


@pytest.fixture
def keys(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider.create(tmp_path / "k.key")


def test_round_trip(keys: LocalKeyProvider) -> None:
    sealed = seal(keys, "rec1", b"release the truck at gate 3")
    assert b"release" not in sealed
    assert open_sealed(keys, "rec1", sealed) == b"release the truck at gate 3"


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
