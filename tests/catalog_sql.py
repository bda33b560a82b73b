"""Reading and editing the SQLite catalog's message rows behind the archiver's back, in the form
the compact layout stores them (``archiver.storage.catalog.sqlite_codec``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archiver.model import parse_instant
from archiver.storage.catalog.sqlite_codec import micros, packed, unpacked
from archiver.storage.catalog.sqlite_schema import INSTANTS, PACKED, SHARED

# A row's segment name, for a query over ``messages m``.
SEGMENT_NAME = "(SELECT value FROM strings WHERE ref = m.segment)"


def catalog_db(folder: Path) -> sqlite3.Connection:
    """The catalog of the archive in ``folder``."""
    return sqlite3.connect(folder / "archive" / "catalog.sqlite")


def stored(db: sqlite3.Connection, column: str, value: str) -> object:
    """``value`` of messages.``column`` as the catalog stores it (a shared value is numbered first)."""
    if column in SHARED:
        db.execute("INSERT OR IGNORE INTO strings (value) VALUES (?)", (value,))
        return db.execute("SELECT ref FROM strings WHERE value = ?", (value,)).fetchone()[0]
    if column in INSTANTS:
        return micros(parse_instant(value))
    return packed(value) if column in PACKED else value


def key_text(value: object) -> str:
    """A stored key (``id``, a hash) as the archiver prints it."""
    return str(unpacked(value))  # type: ignore[arg-type]
