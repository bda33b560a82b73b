"""Open an officer's SQLite export (``chat.db``, ``mmssms.db``) without ever changing it.

SQLite writes to a database it opens, even to read: it may replay or checkpoint a ``-wal``
file and create ``-shm``. So the file (with its ``-wal`` beside it, if any) is copied into a
private temporary directory (mode 0700) and the copy is opened with ``query_only``; the
copy is removed on close. A copy holds message text in the clear, so one left behind by a
process that was killed is removed by the next run (the folder name carries the process id).
The header is checked first, and a corrupt file becomes an ``InputError`` naming it, never a
traceback.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archiver.errors import InputError

SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("-wal",)
_PREFIX = "archiver-sqlite-"


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
def open_copy(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a private copy of the database at ``path``.

    Raises:
        InputError: the file is missing, is not SQLite, or is corrupt.
    """
    if not is_sqlite(path):
        raise InputError(str(path), "not an SQLite database (the file does not start with the SQLite header)")
    remove_abandoned_copies()
    with tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-") as private:  # created 0700
        copy = Path(private) / "export.db"
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
            with _lenient_text(connection):
                problem = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise InputError(str(path), f"SQLite database is corrupt: {problem}")
            yield connection
        except sqlite3.DatabaseError as exc:
            raise InputError(str(path), f"SQLite database is corrupt or unreadable: {exc}") from None
        finally:
            connection.close()


def remove_abandoned_copies(folder: Path | None = None) -> None:
    """Remove private copies whose process is gone (killed before it could clean up)."""
    for leftover in Path(folder or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        pid = leftover.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    return True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
