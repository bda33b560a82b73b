"""The SQLite catalog's pending-segment journal, and the write an ingest keeps open across segments
while other writers still get their turn."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from archiver.errors import CatalogError
from archiver.storage.audit import GENESIS, AuditEvent
from archiver.storage.catalog import CommitBatch, SqliteCatalog
from archiver.storage.catalog.sqlite_lock import knocks
from archiver.storage.catalog.sqlite_pending import PendingJournal
from tests.test_catalog_contract import T0, make_row, segment_batch


def test_names_are_read_back_once_each_in_the_order_written(tmp_path: Path) -> None:
    journal = PendingJournal(tmp_path / "catalog.sqlite.pending")
    assert journal.names() == []
    journal.add(["seg/2031-01-01/b", "seg/2031-01-01/a"])
    journal.add(["seg/2031-01-01/a", "review/2030-01-01/c"])
    assert journal.names() == ["seg/2031-01-01/b", "seg/2031-01-01/a", "review/2030-01-01/c"]


def test_a_line_cut_short_is_ignored_and_the_next_name_starts_its_own(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite.pending"
    path.write_bytes(b"seg/2031-01-01/a\nseg/2031-01-0")  # a crash in the middle of an append
    journal = PendingJournal(path)
    assert journal.names() == ["seg/2031-01-01/a"]
    journal.add(["seg/2031-01-01/b"])
    assert journal.names() == ["seg/2031-01-01/a", "seg/2031-01-0", "seg/2031-01-01/b"]


def test_keep_leaves_only_the_names_given_and_empties_the_file_for_none(tmp_path: Path) -> None:
    journal = PendingJournal(tmp_path / "catalog.sqlite.pending")
    journal.add(["seg/x/1", "seg/x/2", "seg/x/3"])
    journal.keep(["seg/x/2"])
    assert journal.names() == ["seg/x/2"]
    journal.keep([])
    assert journal.names() == [] and journal.path.read_bytes() == b""


@pytest.mark.parametrize("name", ["", "seg/a\nseg/b", "seg/a\r"])
def test_a_name_that_is_not_one_line_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(CatalogError, match="cannot be recorded as pending"):
        PendingJournal(tmp_path / "p").add([name])


def test_other_readers_see_an_open_write_only_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    writer = SqliteCatalog(path)
    writer.begin_segments(["seg/2033-12-31/a"])
    writer.add([segment_batch("seg/2033-12-31/a", [make_row(1)])])
    reader = SqliteCatalog(path, read_only=True)
    try:
        assert list(reader.rows()) == []
        assert reader.pending_segments() == ["seg/2033-12-31/a"]  # stored, rows not yet committed
        assert writer.audit_head() == (0, GENESIS)  # what a sealed head may name: committed entries only
        writer.commit()
        assert [r.id for r in reader.rows()] == [make_row(1).id]
        assert reader.pending_segments() == [] == writer.pending_segments()
        assert writer.audit_head()[0] == 1
        assert path.with_name("catalog.sqlite.pending").read_bytes() == b""
    finally:
        reader.close()
        writer.close()


def test_another_write_commits_the_open_one_first(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    catalog.begin_segments(["seg/2033-12-31/a"])
    catalog.add([segment_batch("seg/2033-12-31/a", [make_row(1)])])
    catalog.append_audit(AuditEvent("officer@agency.gov", "search", T0, {}))
    catalog.close()  # closing rolls back an open write: nothing was left open

    reopened = SqliteCatalog(tmp_path / "catalog.sqlite")
    try:
        assert [r.id for r in reopened.rows()] == [make_row(1).id]
        assert reopened.pending_segments() == []
        assert reopened.audit_head()[0] == 2
    finally:
        reopened.close()


def test_a_write_closed_before_its_commit_leaves_its_segments_pending(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    catalog.begin_segments(["seg/2033-12-31/a", "seg/2033-12-31/b"])
    catalog.commit([segment_batch("seg/2033-12-31/a", [make_row(1)])])
    catalog.add([segment_batch("seg/2033-12-31/b", [make_row(2)]), CommitBatch([make_row(3, label="nonrecord")])])
    catalog.close()

    reopened = SqliteCatalog(tmp_path / "catalog.sqlite")
    try:
        assert [r.id for r in reopened.rows()] == [make_row(1).id]
        assert reopened.pending_segments() == ["seg/2033-12-31/b"]
    finally:
        reopened.close()


def test_a_waiting_writer_knocks_and_the_open_write_commits_at_its_next_batch(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    ingest = SqliteCatalog(path)
    ingest.add([segment_batch("seg/2033-12-31/a", [make_row(1)])])  # the open write holds SQLite's lock
    knocked_before = knocks(path)
    appended: list[int] = []

    def search() -> None:
        other = SqliteCatalog(path)
        try:
            appended.append(other.append_audit(AuditEvent("investigator@agency.gov", "search", T0, {})).seq)
        finally:
            other.close()

    waiting = threading.Thread(target=search)
    waiting.start()
    deadline = time.monotonic() + 10
    while knocks(path) == knocked_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert knocks(path) != knocked_before and appended == []  # still waiting, and it knocked

    ingest.add([segment_batch("seg/2033-12-31/b", [make_row(2)])])  # sees the knock: commits first
    waiting.join(timeout=10)
    ingest.commit()
    try:
        # The search's entry follows the segment committed before it and precedes the next.
        assert appended == [2]
        assert [e.event.action for e in ingest.audit_entries()] == ["store-segment", "search", "store-segment"]
        assert len(list(ingest.rows())) == 2
    finally:
        ingest.close()
