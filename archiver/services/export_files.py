"""The export file itself: its hash, and its sealed copy kept with a quarantined export."""

from __future__ import annotations

import hashlib
from pathlib import Path

from archiver.connector import check_export_file
from archiver.errors import InputError, ObjectExistsError
from archiver.storage.archive import Archive
from archiver.storage.envelope import seal

QUARANTINE_CHUNK = 8 << 20


def store_export_copy(archive: Archive, path: Path, sha256: str) -> str | None:
    """Seal the export in chunks under ``quarantine/<name>/``; None if it cannot be read."""
    prefix = "quarantine/" + archive.name_hash.hex(sha256.encode(), 64)
    try:
        with path.open("rb") as handle:
            for number, chunk in enumerate(iter(lambda: handle.read(QUARANTINE_CHUNK), b"")):
                key = f"{prefix}/{number:06d}"
                try:
                    archive.store.put(key, seal(archive.keys, key, chunk), None)
                except ObjectExistsError:
                    pass  # the same export was quarantined before: same bytes, same name
    except OSError:
        return None
    return prefix


def export_sha256(path: Path) -> str:
    """The SHA-256 of an export file, after checking it is a regular file of bounded size."""
    check_export_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
    return digest.hexdigest()

