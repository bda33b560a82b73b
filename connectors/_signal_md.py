"""The Markdown layer of a signal-export chat (``chat.md``, formerly ``index.md``).

signal-export writes one block per message: a header line ``[2024-01-31 14:05:09] Name: text``
(older versions: ``[2019-12-24, 12:23]`` or ``[2019-12-24 12:23]``), continuation lines for
multi-line text, and, since it prints each block with an extra newline, an empty line after
it. It appends two spaces (a Markdown line break) to every message text, renders a reply's
quoted text as ``>`` lines before the text, reactions as a ``(- Name: emoji -)`` line,
stickers it could not copy as ``(( emoji ))`` and files as ``![name](./media/file)`` links.
This module groups lines into blocks and reads those pieces; ``connectors.signal`` turns
blocks into messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from connectors._text import Block, RawLine

SNIFF_BLOCKS: Final = 20
EXPORTER_BREAK: Final = "  "  # what signal-export appends to every message text

# signal-export's own reader uses the same shape (sigexport/merge.py): the sender runs to the
# first colon, which its file-name-safe contact names never contain.
HEADER_RE: Final = re.compile(
    r"\[(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})(?P<comma>,?) (?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\] "
    r"(?P<sender>[^:]*): ?(?P<first>.*)"
)
# The target of a link to a file the exporter copied into the chat folder, or to a sticker in
# the export's sticker folder. File names keep parentheses ("photo_(1).jpg"), so one level of
# them is allowed. The link's text is found by looking back from "](" a bounded distance, and
# the quantifiers are possessive: both keep a hostile line of "[" or "](" from costing
# quadratic time.
_PATH = r"(?:[^()\[\]\n]++|\([^()\[\]\n]*+\))++"
LINK_TARGET_RE: Final = re.compile(rf"\]\((?P<path>(?:\./)?media[/\\]{_PATH}|\.\./exported_stickers/{_PATH})\)")
LINK_TEXT_MAX: Final = 1024
STICKER_RE: Final = re.compile(r"\n\(\( ([^\n]{1,256}?) \)\)")  # a sticker whose file was not exported
CALL_RE: Final = re.compile(r"(?:Incoming|Outgoing|Missed) (?:voice |video )?call(?: \([^\n]{0,80}\))?")
DELETED_TEXT: Final = "(This message was deleted)"


def blocks(lines: Iterator[RawLine]) -> Iterator[Block]:
    """Group decoded lines under their header lines; lines before the first header form one block."""
    current: Block | None = None
    for number, text, problem, size in lines:
        header = HEADER_RE.match(text)
        if header is not None:
            if current is not None:
                yield current
            current = Block(number, header, size)
            if problem is not None:
                current.fail(number, problem)
        elif current is not None:
            current.add(number, text, problem, size)
        elif text.strip() or problem is not None:
            current = Block(number, None, size)
    if current is not None:
        yield current


def body_of(block: Block) -> str:
    """The message text as exported, without the separating empty lines and the exporter's line break."""
    assert block.header is not None
    lines = [block.header["first"], *block.extra]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines).removesuffix(EXPORTER_BREAK)


def media_links(body: str) -> list[tuple[str | None, str]]:
    """(link text, path) of each file link in a message, as signal-export writes ``![name](./media/x)``."""
    found = []
    for match in LINK_TARGET_RE.finditer(body):
        end = match.start()
        start = body.rfind("[", max(0, end - LINK_TEXT_MAX), end)
        if start < 0 or "\n" in body[start:end]:
            continue  # "](./media/...)" without its "[text]" is not a link
        found.append((body[start + 1 : end] or None, match["path"]))
    return found


def local_time(header: re.Match[str], tz: ZoneInfo) -> datetime | None:
    """The header's wall-clock time read in ``tz``; None when the date or time is impossible."""
    try:
        return datetime(
            int(header["y"]), int(header["mo"]), int(header["d"]),
            int(header["h"]), int(header["mi"]), int(header["s"] or 0), tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        return None


def stamp_text(header: re.Match[str]) -> str:
    """The timestamp of a header, for error messages (never the message text)."""
    return header.string[1 : header.start("sender") - 2]


def header_within(head: str, lines: int) -> bool:
    """True when one of the first ``lines`` lines of ``head`` is a signal-export message header."""
    return any(HEADER_RE.match(line) for line in _lines(head)[:lines])


def looks_like_markdown(head: str, complete: bool) -> bool:
    """True when ``head`` (the first bytes of a file, decoded) is signal-export Markdown.

    A WhatsApp export can use the same ``[2024-01-31 14:05:09] Name:`` header (some locales
    write year-first dates), so a header alone is not enough: signal-export also ends every
    message with its two-space line break or an empty line, and older versions put a comma
    after the date, which no WhatsApp locale does.
    """
    lines = _lines(head)
    if not complete:
        lines = lines[:-1]  # the cut may have split the last line
    found: list[tuple[re.Match[str], list[str]]] = []
    for line in lines:
        header = HEADER_RE.match(line)
        if header is not None:
            found.append((header, [line]))
            if len(found) > SNIFF_BLOCKS:
                break
        elif found:
            found[-1][1].append(line)
        elif line.strip():
            return False
    if not complete or len(found) > SNIFF_BLOCKS:
        found = found[:-1]  # the last block may continue past what was read
    if not found:
        return False
    if any(header["comma"] for header, _ in found):
        return True
    return all(not block[-1] or block[-1].endswith(EXPORTER_BREAK) for _, block in found)


def _lines(head: str) -> list[str]:
    """The lines of a head as ``connectors._text.iter_lines`` splits them: at LF only, CR dropped."""
    parts = head.lstrip("\ufeff").split("\n")
    if parts[-1] == "":
        parts.pop()  # the newline ends the last line; it does not start another
    return [part.removesuffix("\r") for part in parts]
