"""Object stores, chosen by URL: a local directory (the embedded default) or S3 with Object Lock."""

from __future__ import annotations

from pathlib import Path

from archiver.errors import UsageError
from archiver.storage.store.base import ObjectStore, Retention, validate_key
from archiver.storage.store.local import LocalDirStore

__all__ = ["LocalDirStore", "ObjectStore", "Retention", "open_store", "validate_key"]


def open_store(url: str, base_dir: Path) -> ObjectStore:
    """The store named by ``ARCHIVER_STORE``: a directory path, ``file://`` URL or ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        # Imported here: boto3 takes a tenth of a second to load, which a local archive never needs.
        from archiver.storage.store.s3 import S3Store

        return S3Store(url)
    if "://" in url and not url.startswith("file://"):
        raise UsageError(f"unsupported object store {url!r}; use a directory path or s3://bucket/prefix")
    path = Path(url.removeprefix("file://"))
    return LocalDirStore(path if path.is_absolute() else base_dir / path)
