"""The audit log chains entries by hash; any edit, removal or reorder is found."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from archiver.storage.audit import AuditEvent, entry_hash, first_keyed, is_keyed, verify_chain
from archiver.storage.catalog import SqliteCatalog

AT = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def _catalog_with_entries(tmp_path: Path, count: int) -> SqliteCatalog:
    catalog = SqliteCatalog(tmp_path / "c.sqlite")
    for number in range(count):
        catalog.append_audit(AuditEvent("records.officer", "ingest", AT, {"n": number}))
    return catalog


def test_intact_chain_verifies(tmp_path: Path) -> None:
    entries = list(_catalog_with_entries(tmp_path, 5).audit_entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert verify_chain(entries) == []


def test_edited_entry_is_found(tmp_path: Path) -> None:
    entries = list(_catalog_with_entries(tmp_path, 3).audit_entries())
    entries[1] = replace(entries[1], event=replace(entries[1].event, actor="someone.else"))
    assert any("entry 2: contents changed" in p for p in verify_chain(entries))


def test_removed_entry_is_found(tmp_path: Path) -> None:
    entries = list(_catalog_with_entries(tmp_path, 3).audit_entries())
    del entries[1]
    problems = verify_chain(entries)
    assert any("entries missing" in p for p in problems)


def test_entries_edited_in_the_database_are_found(tmp_path: Path) -> None:
    catalog = _catalog_with_entries(tmp_path, 3)
    catalog._db.execute("UPDATE audit SET detail = '{\"n\": 99}' WHERE seq = 2")
    assert verify_chain(catalog.audit_entries())


KEY = b"k" * 32


def test_a_keyed_chain_cannot_be_recomputed_without_the_key(tmp_path: Path) -> None:
    """An unkeyed chain continues keyed once the catalog has the audit key; rewriting a keyed entry
    with the unkeyed rule, or under another key, is found."""
    catalog = _catalog_with_entries(tmp_path, 2)
    catalog.use_audit_key(KEY)
    for number in range(2):
        catalog.append_audit(AuditEvent("records.officer", "ingest", AT, {"n": number}))
    entries = list(catalog.audit_entries())
    assert [is_keyed(e) for e in entries] == [False, False, True, True]
    assert verify_chain(entries, KEY) == [] and first_keyed(entries) == 3
    forged = replace(entries[3].event, actor="someone.else")
    unkeyed = replace(entries[3], event=forged, hash=entry_hash(4, forged, entries[3].prev_hash))
    assert any("entry 4: unkeyed, but the chain is keyed from entry 3" in p
               for p in verify_chain([*entries[:3], unkeyed], KEY))
    other_key = replace(entries[3], event=forged, hash=entry_hash(4, forged, entries[3].prev_hash, b"x" * 32))
    assert any("entry 4: contents changed" in p for p in verify_chain([*entries[:3], other_key], KEY))
