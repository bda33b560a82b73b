"""Catalogs, chosen by URL: SQLite (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from archiver.catalog.base import (
    Catalog,
    CatalogRow,
    CommitBatch,
    ExportRow,
    HoldRow,
    NoticeRow,
    QuarantineRow,
    SegmentRow,
)
from archiver.catalog.sqlite import SqliteCatalog
from archiver.errors import UsageError

__all__ = ["Catalog", "CatalogRow", "CommitBatch", "ExportRow", "HoldRow", "NoticeRow", "QuarantineRow", "SegmentRow",
           "SqliteCatalog", "open_catalog"]


def open_catalog(url: str, base_dir: Path) -> Catalog:
    """The catalog named by ``ARCHIVER_CATALOG`` (``sqlite:///path``)."""
    if not url.startswith("sqlite:///"):
        raise UsageError(f"unsupported catalog {url!r}; use sqlite:///PATH")
    path = Path(url[len("sqlite:///"):])
    return SqliteCatalog(path if path.is_absolute() else base_dir / path)
