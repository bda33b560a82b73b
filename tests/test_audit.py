"""The audit log chains entries by hash; any edit, removal or reorder is found."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from archiver.audit import AuditEvent, verify_chain
from archiver.catalog import SqliteCatalog

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
