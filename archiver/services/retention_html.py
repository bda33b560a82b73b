"""The retention report as one self-contained HTML page with inline SVG charts.

Uses the forwarding page's style, chart frame and table helpers (``report_html``); the page
holds counts only, so it stays light whatever the number of records.
"""

from __future__ import annotations

from collections.abc import Sequence

from archiver.services.report_html import (
    ON_TIME,
    STYLE,
    WIDTH,
    bar_segment,
    escape,
    gridlines,
    number,
    section,
    svg,
    table,
    y_tick,
)
from archiver.services.retention_report import RetentionReport

TITLE = "Retention report"
# destroy is hatched, so the kinds differ by more than colour
FILLS = {"destroy": "url(#hatch-{key})", "transfer": ON_TIME, "review": "#7a7a7a", "unknown": "#c8b400"}
Bar = tuple[str, Sequence[tuple[str, int]]]  # label, (kind, value) stacked bottom up


def render_retention_html(report: RetentionReport) -> str:
    """The whole page: totals, charts, then a table per part of the report."""
    scope = f" for {escape(report.custodian)}" if report.custodian else ""
    heading = f"{TITLE}{scope} as of {report.as_of.isoformat()}"
    body = [f'<header><h1>{heading}</h1><p class="meta">Bytes count sealed message frames; attachments are not '
            "counted.</p></header>", _totals(report), _charts(report), _holdings(report), _forecast(report),
            _holds(report), _awaiting(report), _unscheduled(report), _reviews(report)]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{heading}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _totals(report: RetentionReport) -> str:
    cards = [("records", "Records held", sum(t.records for t in report.holdings.values())),
             ("eligible", "Eligible now", sum(report.eligible.values())),
             ("forecast", "Coming due in 24 months", sum(sum(c.values()) for c in report.forecast.values())),
             ("awaiting", "Awaiting an event", sum(report.awaiting.values())),
             ("unscheduled", "Unscheduled", sum(report.unscheduled.values()))]
    return '<section class="totals" aria-label="Totals">' + "".join(
        f'<div class="total"><span class="value" id="total-{key}">{value:,}</span>'
        f'<span class="label">{label}</span></div>' for key, label, value in cards) + "</section>"


def _charts(report: RetentionReport) -> str:
    years: dict[int, int] = {}
    for (_, year), tally in report.holdings.items():
        years[year] = years.get(year, 0) + tally.records
    held = [(str(y), [("records", n)]) for y, n in sorted(years.items())]
    due = [(m, sorted(report.forecast.get(m, {}).items())) for m in report.months]
    return ('<section class="charts"><h2>Charts</h2>'
            f"<figure><figcaption>Records held by year sent</figcaption>"
            f"{_bar_chart('holdings', 'Records held per year sent', 'Year sent (UTC)', held)}</figure>"
            f"<figure><figcaption>Disposition forecast by month</figcaption>"
            f"{_bar_chart('forecast', 'Records coming due per month, by action', 'Month', due)}</figure></section>")


