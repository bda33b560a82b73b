"""``archiver verify``: recheck the store against the catalog, every envelope, and the audit chain.

Two passes, after ``borg check`` and ``restic check``. The default pass opens every envelope
and checks the catalog against what it cannot edit: each segment's sealed manifest, the sealed
audit heads, the keyed audit chain and the keyed digests its entries carry for rows with no
object of their own (tombstones, quarantine items, exports, holds), and the store's listing
(strays, missing attachments). ``--deep`` also reads every sealed record document and compares
the catalog row with it fact by fact. Verify holds the archive's lock in shared mode, so a
running ingest's half-written state is never reported as damage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from archiver.core.events import later_date
from archiver.core.retention import load_schedules
from archiver.errors import IntegrityError, ObjectNotFoundError
from archiver.services.disposal_plan import CERTIFICATE, PLANS_PREFIX
from archiver.services.disposition import ACTION_HOLD, ACTION_RELEASE, covered_objects, waiting_objects
from archiver.services.events import AMEND_PREFIX
from archiver.services.ingest import ACTION_TOMBSTONES, KIND_EXPORT, quarantine_digest, tombstone_digest
from archiver.services.segment_writing import REVIEW_PREFIX, SEGMENT_PREFIX, active_holds
from archiver.services.transfer_state import TRANSFER
from archiver.services.verify_frames import LABEL_RECORD, Context, Job, SegmentPass
from archiver.services.verify_places import Placement
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEntry, first_keyed, verify_chain
from archiver.storage.catalog import SegmentRow
from archiver.storage.envelope import open_sealed
from archiver.storage.records import LABEL_REVIEW
from archiver.storage.sealed_facts import (
    HEAD_PREFIX,
    MANIFEST_PREFIX,
    heads,
    manifest_key,
    read_manifest,
    row_digest,
)
from archiver.storage.segment_rows import SegmentRows
from archiver.storage.store.base import Retention, later

SEALED_PREFIXES = ("att/", "quarantine/")
KEYS_PREFIX = "keys/"  # a KMS archive's wrapped derivation root


@dataclass
class VerifyReport:
    """What was checked and what is wrong; empty ``problems`` means the archive is sound."""

    segments: int = 0
    frames: int = 0
    review_frames: int = 0
    objects: int = 0
    records: int = 0
    audit_entries: int = 0
    manifests: int = 0
    deep: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "deep": self.deep, "segments": self.segments, "frames": self.frames,
                "review_frames": self.review_frames, "objects": self.objects, "records": self.records,
                "manifests": self.manifests, "audit_entries": self.audit_entries, "problems": self.problems,
                "notes": self.notes}


@dataclass
class _Seen:
    """What the pass has read, for the checks that follow."""

    entries: list[AuditEntry]
    segments: dict[str, SegmentRow]
    pending: set[str]
    listing: list[str]                                   # every key in the store, listed once
    unmanifested: int = 0                                # segments written before manifests
    amended: dict[str, dict[str, Any]] = field(default_factory=dict)  # segment -> what events moved

    def under(self, prefix: str) -> list[str]:
        """The store's keys under ``prefix``, in listing order."""
        return [key for key in self.listing if key.startswith(prefix)]


