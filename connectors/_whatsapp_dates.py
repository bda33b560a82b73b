"""The text layer of a WhatsApp export: its lines, its header lines and their dates.

A header is the timestamp (and author) that opens each message, in one of many
phone-locale styles (see ``HEADER_RE``). Whether ``03/04/23`` is March or April cannot be
told from one line, so the order is decided for the whole file by ``DateOrderVote`` in a
first pass, and ``connectors._whatsapp_times`` applies it in the second. ``split_header``
tells the author from the first body line; the lines themselves come from ``connectors._text``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Final

from archiver.errors import InputError
from connectors._whatsapp_locales import LANGUAGES, ZONE_DATE_ORDERS

# Direction marks (LRM, RLM, stray BOMs) that WhatsApp sprinkles into dates. Runs of them
# and of spaces are matched possessively (*+): backtracking into them made a line of
# marks cost quadratic time.
_MARKS = "[\ufeff\u200e\u200f]*+"
_DATE = (
    rf"(?P<d1>\d{{1,4}}){_MARKS}[./-]{_MARKS}(?P<d2>\d{{1,2}}){_MARKS}[./-]{_MARKS}"
    r"(?P<era>[RH])?(?P<d3>\d{1,4})"
)
_BUDDHIST = r"(?P<be>\s?BE)?"
# AM/PM in its locale spellings: AM, am, a.m., "a. m.", Arabic sad/mim; LangChain's "3:22_AM".
_AMPM = r"(?:[\s_]*+(?P<ap>[aApP]\.?\s?[mM]\.?|[\u0635\u0645]))?"
_TIME = rf"(?P<h>\d{{1,2}})[:.](?P<mi>\d{{2}})(?:[:.](?P<s>\d{{2}}))?{_AMPM}"
# Vietnamese iOS puts the time first: "[14:56:01, 3/18/22]".
_TIME_FIRST = r"(?:(?P<tf>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:[\s_]*+[aApP]\.?\s?[mM]\.?)?),\s*+)?"

_TIME_AFTER = rf"(?:[,\u060c]\s*+|\s++){_TIME}"
_CLOSE_BRACKET, _DASH = r"\]\s?", r"\s[-\u2013]\s"

HEADER_RE: Final = re.compile(
    rf"{_MARKS}(?P<open>\[)?{_MARKS}{_TIME_FIRST}{_DATE}{_BUDDHIST}"
    rf"(?(tf)|{_TIME_AFTER}){_MARKS}"
    rf"(?(open){_CLOSE_BRACKET}|{_DASH})(?P<rest>.*)"
)
# HEADER_RE from the end of a date on, for a line without a time put first: its groups are
# HEADER_RE's last ones (see HeaderFields).
_AFTER_DATE: Final = {bracket: re.compile(rf"{_BUDDHIST}{_TIME_AFTER}{_MARKS}{close}(?P<rest>.*)")
                      for bracket, close in ((True, _CLOSE_BRACKET), (False, _DASH))}  # fmt: skip
_TIME_RE: Final = re.compile(_TIME)
# signal-export's Markdown ("[2019-12-24, 12:23] Name: text") fits the pattern too; no
# WhatsApp locale writes that shape, so sniffing leaves it to the Signal connector.

_VOTED_GROUPS: Final = tuple(HEADER_RE.groupindex[name] for name in ("d1", "d2", "d3"))


@dataclass(frozen=True)
class DateOrder:
    """Whether the day comes before the month, for year-last and for year-first dates."""

    day_first: bool
    year_first_day_first: bool = False


# WhatsApp names media after the day it arrived: IMG-20241207-WA0005.jpg on Android,
# 00000012-PHOTO-2024-12-07-10-00-01.jpg on iOS.
_MEDIA_DATE_RE: Final = re.compile(
    r"\b(?:IMG|VID|AUD|PTT|DOC|STK)-(?P<y>20\d\d)(?P<m>\d\d)(?P<d>\d\d)-WA\d"
    r"|\b\d{8}-[A-Z]+-(?P<iy>20\d\d)-(?P<im>\d\d)-(?P<id>\d\d)-\d\d-\d\d-\d\d\b"
)
_MEDIA_SLACK_DAYS: Final = 2  # a file may be named a day or two after its message was sent
_BACKWARD_DAYS: Final = 28  # time never runs backwards by a month; late deliveries do by hours
_MONTH_FIRST, _DAY_FIRST = 0, 1  # index of a reading in the per-reading lists below


def _ordinal(year: int, month: int, day: int) -> int | None:
    try:
        return date(year, month, day).toordinal()
    except ValueError:
        return None


def _readings(year: int, first: int, second: int) -> tuple[int | None, int | None]:
    """The date's day number read month-first and read day-first."""
    return _ordinal(year, first, second), _ordinal(year, second, first)


