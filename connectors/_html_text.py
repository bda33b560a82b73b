"""HTML message bodies (Microsoft Teams) as readable plain text.

A small scanner strips the tags in one linear pass. The standard library's ``html.parser``
would do, but it rescans an unclosed tag on every ``<`` and goes quadratic (minutes for a
3 MB body of ``<a <a <a``), and a body is hostile input. Nothing is ever fetched and there is
no entity expansion beyond HTML's own character references, which ``html.unescape`` decodes.

Block elements (``<p>``, ``<div>``, list items, table rows, headings) start a new line and
``<br>`` ends one, so the paragraph structure survives as lines; an empty paragraph holding
only ``<br>`` stays an empty line. Text is kept as written, except whitespace-only runs that
hold a newline between tags (source formatting, not text). Comments, declarations and the
content of ``<script>``/``<style>`` are dropped (unless the element is never closed: then its
text may be the message itself, and is kept). Emoji written as ``<emoji alt="..">`` or as an
``<img>`` marked as an emoji keep their ``alt`` text; every other ``<img>`` is reported in
``images`` (its ``src``) so the caller can record the picture as an attachment. A tag ends at
its first ``>``: an attribute value holding ``>`` is cut there (Teams never writes one).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Final

_BLOCKS: Final = frozenset(
    {"p", "div", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
)
_SKIPPED: Final = frozenset({"script", "style", "head", "title"})
_TAG_NAME_RE: Final = re.compile(r"(/?)([A-Za-z][A-Za-z0-9:_-]{0,63})")
_ATTR_RE: Final = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


@dataclass(frozen=True)
class HtmlText:
    """The readable text of an HTML body and the ``src`` of each picture it shows."""

    text: str
    images: tuple[str, ...] = ()


@dataclass
class _Lines:
    done: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)

    def end_line(self) -> None:
        self.done.append("".join(self.current))
        self.current.clear()

    def end_block(self) -> None:
        if any(self.current):  # a block boundary never makes an empty line by itself
            self.end_line()


@dataclass
class _Extractor:
    lines: _Lines = field(default_factory=_Lines)
    images: list[str] = field(default_factory=list)
    skipping: int = 0
    hidden: list[str] = field(default_factory=list)  # text inside script/style, kept if never closed

    def text(self, raw: str) -> None:
        if not raw or (not raw.strip() and "\n" in raw):
            return
        (self.hidden if self.skipping else self.lines.current).append(html.unescape(raw))

    def finish(self) -> None:
        if self.skipping:  # a <style> never closed may hold the message itself: never hide text for good
            self.lines.current.extend(self.hidden)
        self.lines.end_block()

    def tag(self, closing: bool, name: str, attributes: str) -> None:
        if self.skipping and name not in _SKIPPED:
            return
        if name in _SKIPPED:
            self.skipping = max(0, self.skipping - 1) if closing else self.skipping + 1
            if not self.skipping:
                self.hidden.clear()
        elif name == "br":
            self.lines.end_line()
        elif name in _BLOCKS:
            self.lines.end_block()
        elif not closing and name in ("img", "emoji"):
            self._picture(name, _attributes(attributes))

    def _picture(self, name: str, attrs: dict[str, str]) -> None:
        if name == "emoji" or "emoji" in attrs.get("itemtype", "").casefold():
            self.lines.current.append(attrs.get("alt", ""))
            return
        self.images.append(attrs.get("src", ""))


def html_to_text(source: str) -> HtmlText:
    """The text a reader sees in ``source``, one line per paragraph or line break."""
    extractor = _Extractor()
    position = 0
    next_close = -1  # the first ">" at or after the current "<", found once and reused
    while (opening := source.find("<", position)) >= 0:
        extractor.text(source[position:opening])
        if source.startswith("<!--", opening):
            end = source.find("-->", opening + 4)
            position = len(source) if end < 0 else end + 3
            continue
        if next_close < opening:
            next_close = source.find(">", opening)
        if next_close < 0:
            break  # no tag can close any more: the rest is text
        position = _consume_tag(source, opening, next_close, extractor)
    extractor.text(source[position:])
    extractor.finish()
    return HtmlText("\n".join(extractor.lines.done), tuple(extractor.images))


def _consume_tag(source: str, opening: int, close: int, extractor: _Extractor) -> int:
    """Handle the tag opening at ``opening``; return where the text goes on."""
    if source.startswith(("<!", "<?"), opening):
        return close + 1  # a declaration or processing instruction: not text
    match = _TAG_NAME_RE.match(source, opening + 1, close)
    if match is None:
        extractor.text("<")  # a lone "<" is text
        return opening + 1
    extractor.tag(match[1] == "/", match[2].lower(), source[match.end() : close])
    return close + 1


def _attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw):
        value = match[2] if match[2] is not None else match[3] if match[3] is not None else match[4] or ""
        found.setdefault(match[1].lower(), html.unescape(value))
    return found
