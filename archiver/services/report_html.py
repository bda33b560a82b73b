"""The 44 U.S.C. 2911 forwarding report as one self-contained, printable HTML page.

Inline CSS and SVG only: the page renders without a network. Every string from the
catalog is escaped. Charts use colour, a hatch pattern and text, never colour alone.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import count

from archiver.core.forwarding import Status
from archiver.model import utc_iso
from archiver.services.reports import AccountSync, CustodianTotals, ForwardingReport, on_time_rate

TITLE = "44 U.S.C. 2911 forwarding report"
WIDTH = 560
STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1a1a1a;
 margin:24px auto;max-width:1180px;padding:0 16px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #ddd}
.meta,.note{color:#555}.totals{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.total{flex:1 1 150px;border:1px solid #ccc;border-left:6px solid #888;border-radius:4px;padding:8px 14px}
.total .value{display:block;font-size:28px;font-weight:700}.total .label{font-size:13px;color:#444}
.t-copied,.t-forwarded{border-left-color:#2166ac}.t-late{border-left-color:#d6604d}.t-rate{border-left-color:#444}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts h2{flex-basis:100%}
figure{margin:0;flex:1 1 540px}svg{width:100%;height:auto;max-width:680px}
figcaption{font-weight:600;margin-bottom:4px}svg text{font:12px system-ui,Arial,sans-serif;fill:#222}
svg .axis-title{font-weight:600}
svg .in-bar{fill:#111;font-weight:700;stroke:#fff;stroke-width:3px;paint-order:stroke}
table{border-collapse:collapse;width:100%;margin:4px 0 12px;font-size:14px}
.scroll{overflow-x:auto}caption{text-align:left;color:#555;padding:4px 0}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f0f0f0}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}code{font-size:13px;word-break:break-all}
.flag{font-weight:700;padding:1px 6px;border-radius:3px}.flag-risk{background:#fde0d6;color:#8a1c0c}
.flag-ok{background:#dcebf7;color:#123f6b}.empty{font-style:italic;color:#555}
@media print{body{margin:0;max-width:none;font-size:10pt}table{font-size:8.5pt}.scroll{overflow:visible}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 figure,tr,.total{break-inside:avoid}h2{break-after:avoid}}
"""
ON_TIME, LATE = "#2166ac", "#d6604d"
escape = html.escape


def render_html(report: ForwardingReport) -> str:
    """The whole page: totals, charts, custodians, accounts at risk, late records, deletions."""
    when = _when(report.generated_at)
    body = [f"<header><h1>{TITLE}</h1><p class=\"meta\">Generated {when}</p></header>", _totals(report)]
    if not report.records:
        body.append('<p class="empty" id="no-records">No records yet.</p>')
    body += [_charts(report), _custodian_table(report.custodians), _at_risk(report.at_risk),
             _late_table(report), _candidates(report)]
    title = f"{TITLE}, generated {escape(utc_iso(report.generated_at))}"
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _totals(report: ForwardingReport) -> str:
    totals = report.totals
    cards = [("copied", "Copied to official account at creation", totals[Status.COPIED]),
             ("forwarded", "Forwarded within 20 days", totals[Status.FORWARDED]),
             ("late", "Late (forwarded after 20 days)", totals[Status.LATE]),
             ("not-applicable", "Official account (2911 not applicable)", totals[Status.NOT_APPLICABLE]),
             ("rate", "On-time rate", _rate(on_time_rate(totals)))]
    return '<section class="totals" aria-label="Totals">' + "".join(
        f'<div class="total t-{key}"><span class="value" id="total-{key}">{escape(str(value))}</span>'
        f'<span class="label">{label}</span></div>' for key, label, value in cards) + "</section>"


def _charts(report: ForwardingReport) -> str:
    months = [(m, _on_time(c), c[Status.LATE]) for m, c in sorted(report.months.items())]
    people = [(c.custodian, _on_time(c.counts), c.counts[Status.LATE]) for c in report.custodians]
    return ('<section class="charts"><h2>Charts</h2>'
            f"<figure><figcaption>Records by month of creation</figcaption>{_month_chart(months)}</figure>"
            f"<figure><figcaption>Records by custodian</figcaption>{_custodian_chart(people)}</figure></section>")


def svg(key: str, height: int, title: str, parts: Iterable[str]) -> str:
    pattern = (f'<defs><pattern id="hatch-{key}" width="6" height="6" patternUnits="userSpaceOnUse" '
               f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{LATE}"/>'
               '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>')
    return (f'<svg id="chart-{key}" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="chart-{key}-title" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="chart-{key}-title">{escape(title)}</title>{pattern}'
            + "".join(parts) + "</svg>")


