"""The segment pass of ``verify``: each segment read once, every frame opened, and the segment's
frames, its sealed manifest and the catalog rows placed in it checked against each other there
and then, so that nothing is held for the whole archive but what is out of place.

A frame is *at home* when a catalog row of the segment's kind (a record in ``seg/``, a review
item in ``review/``) places its record at that very offset and length; such a row is read back
from the frame the walk found there (a ranged read at the catalog's place returns those very
bytes, cut by the same frame reader). What is not at home (a frame no row places there, a row
whose frame is not there, a record of a destroyed segment still stored) is handed on, one
line each, for ``verify_places`` to settle across segments.

On S3 that is one GetObject per segment and no ranged GetObject per record. Segments are fetched
and opened by a small pool of threads (the store's reads and the key provider's unwrapping
overlap), a bounded number in flight so memory stays flat; in a local archive with a SQLite
catalog, where the time goes into Python rather than waiting, a forked process checks part of
the segments (in turns, by their records) and then the checks that need no segment, reading the
catalog through a connection of its own. Either way the results come back in the order the
segments were given, so the report is the same on every run.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from archiver.errors import IntegrityError
from archiver.services.reader_process import read_in_second_process, second_process_available
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.catalog import SegmentRow
from archiver.storage.envelope import open_sealed
from archiver.storage.keys import LocalKeyProvider
from archiver.storage.records import RecordDocument, catalog_row
from archiver.storage.sealed_facts import manifest_key, read_manifest, row_facts
from archiver.storage.segment_rows import PLACING_LABELS, PlacedRow, SegmentRows, differing
from archiver.storage.store import LocalDirStore

WORKERS = min(4, os.cpu_count() or 1)
IN_FLIGHT = 2 * WORKERS  # segments fetched or being opened at once
SECOND_SHARE = 0.45      # of the records, checked by the forked process in a local archive (which
                         # also runs the checks beside the segments)
CHUNK = 16               # findings per message from the forked process
LABEL_RECORD = "record"
FACT_NAMES = {"sent_at": "sent time", "forwarding_status": "2911 status", "disposition_date": "disposition date",
              "days_late": "days late", "retain_until": "retain-until"}
Frame = tuple[str, int, int, bool]  # record id, offset, length, whether its document was read


@dataclass(frozen=True)
class Job:
    """One segment to check: ``home`` is the label of the rows its frames belong to (``record``,
    ``review``), or None for a segment that is not in the store's listing."""

    name: str
    home: str | None


@dataclass
class Context:
    """What every segment's check consults; per segment, never per record."""

    rows: SegmentRows
    segments: dict[str, SegmentRow]        # the catalog's segment rows
    manifests: set[str]                    # manifest keys in the store
    attachments: set[str]                  # attachment keys in the store
    amended: dict[str, dict[str, Any]]     # segment -> the dates events moved since its manifest
    deep: bool = False

    def disposed(self, name: str | None) -> bool:
        segment = self.segments.get(name or "")
        return segment is not None and segment.disposed_at is not None


@dataclass
class SegmentRead:
    """What reading one segment and its manifest found, before the catalog is consulted."""

    job: Job
    frames: list[Frame] = field(default_factory=list)
    problem: str | None = None       # the damage that stopped the walk
    alone: dict[tuple[str, int, int], str] = field(default_factory=dict)  # why a record cannot be read there
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # --deep: catalog facts of each frame
    manifest: dict[str, Any] | None = None
    manifest_problem: str | None = None


@dataclass
class Findings:
    """What checking one segment found: counts, problems, and what is out of place."""

    name: str
    home: str | None
    problem: str | None = None                        # the walk's
    ids: int = 0                                      # distinct records among its frames
    loose_frames: list[Frame] = field(default_factory=list)             # not at home
    loose_rows: list[tuple[PlacedRow, bool]] = field(default_factory=list)  # (row, its frame is here)
    unreadable: list[tuple[PlacedRow, str]] = field(default_factory=list)  # rows at home, and why not read
    labels: dict[str, int] = field(default_factory=dict)                # rows placed here, by label
    manifest: list[str] = field(default_factory=list)                   # problems against its manifest
    attachments: list[str] = field(default_factory=list)                # named by its manifest
    deep: list[tuple[PlacedRow, str]] = field(default_factory=list)     # --deep: rows unlike their frame