def verify(archive: Archive, deep: bool = False, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check the archive (``deep``: also every sealed document against its catalog row).

    ``progress`` is called with 1 as each segment (records or review items) has been read and checked.
    """
    report = VerifyReport(deep=deep)
    with archive.catalog.shared():
        seen = _Seen(list(archive.catalog.audit_entries()), {s.name: s for s in archive.catalog.segments()},
                     set(archive.catalog.pending_segments()), list(archive.store.list("")))
        amendments = _read_amendments(archive, seen)  # before the segments: their manifests are read amended
        placement, (early, late) = _check_segments(archive, seen, deep, progress)
        records, reviews = placement.kinds[LABEL_RECORD], placement.kinds[LABEL_REVIEW]
        report.segments, report.frames, report.review_frames = records.segments, records.frames, reviews.frames
        report.records = placement.labels[LABEL_RECORD]
        report.objects, report.audit_entries = early.objects, early.audit_entries
        report.problems += [*records.walk, *records.copies, *(why for _, why in records.rows), *records.strays]
        report.problems += [f"segment {name} was begun but never committed; the next ingest recovers it"
                            for name in archive.catalog.pending_segments()]
        report.problems += [*reviews.walk, *reviews.copies, *(why for _, why in reviews.rows)]
        report.problems += [*early.problems, *amendments]
        report.notes += early.notes
        _check_manifests(seen, placement, report)
        _check_listing(archive, seen, placement, report)
        report.problems += [*late.problems, *(why for _, why in placement.deep)]
        report.notes += late.notes
    return report


def _check_segments(archive: Archive, seen: _Seen, deep: bool, progress: Callable[[int], None] | None
                    ) -> tuple[Placement, tuple[VerifyReport, VerifyReport]]:
    """Every segment in the store, and every one the catalog names, each against the catalog rows
    placed in it and its sealed manifest; then what was out of place, settled across segments.
    Beside them, the checks that need nothing from the segments (``_check_apart``)."""
    rows = SegmentRows(archive.catalog)
    context = Context(rows, seen.segments, set(seen.under(MANIFEST_PREFIX)), set(seen.under("att/")), seen.amended,
                      deep)
    listed = [Job(key, label) for prefix, label in ((SEGMENT_PREFIX, LABEL_RECORD), (REVIEW_PREFIX, LABEL_REVIEW))
              for key in seen.under(prefix)]
    unlisted = sorted((set(seen.segments) | rows.segment_names()) - {job.name for job in listed})
    placement = Placement(context)
    checks = SegmentPass(archive, [*listed, *(Job(name, None) for name in unlisted)], context,
                         lambda where: _check_apart(where, seen))
    for found in checks:
        placement.add(found)
        if found.home is not None and progress is not None:
            progress(1)
    placement.add_unplaced(rows.unplaced())
    placement.settle()
    return placement, checks.beside_result


def _check_apart(archive: Archive, seen: _Seen) -> tuple[VerifyReport, VerifyReport]:
    """The checks that need nothing from the segment pass, as two reports: those reported before
    the manifests, and those after."""
    early, late = VerifyReport(), VerifyReport()
    _check_sealed_objects(archive, seen, early)
    _check_audit(archive, seen, early)
    _check_vouched_rows(archive, seen.entries, late)
    _check_holds(archive, seen.entries, late)
    _check_store_holds(archive, late)
    _note_unfinished_acts(archive, late)
    return early, late


def _check_sealed_objects(archive: Archive, seen: _Seen, report: VerifyReport) -> None:
    """Attachments and quarantined exports are sealed under their own key names: open each."""
    for prefix in SEALED_PREFIXES:
        for key in seen.under(prefix):
            report.objects += 1
            try:
                open_sealed(archive.keys, key, archive.store.get(key))
            except IntegrityError as exc:
                report.problems.append(str(exc))


def _check_audit(archive: Archive, seen: _Seen, report: VerifyReport) -> None:
    """The keyed chain, and the catalog's log against the sealed heads in the store."""
    entries = seen.entries
    report.audit_entries = len(entries)
    report.problems.extend(verify_chain(entries, archive.audit_key))
    keyed_from = first_keyed(entries)
    if entries and keyed_from != 1:
        older = f"1-{keyed_from - 1}" if keyed_from else f"1-{entries[-1].seq}"
        report.notes.append(f"audit entries {older} predate the keyed chain and are checked with the older "
                            "unkeyed rule")
    by_seq = {entry.seq: entry for entry in entries}
    last = entries[-1].seq if entries else 0
    try:
        for number, head in enumerate(heads(archive, seen.under(HEAD_PREFIX))):
            if number == 0:
                _check_newest_head(head.seq, head.keyed_from, last, keyed_from, report)
            entry = by_seq.get(head.seq)
            if entry is not None and entry.hash != head.hash:
                report.problems.append(f"audit entry {head.seq}: differs from the sealed audit head in the store "
                                       "(the log was rewritten)")
    except IntegrityError as exc:
        report.problems.append(str(exc))


def _check_newest_head(seq: int, head_keyed_from: int | None, last: int, keyed_from: int | None,
                       report: VerifyReport) -> None:
    if last == 0:
        report.problems.append(f"audit log: empty in the catalog, but the store's sealed audit head is at entry "
                               f"{seq} (the log was deleted)")
    elif seq > last:
        report.problems.append(f"audit log: ends at entry {last}, but the store's sealed audit head is at entry "
                               f"{seq} (entries {last + 1}-{seq} were deleted)")
    if head_keyed_from is not None and keyed_from != head_keyed_from:
        actual = f"keyed from entry {keyed_from}" if keyed_from else "not keyed"
        report.problems.append(f"audit log: keyed from entry {head_keyed_from} per the sealed audit head, "
                               f"but the catalog's chain is {actual} (rewritten without the key)")


def _check_manifests(seen: _Seen, placement: Placement, report: VerifyReport) -> None:
    """Each segment row and the rows in it against the segment's sealed manifest (compared in the
    segment pass); here, the manifests missing and those of no segment."""
    manifests = set(seen.under(MANIFEST_PREFIX))
    report.manifests = len(manifests)
    announced = {entry.event.detail["segment"] for entry in seen.entries
                 if entry.event.action == "store-segment" and "manifest" in entry.event.detail}
    for name in seen.segments:
        if manifest_key(name) in manifests:
            report.problems += placement.manifests.get(name, ())
        elif name in announced:
            report.problems.append(f"segment {name}: its sealed manifest is missing from the store")
        else:
            seen.unmanifested += 1
    for key in sorted(manifests):
        name = key[len(MANIFEST_PREFIX):]
        if name not in seen.segments and name not in seen.pending:
            report.problems.append(f"segment {name}: sealed manifest in the store, but its catalog row is missing")
    if seen.unmanifested:
        report.notes.append(f"{seen.unmanifested} segment(s) written before segment manifests are checked with "
                            "the older rules")


def _read_amendments(archive: Archive, seen: _Seen) -> list[str]:
    """The sealed amendments events made to segments' dates, merged in the order written, into
    ``seen.amended``; the problems found reading them."""
    problems: list[str] = []
    for key in seen.under(AMEND_PREFIX):
        try:
            amendment = read_manifest(archive, key)
        except IntegrityError as exc:
            problems.append(str(exc))
            continue
        segment = amendment["segment"]
        if segment not in seen.segments and segment not in seen.pending:
            problems.append(f"amendment {key}: its segment {segment} is not in the catalog")
            continue
        # Dates only move later, so the amendments merge by taking the later date, in any order.
        merged = seen.amended.setdefault(segment, {"records": {}, "retain_until": amendment["retain_until"]})
        merged["retain_until"] = _later_text(merged["retain_until"], amendment["retain_until"], later)
        for record_id, when in amendment["records"].items():
            merged["records"][record_id] = _later_text(merged["records"].get(record_id), when, later_date)
    return problems


def _later_text(current: str | None, wanted: str | None,
                rule: Callable[[date | None, date | None], date | None]) -> str | None:
    """``rule`` (the store's or the catalog's "only later") applied to two ISO dates."""
    def day(text: str | None) -> date | None:
        return date.fromisoformat(text) if text else None

    result = rule(day(current), day(wanted))
    return result.isoformat() if result else None


def _check_listing(archive: Archive, seen: _Seen, placement: Placement, report: VerifyReport) -> None:
    """Every object in the store must be one the archive wrote and still accounts for."""
    quarantined = {row.object_key for row in archive.catalog.quarantine() if row.object_key}
    filed = {d["object"] for kind in (CERTIFICATE, TRANSFER) for d in archive.catalog.documents(kind).values()}
    for key in seen.listing:
        if key in filed or key.startswith(PLANS_PREFIX):
            continue  # certificates of destruction the catalog lists; disposal plans filed for review
        if not _accounted_for(key, seen, placement.attachments, quarantined):
            report.problems.append(f"stray object {key}: in the store, but nothing in the archive refers to it")


def _accounted_for(key: str, seen: _Seen, attachments: set[str], quarantined: set[str]) -> bool:
    if key.startswith((SEGMENT_PREFIX, REVIEW_PREFIX)):
        return key in seen.segments or key in seen.pending
    if key.startswith("att/"):
        # Attachments of segments written before manifests are listed nowhere but in their frames.
        return key in attachments or seen.unmanifested > 0
    if key.startswith("quarantine/"):
        return key.rsplit("/", 1)[0] in quarantined
    if key.startswith((MANIFEST_PREFIX, AMEND_PREFIX)):
        return True  # each is checked against its segment row
    return key.startswith((HEAD_PREFIX, KEYS_PREFIX))


def _actions(entries: list[AuditEntry], action: str) -> Iterator[AuditEntry]:
    return (entry for entry in entries if entry.event.action == action)


def _check_vouched_rows(archive: Archive, entries: list[AuditEntry], report: VerifyReport) -> None:
    """Tombstones, quarantine items and exports against the keyed digests in their audit entries."""
    key = archive.audit_hash
    for entry in _actions(entries, ACTION_TOMBSTONES):
        vouched: dict[str, str] = entry.event.detail["rows"]
        found = archive.catalog.rows_by_id(list(vouched))
        for record_id, digest in vouched.items():
            row = found.get(record_id)
            if row is None:
                report.problems.append(f"tombstone {record_id} (audit entry {entry.seq}): missing from the catalog")
            elif row.label == "nonrecord" and tombstone_digest(archive, row) != digest:
                report.problems.append(f"tombstone {record_id}: changed in the catalog since audit entry {entry.seq}")
    _check_quarantine(archive, entries, report)
    exports = Counter(row_digest(key, KIND_EXPORT, row) for row in archive.catalog.exports())
    for entry in _actions(entries, "ingest"):
        digest = entry.event.detail.get("export_digest")
        if digest is None:
            continue  # written before exports were vouched for
        if exports[digest] == 0:
            report.problems.append(f"export {str(entry.event.detail.get('sha256'))[:12]} ingested in audit entry "
                                   f"{entry.seq}: its row is missing from the catalog or changed")
        exports[digest] -= 1


def _check_quarantine(archive: Archive, entries: list[AuditEntry], report: VerifyReport) -> None:
    """Each item an audit entry vouches for (the first ``QUARANTINE_AUDIT_ROWS`` of an export) must be
    in the catalog unchanged."""
    digests = {quarantine_digest(archive, row) for row in archive.catalog.quarantine()}
    for entry in _actions(entries, "quarantine"):
        for line, digest in entry.event.detail.get("rows", ()):
            if digest not in digests:
                sha = str(entry.event.detail["export_sha256"])[:12]
                report.problems.append(f"quarantine item of export {sha}, line {line} (audit entry "
                                       f"{entry.seq}): missing from the catalog or changed")


def _check_holds(archive: Archive, entries: list[AuditEntry], report: VerifyReport) -> None:
    """Each hold placed or released in the audit log must be so in the catalog, and no other."""
    placed = {str(e.event.detail["hold"]): e.seq for e in _actions(entries, ACTION_HOLD)}
    released = {str(e.event.detail["hold"]) for e in _actions(entries, ACTION_RELEASE)}
    holds = {hold.name: hold for hold in archive.catalog.holds()}
    for name, seq in placed.items():
        hold = holds.get(name)
        if hold is None:
            report.problems.append(f"hold {name} (placed in audit entry {seq}): missing from the catalog")
        elif hold.active == (name in released):
            state = "active" if hold.active else "released"
            report.problems.append(f"hold {name}: {state} in the catalog, but not so in the audit log")
    for name in sorted(set(holds) - set(placed)):
        report.problems.append(f"hold {name}: in the catalog, but the audit log never placed it")


def _check_store_holds(archive: Archive, report: VerifyReport) -> None:
    """Every object an active hold covers is under legal hold in the store itself, so the store
    refuses its deletion even if the catalog's hold row is edited away; every object of a segment
    waiting on its cutoff event is under legal hold too (or locked indefinitely, as versions before
    event cutoffs wrote it), as nothing else keeps it until the event."""
    covered = covered_objects(archive, active_holds(archive))
    _check_kept(archive, covered, lambda kept: kept.legal_hold, "an active hold covers it, but the store does "
                "not hold it", report)
    waiting = waiting_objects(archive, load_schedules(archive.settings.schedules))
    _check_kept(archive, waiting, lambda kept: kept.legal_hold or kept.retain_until is None,
                "it waits on its cutoff event, but the store neither holds it nor locks it, so it could be "
                "deleted", report)


def _check_kept(archive: Archive, objects: dict[str, list[str]], kept: Callable[[Retention], bool], why: str,
                report: VerifyReport) -> None:
    """Name each of ``objects`` (keys per segment) whose store retention is not ``kept``."""
    for segment, keys in sorted(objects.items()):
        for key in keys:
            try:
                retention = archive.store.retention(key)
            except ObjectNotFoundError:
                continue  # a missing object is named by the store and manifest checks
            if not kept(retention):
                report.problems.append(f"object {key} (segment {segment}): {why}")


def _note_unfinished_acts(archive: Archive, report: VerifyReport) -> None:
    """Acts a killed command began (disposition, hold placement or release) are finished by the
    next writing command; until then verify says so."""
    for name in sorted(archive.catalog.intents()):
        report.notes.append(f"{name}: begun by a command that did not finish; the next writing command "
                            "finishes it")
