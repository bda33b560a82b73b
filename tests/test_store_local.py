"""The local directory store behaves like a WORM bucket."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from archiver.errors import ObjectExistsError, ObjectNotFoundError, RetentionError, StoreError
from archiver.store import LocalDirStore


@pytest.fixture
def store(tmp_path: Path) -> LocalDirStore:
    return LocalDirStore(tmp_path / "archive")


def test_put_get_and_range(store: LocalDirStore) -> None:
    store.put("seg/a/1", b"0123456789", date(2030, 1, 1))
    assert store.get("seg/a/1") == b"0123456789"
    assert store.get_range("seg/a/1", 3, 4) == b"3456"
    assert list(store.list("seg/")) == ["seg/a/1"]
    assert store.exists("seg/a/1") and not store.exists("seg/a/2")


def test_overwrite_is_refused(store: LocalDirStore) -> None:
    store.put("k", b"first", None)
    with pytest.raises(ObjectExistsError):
        store.put("k", b"second", None)
    assert store.get("k") == b"first"


def test_delete_before_retain_until_is_refused(store: LocalDirStore) -> None:
    store.put("k", b"data", date(2030, 1, 1))
    with pytest.raises(RetentionError, match="2030-01-01"):
        store.delete("k", date(2029, 12, 31))
    store.delete("k", date(2030, 1, 1))
    assert not store.exists("k")


def test_indefinite_retention_never_allows_delete(store: LocalDirStore) -> None:
    store.put("k", b"data", None)
    with pytest.raises(RetentionError, match="indefinitely"):
        store.delete("k", date(2999, 1, 1))


def test_retention_is_extended_never_shortened(store: LocalDirStore) -> None:
    store.put("k", b"data", date(2030, 1, 1))
    store.extend_retention("k", date(2029, 1, 1))
    assert store.retention("k").retain_until == date(2030, 1, 1)
    store.extend_retention("k", date(2031, 6, 1))
    assert store.retention("k").retain_until == date(2031, 6, 1)
    store.extend_retention("k", None)
    assert store.retention("k").retain_until is None


def test_a_legal_hold_blocks_delete_until_lifted(store: LocalDirStore) -> None:
    store.put("k", b"data", date(2030, 1, 1))
    store.set_legal_hold("k", True)
    assert store.retention("k").legal_hold
    with pytest.raises(RetentionError, match="under legal hold"):
        store.delete("k", date(2031, 1, 1))
    store.extend_retention("k", date(2030, 6, 1))
    assert store.retention("k") == store.retention("k").__class__(date(2030, 6, 1), legal_hold=True)
    store.set_legal_hold("k", False)
    store.delete("k", date(2031, 1, 1))
    assert not store.exists("k")


def test_objects_are_read_only_files(store: LocalDirStore, tmp_path: Path) -> None:
    store.put("k", b"data", None)
    assert (tmp_path / "archive" / "objects" / "k").stat().st_mode & 0o222 == 0


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "UPPER", "", "a//b", "a/", "evidence.lock"])
def test_unsafe_keys_are_refused(store: LocalDirStore, key: str) -> None:
    with pytest.raises(StoreError):
        store.put(key, b"x", None)


def test_missing_object(store: LocalDirStore) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.get("nothing")


def test_incomplete_writes_are_discarded(store: LocalDirStore, tmp_path: Path) -> None:
    (tmp_path / "archive" / "tmp" / "leftover").write_bytes(b"ciphertext")
    store.discard_incomplete()
    assert list((tmp_path / "archive" / "tmp").iterdir()) == []
