"""Making a file's name durable: what the local store and the SQLite catalog's journal share."""

from __future__ import annotations

import os
from pathlib import Path


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries to disk, so that a file created, renamed or removed in it
    stays so after a power cut (syncing the file itself does not make its name durable)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
