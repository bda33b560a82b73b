"""The cross-source duplicate-text lookup stays one row per text however often a text repeats.

A short text ("ok, on my way") recurs thousands of times in a custodian's exports; the lookup
that credits a new copy with an earlier compliant one must name the earliest such copy and
read only that one, not every earlier copy, or ingest slows with the square of the archive.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import archiver.storage.catalog.sqlite as sqlite_module
from archiver.storage.catalog import CommitBatch, SqliteCatalog
from archiver.storage.catalog.sqlite_schema import SCHEMA
from tests.test_catalog_contract import CUSTODIAN, repeated_text_rows


def test_the_lookup_reads_one_row_per_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    rows = repeated_text_rows()
    catalog.commit([CommitBatch(rows)])
    read = []
    original = sqlite_module.row_from
    monkeypatch.setattr(sqlite_module, "row_from", lambda values: read.append(values) or original(values))

    found = catalog.compliant_copies(CUSTODIAN, ["same"] * 50)

    assert found["same"].id == rows[500].id
    assert len(read) == 1
    plan = " ".join(str(step) for step in catalog._db.execute(
        f"EXPLAIN QUERY PLAN {sqlite_module.COMPLIANT_COPY}", (CUSTODIAN, "same")))
    assert "USING INDEX messages_compliant_copy" in plan and "TEMP B-TREE" not in plan  # no sort of all copies
    catalog.close()


def test_an_older_catalog_gains_the_copy_index_on_open(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    SqliteCatalog(path).close()
    with sqlite3.connect(path) as db:  # the file as the archiver before the copy index left it
        db.execute("DROP INDEX messages_compliant_copy")
        db.execute(f"PRAGMA user_version = {SCHEMA.index(next(s for s in SCHEMA if 'compliant_copy' in s))}")
    SqliteCatalog(path).close()

    with sqlite3.connect(path) as db:
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert db.execute("PRAGMA user_version").fetchone() == (len(SCHEMA),)
    assert "messages_compliant_copy" in names
