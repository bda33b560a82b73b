"""A watch list: the people an investigation asks about, one row each (pure: parses text).

The CSV has a ``name`` column and, optionally, ``dob``, ``passport``, ``a_number``, ``phone``
and ``email``. Each identifier a row gives is one way a record can name or identify the
person; a record found by any of them answers for that person.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from archiver.errors import UsageError

COLUMNS: tuple[str, ...] = ("name", "dob", "passport", "a_number", "phone", "email")
MAX_PEOPLE = 10_000
MAX_CELL = 256


@dataclass(frozen=True)
class Person:
    """One row of a watch list; ``line`` is its line in the file (for messages and reports)."""

    line: int
    name: str
    dob: str = ""
    passport: str = ""
    a_number: str = ""
    phone: str = ""
    email: str = ""

    def identifiers(self) -> dict[str, str]:
        """The identifiers this row gives, by column."""
        return {column: value for column in COLUMNS if (value := getattr(self, column))}


def parse_watch_list(text: str, source: str) -> list[Person]:
    """The people of a watch list CSV.

    Raises:
        UsageError: no ``name`` column, an unknown column, an empty name, an over-long cell,
            a row with too many cells, or more than ``MAX_PEOPLE`` rows; the message names
            ``source``, the line and the cause.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        unknown = [column for column in header if column not in COLUMNS]
        if "name" not in header or unknown:
            raise UsageError(f"{source}:1: a watch list needs a 'name' column and only "
                             f"{', '.join(COLUMNS)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        return [_person(header, row, source, reader.line_num) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise UsageError(f"{source}:{reader.line_num}: not a readable CSV: {exc}") from None


def _person(header: list[str], row: list[str], source: str, line: int) -> Person:
    if line > MAX_PEOPLE + 1:
        raise UsageError(f"{source}:{line}: a watch list holds at most {MAX_PEOPLE} people")
    if len(row) > len(header):
        raise UsageError(f"{source}:{line}: {len(row)} cells, but the header names {len(header)} columns")
    cells = {column: value.strip() for column, value in zip(header, row, strict=False)}
    if any(len(value) > MAX_CELL for value in cells.values()):
        raise UsageError(f"{source}:{line}: a cell is longer than {MAX_CELL} characters")
    if not cells.get("name"):
        raise UsageError(f"{source}:{line}: the name is empty")
    return Person(line=line, **cells)
