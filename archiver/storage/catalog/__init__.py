"""Catalogs, chosen by URL: SQLite (the embedded default) or DynamoDB (serverless)."""

from __future__ import annotations

from pathlib import Path

from archiver.errors import UsageError
from archiver.storage.catalog.base import (
    Catalog,
    CatalogRow,
    CommitBatch,
    ExportRow,
    HoldRow,
    NoticeRow,
    QuarantineRow,
    SegmentRow,
)
from archiver.storage.catalog.report_rows import CopyRow, ReportRow, report_row
from archiver.storage.catalog.sqlite import SqliteCatalog

__all__ = ["Catalog", "CatalogRow", "CommitBatch", "CopyRow", "ExportRow", "HoldRow", "NoticeRow", "QuarantineRow",
           "ReportRow", "SegmentRow", "SqliteCatalog", "open_catalog", "report_row"]


def open_catalog(url: str, base_dir: Path, create: bool = False, read_only: bool = False) -> Catalog:
    """The catalog named by ``ARCHIVER_CATALOG``: ``sqlite:///PATH`` or ``dynamodb://TABLE[?region=R]``.

    ``create`` (``archiver init``) creates a missing DynamoDB table; otherwise a missing table is
    an error. A SQLite file is created when missing; ``read_only`` opens an existing one without
    ever writing to it or beside it (commands that only read; DynamoDB is read through IAM).
    """
    if url.startswith("dynamodb://"):
        # Imported here: boto3 is slow to import and the embedded default does not need it.
        from archiver.storage.catalog.dynamodb import DynamoCatalog

        return DynamoCatalog.from_url(url, create=create)
    if not url.startswith("sqlite:///"):
        raise UsageError(f"unsupported catalog {url!r}; use sqlite:///PATH or dynamodb://TABLE")
    path = Path(url[len("sqlite:///"):])
    return SqliteCatalog(path if path.is_absolute() else base_dir / path, read_only=read_only)
