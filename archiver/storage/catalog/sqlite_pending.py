"""The SQLite catalog's pending-segment marks, kept in a journal file beside the catalog.

A segment is marked pending before it is stored, and the mark must be durable before the
object lands. Its catalog rows go into a write that an ingest keeps open across many segments
(each commit rewrites every page of the indexes keyed by random values that its rows touch, so
fewer commits write far fewer bytes), so the marks cannot be committed with them: they are
appended here, one segment name a line, and synced before the segments are stored. A name whose
segment row has been committed is no longer pending, and the journal is emptied once every name
in it is. A line cut short by a crash was never synced, so its segment was never stored: it is
not read until the next append ends it, and then names an object that does not exist, whose
mark recovery drops.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from archiver.errors import CatalogError
from archiver.storage.catalog.sqlite_index import CHUNK
from archiver.storage.durable import sync_folder


class PendingJournal:
    """Segment names appended, synced, read back, and pruned to those still pending."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, names: Iterable[str]) -> None:
        """Append ``names`` and sync them to disk before returning."""
        lines = [_line(name) for name in names]
        if not lines:
            return
        created = not self.path.exists()
        try:
            with open(self.path, "ab") as handle:
                if not created and handle.tell() and not self._ends_a_line():
                    handle.write(b"\n")
                handle.write(b"".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                sync_folder(self.path.parent)
        except OSError as exc:
            raise CatalogError(f"{self.path}: cannot record the segments about to be stored ({exc.strerror})") from None

    def names(self) -> list[str]:
        """The names whose line was written whole, each once, in the order first written."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return []
        whole = text[:text.rfind(b"\n") + 1].decode("utf-8", "replace")
        return list(dict.fromkeys(name for name in whole.split("\n") if name))

    def keep(self, names: Iterable[str]) -> None:
        """Leave only ``names`` in the journal (none: empty it), durably."""
        kept = [_line(name) for name in names]
        if not kept:
            if self.path.exists() and self.path.stat().st_size:
                with open(self.path, "r+b") as handle:
                    handle.truncate(0)
                    os.fsync(handle.fileno())
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(b"".join(kept))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        sync_folder(self.path.parent)

    def _ends_a_line(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def uncommitted(db: sqlite3.Connection, names: Sequence[str]) -> list[str]:
    """Of ``names``, those with no segment row committed in the catalog ``db``."""
    committed: set[str] = set()
    for start in range(0, len(names), CHUNK):
        chunk = names[start:start + CHUNK]
        committed.update(r[0] for r in db.execute(
            f"SELECT name FROM segments WHERE name IN ({','.join('?' * len(chunk))})", chunk))
    return [name for name in names if name not in committed]


def _line(name: str) -> bytes:
    if not name or "\n" in name or "\r" in name:
        raise CatalogError(f"segment name {name!r} cannot be recorded as pending")
    return name.encode("utf-8") + b"\n"
