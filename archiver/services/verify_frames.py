"""The segment pass of ``verify``: each segment read once, every frame opened, and every catalog
row that points into it read back from the same bytes at the catalog's offset and length.

On S3 that is one GetObject per segment instead of one more ranged GetObject per record.
Segments are fetched and opened by a small pool of threads (the store's reads and the key
provider's unwrapping overlap), a bounded number in flight so memory stays flat; in a local
archive, where the time goes into Python rather than waiting, a forked process checks every
other segment instead. Either way the results come back in the store's listing order, so the
report is the same on every run.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from archiver.errors import IntegrityError
from archiver.services.reader_process import read_in_second_process, second_process_available
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.envelope import open_sealed
from archiver.storage.keys import LocalKeyProvider
from archiver.storage.records import RecordDocument, catalog_row
from archiver.storage.sealed_facts import row_facts
from archiver.storage.store import LocalDirStore

WORKERS = min(4, os.cpu_count() or 1)
IN_FLIGHT = 2 * WORKERS  # segments fetched or being opened at once
Place = tuple[str, str, int, int]  # record id, segment, offset, length


@dataclass
class SegmentCheck:
    """What walking one segment found."""

    name: str
    frames: list[tuple[str, int, int]] = field(default_factory=list)  # (record id, offset, length)
    problem: str | None = None       # the damage that stopped the walk
    alone: dict[Place, str] = field(default_factory=dict)  # why a record cannot be read at that place
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # --deep: catalog facts of each frame


def checked_segments(archive: Archive, prefix: str, deep: bool) -> Iterator[SegmentCheck]:
    """Every segment under ``prefix``, checked, in listing order."""
    if _local(archive) and second_process_available():
        yield from _checked_on_two_cores(archive, list(archive.store.list(prefix)), deep)
        return
    pending: deque[Future[SegmentCheck]] = deque()
    with ThreadPoolExecutor(WORKERS) as pool:
        for name in archive.store.list(prefix):
            pending.append(pool.submit(check_segment, archive, name, deep))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _local(archive: Archive) -> bool:
    """A local store and key file: a forked process may read and open them (an S3 or KMS client may
    not be shared across a fork, and their reads overlap in threads instead)."""
    return isinstance(archive.store, LocalDirStore) and isinstance(archive.keys, LocalKeyProvider)


def _checked_on_two_cores(archive: Archive, names: list[str], deep: bool) -> Iterator[SegmentCheck]:
    """A forked process checks every other segment while this one checks the rest: opening frames
    is Python's work, which threads cannot share. Results come back in listing order."""
    if len(names) < 2:
        yield from (check_segment(archive, name, deep) for name in names)
        return
    theirs = read_in_second_process(lambda _: (check_segment(archive, name, deep) for name in names[0::2]), [],
                                    chunk=1, task="checking segments")
    try:
        for index, name in enumerate(names):
            yield next(theirs) if index % 2 == 0 else check_segment(archive, name, deep)
    finally:
        theirs.close()


def check_segment(archive: Archive, name: str, deep: bool) -> SegmentCheck:
    """Read segment ``name`` once and open every frame. Each frame is also read back as a catalog
    row placing its record there would be; ``verify`` uses that outcome for the rows that do."""
    check = SegmentCheck(name)
    try:
        data = archive.store.get(name)
        for ref, envelope in segments.iter_frames(data, name):
            check.frames.append((ref.record_id, ref.offset, ref.length))
            try:
                plaintext = open_sealed(archive.keys, ref.record_id, envelope)
            except IntegrityError as exc:
                _read_alone(check, ref, exc)
                raise
            document = _read_alone(check, ref, plaintext)
            if deep and document is not None:
                _keep_facts(archive, check, ref, document)
    except IntegrityError as exc:
        check.problem = str(exc)
    return check


def _read_alone(check: SegmentCheck, ref: segments.FrameRef, opened: bytes | IntegrityError) -> RecordDocument | None:
    """The catalog's offset and length alone must yield the record (that is how it is retrieved).
    A ranged read there returns the frame the walk found at ``ref``, cut by the same frame
    reader, so the walk's opening of it (or its failure) is that read's outcome; ``verify``
    reports it for the catalog rows placing the record there. The record's document, or None
    when it cannot be read."""
    record_id, place = ref.record_id, (ref.record_id, check.name, ref.offset, ref.length)
    try:
        if isinstance(opened, IntegrityError):
            raise opened
        document = RecordDocument.from_plaintext(opened)
    except (IntegrityError, ValueError) as exc:
        check.alone[place] = f"record {record_id}: cannot be read at its catalogued place ({exc})"
        return None
    if document.record_id != record_id:
        check.alone[place] = f"record {record_id}: its frame holds the document of {document.record_id}"
    return document


def _keep_facts(archive: Archive, check: SegmentCheck, ref: segments.FrameRef, doc: RecordDocument) -> None:
    conversation = archive.conversation_ref(doc.message["source"], doc.message["conversation"])
    check.documents[ref.record_id] = row_facts(catalog_row(doc, conversation, check.name, ref.offset, ref.length))