def _legend(key: str, y: int) -> str:
    return (f'<g class="legend"><rect x="{WIDTH - 300}" y="{y}" width="14" height="14" fill="{ON_TIME}"/>'
            f'<text x="{WIDTH - 280}" y="{y + 12}">On time (copied or forwarded)</text>'
            f'<rect x="{WIDTH - 80}" y="{y}" width="14" height="14" fill="url(#hatch-{key})"/>'
            f'<text x="{WIDTH - 60}" y="{y + 12}">Late</text></g>')


def _month_chart(months: Sequence[tuple[str, int, int]]) -> str:
    ticks = gridlines(max((ok + late for _, ok, late in months), default=0))
    # Room for the widest tick value (digits are about 7 px wide) beside the rotated axis title.
    left, top, plot_h = 36 + 7 * len(str(ticks[-1])), 40, 200
    plot_w = WIDTH - left - 16
    scale = plot_h / ticks[-1]
    parts = [_legend("months", 8), *(y_tick(left, top + plot_h - t * scale, t, plot_w) for t in ticks),
             f'<text class="axis-title" transform="translate(14 {top + plot_h / 2}) rotate(-90)" '
             'text-anchor="middle">Records</text>',
             f'<text class="axis-title" x="{left + plot_w / 2}" y="{top + plot_h + 66}" text-anchor="middle">'
             "Month of creation (UTC)</text>"]
    slot = plot_w / max(len(months), 1)
    every = math.ceil(len(months) / 12) or 1  # at most a dozen month labels
    parts += [_month_bar(left + i * slot, slot, top + plot_h, scale, m, i % every == 0) for i, m in enumerate(months)]
    if not months:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">No records yet</text>')
    return svg("months", top + plot_h + 76, "On-time and late records per month of creation", parts)


def y_tick(left: int, y: float, value: int, plot_w: int) -> str:
    return (f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')


def _month_bar(x: float, slot: float, base: float, scale: float, month: tuple[str, int, int], labelled: bool) -> str:
    name, ok, late = month
    width, mid = slot * 0.6, x + slot / 2
    label = (f'<text x="{mid:.1f}" y="{base + 16}" text-anchor="end" transform="rotate(-35 {mid:.1f} {base + 16})">'
             f"{escape(name)}</text>") if labelled else ""
    total = (f'<text x="{mid:.1f}" y="{base - (ok + late) * scale - 4:.1f}" text-anchor="middle">{ok + late}</text>'
             if slot >= 24 else "")
    return (bar_segment(x + slot * 0.2, base - ok * scale, width, ok * scale, ON_TIME, f"{name}: {ok} on time", ok)
            + bar_segment(x + slot * 0.2, base - (ok + late) * scale, width, late * scale, "url(#hatch-months)",
                       f"{name}: {late} late", late) + total + label)


def bar_segment(x: float, y: float, w: float, h: float, fill: str, title: str, value: int) -> str:
    if not value:
        return ""
    text = (f'<text class="in-bar" x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle">{value}</text>'
            if h >= 16 and w >= 18 else "")
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}">'
            f"<title>{escape(title)}</title></rect>{text}")


def _custodian_chart(people: Sequence[tuple[str, int, int]]) -> str:
    # Each name and its counts sit on a line above the bar, the name from the left edge and the counts
    # against the right one, so neither a long name nor a large count runs out of the chart.
    left, top, row, bar_w = 8, 36, 44, WIDTH - 16
    peak = max((ok + late for _, ok, late in people), default=0) or 1
    parts = [_legend("custodians", 8)]
    for i, (name, ok, late) in enumerate(people):
        y, short = top + i * row, name if len(name) <= 20 else name[:19] + "\u2026"
        parts.append(f'<text x="{left}" y="{y + 12}"><title>{escape(name)}</title>{escape(short)}</text>'
                     f'<text x="{left + bar_w}" y="{y + 12}" text-anchor="end">{ok} on time, {late} late</text>'
                     + bar_segment(left, y + 17, ok / peak * bar_w, 20, ON_TIME, f"{name}: {ok} on time", ok)
                     + bar_segment(left + ok / peak * bar_w, y + 17, late / peak * bar_w, 20, "url(#hatch-custodians)",
                                f"{name}: {late} late", late))
    if not people:
        parts.append(f'<text x="{WIDTH / 2}" y="{top + 20}" text-anchor="middle">No records yet</text>')
    return svg("custodians", top + max(len(people), 1) * row + 4, "On-time and late records per custodian", parts)