@dataclass
class _Vote:
    """Evidence for one date family (year-last or year-first): is the day the first field?"""

    day_first: int | None = None  # line that proved the day comes first
    month_first: int | None = None  # line that proved the month comes first
    ambiguous: int | None = None  # first line whose date reads two ways
    media: list[int] = field(default_factory=lambda: [0, 0])  # media names agreeing with each reading
    backwards: list[int] = field(default_factory=lambda: [0, 0])  # month-long backward jumps per reading
    previous: list[int | None] = field(default_factory=lambda: [None, None])

    def add(self, line: int, year: int, first: int, second: int) -> None:
        if not (0 < first <= 31 and 0 < second <= 31) or (first > 12 and second > 12):
            return  # impossible under either order: the line is rejected in the second pass
        if first > 12 and self.day_first is None:
            self.day_first = line
        elif second > 12 and self.month_first is None:
            self.month_first = line
        elif first != second and first <= 12 and second <= 12 and self.ambiguous is None:
            self.ambiguous = line
        for index, day in enumerate(_readings(year, first, second)):
            before = self.previous[index]
            if day is not None and before is not None and before - day >= _BACKWARD_DAYS:
                self.backwards[index] += 1
            self.previous[index] = day if day is not None else before

    def add_media(self, year: int, first: int, second: int, named: int) -> None:
        """Count a media file named for day ``named`` on a line dated ``first``/``second``."""
        if first == second or first > 12 or second > 12:
            return  # the date reads one way only: the file name adds nothing
        for index, day in enumerate(_readings(year, first, second)):
            if day is not None and abs(day - named) <= _MEDIA_SLACK_DAYS:
                self.media[index] += 1

    def decide(self) -> bool | None:
        """Day-first or not, by the strongest evidence; None when the file cannot tell."""
        if self.day_first is not None or self.month_first is not None:
            return self.day_first is not None
        if self.media[_MONTH_FIRST] != self.media[_DAY_FIRST]:
            return self.media[_DAY_FIRST] > self.media[_MONTH_FIRST]
        runs_back = [count > 0 for count in self.backwards]
        if runs_back[_MONTH_FIRST] != runs_back[_DAY_FIRST]:
            return runs_back[_MONTH_FIRST]
        return None


