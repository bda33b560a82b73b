"""The text layer of a WhatsApp export: its lines, its header lines and their dates.

A header is the timestamp (and author) that opens each message, in one of many
phone-locale styles (see ``HEADER_RE``). Whether ``03/04/23`` is March or April cannot be
told from one line, so the order is decided for the whole file by ``DateOrderVote`` in a
first pass, and ``local_time`` applies it in the second. ``split_header`` tells the author
from the first body line; the lines themselves come from ``connectors._text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from archiver.errors import InputError

# Direction marks (LRM, RLM, stray BOMs) that WhatsApp sprinkles into dates. Runs of them
# and of spaces are matched possessively (*+): backtracking into them made a line of
# marks cost quadratic time.
_MARKS = "[\ufeff\u200e\u200f]*+"
_DATE = (
    rf"(?P<d1>\d{{1,4}}){_MARKS}[./-]{_MARKS}(?P<d2>\d{{1,2}}){_MARKS}[./-]{_MARKS}"
    r"(?P<era>[RH])?(?P<d3>\d{1,4})(?P<be>\s?BE)?"
)
# AM/PM in its locale spellings: AM, am, a.m., "a. m.", Arabic sad/mim; LangChain's "3:22_AM".
_AMPM = r"(?:[\s_]*+(?P<ap>[aApP]\.?\s?[mM]\.?|[\u0635\u0645]))?"
_TIME = rf"(?P<h>\d{{1,2}})[:.](?P<mi>\d{{2}})(?:[:.](?P<s>\d{{2}}))?{_AMPM}"
# Vietnamese iOS puts the time first: "[14:56:01, 3/18/22]".
_TIME_FIRST = r"(?:(?P<tf>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:[\s_]*+[aApP]\.?\s?[mM]\.?)?),\s*+)?"

HEADER_RE: Final = re.compile(
    rf"{_MARKS}(?P<open>\[)?{_MARKS}{_TIME_FIRST}{_DATE}"
    rf"(?(tf)|(?:[,\u060c]\s*+|\s++){_TIME}){_MARKS}"
    r"(?(open)\]\s?|\s[-\u2013]\s)(?P<rest>.*)"
)
_TIME_RE: Final = re.compile(_TIME)
# signal-export's Markdown ("[2019-12-24, 12:23] Name: text") fits the pattern too; no
# WhatsApp locale writes that shape, so sniffing leaves it to the Signal connector.

_AM_MARKS: Final = frozenset("aA\u0635")
_ERA_BASE: Final = {"R": 2018, "H": 1988}  # Japanese Reiwa and Heisei eras
_BUDDHIST_OFFSET: Final = 543


@dataclass(frozen=True)
class DateOrder:
    """Whether the day comes before the month, for year-last and for year-first dates."""

    day_first: bool
    year_first_day_first: bool = False


@dataclass
class _Vote:
    """Evidence for one date family (year-last or year-first): is the day the first field?"""

    day_first: int | None = None  # line that proved the day comes first
    month_first: int | None = None  # line that proved the month comes first
    backwards: list[int] = field(default_factory=lambda: [0, 0])  # jumps if [month-, day-]first
    previous: list[tuple[int, int, int]] = field(default_factory=lambda: [(0, 0, 0), (0, 0, 0)])

    def add(self, line: int, year: int, first: int, second: int) -> None:
        if not (0 < first <= 31 and 0 < second <= 31) or (first > 12 and second > 12):
            return  # impossible under either order: the line is rejected in the second pass
        if first > 12 and self.day_first is None:
            self.day_first = line
        elif second > 12 and self.month_first is None:
            self.month_first = line
        for index, key in enumerate(((year, first, second), (year, second, first))):
            self.backwards[index] += key < self.previous[index]
            self.previous[index] = key

    def decide(self, tie_day_first: bool) -> bool:
        if self.day_first is not None or self.month_first is not None:
            return self.day_first is not None
        if self.backwards[0] != self.backwards[1]:
            return self.backwards[1] < self.backwards[0]
        return tie_day_first


class DateOrderVote:
    """First pass: collects day/month evidence from every header line of a file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.headers = 0
        self._year_last = _Vote()
        self._year_first = _Vote()
        self._uses_ampm = False
        self._last_date = ""

    def add(self, line: int, match: re.Match[str]) -> None:
        """Count one header line; raise if it contradicts the order seen so far."""
        self.headers += 1
        self._uses_ampm = self._uses_ampm or match["ap"] is not None
        date_text = match.group("d1", "d2", "d3")
        key = "/".join(date_text)
        if key == self._last_date:
            return  # most lines repeat the previous date: nothing new to learn
        self._last_date = key
        d1, d2, d3 = date_text
        if len(d1) == 4:
            self._year_first.add(line, int(d1), int(d2), int(d3))
        else:
            self._year_last.add(line, int(d3), int(d1), int(d2))
        self._check_conflict(line, match)

    def decide(self) -> DateOrder:
        """The order to read every date of the file in."""
        return DateOrder(
            day_first=self._year_last.decide(tie_day_first=not self._uses_ampm),
            year_first_day_first=self._year_first.decide(tie_day_first=False),
        )

    def _check_conflict(self, line: int, match: re.Match[str]) -> None:
        for vote in (self._year_last, self._year_first):
            if vote.day_first is not None and vote.month_first is not None:
                other = min(vote.day_first, vote.month_first)
                raise InputError(
                    self.file,
                    f"dates mix day-first and month-first order: line {line} "
                    f"('{stamp_text(match)}') contradicts line {other}",
                    line=line,
                )