def _custodian_table(custodians: Sequence[CustodianTotals]) -> str:
    rows = [[escape(c.custodian), number(_direction(c, "sent")), number(_direction(c, "received")),
             number(c.counts[Status.COPIED]), number(c.counts[Status.FORWARDED]), number(c.counts[Status.LATE]),
             number(c.counts[Status.NOT_APPLICABLE]), number(_rate(on_time_rate(c.counts))),
             _sync(c), _flag(c)] for c in custodians]
    heads = ["Custodian", "Sent", "Received", "Copied", "Forwarded", "Late", "Official", "On-time rate", "Last sync",
             "Sync status"]
    return section("custodians", "Custodians", table("Records per custodian; sent and received cells show late "
                                                       "records in brackets", heads, rows, "No custodians yet."))


def _direction(c: CustodianTotals, direction: str) -> str:
    counts = c.by_direction.get(direction, Counter())
    late = counts[Status.LATE]
    return f"{sum(counts.values())}" + (f" ({late} late)" if late else "")


def _at_risk(accounts: Sequence[AccountSync]) -> str:
    rows = [[escape(a.custodian), escape(a.app), _when(a.last_sync) if a.last_sync else "never synced"]
            for a in accounts]
    note = ('<p class="note">Personal accounts not synced for more than 20 days: records on these phones may '
            "already be past their 2911 deadline.</p>")
    return section("at-risk", "Personal accounts at risk", note + table(
        "Accounts whose last sync is older than 20 days", ["Custodian", "App", "Last sync"], rows,
        "No account is at risk."))


def _late_table(report: ForwardingReport) -> str:
    rows = [[f"<code>{escape(r.id)}</code>", escape(r.custodian), escape(r.direction), _when_iso(r.sent_at),
             _when_iso(r.deadline) if r.deadline else "-", number(r.days_late), _kept(report.disposed_at(r))]
            for r in report.late]
    heads = ["Record", "Custodian", "Direction", "Created", "Deadline", "Days late", "In the archive"]
    more = report.late_count - len(rows)
    note = (f'<p class="note" id="late-more">The first {len(rows)} are listed here; {more} more: '
            "<code>archiver report forwarding --json</code> or <code>--csv</code> lists every one.</p>"
            if more > 0 else "")
    return section("late", "Late records", table(f"{report.late_count} record(s) forwarded after the 20-day "
                                                   "deadline", heads, rows, "No late records.") + note)


def _candidates(report: ForwardingReport) -> str:
    rows = [[f"<code>{escape(r.id)}</code>", escape(r.custodian), escape(r.source), _when_iso(r.sent_at),
             f"<code>{escape(r.export_sha256[:16])}</code>", number("" if r.source_line is None else r.source_line)]
            for r in report.unlawful_disposition_candidates]
    note = ('<p class="note">Messages deleted in threads that hold records: possible unlawful disposition '
            "(36 CFR 1230). Review each and report to the agency records officer.</p>")
    heads = ["Message", "Custodian", "Source", "Sent", "Export (SHA-256 prefix)", "Line"]
    return section("candidates", "Unlawful disposition candidates", note + table(
        f"{len(rows)} deleted message(s) in threads that hold records", heads, rows, "No candidates."))


def _kept(disposed_at: datetime | None) -> str:
    return f"disposed of {_when(disposed_at)}" if disposed_at else "held"


def section(key: str, heading: str, content: str) -> str:
    return f'<section id="{key}"><h2>{heading}</h2>{content}</section>'


def table(caption: str, heads: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{empty}</p>'
    head = "".join(f'<th scope="col">{h}</th>' for h in heads)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<div class="scroll"><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def number(value: object) -> str:
    return f'<td class="num">{escape(str(value))}</td>'


def _sync(c: CustodianTotals) -> str:
    return _when(c.last_sync) if c.last_sync else "never" if c.accounts else "no account known"


def _flag(c: CustodianTotals) -> str:
    if c.at_risk:
        return '<span class="flag flag-risk">AT RISK</span>'
    return '<span class="flag flag-ok">OK</span>' if c.accounts else "-"


def _when(moment: datetime) -> str:
    return _when_iso(utc_iso(moment))


def _when_iso(iso: str) -> str:
    """A UTC ISO 8601 timestamp (as the catalog keeps it) as a ``<time>`` to the minute."""
    return f'<time datetime="{escape(iso)}">{escape(iso[:16].replace("T", " "))} UTC</time>'


def _rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _on_time(counts: Counter[str]) -> int:
    return counts[Status.COPIED] + counts[Status.FORWARDED]


def gridlines(peak: int) -> list[int]:
    """Gridline values from 0 to a round number at or above ``peak``: at most six, steps of 1, 2 or 5 x 10^k."""
    step = next(s for s in (m * 10**k for k in count() for m in (1, 2, 5)) if peak / s <= 5)
    return list(range(0, max(math.ceil(peak / step), 1) * step + 1, step))
