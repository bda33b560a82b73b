"""Readable transcripts for a case package: one chat-style HTML page per conversation, and an index.

Message text is hostile input (anyone can send anything): every value goes through Jinja2 with
autoescape on, and the pages carry no script. Times show in the custodian's zone and in UTC.
Pages are written message by message, so a conversation of any length costs flat memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from jinja2 import DictLoader, Environment, select_autoescape

from archiver.model import parse_instant, utc_iso

STYLE = """body{font-family:system-ui,sans-serif;max-width:50rem;margin:1rem auto;color:#111}
.m{margin:.4rem 0;padding:.4rem .6rem;border-radius:.5rem;background:#eef;max-width:80%;break-inside:avoid}
.sent{margin-left:auto;background:#dfd}.sys{background:#eee;font-style:italic;margin:auto}
.h{font-size:.8rem;color:#444}.b{white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .4rem;text-align:left}
@media print{.m{max-width:100%}}"""

TEMPLATES = {
    "head.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">
<title>{{ title }}</title><style>{{ style }}</style></head><body>
<h1>{{ title }}</h1>
<p>Case {{ case }}. {{ source }}; custodian {{ custodian }}; times in {{ zone }} and UTC.
<a href="index.html">All conversations</a></p>
""",
    "message.html": """<div class="m {{ kind }}" id="{{ id }}"><div class="h">{{ sender }} &rarr; {{ recipients }}
&middot; {{ local }} &middot; {{ utc }} &middot; record {{ id }}</div><div class="b">{{ body }}</div>
{% for a in attachments %}<div class="a">Attachment: {% if a.href %}<a href="{{ a.href }}">{{ a.name }}</a>
{% else %}{{ a.name }} (not in the export){% endif %} ({{ a.media_type }}, {{ a.size }} bytes)</div>{% endfor %}
</div>
""",
    "foot.html": """<p class="h">{{ count }} message(s).</p></body></html>
""",
    "index.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Case {{ case }}: conversations</title><style>{{ style }}</style></head><body>
<h1>Case {{ case }}: conversations</h1>
<table><tr><th>Conversation</th><th>App</th><th>Custodian</th><th>Messages</th><th>First (UTC)</th>
<th>Last (UTC)</th></tr>
{% for c in conversations %}<tr><td><a href="{{ c.page }}">{{ c.title }}</a></td><td>{{ c.source }}</td>
<td>{{ c.custodian }}</td><td>{{ c.count }}</td><td>{{ c.first }}</td><td>{{ c.last }}</td></tr>
{% endfor %}</table></body></html>
""",
}

_ENV = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True),
                   keep_trailing_newline=True)


@dataclass
class Conversation:
    """One transcript page being written."""

    page: str
    title: str
    source: str
    custodian: str
    zone: ZoneInfo | None
    stream: TextIO
    count: int = 0
    first: str = ""
    last: str = ""


@dataclass
class TranscriptWriter:
    """Writes the transcript pages of one case package under ``folder``."""

    folder: Path
    case: str
    zones: dict[str, ZoneInfo | None]
    pages: list[Conversation] = field(default_factory=list)
    _open: Conversation | None = None

    def add(self, conversation_ref: str, record: dict[str, Any], attachment_hrefs: list[str | None]) -> None:
        """Append one record to its conversation's page (records arrive grouped by conversation)."""
        message = record["message"]
        if self._open is None or self._open.page != _page_name(conversation_ref):
            self._start(conversation_ref, message)
        page = self._open
        assert page is not None
        sent = parse_instant(message["sent_at"])
        page.first, page.last, page.count = page.first or utc_iso(sent), utc_iso(sent), page.count + 1
        attachments = [{"name": a.get("name") or a.get("sha256") or "attachment", "media_type": a.get("media_type"),
                        "size": a.get("size"), "href": href}
                       for a, href in zip(message["attachments"], attachment_hrefs, strict=False)]
        kind = "sys" if message.get("system") else message.get("direction", "")
        page.stream.write(_ENV.get_template("message.html").render(
            id=record["id"], sender=message["sender"], recipients=", ".join(message["recipients"]) or "-",
            local=_local(sent, page.zone), utc=utc_iso(sent), body=message["body"], attachments=attachments,
            kind=kind))

    def close(self) -> None:
        """Finish the open page and write the index."""
        self._finish()
        conversations = [{"page": c.page, "title": c.title, "source": c.source, "custodian": c.custodian,
                          "count": c.count, "first": c.first, "last": c.last} for c in self.pages]
        (self.folder / "index.html").write_text(_ENV.get_template("index.html").render(
            case=self.case, style=STYLE, conversations=conversations), encoding="utf-8")

    def _start(self, conversation_ref: str, message: dict[str, Any]) -> None:
        self._finish()
        custodian = message.get("custodian") or "-"
        zone = self.zones.get(custodian)
        page = Conversation(_page_name(conversation_ref), message["conversation"], message["source"], custodian,
                            zone, (self.folder / _page_name(conversation_ref)).open("w", encoding="utf-8"))
        page.stream.write(_ENV.get_template("head.html").render(
            title=page.title, case=self.case, source=page.source, custodian=custodian,
            zone=str(zone) if zone else "the export's own offsets", style=STYLE))
        self.pages.append(page)
        self._open = page

    def _finish(self) -> None:
        if self._open is not None:
            self._open.stream.write(_ENV.get_template("foot.html").render(count=self._open.count))
            self._open.stream.close()
            self._open = None


def _page_name(conversation_ref: str) -> str:
    """A page named by the conversation's keyed hash: titles are hostile and name people."""
    return f"conversation-{conversation_ref[:24]}.html"


def _local(sent: datetime, zone: ZoneInfo | None) -> str:
    """The instant in the custodian's zone (the export's own offset when none is configured)."""
    return (sent.astimezone(zone) if zone else sent).isoformat()
