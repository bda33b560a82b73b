"""The forwarding report streams: records go to the writer one at a time as the catalog rows pass,
the report keeps only aggregates and the first late records, and the HTML page lists those."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from archiver.core.forwarding import Status
from archiver.services.report_html import render_html
from archiver.services.reports import (
    LATE_SHOWN,
    CsvSink,
    JsonSink,
    record_json,
    record_line,
    render_forwarding,
)
from archiver.storage.catalog import CommitBatch, ReportRow, SqliteCatalog, report_row
from tests.reporting import forwarding_report
from tests.test_report_html import NOW, full_row, row

START = NOW - timedelta(days=90)


def many_rows(late: int, copied: int = 3) -> list[ReportRow]:
    rows = [row(f"late-{n:05d}", "alice", Status.LATE, START + timedelta(minutes=n), days_late=3) for n in range(late)]
    rows += [row(f"ok-{n:05d}", "bob", Status.COPIED, START + timedelta(minutes=n)) for n in range(copied)]
    rows.append(row("gone", "bob", Status.COPIED, START, label="nonrecord", flags=("deleted",)))
    return rows


class Watched:
    """Counts what a sink took, and checks each record arrives before the next row is read."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def add(self, record: ReportRow, disposed_at: datetime | None) -> None:
        self.taken.append(record.id)


def test_each_record_reaches_the_sink_before_the_next_row_is_read() -> None:
    sink, rows = Watched(), many_rows(5)

    def catalog() -> Iterator[ReportRow]:
        for n, current in enumerate(rows):
            records_before = sum(r.label == "record" for r in rows[:n])
            assert len(sink.taken) == records_before  # nothing is held back to be written at the end
            yield current

    report = forwarding_report(catalog(), {}, [], NOW, sink=sink)
    assert sink.taken == [r.id for r in rows if r.label == "record"]
    assert (report.records, report.late_count, len(report.late)) == (8, 5, 5)


def test_the_report_holds_only_the_first_late_records() -> None:
    report = forwarding_report(many_rows(LATE_SHOWN + 7), {}, [], NOW)
    assert report.late_count == LATE_SHOWN + 7 and len(report.late) == LATE_SHOWN
    assert [r.id for r in report.late][-1] == f"late-{LATE_SHOWN - 1:05d}"
    assert report.totals[Status.LATE] == LATE_SHOWN + 7 and report.records == LATE_SHOWN + 10


def test_html_lists_the_first_late_records_and_says_how_many_more() -> None:
    page = render_html(forwarding_report(many_rows(LATE_SHOWN + 7), {}, [], NOW))
    assert page.count("<code>late-") == LATE_SHOWN
    assert f"{LATE_SHOWN + 7} record(s) forwarded after the 20-day deadline" in page
    assert 'id="late-more"' in page and "7 more" in page and "--json" in page


def test_html_with_few_late_records_lists_them_all_without_a_note() -> None:
    page = render_html(forwarding_report(many_rows(3), {}, [], NOW))
    assert page.count("<code>late-") == 3 and 'id="late-more"' not in page


def test_streamed_json_is_one_valid_document_with_every_record() -> None:
    sink, rows = JsonSink(), many_rows(LATE_SHOWN + 2)
    report = forwarding_report(rows, {}, [], NOW, {}, sink)
    out = io.StringIO()
    sink.write(report, out)
    document = json.loads(out.getvalue())
    assert list(document) == ["generated_at", "totals", "on_time_rate", "custodians", "months", "at_risk", "disposed",
                              "late", "unlawful_disposition_candidates", "records"]
    assert len(document["late"]) == LATE_SHOWN + 2 and len(document["records"]) == LATE_SHOWN + 5
    assert document["late"][0] == {"id": "late-00000", "custodian": "alice", "source": "whatsapp",
                                   "direction": "sent", "account": "personal", "sent_at": "2024-07-02T12:00:00Z",
                                   "ingested_at": "2024-07-22T12:00:00Z", "deadline": "2024-07-22T12:00:00Z",
                                   "status": "late", "days_late": 3, "schedule": "GRS 6.1 011", "disposed_at": None}
    assert [c["id"] for c in document["unlawful_disposition_candidates"]] == ["gone"]
    assert document["totals"]["late"] == LATE_SHOWN + 2 and document["disposed"] == 0


