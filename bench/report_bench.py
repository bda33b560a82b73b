"""``report forwarding --json``: time and peak memory, as ratios against baselines measured in the same run.

    python bench/report_bench.py [--sizes 100000,1000000] [--keep DIR] [--format json|csv]

Each archive's catalog is filled with that many rows through the catalog's commit API by the
retention benchmark's filler (``bench/retention_bench.py``: 50 custodians, eight years, every
fifth record late, a few deleted messages). Each measurement runs in a child process of its
own, which reports its wall time and peak RSS:

- ``idle``: open the archive and do nothing (the memory floor);
- ``count``: ``SELECT count(*)`` over the messages (the least any report can cost);
- ``rows``: one bare pass over ``catalog.rows()`` (what reading every row costs);
- ``report``: the command ``archiver report forwarding --json`` (or ``--csv``), its output to /dev/null.

The report streams when its peak stays near ``idle`` at every size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).parent))

from retention_bench import OFFICER, build  # noqa: E402  (the filler lives beside this file)

from archiver.cli import main as archiver_main  # noqa: E402
from archiver.config import load_settings  # noqa: E402
from archiver.storage.archive import Archive  # noqa: E402

MODES = ("idle", "count", "rows", "report")


def measure(folder: Path, mode: str, output: str) -> dict[str, float]:
    """Run one ``mode`` on the archive in ``folder``: wall seconds and peak RSS (MB) of this process."""
    start = time.perf_counter()
    if mode == "report":
        os.chdir(folder)
        os.environ["ARCHIVER_ACTOR"] = OFFICER
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            code = archiver_main(["report", "forwarding", f"--{output}"])
        if code != 0:
            raise SystemExit(f"report forwarding exited {code}")
    else:
        with closing(Archive.open(load_settings(cwd=folder))) as archive:
            if mode == "count":
                archive.catalog._db.execute("SELECT count(*) FROM messages").fetchone()  # type: ignore[attr-defined]
            elif mode == "rows":
                sum(1 for _ in archive.catalog.rows())
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(folder: Path, mode: str, output: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--format", output, "--measure", str(folder), mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def run(folder: Path, size: int, output: str) -> None:
    if not (folder / "archiver.yaml").exists():
        started = time.perf_counter()
        build(folder, size)
        print(f"{size:,} rows filled in {time.perf_counter() - started:.1f} s")
    found = {mode: child(folder, mode, output) for mode in MODES}
    report, rows, count, idle = (found[m] for m in ("report", "rows", "count", "idle"))
    print(f"{size:>9,} rows: report forwarding --{output} {report['seconds']:.2f} s, "
          f"rows pass {rows['seconds']:.2f} s, "
          f"count(*) {count['seconds']:.3f} s; report / rows pass = {report['seconds'] / rows['seconds']:.2f}, "
          f"report / count(*) = {report['seconds'] / max(count['seconds'], 1e-6):.1f}")
    print(f"{'':>9}  peak RSS: idle {idle['peak_mb']:.0f} MB, report {report['peak_mb']:.0f} MB "
          f"(+{report['peak_mb'] - idle['peak_mb']:.0f} MB), rows pass {rows['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--keep", type=Path, help="build the archives under DIR once and reuse them")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="the report's output")
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], args.format)))
        return
    with TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        for size in (int(s) for s in args.sizes.split(",")):
            run(base / f"report-{size}", size, args.format)


if __name__ == "__main__":
    main()
