"""The retention report's time and peak memory, as ratios against baselines measured in the same run.

    python bench/retention_bench.py [--sizes 100000,1000000] [--keep DIR]

For each size an archive's catalog is filled with that many rows through the catalog's commit
API (rows only, no ingest: 50 custodians each filed under their role's item, one segment in five
transitory, eight years, segments of 1,000 rows, some destroyed, review items, holds). Each
measurement runs in a child process of its own, which reports its wall time and its peak RSS:

- ``idle``: open the archive and do nothing (the memory floor);
- ``count``: ``SELECT count(*)`` over the messages (the least any report can cost);
- ``rows``: one pass over ``catalog.rows()`` (what a report reading every row would cost);
- ``report``: ``retention_report`` and its JSON written to /dev/null (``report retention --json``).

Memory is flat when the report's peak stays near ``idle`` at every size.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

from archiver.config import load_settings
from archiver.core.retention import UNSCHEDULED, ScheduleItem, ScheduleSet, disposition_date, load_schedules
from archiver.services.access import ensure_first_admin, grant_role
from archiver.services.retention_report import retention_report, write_json
from archiver.storage.archive import Archive, init_archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import CatalogRow, CommitBatch, HoldRow, SegmentRow

ADMIN, OFFICER = "bench-admin", "bench-records-officer"
AT = datetime(2026, 12, 6, tzinfo=timezone.utc)
ITEMS = ("GRS-6.1-011", "GRS-6.1-011", "GRS-6.1-012", "GRS-6.1-010", "GRS-6.1-011", "GRS-5.2-020", UNSCHEDULED)
CUSTODIANS = 50
SEGMENT = 1000
MODES = ("idle", "count", "rows", "report")


def build(folder: Path, size: int) -> None:
    """An archive of ``size`` catalog rows in ``folder``."""
    init_archive(folder, load_settings(cwd=folder))
    schedules = load_schedules()
    rng = random.Random(size)
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        ensure_first_admin(archive, ADMIN, AT)
        grant_role(archive, ADMIN, OFFICER, "records-officer", AT)
        catalog = archive.catalog
        for start in range(0, size, SEGMENT * 20):
            catalog.commit([_segment(schedules, n, min(SEGMENT, size - n), rng)
                            for n in range(start, min(start + SEGMENT * 20, size), SEGMENT)])
        for n in range(0, size // SEGMENT, 7):  # every seventh segment destroyed
            catalog.mark_disposed(f"seg/{n:06d}", AT, AuditEvent(ADMIN, "dispose", AT, {"segment": f"seg/{n:06d}"}))
        for n in range(20):
            hold = HoldRow(f"HOLD-{n}", "litigation", f"custodian-{n}", date(2020 + n % 5, 1, 1), None, AT, ADMIN)
            catalog.put_hold(hold, AuditEvent(ADMIN, "hold-place", AT, {"hold": hold.name}))


def _segment(schedules: ScheduleSet, first: int, count: int, rng: random.Random) -> CommitBatch:
    # A custodian's records fall under the item of their role, and one segment in five is transitory.
    who = rng.randrange(CUSTODIANS)
    name, custodian = f"seg/{first // SEGMENT:06d}", f"custodian-{who}"
    item = schedules.get("GRS-5.2-010" if rng.random() < 0.2 else ITEMS[who % len(ITEMS)])
    rows = []
    for n in range(first, first + count):
        sent = datetime(2019, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(8 * 365 * 1440))
        review = n % 50 == 0  # one in fifty an uncertain item waiting for review
        rows.append(_row(n, custodian, None if review else item.id, sent,
                         sent.date() + timedelta(days=60) if review else _dated(item, sent.date()),
                         "review" if review else "record", (n - first) * 400))
    return CommitBatch(rows, (), SegmentRow(name, custodian, item.id, None, count, AT))


@cache
def _dated(item: ScheduleItem, day: date) -> date | None:
    return disposition_date(item, datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))


# Every fifth record late, one in five from an official account; one message in 500 deleted before export.
STATUSES = ("copied", "forwarded", "late", "forwarded", "not_applicable")


def _row(n: int, custodian: str, schedule: str | None, sent: datetime, disposition: date | None, label: str,
         offset: int) -> CatalogRow:
    status = STATUSES[n % len(STATUSES)]
    return CatalogRow(
        id=f"{n:032x}", custodian=custodian, source="signal", conversation_ref=f"{n % 997:032x}", sent_at=sent,
        direction="sent", account="official" if status == "not_applicable" else "personal", system=False,
        label=label, confidence=0.9, reasons=("decision",), rules_version="1", schedule=schedule,
        disposition_date=disposition, forwarding_status=status,
        deadline=None if status == "not_applicable" else sent + timedelta(days=20),
        days_late=1 + n % 30 if status == "late" else 0, content_hash=f"{n:064x}", export_sha256="e" * 64,
        source_line=n, ingested_at=sent + timedelta(days=21 if status == "late" else 2),
        flags=("deleted",) if n % 500 == 7 else (), segment=f"seg/{n // SEGMENT:06d}", offset=offset, length=400)


def measure(folder: Path, mode: str) -> dict[str, float]:
    """Run one ``mode`` on the archive in ``folder``: wall seconds and peak RSS (MB) of this process."""
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        start = time.perf_counter()
        if mode == "count":
            archive.catalog._db.execute("SELECT count(*) FROM messages").fetchone()  # type: ignore[attr-defined]
        elif mode == "rows":
            sum(1 for _ in archive.catalog.rows())
        elif mode == "report":
            with open("/dev/null", "w", encoding="utf-8") as sink:
                write_json(retention_report(archive, OFFICER, AT), sink)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(folder: Path, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--measure", str(folder), mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def run(folder: Path, size: int) -> None:
    if not (folder / "archiver.yaml").exists():
        started = time.perf_counter()
        build(folder, size)
        print(f"{size:,} rows filled in {time.perf_counter() - started:.1f} s")
    found = {mode: child(folder, mode) for mode in MODES}
    report, rows, count, idle = (found[m] for m in ("report", "rows", "count", "idle"))
    print(f"{size:>9,} rows: report {report['seconds']:.2f} s, rows pass {rows['seconds']:.2f} s, "
          f"count(*) {count['seconds']:.3f} s; report / rows pass = {report['seconds'] / rows['seconds']:.2f}, "
          f"report / count(*) = {report['seconds'] / max(count['seconds'], 1e-6):.1f}")
    print(f"{'':>9}  peak RSS: idle {idle['peak_mb']:.0f} MB, report {report['peak_mb']:.0f} MB "
          f"(+{report['peak_mb'] - idle['peak_mb']:.0f} MB), rows pass {rows['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--keep", type=Path, help="build the archives under DIR once and reuse them")
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1])))
        return
    with TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        for size in (int(s) for s in args.sizes.split(",")):
            run(base / f"retention-{size}", size)


if __name__ == "__main__":
    main()
