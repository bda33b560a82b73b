"""Attachments sealed as their messages are read, and stored a batch at a time: several at once
where the store writes in parallel (S3), one after another on a local disk.

Ingest calls ``flush`` before it writes any segment, so a stored record never names an
attachment not stored yet; an attachment already stored (the same file sent twice, or
re-ingested) is kept at least as long, and held, as the new record needs.
"""

from __future__ import annotations

from datetime import date

from archiver.errors import ObjectExistsError
from archiver.services.ingest_reading import AttachmentObject
from archiver.storage.archive import Archive
from archiver.storage.envelope import seal
from archiver.storage.store.base import write_all

# What waits to be stored: enough for several requests in flight, bounded in memory.
PENDING_ATTACHMENTS = 64
PENDING_BYTES = 32 * 1024 * 1024


# An attachment to store: its key, sealed content, retain-until and whether it is written held.
Sealed = tuple[str, bytes, date | None, bool]


class AttachmentWriter:
    """Seals attachments at once (their plaintext is not kept) and stores them in batches (``flush``)."""

    def __init__(self, archive: Archive) -> None:
        self._archive = archive
        self._pending: dict[str, Sealed] = {}
        self._again: list[Sealed] = []  # a key already pending, stored after it
        self._bytes = 0
        self._failed: BaseException | None = None

    def add(self, objects: list[AttachmentObject]) -> None:
        """Seal ``objects``; store what is pending once it is a batch."""
        for found in objects:
            sealed = (found.key, seal(self._archive.keys, found.key, found.content), found.retain_until, found.held)
            if found.key in self._pending:  # two writes of one key at once would race: this one waits
                self._again.append(sealed)
            else:
                self._pending[found.key] = sealed
            self._bytes += len(sealed[1])
        if len(self._pending) + len(self._again) >= PENDING_ATTACHMENTS or self._bytes >= PENDING_BYTES:
            self.flush()

    def flush(self) -> None:
        """Store every pending attachment, up to the store's ``write_workers`` at a time; the first
        failure is raised once the writes in flight finish, and again by every later ``flush``:
        records added since may name an attachment that failed, so no segment may follow."""
        if self._failed is not None:
            raise self._failed
        try:
            self._store_pending()
        except BaseException as error:
            self._failed = error
            raise

    def _store_pending(self) -> None:
        pending, again = list(self._pending.values()), self._again
        self._pending, self._again, self._bytes = {}, [], 0
        workers = max(1, min(self._archive.store.write_workers, len(pending)))
        write_all(lambda sealed: self._store(*sealed), pending, workers, "attachments")
        for sealed in again:
            self._store(*sealed)

    def _store(self, key: str, envelope: bytes, retain_until: date | None, held: bool) -> None:
        store = self._archive.store
        try:
            store.put(key, envelope, retain_until, held)
        except ObjectExistsError:  # content-addressed: stored before, for another record
            store.extend_retention(key, retain_until)
            if held:
                store.set_legal_hold(key, True)
