"""The compact catalog row: an archive's catalog written with wide text rows opens with every
row, rowid and search term as it was, in less than half the space."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from archiver.model import utc_iso
from archiver.storage.catalog import SqliteCatalog
from archiver.storage.catalog.base import CatalogRow
from archiver.storage.catalog.sqlite_codec import instant, iso_text, micros, packed, unpacked
from archiver.storage.catalog.sqlite_index import ROW_COLUMNS
from archiver.storage.catalog.sqlite_schema import SCHEMA
from tests.test_catalog_contract import T0, make_row

WIDE = SCHEMA.index("CREATE TABLE strings (ref INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)")



def wide_values(row: CatalogRow) -> tuple[object, ...]:
    """``row`` as the catalog stored it before rows were compacted: every value as text."""
    return (row.id, row.custodian, row.source, row.conversation_ref, utc_iso(row.sent_at), row.direction,
            row.account, int(row.system), row.label, row.confidence, json.dumps(list(row.reasons)),
            row.rules_version, row.schedule, row.disposition_date.isoformat() if row.disposition_date else None,
            row.forwarding_status, utc_iso(row.deadline) if row.deadline else None, row.days_late, row.content_hash,
            row.export_sha256, row.source_line, utc_iso(row.ingested_at), json.dumps(list(row.flags)), row.segment,
            row.offset, row.length, row.fingerprint, row.sender_ref, row.copy_key)


def wide_catalog(path: Path, rows: list[CatalogRow]) -> None:
    """A catalog file as the archiver before compact rows left it, holding ``rows`` and a token each."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in SCHEMA[:WIDE]:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {WIDE}")
        marks = ",".join("?" * (ROW_COLUMNS.count(",") + 2))
        db.executemany(f"INSERT INTO messages (rowid, {ROW_COLUMNS}) VALUES ({marks})",
                       [(100 + n, *wide_values(row)) for n, row in enumerate(rows)])
        db.executemany("INSERT INTO keywords (rowid, tokens) VALUES (?, ?)",
                       [(100 + n, f"token{n}") for n in range(len(rows))])


def sample_rows() -> list[CatalogRow]:
    rows = [make_row(n, custodian=("b", "a")[n % 2], fingerprint=f"{n:032x}" if n % 3 else None,
                     segment=f"seg/2033-12-31/{n % 4}" if n % 5 else None, offset=n * 10 if n % 5 else None,
                     flags=("edited", "deleted") if n % 7 == 0 else (), sender_ref=f"{n + 1:032x}",
                     copy_key=f"{n + 2:032x}") for n in range(1, 60)]
    rows[3] = replace(rows[3], id="legacy-id-Uppercase", sent_at=T0 + timedelta(microseconds=1))  # text, not hex
    rows[4] = replace(rows[4], sent_at=T0 - timedelta(days=20000, microseconds=3))  # before 1970
    return rows


def test_a_wide_catalog_is_compacted_on_open_and_reads_the_same(tmp_path: Path) -> None:
    path, rows = tmp_path / "catalog.sqlite", sample_rows()
    wide_catalog(path, rows)
    wide_size = path.stat().st_size

    catalog = SqliteCatalog(path)

    assert catalog.rows_by_id([r.id for r in rows]) == {r.id: r for r in rows}
    assert sorted(catalog.rows(), key=lambda r: r.id) == sorted(rows, key=lambda r: r.id)
    assert catalog.search_tokens(["token3"]) == {rows[3].id}  # rowids kept: the blind index still points right
    assert list(catalog.segment_rows("seg/2033-12-31/1")) == sorted(
        (r for r in rows if r.segment == "seg/2033-12-31/1"), key=lambda r: r.offset or 0)
    catalog.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(SCHEMA),)
        assert db.execute("SELECT count(*) FROM messages WHERE typeof(id) = 'blob'").fetchone() == (len(rows) - 1,)
    assert path.stat().st_size < wide_size  # the freed pages were given back once


def test_values_are_stored_compactly_and_exactly() -> None:
    assert packed("00ff" * 8) == bytes.fromhex("00ff" * 8) and unpacked(packed("00ff" * 8)) == "00ff" * 8
    for text in ("00FF", "abc", "", "seg/x", "0x12"):
        assert packed(text) == text and unpacked(packed(text)) == text
    for moment in (T0, T0 + timedelta(microseconds=999_999), T0.replace(year=1969) - timedelta(microseconds=1),
                   T0.replace(year=9999), T0.replace(year=1, month=1, day=1, hour=0, minute=0)):
        assert instant(micros(moment)) == moment
        assert iso_text(micros(moment)) == utc_iso(moment)
    assert micros(T0 + timedelta(microseconds=1)) > micros(T0)  # ordered as time, not as ISO text
