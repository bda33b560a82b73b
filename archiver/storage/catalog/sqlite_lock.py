"""The SQLite catalog's writer lock: ``flock`` on a file beside the catalog, held by a command
for the whole of its work (an ingest, a disposition) so that a second writer waits, then is
refused, and a reader (``verify``) sees no writer halfway.

An ingest also keeps SQLite's own write lock between its commits (``SqliteCatalog.add``), while
others may still write: a search's audit entry, say. Such a writer knocks (``knock``: the lock
file's modification time) each time it has waited ``KNOCK_SECONDS``, and the ingest commits at
its next batch when it sees the time changed, so the writer waits seconds, not a whole write.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archiver.errors import CatalogError

LOCK_WAIT_SECONDS = 30.0


@contextmanager
def file_lock(catalog: Path, exclusive: bool, read_only: bool) -> Iterator[None]:
    """Hold the lock of the catalog at ``catalog``: exclusive for a writer, else shared."""
    path = catalog.with_name(catalog.name + ".lock")
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    reader = read_only and not exclusive
    try:
        handle = open(path, "r" if reader else "a")  # flock's shared mode needs no write access
    except OSError:
        if not reader:
            raise
        yield  # no lock file where nothing can be written: no writer can be running either
        return
    with handle:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CatalogError(f"{catalog}: another archiver process holds the archive; "
                                       "try again when it has finished") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# A writer waiting for SQLite's write lock asks, this often, the ingest holding it open to commit.
KNOCK_SECONDS = 1.0
# How long the ingest then stays out of the lock: SQLite's busy handler retries every 100 ms at most.
MAKE_WAY_SECONDS = 0.25


def begin_write(db: sqlite3.Connection, catalog: Path) -> None:
    """Take SQLite's write lock on ``db``, the catalog at ``catalog``, knocking while another
    process holds it; ``CatalogError`` after ``LOCK_WAIT_SECONDS``."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    db.execute(f"PRAGMA busy_timeout={int(KNOCK_SECONDS * 1000)}")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise CatalogError(f"{catalog}: another archiver process has been writing to the catalog for "
                                       f"{LOCK_WAIT_SECONDS:.0f} s; try again when it has finished") from None
                knock(catalog)
    finally:
        db.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_SECONDS * 1000)}")


def knock(catalog: Path) -> None:
    """Ask the process holding the catalog's write open (an ingest) to commit soon: the lock
    file's modification time is set to now (which needs only write access to the file), and the
    holder compares it at its next batch."""
    path = catalog.with_name(catalog.name + ".lock")
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def make_way() -> None:
    """Stay out of the write lock long enough for a writer that knocked to take it."""
    time.sleep(MAKE_WAY_SECONDS)


def knocks(catalog: Path) -> int:
    """The lock file's modification time (0 if none): it changes when a writer knocks."""
    try:
        return catalog.with_name(catalog.name + ".lock").stat().st_mtime_ns
    except FileNotFoundError:
        return 0