class SegmentPass:
    """Every one of ``jobs`` checked, yielded in order, with ``beside(archive)`` run alongside:
    the checks that need nothing from the segments. Once iterated, ``beside_result`` is its result."""

    def __init__(self, archive: Archive, jobs: Sequence[Job], context: Context,
                 beside: Callable[[Archive], Any]) -> None:
        self.archive, self.jobs, self.context, self._beside = archive, jobs, context, beside
        self.beside_result: Any = None

    def __iter__(self) -> Iterator[Findings]:
        if _local(self.archive) and self.context.rows.forkable and second_process_available():
            yield from self._on_two_cores()
            return
        pending: deque[Future[SegmentRead]] = deque()
        with ThreadPoolExecutor(WORKERS) as pool:
            for job in self.jobs:
                pending.append(pool.submit(read_segment, self.archive, job, self.context))
                if len(pending) >= IN_FLIGHT:
                    yield check_segment(pending.popleft().result(), self.context)
            while pending:
                yield check_segment(pending.popleft().result(), self.context)
        self.beside_result = self._beside(self.archive)

    def _checked(self, job: Job) -> Findings:
        return check_segment(read_segment(self.archive, job, self.context), self.context)

    def _on_two_cores(self) -> Iterator[Findings]:
        """A forked process checks some segments, then runs ``beside``, while this one checks the
        rest: opening frames is Python's work, which threads cannot share. The forked process
        reads the catalog through a connection of its own."""
        theirs = _shared_out(self.jobs, self.context.segments)

        def second() -> Iterator[Any]:
            yield from (self._checked(job) for job, mine in zip(self.jobs, theirs, strict=True) if mine)
            yield self._beside(replace(self.archive, catalog=self.context.rows.catalog))

        results = read_in_second_process(lambda _: second(), [], chunk=CHUNK, task="checking segments")
        try:
            for job, mine in zip(self.jobs, theirs, strict=True):
                yield next(results) if mine else self._checked(job)
            self.beside_result = next(results)
        finally:
            results.close()


def _shared_out(jobs: Sequence[Job], catalogued: dict[str, SegmentRow]) -> list[bool]:
    """Which of ``jobs`` the second process takes: ``SECOND_SHARE`` of the records, in turns, so
    that both processes finish together (this one also lists the store and settles the findings)."""
    theirs: list[bool] = []
    load = [0, 0]  # records: this process's, the second's
    for job in jobs:
        segment = catalogued.get(job.name)
        second = load[1] * (1 - SECOND_SHARE) <= load[0] * SECOND_SHARE
        load[second] += 1 + (segment.count if segment is not None and job.home is not None else 0)
        theirs.append(second)
    return theirs


def _local(archive: Archive) -> bool:
    """A local store and key file: a forked process may read and open them (an S3 or KMS client may
    not be shared across a fork, and their reads overlap in threads instead)."""
    return isinstance(archive.store, LocalDirStore) and isinstance(archive.keys, LocalKeyProvider)


def read_segment(archive: Archive, job: Job, context: Context) -> SegmentRead:
    """Read segment ``job.name`` once and open every frame, and open its manifest."""
    read = SegmentRead(job)
    if job.home is not None:
        _walk(archive, read, context.deep)
    key = manifest_key(job.name)
    if job.name in context.segments and key in context.manifests:
        try:
            read.manifest = read_manifest(archive, key)
        except IntegrityError as exc:
            read.manifest_problem = str(exc)
    return read


def _walk(archive: Archive, read: SegmentRead, deep: bool) -> None:
    """Open every frame, and read its document as retrieval would: the catalog's offset and length
    alone must yield the record. A ranged read there returns the frame the walk finds at that
    place, cut by the same frame reader, so the walk's opening of it (or its failure) is that
    read's outcome (``alone``)."""
    name, keys, frames, alone = read.job.name, archive.keys, read.frames, read.alone
    try:
        data = archive.store.get(name)
        for record_id, offset, length, envelope in segments.frames(data, name):
            place = (record_id, offset, length)
            try:
                plaintext = open_sealed(keys, record_id, envelope)
            except IntegrityError as exc:  # the walk cannot go on either
                frames.append((record_id, offset, length, False))
                alone[place] = _unreadable(record_id, exc)
                raise
            try:
                document = RecordDocument.from_plaintext(plaintext)
            except ValueError as exc:
                frames.append((record_id, offset, length, False))
                alone[place] = _unreadable(record_id, exc)
                continue
            frames.append((record_id, offset, length, True))
            if document.record_id != record_id:
                alone[place] = f"record {record_id}: its frame holds the document of {document.record_id}"
            if deep:
                conversation = archive.conversation_ref(document.message["source"], document.message["conversation"])
                read.documents[record_id] = row_facts(catalog_row(document, conversation, name, offset, length))
    except IntegrityError as exc:
        read.problem = str(exc)