def stamp_text(match: re.Match[str]) -> str:
    """The timestamp part of a header, for error messages (never the message text)."""
    return match.string[: match.start("rest")].strip(" []-\u2013\ufeff\u200e\u200f")


def local_time(match: re.Match[str], order: DateOrder, tz: ZoneInfo) -> datetime | None:
    """The header's wall-clock time read in ``tz``; None when the date or time is impossible.

    A time in a daylight-saving gap keeps fold=0 (the offset before the change), which is
    still one definite instant.
    """
    time_match = _TIME_RE.match(match["tf"]) if match["tf"] is not None else match
    if time_match is None:
        return None
    ymd = _year_month_day(match, order)
    hms = _hour_minute_second(time_match)
    if ymd is None or hms is None:
        return None
    try:
        return datetime(*ymd, *hms, tzinfo=tz)
    except ValueError:
        return None


def _year_month_day(match: re.Match[str], order: DateOrder) -> tuple[int, int, int] | None:
    d1, d2, d3 = match.group("d1", "d2", "d3")
    year: int | None
    if len(d1) == 4:
        year, first, second, day_first = int(d1), int(d2), int(d3), order.year_first_day_first
    else:
        year, first, second, day_first = _year(d3, match["era"], match["be"]), int(d1), int(d2), order.day_first
    if year is None:
        return None
    return (year, second, first) if day_first else (year, first, second)


def _year(text: str, era: str | None, buddhist: str | None) -> int | None:
    if era is not None:
        return _ERA_BASE[era] + int(text)
    if len(text) == 2:
        return 2000 + int(text)
    if len(text) != 4:
        return None
    return int(text) - _BUDDHIST_OFFSET if buddhist else int(text)


def _hour_minute_second(match: re.Match[str]) -> tuple[int, int, int] | None:
    hour = int(match["h"])
    marker = match["ap"]
    if marker is not None:
        morning = marker[0] in _AM_MARKS
        if hour > 12 and morning:
            return None
        if hour <= 12:  # "23:59 PM" (seen in real exports) already is a 24-hour time
            hour = hour % 12 if morning else hour % 12 + 12
    seconds = match["s"]
    return hour, int(match["mi"]), int(seconds) if seconds is not None else 0


NOTICE_MAX: Final = 2048  # app notices are short; longer text is not matched (bounds regex cost)
_BODY_MARKS = "\u200e\u200f"
_AUTHOR_JUNK = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_GROUP_EVENT_RE: Final = re.compile(r" (?:changed the subject|changed the group name|created (?:this )?group)\b")
_DELETED = r"(?:This message was deleted|You deleted this message|Se eliminó este mensaje|Eliminaste este mensaje)\.?$"
DELETED_RE: Final = re.compile(_DELETED)
_NOTICE_RE: Final = re.compile(  # English and Spanish: border work is bilingual
    r"Messages and calls are end-to-end encrypted"
    r"|Messages (?:you send )?to this (?:group|chat)(?: and calls)? are now secured"
    r"|Los mensajes y las llamadas están cifrados de extremo a extremo"
    r"|Waiting for this message|Esperando este mensaje"
    r"|Missed (?:group )?(?:voice|video) call|Llamada de voz perdida|Videollamada perdida"
    rf"|{_DELETED}"
)
_SECURITY_RE: Final = re.compile(r"(?:Your |.+'s )?[Ss]ecurity code (?:with .+ )?changed")
MEMBERSHIP_RE: Final = re.compile(
    r"(?P<actor>.+?) (?:(?P<verb>added|removed) (?P<who>.+?)|(?P<left>left)"
    r"|joined using this group's invite link|created (?:this )?group\b.*"
    r"|changed (?:the subject|the group name|the group description|this group's)\b.*)\.?$"
)


def split_header(rest: str) -> tuple[str, str, bool]:
    """Sender, first body line and whether it is an app notice, from a header's remainder."""
    cut = rest.find(": ")
    if cut < 0 and rest.endswith(":"):  # "Name:" with an empty first line
        cut = len(rest) - 1
    author = clean_name(rest[:cut]) if cut > 0 else ""
    if not author or _GROUP_EVENT_RE.search(author):  # no "Name: ": an app notice such as "Alice added Bob"
        return "", rest.lstrip(_BODY_MARKS), True
    body = rest[cut + 2 :]
    marked = body.startswith(("\u200e", "\u200f"))
    body = body.lstrip(_BODY_MARKS)
    return author, body, _is_notice(body, marked)


def clean_name(author: str) -> str:
    """The author without bidi controls and the "~ " iOS puts before non-contacts."""
    author = author.strip(_AUTHOR_JUNK)
    if author.startswith("~"):
        author = author[1:].lstrip(" \u00a0\u202f")
    return author


def _is_notice(body: str, marked: bool) -> bool:
    """True for app notices that carry an author (iOS puts the chat's name there)."""
    if len(body) > NOTICE_MAX:
        return False
    if _NOTICE_RE.match(body):
        return True
    if "ecurity code" in body and _SECURITY_RE.match(body):
        return True
    return marked and MEMBERSHIP_RE.match(body) is not None
