"""How the SQLite catalog stores a message row in few bytes (schema step "compact rows").

A catalog row is mostly keyed hashes, instants and a few values shared by thousands of rows.
Stored as text they made a row about 560 bytes and every index on them as wide, and each
transaction rewrites the index pages its random keys touch. So:

- a lowercase hex value (record id, conversation, content hash, fingerprint, sender and copy
  keys) is stored as its bytes, half the size; any other text is kept as it is, so a value
  written by an older id scheme still reads back unchanged;
- an instant is an integer count of microseconds since 1970 (UTC), exact and ordered as time
  (the ISO text it replaces sorted a fractional second before its whole second);
- a value many rows share (custodian, source, direction, account, rules version, schedule,
  reasons, export hash, segment name) is stored once in ``strings`` and referred to by its
  number;
- a row without flags stores an empty text, not an empty JSON list.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_HEX = frozenset("0123456789abcdef")
UNKNOWN = -1  # the number of a value the catalog has never stored: matches no row


def packed(value: str | None) -> bytes | str | None:
    """``value`` as stored: the bytes of lowercase hex of even length, other text unchanged."""
    if value and not len(value) % 2 and _HEX.issuperset(value):
        return bytes.fromhex(value)
    return value


def unpacked(value: bytes | str | None) -> str | None:
    """A stored ``packed`` value as the text it was."""
    return value.hex() if isinstance(value, bytes) else value


def micros(moment: datetime) -> int:
    """An aware instant as integer microseconds since 1970 in UTC (exact)."""
    return (moment - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=8192)
def instant(count: int) -> datetime:
    """The UTC instant ``count`` microseconds after 1970 began."""
    return _EPOCH + count * _MICROSECOND


def iso_text(count: int) -> str:
    """``instant(count)`` as the ISO text ``utc_iso`` gives (what a report prints), from its day's
    cached prefix and tables of times of day: a report formats two instants per row."""
    day, rest = divmod(count, 86_400_000_000)
    minute, rest = divmod(rest, 60_000_000)
    second, micro = divmod(rest, 1_000_000)
    if micro:
        return f"{_day_prefix(day)}{_MINUTES[minute]}{_SECONDS[second]}.{micro:06d}Z"
    return f"{_day_prefix(day)}{_MINUTES[minute]}{_SECONDS[second]}Z"


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return f"{(_EPOCH + timedelta(days=day)).date().isoformat()}T"


_MINUTES = tuple(f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f"{second:02d}" for second in range(60))


class Strings:
    """The ``strings`` table: each shared value once, by number, remembered in both directions.

    Numbers never change once committed, so what is remembered stays true; what a transaction
    numbered is forgotten if it rolls back (``forget``).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._numbers: dict[str, int] = {}
        self._values: dict[int, str] = {}

    def number(self, value: str | None) -> int | None:
        """The number of ``value``, stored now if it is new (inside the caller's transaction)."""
        if value is None:
            return None
        found = self._numbers.get(value)
        if found is None:
            self._db.execute("INSERT OR IGNORE INTO strings (value) VALUES (?)", (value,))
            found = self.known(value)
        return found

    def known(self, value: str) -> int:
        """The number of ``value`` without storing it; ``UNKNOWN`` if it was never stored."""
        found = self._numbers.get(value)
        if found is None:
            row = self._db.execute("SELECT ref FROM strings WHERE value = ?", (value,)).fetchone()
            if row is None:
                return UNKNOWN
            found = self._numbers[value] = int(row[0])
            self._values[found] = value
        return found

    def value(self, number: int | None) -> str | None:
        """The value numbered ``number``."""
        if number is None:
            return None
        found = self._values.get(number)
        if found is None:
            (found,) = self._db.execute("SELECT value FROM strings WHERE ref = ?", (number,)).fetchone()
            self._values[number] = found
            self._numbers[found] = number
        return found

    def forget(self) -> None:
        """Drop what is remembered: a rolled-back transaction may have numbered values."""
        self._numbers.clear()
        self._values.clear()
