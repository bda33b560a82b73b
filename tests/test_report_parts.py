"""The forwarding report read by two processes: each custodian's rows cut in two runs at a send
instant, one run per process, and what they gathered and spooled joined as one pass would give it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.core.forwarding import Status
from archiver.services import forwarding_parts, reports
from archiver.services.forwarding_parts import pass_catalog
from archiver.services.reports import CsvSink, JsonSink, render_forwarding, report_of
from archiver.storage.catalog import CatalogRow, CommitBatch, ReportRow, SqliteCatalog
from tests.reporting import forwarding_report
from tests.test_report_html import NOW, full_row

START = NOW - timedelta(days=90)
DISPOSED = {"seg/a": NOW - timedelta(days=1)}


def catalog_rows() -> list[CatalogRow]:
    """Three custodians; ties on one instant; late, deleted, disposed and not-applicable records;
    tombstones and review items the report leaves out; a custodian with a single row."""
    rows = []
    for n in range(40):
        sent = START + timedelta(minutes=n // 3)  # three rows an instant: the cut never parts them
        status = (Status.LATE, Status.COPIED, Status.FORWARDED, Status.NOT_APPLICABLE)[n % 4]
        rows.append(full_row(f"{n:04d}-alice", "alice", status, sent, days_late=2 if status == Status.LATE else 0,
                             direction=("sent", "received")[n % 2], thread=f"t{n % 5}",
                             segment="seg/a" if n % 7 == 0 else None))
        rows.append(full_row(f"{n:04d}-bob", "bob", Status.LATE, START + timedelta(days=n), days_late=n,
                             label=("record", "nonrecord", "review")[n % 3], thread=f"b{n % 2}",
                             flags=("deleted",) if n % 5 == 0 else ()))
    rows.append(full_row("only-carol", "carol", Status.COPIED, START))
    return rows


@pytest.fixture
def catalog(tmp_path: Path) -> SqliteCatalog:
    opened = SqliteCatalog(tmp_path / "catalog.db")
    opened.commit([CommitBatch(catalog_rows())])
    return opened


def test_the_runs_of_the_cuts_are_the_rows_in_order(catalog: SqliteCatalog) -> None:
    whole = list(catalog.report_rows())
    cuts = catalog.report_cuts(2)
    first, second = list(catalog.report_rows(cuts, 0)), list(catalog.report_rows(cuts, 1))
    assert first and second
    assert sorted(first + second, key=lambda r: r.custodian) == whole  # each custodian: first run, then second
    for custodian in ("alice", "bob"):
        early = [r.sent_at for r in first if r.custodian == custodian]
        late = [r.sent_at for r in second if r.custodian == custodian]
        assert early and late and max(early) < min(late)  # rows of one instant stay in one run
    assert len(catalog.report_cuts(3)[next(iter(cuts))]) == 2


def test_a_custodian_stored_after_the_cuts_is_read_whole_in_the_first_run(catalog: SqliteCatalog) -> None:
    cuts = catalog.report_cuts(2)
    catalog.commit([CommitBatch([full_row("dave-1", "dave", Status.COPIED, START)])])
    assert [r.id for r in catalog.report_rows(cuts, 0) if r.custodian == "dave"] == ["dave-1"]
    assert not [r for r in catalog.report_rows(cuts, 1) if r.custodian == "dave"]


def _json(catalog: SqliteCatalog, second_from: int) -> tuple[str, str]:
    sink = JsonSink()
    gathered, later = pass_catalog(catalog, DISPOSED, sink, second_from=second_from)
    report = report_of(gathered, {}, [], NOW, DISPOSED)
    out = io.StringIO()
    sink.write(report, out, later)
    return out.getvalue(), render_forwarding(report)


def test_two_processes_give_the_report_of_one_byte_for_byte(catalog: SqliteCatalog,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "LATE_SHOWN", 4)  # the first late records come from both runs
    monkeypatch.setattr(reports, "SPOOL_BLOCK", 100)  # spools read back in many blocks
    one = _json(catalog, second_from=10 ** 9)
    two = _json(catalog, second_from=0)
    assert two == one
    assert one == _json_of_a_plain_pass(catalog)
    document = json.loads(one[0])
    assert len(document["records"]) == 41 + 14 and len(document["late"]) == 10 + 14
    assert document["disposed"] == 6 and document["unlawful_disposition_candidates"]


def _csv(catalog: SqliteCatalog, second_from: int) -> str:
    out, told = io.StringIO(), []
    pass_catalog(catalog, DISPOSED, CsvSink(out), advance=told.append, second_from=second_from)
    assert (told[0] > 0) if second_from == 0 else told == [] # the second process passed some records
    return out.getvalue()


def test_two_processes_write_the_csv_of_one_byte_for_byte(catalog: SqliteCatalog,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "SPOOL_BLOCK", 100)  # spools read back in many blocks
    one, two = _csv(catalog, second_from=10 ** 9), _csv(catalog, second_from=0)
    assert two == one
    plain = io.StringIO()
    forwarding_report(catalog.report_rows(), {}, [], NOW, DISPOSED, CsvSink(plain))
    assert one == plain.getvalue()
    lines = one.splitlines()
    assert lines[0].startswith("id,custodian,") and len(lines) == 1 + 41 + 14
    assert len({line.split(",")[1] for line in lines[1:]}) == 3  # every custodian, each run joined


def _json_of_a_plain_pass(catalog: SqliteCatalog) -> tuple[str, str]:
    sink = JsonSink()
    report = forwarding_report(catalog.report_rows(), {}, [], NOW, DISPOSED, sink)
    out = io.StringIO()
    sink.write(report, out)
    return out.getvalue(), render_forwarding(report)


def test_two_processes_without_a_sink_count_every_record(catalog: SqliteCatalog) -> None:
    watched: list[str] = []
    told: list[int] = []

    def watch(rows: Iterable[ReportRow]) -> Iterator[ReportRow]:
        for passing in rows:
            watched.append(passing.label)
            yield passing

    gathered, later = pass_catalog(catalog, DISPOSED, None, watch, told.append, second_from=0)
    assert later == []
    report = report_of(gathered, {}, [], NOW, DISPOSED)
    assert report.records == 41 + 14 and report.late_count == 10 + 14
    # The progress bar sees this process's rows as they pass, then the second's records at once.
    assert watched and len(told) == 1 and watched.count("record") + told[0] == report.records
    assert render_forwarding(report) == _json_of_a_plain_pass(catalog)[1]


def test_spooled_lines_come_back_whole_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "SPOOL_BLOCK", 7)
    spool = reports.Spool()
    spool.mark("a")
    for line in ("short", "a line longer than a block", "é ünïcode 😀"):
        spool.file.write(f"{line}\n".encode())
    assert b"\n".join(spool.blocks()).decode() == "short\na line longer than a block\né ünïcode 😀"


def test_the_second_process_starts_before_this_one_reads_a_row(catalog: SqliteCatalog,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The second process is forked when its first item is asked for: asked only after this
    # process's pass, the two passes would run one after the other.
    started: list[bool] = []
    real = forwarding_parts.read_in_second_process

    def recorded(*args: Any, **kwargs: Any) -> Iterator[Any]:
        started.append(True)
        yield from real(*args, **kwargs)

    def watch(rows: Iterable[ReportRow]) -> Iterator[ReportRow]:
        for passing in rows:
            assert started, "this process read a row before the second process was started"
            yield passing

    monkeypatch.setattr(forwarding_parts, "read_in_second_process", recorded)
    gathered, _ = pass_catalog(catalog, DISPOSED, JsonSink(), watch, second_from=0)
    assert started and gathered.records == 41 + 14