def _unreadable(record_id: str, exc: Exception) -> str:
    return f"record {record_id}: cannot be read at its catalogued place ({exc})"


def check_segment(read: SegmentRead, context: Context) -> Findings:
    """Set the segment's frames, its manifest and the catalog rows placed in it against each other."""
    job = read.job
    found = Findings(job.name, job.home, read.problem, len({frame[0] for frame in read.frames}))
    rows = context.rows.rows(job.name)
    at_home = {(row.id, row.offset, row.length) for row in rows if row.label == job.home}
    found.loose_frames = [frame for frame in read.frames if frame[:3] not in at_home]
    frames = {frame[:3] for frame in read.frames}
    disposed = context.disposed(job.name)
    labels = found.labels
    for row in rows:
        label = row.label
        labels[label] = labels.get(label, 0) + 1
        if label not in PLACING_LABELS:
            continue
        place = (row.id, row.offset, row.length)
        here = label == job.home and place in frames
        if label == LABEL_RECORD and disposed:
            if here:
                found.loose_rows.append((row, True))
        elif not here:
            found.loose_rows.append((row, False))
        elif place in read.alone:
            found.unreadable.append((row, read.alone[place]))
    if context.deep:
        _compare_documents(read, rows, context, found)
    if read.manifest_problem is not None:
        found.manifest.append(read.manifest_problem)
    elif read.manifest is not None:
        _check_manifest(read.manifest, rows, context, found)
    return found


def _compare_documents(read: SegmentRead, rows: list[PlacedRow], context: Context, found: Findings) -> None:
    """--deep: each row placed here, fact by fact, against the sealed document of its frame here."""
    moved = context.amended.get(read.job.name, {}).get("records", {})
    for row in rows:
        facts = read.documents.get(row.id)
        if facts is None or row.label != facts["label"]:
            continue
        if row.id in moved:
            facts = {**facts, "disposition_date": moved[row.id]}
        for name in differing(row, facts, context.rows.whole):
            found.deep.append((row, _differs(row.id, name, "its sealed frame")))


def _check_manifest(manifest: dict[str, Any], rows: list[PlacedRow], context: Context, found: Findings) -> None:
    """The segment's catalog row and the rows placed in it against its sealed manifest. A decided
    review item leaves its review segment (as a record elsewhere, or a tombstone): only rows still
    in the state the manifest describes are compared."""
    name = found.name
    segment = context.segments[name]
    _amend(manifest, context.amended.get(name))
    retain_until = segment.retain_until.isoformat() if segment.retain_until else None
    catalog = {"custodian": segment.custodian, "schedule": segment.schedule, "retain_until": retain_until,
               "count": segment.count}
    for fact, value in catalog.items():
        if manifest[fact] != value:
            found.manifest.append(f"segment {name}: {FACT_NAMES.get(fact, fact)} in catalog differs "
                                  "from its sealed manifest")
    sealed: dict[str, dict[str, Any]] = manifest["records"]
    in_catalog = {row.id: row for row in rows}
    gone = [record_id for record_id in sealed if record_id not in in_catalog]
    known = context.rows.catalog.known_labels(gone) if gone else {}
    for record_id, facts in sealed.items():
        row = in_catalog.get(record_id)
        if row is None:
            if record_id not in known:
                found.manifest.append(f"record {record_id} of segment {name}: missing from the catalog")
        elif row.label == facts["label"]:
            found.manifest += (_differs(record_id, fact, "its sealed manifest")
                               for fact in differing(row, facts, context.rows.whole))
    for record_id in sorted(set(in_catalog) - set(sealed)):
        found.manifest.append(f"record {record_id}: catalog places it in segment {name}, "
                              "whose sealed manifest does not list it")
    for record_id, facts in sealed.items():
        for key in facts["attachments"]:
            found.attachments.append(key)
            if key not in context.attachments and segment.disposed_at is None:
                found.manifest.append(f"record {record_id}: attachment object {key} is missing from the store")


def _amend(manifest: dict[str, Any], amended: dict[str, Any] | None) -> None:
    """Apply to a manifest the dates events moved since it was sealed."""
    if amended is None:
        return
    manifest["retain_until"] = amended["retain_until"]
    for record_id, when in amended["records"].items():
        if record_id in manifest["records"]:
            manifest["records"][record_id]["disposition_date"] = when


def _differs(record_id: str, fact: str, against: str) -> str:
    return f"record {record_id}: {FACT_NAMES.get(fact, fact)} in catalog differs from {against}"

