"""The forwarding report as an HTML page: content, escaping, the empty report, and a render in headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from archiver.core.custodians import Custodian, PersonalAccount
from archiver.core.forwarding import WINDOW, Status
from archiver.services.report_html import render_html
from archiver.services.reports import ForwardingReport
from archiver.storage.catalog import CatalogRow, ReportRow, report_row
from tests.reporting import forwarding_report

UTC = timezone.utc
NOW = datetime(2024, 9, 30, 12, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def row(ident: str, custodian: str, status: Status, sent_at: datetime, **changes: Any) -> ReportRow:
    return report_row(full_row(ident, custodian, status, sent_at, **changes))


def full_row(ident: str, custodian: str, status: Status, sent_at: datetime, *, direction: str = "sent",
             days_late: int = 0, label: str = "record", flags: tuple[str, ...] = (), thread: str = "t1",
             segment: str | None = None) -> CatalogRow:
    """A catalog row as ingest writes it."""
    subject = status != Status.NOT_APPLICABLE
    return CatalogRow(
        id=ident, custodian=custodian, source="whatsapp", conversation_ref=thread, sent_at=sent_at,
        direction=direction, account="personal" if subject else "official", system=False, label=label,
        confidence=0.9, reasons=(), rules_version="1", schedule="GRS 6.1 011", disposition_date=None,
        forwarding_status=status, deadline=sent_at + WINDOW if subject else None, days_late=days_late,
        content_hash="c" * 64, export_sha256="e" * 64, source_line=7, ingested_at=sent_at + WINDOW, flags=flags,
        segment=segment)


def sample_report() -> ForwardingReport:
    july, august = datetime(2024, 7, 2, 9, tzinfo=UTC), datetime(2024, 8, 5, 15, tzinfo=UTC)
    rows = [
        row("m1", "alice", Status.COPIED, july),
        row("m2", "alice", Status.FORWARDED, july, direction="received"),
        row("m3", "alice", Status.LATE, august, days_late=4),
        row("m4", "bob", Status.COPIED, august),
        row("m5", "bob", Status.NOT_APPLICABLE, august),
        row("m6", EVIL, Status.LATE, august, direction="received", days_late=2, thread="t2"),
        row("m7", "bob", Status.COPIED, august, label="nonrecord", flags=("deleted",)),
        row("m8", "bob", Status.COPIED, august, label="nonrecord", flags=("deleted",), thread="elsewhere"),
    ]
    custodians = [Custodian("alice", personal_accounts=(PersonalAccount("signal", "+15205550100"),),
                            registered_at=NOW - timedelta(days=60))]
    last_sync = {("alice", "whatsapp"): NOW - timedelta(days=2), ("bob", "whatsapp"): NOW - timedelta(days=30)}
    return forwarding_report(rows, last_sync, custodians, NOW)


def empty_report() -> ForwardingReport:
    return forwarding_report([], {}, [], NOW)


class Text(HTMLParser):
    """The page's visible text and the value of each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.ids: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "rect", "line", "br"):
            self._open.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "rect", "line", "br") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)
        for ident in filter(None, self._open):
            self.ids[ident] = self.ids.get(ident, "") + data


def parse(page: str) -> Text:
    parser = Text()
    parser.feed(page)
    return parser


def test_totals_strip_has_stable_ids() -> None:
    ids = parse(render_html(sample_report())).ids
    assert ids["total-copied"] == "2"
    assert ids["total-forwarded"] == "1"
    assert ids["total-late"] == "2"
    assert ids["total-not-applicable"] == "1"
    assert ids["total-rate"] == "60.0%"


def test_page_is_self_contained_and_accessible() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!doctype html>")
    assert '<html lang="en">' in page
    assert "<title>44 U.S.C. 2911 forwarding report, generated 2024-09-30T12:00:00Z</title>" in page
    assert not re.search(r"""(src|href)=|@import|url\((?!#)""", page)
    assert page.count("<svg") == 2 and page.count("<title id=\"chart-") == 2
    assert '<th scope="col">Days late</th>' in page


