"""The retention report: holdings, forecast, holds, records awaiting an event, unscheduled
records and reviews due, from catalog rows; its roles, its CSV and JSON shapes, and its HTML
page rendered in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from archiver.config import load_settings
from archiver.core.retention import UNSCHEDULED
from archiver.services.retention_html import render_retention_html
from archiver.services.retention_report import RetentionReport, retention_report
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import CatalogRow, CommitBatch, HoldRow, SegmentRow
from tests.conftest import CliRunner
from tests.test_report_html import CHROMIUM, chromium, parse, png_distinct_rows

UTC = timezone.utc
AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
EVIL = "<b>Ana</b>"


def row(n: int, custodian: str, schedule: str | None, sent: datetime, disposition: date | None,
        label: str = "record") -> CatalogRow:
    return CatalogRow(
        id=f"{n:032x}", custodian=custodian, source="signal", conversation_ref="c" * 32, sent_at=sent,
        direction="sent", account="personal", system=False, label=label, confidence=0.9, reasons=(),
        rules_version="1", schedule=schedule, disposition_date=disposition, forwarding_status="copied",
        deadline=None, days_late=0, content_hash=f"{n:064x}", export_sha256="e" * 64, source_line=n,
        ingested_at=sent, flags=())


def batch(name: str, custodian: str, schedule: str, rows: list[CatalogRow]) -> CommitBatch:
    placed = [replace(r, segment=name, offset=i * 100, length=100) for i, r in enumerate(rows)]
    return CommitBatch(placed, (), SegmentRow(name, custodian, schedule, None, len(rows), NOW),
                       AuditEvent("test", "store-segment", NOW, {"segment": name}))


def fill(archive: Archive) -> None:
    """Two custodians' records under several items, a destroyed segment, review items and a hold."""
    y2019, y2020 = datetime(2019, 5, 1, 9, tzinfo=UTC), datetime(2020, 6, 1, 9, tzinfo=UTC)
    jorge = [row(1, "jorge", "GRS-6.1-011", y2019, date(2026, 5, 1)),            # forecast May, destroy
             row(2, "jorge", "GRS-6.1-011", y2019, date(2026, 5, 1)),
             row(3, "jorge", "GRS-6.1-011", y2020, date(2027, 6, 1))]            # forecast 2027-06
    capstone = [row(4, "jorge", "GRS-6.1-010", y2019, date(2026, 12, 31))]     # forecast Dec, transfer
    old = [row(5, "jorge", "GRS-6.1-011", datetime(2018, 1, 1, tzinfo=UTC), date(2025, 1, 1))]  # eligible now
    waiting = [row(6, "ana", "GRS-5.2-020", y2020, None), row(7, "ana", "GRS-5.2-020", y2020, None)]
    unscheduled = [row(8, EVIL, UNSCHEDULED, y2020, None)]
    gone = [row(9, "jorge", "GRS-6.1-011", y2019, date(2026, 1, 1))]
    later = [row(10, "jorge", "GRS-6.1-011", y2020, date(2029, 1, 1))]          # beyond 24 months
    reviews = [row(11, "ana", None, y2020, date(2026, 3, 1), "review"),
               row(12, "ana", None, y2020, date(2026, 3, 20), "review"),
               row(13, "ana", None, y2020, date(2026, 6, 1), "review"),
               row(14, "ana", None, y2020, None, "nonrecord")]
    catalog = archive.catalog
    catalog.commit([batch("seg/a", "jorge", "GRS-6.1-011", jorge), batch("seg/b", "jorge", "GRS-6.1-010", capstone),
                    batch("seg/c", "jorge", "GRS-6.1-011", old), batch("seg/d", "ana", "GRS-5.2-020", waiting),
                    batch("seg/e", EVIL, UNSCHEDULED, unscheduled), batch("seg/f", "jorge", "GRS-6.1-011", gone),
                    batch("seg/g", "jorge", "GRS-6.1-011", later), CommitBatch(reviews)])
    catalog.mark_disposed("seg/f", NOW, AuditEvent("test", "dispose", NOW, {"segment": "seg/f"}))
    hold = HoldRow("LIT-1", "litigation", "jorge", date(2019, 1, 1), date(2019, 12, 31), NOW, "test")
    released = replace(hold, name="OLD", custodian=None, start=None, end=None, released_at=NOW, released_by="test")
    for placed in (hold, released):
        catalog.put_hold(placed, AuditEvent("test", "hold-place", NOW, {"hold": placed.name}))


@pytest.fixture
def folder(archive_dir: Path) -> Path:
    with closing(Archive.open(load_settings(cwd=archive_dir))) as archive:
        fill(archive)
    return archive_dir


@pytest.fixture
def archive(folder: Path) -> Iterator[Archive]:
    with closing(Archive.open(load_settings(cwd=folder))) as opened:
        yield opened


@pytest.fixture
def report(archive: Archive) -> RetentionReport:
    return retention_report(archive, "records-officer", NOW, AS_OF)


def test_holdings_count_records_and_frame_bytes_per_item_and_year(report: RetentionReport) -> None:
    held = {key: (t.records, t.bytes) for key, t in report.holdings.items()}
    assert held == {("GRS-6.1-011", 2019): (2, 200), ("GRS-6.1-011", 2020): (2, 200), ("GRS-6.1-011", 2018): (1, 100),
                    ("GRS-6.1-010", 2019): (1, 100), ("GRS-5.2-020", 2020): (2, 200), (UNSCHEDULED, 2020): (1, 100)}
    assert report.disposed == 1