class DateOrderVote:
    """First pass: collects day/month evidence from every header line of a file.

    ``explicit`` is the officer's ``--date-order``: it always wins, and a line it cannot
    read is an error. Without it, a file whose dates all read two ways is decided by media
    file names, then by time running forwards, then by dots between the fields (day.month.year
    in every locale that writes them), then by the locale of ``zone``; failing
    those it is refused rather than guessed.
    """

    def __init__(self, file: str, explicit: str | None = None, zone: str | None = None) -> None:
        self.file = file
        self.headers = 0  # header lines counted (``repeats`` tells which others need not be)
        self._explicit = explicit
        self._zone = zone
        self._year_last = _Vote()
        self._year_first = _Vote()
        self._last_date: tuple[str, ...] = ()
        self._last_fields = (self._year_last, 0, 0, 0)
        self._dotted = False  # a day.month.year date: no phone locale writes month.day.year
        self._opening = _NO_OPENING

    def repeats(self, text: str) -> bool:
        """Whether line ``text`` can add nothing, so need not be matched: it opens with the date
        of the last header counted, written so that every header opening so has that date (see
        ``_date_opening``), and names no media file that could count."""
        return text.startswith(self._opening) and ("-20" not in text or self._last_fields[0].ambiguous is None)

    def add(self, line: int, match: re.Match[str]) -> None:
        """Count one header line; raise if it contradicts the order seen so far."""
        self.headers += 1
        date_text = match.group(*_VOTED_GROUPS)
        if date_text != self._last_date:  # most lines repeat the previous date
            self._last_date = date_text
            self._last_fields = vote, year, first, second = self._fields(date_text)
            vote.add(line, year, first, second)
            self._dotted = self._dotted or match.string[match.end("d1") : match.start("d2")].strip() == "."
            self._opening = _date_opening(match)
            self._check_conflict(line, match)
        if self._last_fields[0].ambiguous is not None:
            rest = match["rest"]
            if "-20" in rest:  # a media name's year
                self._add_media(*self._last_fields, rest)

    def decide(self) -> DateOrder:
        """The order to read every date of the file in."""
        if self._explicit == "ymd":
            year_first = False
        else:
            year_first = bool(self._year_first.decide())  # undecided: ISO order, year-month-day
        return DateOrder(day_first=self._year_last_order(), year_first_day_first=year_first)

    def _year_last_order(self) -> bool:
        if self._explicit in ("dmy", "mdy"):
            return self._explicit == "dmy"
        vote = self._year_last
        decided = vote.decide()
        if decided is None and vote.ambiguous is not None:
            decided = True if self._dotted else zone_day_first(self._zone)
        if decided is None and vote.ambiguous is not None:
            raise InputError(
                self.file,
                f"day/month order cannot be told: every date reads both ways (line {vote.ambiguous} is the "
                "first) and no media file name, order of messages or time zone settles it; "
                "give --date-order dmy or --date-order mdy",
            )
        return bool(decided)

    def _fields(self, date_text: tuple[str, ...]) -> tuple[_Vote, int, int, int]:
        d1, d2, d3 = date_text
        if len(d1) == 4:
            return self._year_first, int(d1), int(d2), int(d3)
        return self._year_last, int(d3) + (2000 if len(d3) == 2 else 0), int(d1), int(d2)

    def _add_media(self, vote: _Vote, year: int, first: int, second: int, rest: str) -> None:
        for found in _MEDIA_DATE_RE.finditer(rest, 0, NOTICE_MAX):
            y, m, d = found.group("y", "m", "d") if found["y"] else found.group("iy", "im", "id")
            named = _ordinal(int(y), int(m), int(d))
            if named is not None:
                vote.add_media(year, first, second, named)

    def _check_conflict(self, line: int, match: re.Match[str]) -> None:
        explicit = self._explicit
        for vote, orders in ((self._year_last, ("dmy", "mdy")), (self._year_first, ("ymd",))):
            against = vote.month_first if explicit == "dmy" else vote.day_first
            if explicit in orders and against is not None:
                raise InputError(
                    self.file,
                    f"--date-order {explicit} does not fit line {against} ('{stamp_text(match)}'): "
                    "it would put a day over 12 in the month's place",
                    line=against,
                )
            if vote.day_first is not None and vote.month_first is not None:
                other = min(vote.day_first, vote.month_first)
                raise InputError(
                    self.file,
                    f"dates mix day-first and month-first order: line {line} "
                    f"('{stamp_text(match)}') contradicts line {other}",
                    line=line,
                )


_NO_OPENING: Final = "\n"  # no line opens so: lines come without their line feed


def _date_opening(match: re.Match[str]) -> str:
    """The start of a header line through its date and the character after it, such that every
    header line opening so has the same date; or ``_NO_OPENING`` where one could read otherwise.

    The fields are runs of digits between non-digits, read in one way only, except where the
    line may open with a time instead (Vietnamese iOS, "[14.05.22, 3/18/22]"): that takes one
    or two digits and a dot, so a date opening so, or after such a time, gets no opening.
    """
    text = match.string
    if match["tf"] is not None or text[match.end("d1")] == ".":
        return _NO_OPENING
    return text[: match.end("d3") + 1]


