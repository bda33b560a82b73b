"""The instant each header line of a WhatsApp export names, in the time zone given.

The header lines come from ``connectors._whatsapp_dates`` (``HeaderFields``), read in the
day/month order its ``DateOrderVote`` decided for the whole file; the zone is the officer's,
because exports carry local time without one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from connectors._whatsapp_dates import _AFTER_DATE, _NO_OPENING, _TIME_RE, HEADER_RE, DateOrder, HeaderFields

_AM_MARKS: Final = frozenset("aA\u0635")
_ERA_BASE: Final = {"R": 2018, "H": 1988}  # Japanese Reiwa and Heisei eras
_BUDDHIST_OFFSET: Final = 543


class SentTimes(HeaderFields):
    """For each header line of one file: the instant it names (None when impossible) and its text
    after the stamp (author and first line); None for the other lines.

    A line read after the date of the last header matched whole has that header's day, so its
    midnight serves; and a chat's times of day repeat, so each one's text (from the date to the
    author) is read once. Other lines go through ``LocalTimes`` with their fields.
    """

    def __init__(self, order: DateOrder, tz: ZoneInfo) -> None:
        super().__init__()
        self._local_times = LocalTimes(order, tz)
        self._day_opening = _NO_OPENING  # the opening whose midnight ``_day`` is
        self._day: datetime | None = None
        self._times: dict[str, timedelta | None] = {}  # time text -> time after midnight

    def of_line(self, text: str) -> tuple[datetime | None, str] | None:
        """The instant and remainder of line ``text``; None when it is no header."""
        opening = self._opening
        if not text.startswith(opening):
            fields = self._whole(text)
            return None if fields is None else self._of_fields(fields)
        start = len(opening) - 1
        after = self._after_date(text, start)
        if after is None:
            return None
        cut = after.start(_AFTER_REST)
        time_text = text[start:cut]
        time = self._times.get(time_text, _UNSEEN)
        if time is _UNSEEN:
            # A Buddhist-era year ("BE", read with the time) changes the day; a long time text
            # is not remembered (bounds the memory held): both are rare, and read in full.
            if after.group(_AFTER_BUDDHIST) is not None or cut - start > _TIME_TEXT_KEPT:
                return self._of_fields(self._date + after.groups())
            if len(self._times) >= _KEPT:  # a hostile file may hold a new time on every line
                self._times.clear()
            time = self._times[time_text] = _time_of_day(*after.group(*_AFTER_TIME))
        if opening is not self._day_opening:
            self._day_opening, self._day = opening, self._local_times.midnight(self._date[_DAY_OF_DATE] + (None,))
        day = self._day
        return None if day is None or time is None else day + time, text[cut:]

    def _of_fields(self, fields: tuple[str | None, ...]) -> tuple[datetime | None, str]:
        """The instant and remainder of a header line from its ``HEADER_RE`` groups."""
        return self._local_times.at(fields), fields[-1]  # type: ignore[return-value]


class LocalTimes:
    """The wall-clock time of each header of one file, read in ``tz``; None when the date or
    time is impossible. A chat repeats its dates and times of day line after line, so each
    distinct one is worked out once: the day's midnight in ``tz``, and the time after it
    (which, added, gives the very datetime the fields name, with fold=0).

    A time in a daylight-saving gap keeps fold=0 (the offset before the change), which is
    still one definite instant.
    """

    def __init__(self, order: DateOrder, tz: ZoneInfo) -> None:
        self._order = order
        self._tz = tz
        self._days: dict[tuple[str | None, ...], datetime | None] = {}
        self._times: dict[tuple[str | None, ...], timedelta | None] = {}

    def at(self, fields: tuple[str | None, ...]) -> datetime | None:
        """The instant a header names, from the ``groups()`` of its ``HEADER_RE`` match."""
        times = self._times
        day = self.midnight(fields[_DATE_FIELDS])
        time_fields = fields[_TIME_PUT_FIRST]
        if time_fields[0] is None:
            time_fields = fields[_TIME_FIELDS]
        after = times.get(time_fields, _UNSEEN)
        if after is _UNSEEN:
            if len(times) >= _KEPT:
                times.clear()
            after = times[time_fields] = _time_of_day(*time_fields)
        if day is None or after is None:
            return None
        return day + after

    def midnight(self, date_fields: tuple[str | None, ...]) -> datetime | None:
        """The midnight in ``tz`` starting the day of a header's date fields (d1, d2, era, d3, be)."""
        days = self._days
        day = days.get(date_fields, _UNSEEN)
        if day is _UNSEEN:
            if len(days) >= _KEPT:  # a hostile file may hold a new date on every line
                days.clear()
            day = days[date_fields] = self._read_midnight(*date_fields)  # type: ignore[arg-type]
        return day

    def _read_midnight(self, d1: str, d2: str, era: str | None, d3: str, buddhist: str | None) -> datetime | None:
        ymd = _year_month_day(d1, d2, era, d3, buddhist, self._order)
        try:
            return None if ymd is None else datetime(*ymd, tzinfo=self._tz)
        except ValueError:
            return None


