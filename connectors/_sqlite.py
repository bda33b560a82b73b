"""Open an officer's SQLite export (``chat.db``, ``mmssms.db``) without ever changing it.

SQLite writes to a database it opens, even to read: it may replay or checkpoint a ``-wal``
file and create ``-shm``. So the file (with its ``-wal`` beside it, if any) is copied into a
private folder (``archiver.readers.scratch``: mode 0700, in the archive's temp area, swept when its
process was killed) and the copy is opened with ``query_only``; the copy is removed on close.
The header is checked first, and a corrupt file becomes an ``InputError`` naming it, never a
traceback.

Detection reads the schema the same way (``read_schema``): real databases keep their schema
pages anywhere in the file, so the tables are read from ``sqlite_master`` of the copy, within
``SCHEMA_SECONDS`` and for at most ``SCHEMA_TABLES`` tables.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from archiver.errors import ArchiverError, InputError, StoreError
from archiver.readers.scratch import current_area, private_folder

SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA_SECONDS: Final = 2.0
SCHEMA_TABLES: Final = 1024  # a phone's databases have a few dozen
_SIDECARS = ("-wal",)
_PROGRESS_STEPS: Final = 1000  # SQLite instructions between two looks at the clock

Schema = Mapping[str, frozenset[str]]
"""Table name to its column names."""


def is_sqlite(path: Path) -> bool:
    """True when the file starts with the SQLite header."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def table_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when there is no such table)."""
    with _lenient_text(connection):
        return {row[1] for row in connection.execute(f"PRAGMA table_info({_quoted(table)})")}


@contextmanager
def _lenient_text(connection: sqlite3.Connection) -> Iterator[None]:
    """Decode schema text leniently: a damaged database may name tables in invalid UTF-8,
    and the schema is only compared, never archived. Message text keeps strict decoding."""
    strict = connection.text_factory
    connection.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        yield
    finally:
        connection.text_factory = strict


@contextmanager
def open_copy(path: Path, temp_dir: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a private copy (in ``temp_dir``) of the database at ``path``.

    Raises:
        InputError: the file is missing, is not SQLite, or is corrupt.
    """
    with _copy_connection(path, temp_dir) as connection:
        with _lenient_text(connection):
            problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise InputError(str(path), f"SQLite database is corrupt: {problem}")
        yield connection


def read_schema(path: Path, temp_dir: Path | None = None) -> Schema:
    """The tables and columns of the SQLite database at ``path``, read from a private copy in
    ``temp_dir`` (default: the current temp area); empty when it is not SQLite or its schema
    cannot be read in ``SCHEMA_SECONDS``. For sniffing: raises only when no copy can be made.

    Raises:
        StoreError: the temp area cannot be created (a file would otherwise pass as "not SQLite").
    """
    try:
        stat = path.stat()
        area = temp_dir or current_area()
        return _cached_schema(path.resolve(), stat.st_size, stat.st_mtime_ns, _wal_signature(path), area)
    except StoreError:
        raise
    except (ArchiverError, OSError, sqlite3.Error, UnicodeError):
        return {}


@functools.lru_cache(maxsize=8)
def _cached_schema(path: Path, size: int, mtime_ns: int, wal: tuple[int, int], area: Path) -> Schema:
    """One copy per file for all the connectors that sniff it (the key changes when the file does)."""
    deadline = time.monotonic() + SCHEMA_SECONDS
    with _copy_connection(path, area) as connection, _lenient_text(connection):
        connection.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)  # true: abort
        rows = connection.execute(
            "SELECT m.name, c.name FROM (SELECT name FROM sqlite_master WHERE type = 'table' LIMIT ?) AS m, "
            "pragma_table_info(m.name) AS c", (SCHEMA_TABLES,)).fetchall()  # fmt: skip
    schema: dict[str, set[str]] = {}
    for table, column in rows:
        schema.setdefault(table, set()).add(column)
    return {table: frozenset(columns) for table, columns in schema.items()}


def _wal_signature(path: Path) -> tuple[int, int]:
    wal = path.with_name(path.name + "-wal")
    if not wal.is_file():
        return (-1, -1)
    stat = wal.stat()
    return stat.st_size, stat.st_mtime_ns


@contextmanager
def _copy_connection(path: Path, temp_dir: Path | None) -> Iterator[sqlite3.Connection]:
    """A connection to a private copy of ``path`` and its ``-wal``, refusing to change anything."""
    if not is_sqlite(path):
        raise InputError(str(path), "not an SQLite database (the file does not start with the SQLite header)")
    with private_folder(temp_dir) as private:
        copy = private / "export.db"
        try:
            shutil.copyfile(path, copy)
            for suffix in _SIDECARS:
                sidecar = path.with_name(path.name + suffix)
                if sidecar.is_file():
                    shutil.copyfile(sidecar, copy.with_name(copy.name + suffix))
        except OSError as exc:
            raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
        connection = sqlite3.connect(copy, isolation_level=None)
        try:
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA trusted_schema = OFF")  # no functions run from a hostile schema
            yield connection
        except sqlite3.DatabaseError as exc:
            raise InputError(str(path), f"SQLite database is corrupt or unreadable: {exc}") from None
        finally:
            connection.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