class HeaderFields:
    """HEADER_RE's ``groups()`` for each line of one file that is a header, None for the others.

    A line opening like the last header matched whole (see ``_date_opening``) is matched from
    its date on, the date's fields taken from that header: they are the same.
    """

    def __init__(self) -> None:
        self._opening = _NO_OPENING
        self._date: tuple[str | None, ...] = ()  # open, tf, d1, d2, era, d3
        self._after_date = _AFTER_DATE[False].match

    def of(self, text: str) -> tuple[str | None, ...] | None:
        """The fields of line ``text``; None when it is no header."""
        if text.startswith(self._opening):
            after = self._after_date(text, len(self._opening) - 1)
            return None if after is None else self._date + after.groups()
        return self._whole(text)

    def _whole(self, text: str) -> tuple[str | None, ...] | None:
        """HEADER_RE's groups for line ``text``; its date becomes the one later lines are read after."""
        header = HEADER_RE.match(text)
        if header is None:
            return None
        fields = header.groups()
        self._opening = _date_opening(header)
        self._date = fields[: HEADER_RE.groupindex["d3"]]
        self._after_date = _AFTER_DATE[fields[0] is not None].match
        return fields


def zone_day_first(zone: str | None) -> bool | None:
    """The day/month order of the phone locales usual in ``zone``; None when it has none."""
    if zone is None:
        return None
    order = ZONE_DATE_ORDERS.get(zone)
    if order is None:
        order = next((o for area, o in ZONE_DATE_ORDERS.items() if area.endswith("/") and zone.startswith(area)), None)
    return None if order is None else order == "dmy"


def stamp_text(match: re.Match[str]) -> str:
    """The timestamp part of a header, for error messages (never the message text)."""
    return match.string[: match.start("rest")].strip(" []-\u2013\ufeff\u200e\u200f")


def alternatives(phrases: Iterable[str]) -> str:
    """A regex alternation of literal phrases, longest first so none hides a longer one."""
    return "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))


NOTICE_MAX: Final = 2048  # app notices are short; longer text is not matched (bounds regex cost)
_BODY_MARKS = "\u200e\u200f"
_AUTHOR_JUNK = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_PHRASES = LANGUAGES.values()
_DELETED = rf"(?:{alternatives(p for lang in _PHRASES for p in lang.deleted)})\.?$"
DELETED_RE: Final = re.compile(_DELETED)
_NOTICE_RE: Final = re.compile(rf"{alternatives(p for lang in _PHRASES for p in lang.notices)}|{_DELETED}")
# How every notice opens, for a cheap test before the pattern (no notice is shorter)
_NOTICE_START: Final = min(len(p) for lang in _PHRASES for p in (*lang.notices, *lang.deleted))
_NOTICE_STARTS: Final = frozenset(p[:_NOTICE_START] for lang in _PHRASES for p in (*lang.notices, *lang.deleted))
_GROUP_EVENT_RE: Final = re.compile(alternatives(p for lang in _PHRASES for p in lang.events))
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
    if cut <= 0:
        author = ""
    else:
        author = (_known_author if cut <= _AUTHOR_KEPT else _author)(rest[:cut])
    if not author:  # no "Name: ": an app notice such as "Alice added Bob"
        return "", rest.lstrip(_BODY_MARKS), True
    body = rest[cut + 2 :]
    text = body.lstrip(_BODY_MARKS)
    return author, text, _is_notice(text, len(text) < len(body))


_AUTHOR_KEPT: Final = 256  # longer author fields are not remembered (bounds the cache's memory)


def _author(field: str) -> str:
    """The author a header's field before ": " names; empty when it is a group event instead."""
    author = clean_name(field)
    return "" if _GROUP_EVENT_RE.search(author) else author


_known_author: Final = lru_cache(maxsize=1024)(_author)  # a chat has few authors, each on many lines


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
    if body[:_NOTICE_START] in _NOTICE_STARTS and _NOTICE_RE.match(body):
        return True
    if "ecurity code" in body and _SECURITY_RE.match(body):
        return True
    return marked and (MEMBERSHIP_RE.match(body) is not None or _GROUP_EVENT_RE.search(body) is not None)