def _bar_chart(key: str, title: str, axis: str, bars: Sequence[Bar]) -> str:
    ticks = gridlines(max((sum(v for _, v in stack) for _, stack in bars), default=0))
    left, top, plot_h = 36 + 7 * len(str(ticks[-1])), 40, 200
    plot_w, scale = WIDTH - left - 16, plot_h / ticks[-1]
    slot = plot_w / max(len(bars), 1)
    parts = [_legend(key, sorted({kind for _, stack in bars for kind, _ in stack})),
             *(y_tick(left, top + plot_h - t * scale, t, plot_w) for t in ticks),
             f'<text class="axis-title" transform="translate(14 {top + plot_h / 2}) rotate(-90)" '
             'text-anchor="middle">Records</text>',
             f'<text class="axis-title" x="{left + plot_w / 2}" y="{top + plot_h + 66}" text-anchor="middle">'
             f"{escape(axis)}</text>"]
    every = max(len(bars) // 12, 1)  # at most a dozen or so labels
    for i, (label, stack) in enumerate(bars):
        x, base = left + i * slot, top + plot_h
        mid = x + slot / 2
        for kind, value in stack:
            parts.append(bar_segment(x + slot * 0.2, base - value * scale, slot * 0.6, value * scale,
                                  _fill(key, kind), f"{label}: {value} {kind}", value))
            base -= value * scale
        if i % every == 0:
            parts.append(f'<text x="{mid:.1f}" y="{top + plot_h + 16}" text-anchor="end" '
                         f'transform="rotate(-35 {mid:.1f} {top + plot_h + 16})">{escape(label)}</text>')
    if not bars:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">No records</text>')
    return svg(key, top + plot_h + 76, title, parts)


def _fill(key: str, kind: str) -> str:
    return FILLS.get(kind, ON_TIME).format(key=key)


def _legend(key: str, kinds: Sequence[str]) -> str:
    return '<g class="legend">' + "".join(
        f'<rect x="{WIDTH - 110 * (len(kinds) - i)}" y="8" width="14" height="14" fill="{_fill(key, kind)}"/>'
        f'<text x="{WIDTH - 110 * (len(kinds) - i) + 20}" y="20">{escape(kind)}</text>'
        for i, kind in enumerate(kinds)) + "</g>"


def _holdings(report: RetentionReport) -> str:
    rows = [[escape(item), number(year), number(f"{t.records:,}"), number(f"{t.bytes:,}")]
            for (item, year), t in sorted(report.holdings.items())]
    note = (f'<p class="note">{report.disposed:,} records already destroyed are not counted.</p>'
            if report.disposed else "")
    return section("holdings", "Holdings by schedule item and year", note + table(
        "Records and bytes per schedule item and year sent (UTC)", ["Schedule item", "Year", "Records", "Bytes"],
        rows, "No records."))


def _forecast(report: RetentionReport) -> str:
    eligible = ", ".join(f"{n:,} to {a}" for a, n in sorted(report.eligible.items())) or "none"
    note = (f'<p class="note" id="eligible">Eligible on or before {report.as_of.isoformat()}: {escape(eligible)} '
            f"({report.eligible_held:,} under hold).</p>")
    kinds = sorted({a for c in report.forecast.values() for a in c})
    rows = [[escape(m), *(number(f"{report.forecast[m][a]:,}") for a in kinds)] for m in report.months
            if report.forecast.get(m)]
    return section("forecast", "Disposition and transfer forecast", note + table(
        "Records whose disposition date falls in each month", ["Month", *kinds], rows,
        "Nothing comes due in the next 24 months."))


def _holds(report: RetentionReport) -> str:
    rows = [[escape(h.hold.name), escape(who), escape(item), number(f"{n:,}")]
            for h in report.holds for (who, item), n in sorted(h.covered.items())]
    return section("holds", "What each active hold covers", table(
        "Records covered per hold, custodian and schedule item", ["Hold", "Custodian", "Schedule item", "Records"],
        rows, "No active hold covers a record."))


def _awaiting(report: RetentionReport) -> str:
    rows = [[escape(item), escape(event), escape(who), number(f"{n:,}")]
            for (item, event, who), n in sorted(report.awaiting.items())]
    return section("awaiting", "Records awaiting an event", table(
        "Records whose cutoff waits on an event not yet recorded", ["Schedule item", "Event", "Custodian", "Records"],
        rows, "No record awaits an event."))


def _unscheduled(report: RetentionReport) -> str:
    rows = [[escape(who), number(f"{n:,}")] for who, n in sorted(report.unscheduled.items())]
    return section("unscheduled", "Unscheduled records", table(
        "Records kept as permanent until scheduled, per custodian", ["Custodian", "Records"], rows,
        "No unscheduled records."))


def _reviews(report: RetentionReport) -> str:
    rows = [[escape(who), number(report.review_due[who]), number(report.review_soon[who])]
            for who in sorted(report.review_due.keys() | report.review_soon.keys())]
    return section("reviews", "Review items due", table(
        "Review items whose review period ends", ["Custodian", f"By {report.as_of.isoformat()}",
                                                  "In the next 30 days"], rows, "No review item is due."))