_KEPT: Final = 4096
_UNSEEN: Final = timedelta(-1)  # no time of day is negative, and no midnight a timedelta


def _group_slice(first: str, last: str) -> slice:
    """Where HEADER_RE's groups ``first`` to ``last`` sit in a match's ``groups()``."""
    return slice(HEADER_RE.groupindex[first] - 1, HEADER_RE.groupindex[last])


_DATE_FIELDS: Final = _group_slice("d1", "be")  # d1, d2, era, d3, be
_TIME_FIELDS: Final = _group_slice("h", "ap")  # h, mi, s, ap
_TIME_PUT_FIRST: Final = _group_slice("tf", "tf")  # "[14:56:01, 3/18/22]": the time, matched whole
_DAY_OF_DATE: Final = slice(_DATE_FIELDS.start, _DATE_FIELDS.stop - 1)  # d1, d2, era, d3 of HeaderFields' date
_AFTER_BUDDHIST, _AFTER_REST = (_AFTER_DATE[False].groupindex[name] for name in ("be", "rest"))
_AFTER_TIME: Final = tuple(_AFTER_DATE[False].groupindex[name] for name in ("h", "mi", "s", "ap"))
_TIME_TEXT_KEPT: Final = 32  # the longest time text remembered (", 12:05:07 p. m. - " is 19)


def _time_of_day(*fields: str | None) -> timedelta | None:
    """The time after midnight a header's time fields (hour, minute, second, AM/PM) name, or
    the time it puts first (one field, matched whole)."""
    if len(fields) == 1:
        found = _TIME_RE.match(fields[0] or "")
        hms = None if found is None else _hour_minute_second(*found.group("h", "mi", "s", "ap"))
    else:
        hms = _hour_minute_second(*fields)
    if hms is None or not (hms[0] < 24 and hms[1] < 60 and hms[2] < 60):  # what datetime() refuses
        return None
    return timedelta(hours=hms[0], minutes=hms[1], seconds=hms[2])


def _year_month_day(
    d1: str, d2: str, era: str | None, d3: str, buddhist: str | None, order: DateOrder
) -> tuple[int, int, int] | None:
    year: int | None
    if len(d1) == 4:
        year, first, second, day_first = int(d1), int(d2), int(d3), order.year_first_day_first
    else:
        year, first, second, day_first = _year(d3, era, buddhist), int(d1), int(d2), order.day_first
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


def _hour_minute_second(hour_text: str | None, minutes: str | None, seconds: str | None,
                        marker: str | None) -> tuple[int, int, int] | None:  # fmt: skip
    if hour_text is None or minutes is None:
        return None
    hour = int(hour_text)
    if marker is not None:
        morning = marker[0] in _AM_MARKS
        if hour > 12 and morning:
            return None
        if hour <= 12:  # "23:59 PM" (seen in real exports) already is a 24-hour time
            hour = hour % 12 if morning else hour % 12 + 12
    return hour, int(minutes), int(seconds) if seconds is not None else 0
