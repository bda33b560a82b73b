"""What only the local directory store does; the shared WORM contract is in test_store_contract.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from archiver.errors import RetentionError
from archiver.storage.store import LocalDirStore


@pytest.fixture
def store(tmp_path: Path) -> LocalDirStore:
    return LocalDirStore(tmp_path / "archive")


def test_objects_are_read_only_files(store: LocalDirStore, tmp_path: Path) -> None:
    store.put("k", b"data", None)
    assert (tmp_path / "archive" / "objects" / "k").stat().st_mode & 0o222 == 0


def test_incomplete_writes_are_discarded(store: LocalDirStore, tmp_path: Path) -> None:
    (tmp_path / "archive" / "tmp" / "leftover").write_bytes(b"ciphertext")
    store.discard_incomplete()
    assert list((tmp_path / "archive" / "tmp").iterdir()) == []


def test_a_damaged_retention_record_keeps_the_object(store: LocalDirStore, tmp_path: Path) -> None:
    store.put("k", b"data", date(2020, 1, 1))
    (tmp_path / "archive" / "objects" / "k.lock").write_text("{not json")
    assert store.retention("k").retain_until is None
    with pytest.raises(RetentionError):
        store.delete("k", date(2999, 1, 1))