def test_streamed_json_of_an_empty_archive_is_valid() -> None:
    sink = JsonSink()
    out = io.StringIO()
    sink.write(forwarding_report([], {}, [], NOW, {}, sink), out)
    document = json.loads(out.getvalue())
    assert (document["late"], document["records"], document["unlawful_disposition_candidates"]) == ([], [], [])


def test_csv_writes_each_record_as_it_passes() -> None:
    out = io.StringIO()
    lines_seen = []

    def catalog() -> Iterator[ReportRow]:
        for current in many_rows(2):
            lines_seen.append(out.getvalue().count("\n"))
            yield current

    forwarding_report(catalog(), {}, [], NOW, sink=CsvSink(out))
    assert lines_seen == [1, 2, 3, 4, 5, 6]  # the header, then one line per record already written
    assert out.getvalue().count("\n") == 6


def test_the_lean_catalog_pass_gives_the_report_byte_for_byte_as_the_full_rows(tmp_path: Path) -> None:
    rows = [full_row("copied", "bob", Status.COPIED, START - timedelta(days=40)),
            full_row("late", "alice", Status.LATE, START + timedelta(microseconds=250000), days_late=3,
                     segment="seg/a"),
            full_row("fwd", "alice", Status.FORWARDED, START, direction="received"),
            full_row("official", "bob", Status.NOT_APPLICABLE, START),
            full_row("gone", "bob", Status.COPIED, START, label="nonrecord", flags=("edited", "deleted")),
            full_row("review", "alice", Status.COPIED, START, label="review")]
    catalog = SqliteCatalog(tmp_path / "catalog.db")
    catalog.commit([CommitBatch(rows)])
    disposed = {"seg/a": NOW}

    def outputs(found: Iterable[ReportRow]) -> tuple[str, str, str, str]:
        json_sink, csv_out = JsonSink(), io.StringIO()
        listed = list(found)
        report = forwarding_report(listed, {}, [], NOW, disposed, json_sink)
        forwarding_report(listed, {}, [], NOW, disposed, CsvSink(csv_out))
        json_out = io.StringIO()
        json_sink.write(report, json_out)
        return json_out.getvalue(), csv_out.getvalue(), render_forwarding(report), render_html(report)

    lean = outputs(catalog.report_rows())
    assert lean == outputs(map(report_row, catalog.rows()))
    document = json.loads(lean[0])
    assert list(document["months"]) == ["2024-05", "2024-07"]
    assert document["late"] == [{"id": "late", "custodian": "alice", "source": "whatsapp", "direction": "sent",
                                 "account": "personal", "sent_at": "2024-07-02T12:00:00.250000Z",
                                 "ingested_at": "2024-07-22T12:00:00.250000Z",
                                 "deadline": "2024-07-22T12:00:00.250000Z", "status": "late", "days_late": 3,
                                 "schedule": "GRS 6.1 011", "disposed_at": "2024-09-30T12:00:00Z"}]
    assert [c["id"] for c in document["unlawful_disposition_candidates"]] == ["gone"]
    assert "2024-07-02T12:00:00.250000Z  deadline 2024-07-22T12:00:00.250000Z  3 days late  DISPOSED" in lean[2]
    catalog.close()


def test_each_json_record_line_is_what_json_writes_for_its_fields() -> None:
    awkward = row('q"uo\\te', 'Zoë "Z" \u2028', Status.LATE, START, days_late=2)._replace(schedule=None, source="\x07")
    official = row("official", "bob", Status.NOT_APPLICABLE, START)
    for record, gone in [(awkward, NOW), (official, None), *((r, None) for r in many_rows(2))]:
        assert record_line(record, gone) == json.dumps(record_json(record, gone), ensure_ascii=False)
