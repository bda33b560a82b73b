"""Time order of text that begins with an instant (``utc_iso``): DynamoDB's sort keys, and
the send times of notices in SQLite.

A whole second is written without a fraction ("…T10:00:00Z"), any other instant with six
digits ("…T10:00:00.500000Z"). As text "." sorts before "Z", so within one second the
whole-second keys come after the fractional ones although they are the earliest; keys of
different seconds are in order, their first 19 characters being fixed-width. Rewriting the
keys of every table would fix it at the source; instead reads put each second back in
order as they go, holding at most one second's items.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

SECOND = 19  # "YYYY-MM-DDTHH:MM:SS", the part of an instant's key that sorts right
AFTER_SECOND = "Z$"  # appended to a second: past every key of that second ("Z#…", ".…Z#…")
FRACTIONS_END = "/"  # appended to a second: past its fractional keys, before its whole-second ones

T = TypeVar("T")


def second_of(key: str) -> str:
    """The second a key's instant falls in."""
    return key[:SECOND]


def is_whole_second(key: str) -> bool:
    """Whether the key's instant has no fraction of a second."""
    return key[SECOND:SECOND + 1] == "Z"


def in_time_order(items: Iterable[T], key: Callable[[T], str], forward: bool = True) -> Iterator[T]:
    """``items``, read in ascending (``forward``) or descending order of ``key``, in time order.

    Forward, a second's fractional keys come before its whole-second ones: they are held until
    the second ends. Backward, the whole-second keys come first and are held."""
    held: list[T] = []
    second = None
    for item in items:
        text = key(item)
        if text[:SECOND] != second:
            yield from held
            held, second = [], text[:SECOND]
        if is_whole_second(text) != forward:
            held.append(item)
        else:
            yield item
    yield from held