def test_months_appear_in_chart() -> None:
    page = render_html(sample_report())
    chart = re.search(r'<svg id="chart-months".*?</svg>', page, re.S)
    assert chart and ">2024-07</text>" in chart.group() and ">2024-08</text>" in chart.group()
    assert "2024-08: 2 late" in chart.group() and "2024-07: 2 on time" in chart.group()


def test_custodian_id_is_escaped_everywhere() -> None:
    page = render_html(sample_report())
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert EVIL in "".join(parse(page).chunks)


def test_sections_list_custodians_risk_late_and_candidates() -> None:
    text = " ".join(parse(render_html(sample_report())).chunks)
    assert "1 (1 late)" in text  # alice sent: m1 copied, m3 late
    assert "AT RISK" in text and "never synced" in text  # bob's whatsapp is stale, alice's signal never synced
    late = parse(render_html(sample_report())).ids["late"]
    assert "m3" in late and "m6" in late and "2024-08-25 15:00 UTC" in late and "m1" not in late
    assert "m7" in text and "m8" not in text  # only deletions in threads that hold records


def test_empty_report_renders_no_records_message() -> None:
    page = render_html(empty_report())
    ids = parse(page).ids
    assert ids["no-records"] == "No records yet."
    assert ids["total-late"] == "0" and ids["total-rate"] == "n/a"
    assert page.count("<svg") == 2 and page.count(">No records yet</text>") == 2
    assert "No late records." in page and "No candidates." in page


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_distinct_rows(data: bytes) -> int:
    """How many distinct scanlines the image has (after its filter bytes): a blank page has one or two."""
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height = png_size(data)
    raw = zlib.decompress(b"".join(chunks))
    stride = len(raw) // height
    return len({raw[i * stride + 1:(i + 1) * stride] for i in range(height)})


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    png = tmp_path / "report.png"
    shot = chromium(page, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000")
    assert png.exists(), shot.stderr[-2000:]
    data = png.read_bytes()
    assert png_size(data) == (1280, 2000)
    assert png_distinct_rows(data) > 50, "the screenshot looks blank"
    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    ids = parse(dom.stdout).ids
    assert ids["total-late"] == "2" and ids["total-rate"] == "60.0%"
    assert "&lt;script&gt;" in dom.stdout and "<script>alert" not in dom.stdout


CLIP_PROBE = """<script>
const clipped = [];
let checked = 0;
for (const svg of document.querySelectorAll("svg")) {
  const box = svg.getBoundingClientRect();
  for (const text of svg.querySelectorAll("text")) {
    const b = text.getBoundingClientRect();
    checked += 1;
    if (b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5) {
      clipped.push(svg.id + ": " + text.textContent);
    }
  }
}
document.body.insertAdjacentHTML("beforeend", "<pre id=\\"probe\\">" + JSON.stringify({checked, clipped}) + "</pre>");
</script>"""


def crowded_report() -> ForwardingReport:
    """Long names, wide names, large counts and thirty months: what pushes labels off a chart."""
    rows = [row(f"r{n}", name, Status.LATE if n % 3 == 0 else Status.COPIED,
                datetime(2022 + m // 12, m % 12 + 1, 5, tzinfo=UTC), days_late=3)
            for n, (m, name) in enumerate((m, name) for m in range(30)
                                          for name in ("Maximiliano Hernández-Castellanos", "W" * 40))]
    start = datetime(2022, 1, 5, tzinfo=UTC)
    rows += [row(f"b{i}", "x", Status.COPIED, start) for i in range(12000)]
    rows += [row(f"l{i}", "x", Status.LATE, start, days_late=1) for i in range(9000)]
    return forwarding_report(rows, {}, [], NOW)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_chart_labels_stay_inside_their_charts_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(crowded_report()).replace("</body>", CLIP_PROBE + "</body>"), encoding="utf-8")
    dom = chromium(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    probe = json.loads(html.unescape(re.findall(r'<pre id="probe">(\{.*?\})</pre>', dom.stdout)[-1]))
    assert probe["checked"] > 20 and probe["clipped"] == []
