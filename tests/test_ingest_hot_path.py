"""Ingest's per-message work stays constant as the archive grows, and gives the same answers.

A short text ("ok, on my way") recurs thousands of times in a custodian's exports; the lookup
that credits a new copy with an earlier compliant one must name the earliest such copy and
read only that one, not every earlier copy, or ingest slows with the square of the archive.
The audit digests of rows with no sealed object of their own must not change with the way
they are computed: entries written before still verify.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

import pytest

import archiver.storage.catalog.sqlite as sqlite_module
from archiver.model import canonical_json
from archiver.storage.catalog import CommitBatch, SqliteCatalog
from archiver.storage.catalog.base import ExportRow, QuarantineRow
from archiver.storage.catalog.sqlite_schema import SCHEMA
from archiver.storage.keyed import KeyedHash
from archiver.storage.sealed_facts import _plain, row_digest
from tests.test_catalog_contract import CUSTODIAN, T0, make_row, repeated_text_rows


def test_the_lookup_reads_one_row_per_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    rows = repeated_text_rows()
    catalog.commit([CommitBatch(rows)])
    read = []
    original = SqliteCatalog._row
    monkeypatch.setattr(SqliteCatalog, "_row", lambda self, values: read.append(values) or original(self, values))

    found = catalog.compliant_copies(CUSTODIAN, ["same"] * 50)

    assert found["same"].id == rows[500].id
    assert len(read) == 1
    plan = " ".join(str(step) for step in catalog._db.execute(
        f"EXPLAIN QUERY PLAN {sqlite_module.COMPLIANT_COPY}", (1, "same")))
    assert "USING INDEX messages_compliant_copy" in plan and "TEMP B-TREE" not in plan  # no sort of all copies
    catalog.close()


def test_an_older_catalog_gains_the_copy_index_on_open(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    before = SCHEMA.index(next(s for s in SCHEMA if "compliant_copy" in s))
    with closing(sqlite3.connect(path)) as db:  # the file as the archiver before the copy index left it
        for statement in SCHEMA[:before]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {before}")
        db.commit()
    SqliteCatalog(path).close()

    with sqlite3.connect(path) as db:
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert db.execute("PRAGMA user_version").fetchone() == (len(SCHEMA),)
    assert "messages_compliant_copy" in names


@pytest.mark.parametrize(("row", "ignore"), [
    (make_row(7, label="nonrecord", flags=("edited", "deleted"), fingerprint=None), ("sender_ref", "copy_key")),
    (ExportRow("e" * 64, "file:abc", "whatsapp", CUSTODIAN, "personal", T0, "officer", ("whatsapp", "sms")), ()),
    (QuarantineRow("e" * 64, "file:abc", 12, "unreadable date", None, T0), ("at",)),
])
def test_row_digests_are_those_earlier_entries_hold(row: object, ignore: tuple[str, ...]) -> None:
    key = KeyedHash(b"k" * 32)
    fields = {name: _plain(value) for name, value in asdict(row).items() if name not in ignore}  # type: ignore[call-overload]

    assert row_digest(key, "kind", row, ignore) == key.hex(canonical_json(["kind", fields]))