def test_forecast_buckets_disposition_dates_by_month_and_action(report: RetentionReport) -> None:
    assert report.months[0] == "2026-03" and report.months[-1] == "2028-02" and len(report.months) == 24
    assert {m: dict(c) for m, c in report.forecast.items() if c} == {
        "2026-05": {"destroy": 2}, "2026-12": {"transfer": 1}, "2027-06": {"destroy": 1}}
    assert dict(report.eligible) == {"destroy": 1} and report.eligible_held == 0


def test_each_active_hold_shows_what_it_covers(report: RetentionReport) -> None:
    assert [(h.hold.name, dict(h.covered)) for h in report.holds] == [
        ("LIT-1", {("jorge", "GRS-6.1-011"): 2, ("jorge", "GRS-6.1-010"): 1})]


def test_awaiting_event_unscheduled_and_reviews_due(report: RetentionReport) -> None:
    assert dict(report.awaiting) == {("GRS-5.2-020", "superseded", "ana"): 2}
    assert dict(report.unscheduled) == {EVIL: 1}
    assert dict(report.review_due) == {"ana": 1} and dict(report.review_soon) == {"ana": 1}


def test_one_custodian(archive: Archive) -> None:
    mine = retention_report(archive, "records-officer", NOW, AS_OF, custodian="ana")
    assert {item for item, _ in mine.holdings} == {"GRS-5.2-020"} and not mine.unscheduled
    assert mine.custodian == "ana"


def cli_report(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str,
               actor: str = "records-officer") -> Any:
    monkeypatch.setenv("ARCHIVER_ACTOR", actor)
    return cli("report", "retention", "--as-of", AS_OF.isoformat(), *args, cwd=folder)


def test_only_records_officers_run_it(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = cli_report(cli, folder, monkeypatch, actor="officer")
    assert refused.code == 2 and "records-officer" in refused.err and "Traceback" not in refused.err
    assert cli_report(cli, folder, monkeypatch).code == 0


def test_json_shape(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli_report(cli, folder, monkeypatch, "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == {"as_of", "custodian", "bytes_counted", "holdings", "disposed_records", "eligible",
                         "forecast", "holds", "awaiting_event", "unscheduled", "review_due"}
    assert {"schedule": "GRS-6.1-010", "year": 2019, "records": 1, "bytes": 100} in data["holdings"]
    assert data["forecast"][2] == {"month": "2026-05", "destroy": 2} and len(data["forecast"]) == 24
    assert data["holds"][0]["records"] == 3
    assert data["review_due"] == [{"custodian": "ana", "due": 1, "due_in_30_days": 1}]


def test_csv_shape(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli_report(cli, folder, monkeypatch, "--csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == ["part", "schedule", "custodian", "period", "action", "records", "bytes"]
    assert {"part": "forecast", "schedule": "", "custodian": "", "period": "2026-12", "action": "transfer",
            "records": "1", "bytes": ""} in rows
    assert {r["part"] for r in rows} == {"holdings", "eligible", "forecast", "hold LIT-1", "awaiting event",
                                         "unscheduled", "review due"}


def test_text_names_every_part(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli_report(cli, folder, monkeypatch).out
    for heading in ("Holdings by schedule item", "Forecast of disposition dates", "Active holds",
                    "Records awaiting a cutoff event", "Unscheduled records", "Review items due"):
        assert heading in out
    assert "2026-05  2 destroy" in out and "LIT-1: 3 records" in out


def test_unknown_custodian_is_one_line(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli_report(cli, folder, monkeypatch, "--custodian", "nobody")
    assert result.code == 2 and "nobody" in result.err and len(result.err.strip().splitlines()) == 1


def test_html_escapes_and_holds_counts_only(report: RetentionReport) -> None:
    page = render_retention_html(report)
    assert "&lt;b&gt;Ana&lt;/b&gt;" in page and EVIL not in page
    assert 'id="chart-forecast"' in page and 'id="chart-holdings"' in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_page_renders_in_headless_chromium(cli: CliRunner, folder: Path, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    page = tmp_path / "retention.html"
    assert cli_report(cli, folder, monkeypatch, "--html", str(page)).code == 0
    png = tmp_path / "retention.png"
    shot = chromium(page, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000",
                    "--enable-logging=stderr", "--v=0")
    assert png.exists(), shot.stderr[-2000:]
    assert png_distinct_rows(png.read_bytes()) > 50, "the screenshot looks blank"
    assert "CONSOLE" not in shot.stderr, shot.stderr[-2000:]
    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    ids = parse(dom.stdout).ids
    assert ids["total-records"] == "9" and ids["total-awaiting"] == "2"
    assert dom.stdout.count("<rect") > 5, "the charts have no bars"
    assert {"chart-holdings", "chart-forecast"} <= set(ids)


def test_forecast_window_ends_24_months_on(archive: Archive) -> None:
    later = retention_report(archive, "records-officer", NOW, AS_OF + timedelta(days=365))
    assert later.months[0] == "2027-03"
    assert dict(later.eligible) == {"destroy": 3, "transfer": 1} and later.eligible_held == 3
    forecast = {m: dict(c) for m, c in later.forecast.items() if c}
    assert forecast == {"2027-06": {"destroy": 1}, "2029-01": {"destroy": 1}}


def test_json_is_streamed_in_chunks(report: RetentionReport) -> None:
    from archiver.services.retention_report import write_json

    class Chunks(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Chunks.writes += 1
            return super().write(text)

    stream = Chunks()
    write_json(report, stream)
    assert json.loads(stream.getvalue())["as_of"] == "2026-03-02" and Chunks.writes > 10
