"""A local directory that behaves like a WORM bucket.

Objects live under ``objects/``; each has a ``.lock`` sidecar (JSON retain-until and legal
hold) written before the object appears. Writes go to ``tmp/`` first and are linked into
place with ``os.link``, which fails if the name exists: put-if-absent is atomic, and a
process killed mid-write leaves only a temporary file of ciphertext, removed at next open.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from archiver.errors import ObjectExistsError, ObjectNotFoundError, ReadOnlyArchiveError, RetentionError, StoreError
from archiver.storage.durable import sync_folder
from archiver.storage.store.base import Retention, later, validate_key

LOCK_SUFFIX = ".lock"


class LocalDirStore:
    """Object store in a local directory, refusing overwrite and early delete."""

    write_workers = 1  # one disk: writing in parallel would only interleave fsyncs

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "objects"
        self._tmp = root / "tmp"
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{root}: cannot create the archive directory: {exc.strerror}") from None

    def put(self, key: str, data: bytes, retain_until: date | None, legal_hold: bool = False) -> None:
        path = self._path(key)
        if path.exists():
            raise ObjectExistsError(f"object {key} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock(path, Retention(retain_until, legal_hold))  # the hold marker comes with the object
        tmp = self._write_temporary(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ObjectExistsError(f"object {key} already exists") from None
        finally:
            tmp.unlink()
        sync_folder(path.parent)

    def put_many(self, items: Iterable[tuple[str, bytes, date | None]], workers: int | None = None,
                 legal_hold: bool = False) -> None:
        for key, data, retain_until in items:
            self.put(key, data, retain_until, legal_hold)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {key} not found") from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {key} not found") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        # Only the folder the prefix names is walked, by directory entries (no stat a file).
        folder = prefix.rpartition("/")[0]
        found = _files(str(self._objects / folder if folder else self._objects), f"{folder}/" if folder else "", [])
        return iter(sorted(key for key in found if key.startswith(prefix)))

    def retention(self, key: str) -> Retention:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"object {key} not found")
        return self._read_lock(path)

    def extend_retention(self, key: str, retain_until: date | None) -> None:
        path = self._path(key)
        current = self.retention(key)
        self._write_lock(path, Retention(later(current.retain_until, retain_until), current.legal_hold))

    def set_legal_hold(self, key: str, on: bool) -> None:
        path = self._path(key)
        current = self.retention(key)
        self._write_lock(path, Retention(current.retain_until, on))

    def delete(self, key: str, today: date) -> None:
        """Delete an object whose retention has passed, by the caller's day and by this machine's
        clock (the later date never wins: a caller cannot pass a day from the future, just as S3
        Object Lock goes by its own clock)."""
        path = self._path(key)
        retention = self.retention(key)
        today = min(today, wall_clock_today())
        if not retention.allows_delete(today):
            until = retention.retain_until.isoformat() if retention.retain_until else "indefinitely"
            hold = " and is under legal hold" if retention.legal_hold else ""
            raise RetentionError(f"object {key} is retained until {until}{hold}; delete refused")
        path.chmod(0o600)
        path.unlink()
        path.with_name(path.name + LOCK_SUFFIX).unlink(missing_ok=True)

    def check(self) -> None:
        for folder in (self._objects, self._tmp):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise ReadOnlyArchiveError(f"archive {self.root} is read-only: {folder} cannot be written; "
                                           "only verify, report, list and show commands work on a read-only archive")

    def discard_incomplete(self) -> None:
        """Remove temporaries of writes that never completed (ciphertext only)."""
        for tmp in self._tmp.iterdir():
            tmp.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self._objects / validate_key(key)

    def _write_temporary(self, data: bytes) -> Path:
        tmp = self._tmp / uuid.uuid4().hex
        with tmp.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o444)
        return tmp

    def _write_lock(self, path: Path, retention: Retention) -> None:
        document = {"retain_until": retention.retain_until.isoformat() if retention.retain_until else None,
                    "legal_hold": retention.legal_hold}
        tmp = self._tmp / (uuid.uuid4().hex + LOCK_SUFFIX)
        tmp.write_text(json.dumps(document))
        os.replace(tmp, path.with_name(path.name + LOCK_SUFFIX))

    def _read_lock(self, path: Path) -> Retention:
        try:
            document = json.loads(path.with_name(path.name + LOCK_SUFFIX).read_text())
        except (OSError, ValueError):
            # A missing or damaged retention record must never make an object deletable.
            return Retention(None, legal_hold=False)
        until = document.get("retain_until")
        return Retention(date.fromisoformat(until) if until else None, bool(document.get("legal_hold")))


def wall_clock_today() -> date:
    """Today's UTC date by this machine's clock: the day the store itself goes by."""
    return datetime.now(UTC).date()


def _files(folder: str, prefix: str, found: list[str]) -> list[str]:
    """``found`` with the key of every object file below ``folder`` (lock files left out), each
    key ``prefix`` followed by its path there. An archive holds a folder per day and kind (37,000
    for a million messages), so the walk keeps to plain strings and one list: half the time of
    a generator of ``Path`` objects."""
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return found
    with entries:
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                _files(entry.path, f"{prefix}{name}/", found)
            elif not name.endswith(LOCK_SUFFIX) and entry.is_file():
                found.append(prefix + name)
    return found
