"""Object stores, chosen by URL: a local directory (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from archiver.errors import UsageError
from archiver.store.base import ObjectStore, Retention, validate_key
from archiver.store.local import LocalDirStore

__all__ = ["LocalDirStore", "ObjectStore", "Retention", "open_store", "validate_key"]


def open_store(url: str, base_dir: Path) -> ObjectStore:
    """The store named by ``ARCHIVER_STORE``: a directory path or ``file://`` URL."""
    if "://" in url and not url.startswith("file://"):
        raise UsageError(f"unsupported object store {url!r}; use a directory path")
    path = Path(url.removeprefix("file://"))
    return LocalDirStore(path if path.is_absolute() else base_dir / path)
